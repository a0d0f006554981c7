//! Cheaper drop-ins for the pieces of `fmt`'s text output, printing the same bytes.
//!
//! A kept line costs its caller the formatting before this crate's writer ever sees it.
//! Most of that is fixed work `fmt` does the same way for every line: the calendar
//! arithmetic of the timestamp, and — even with ANSI colours off — `nu_ansi_term` styles
//! that print nothing around the level, each span name, the target and each field name.
//! The types here do that work once or not at all, and print what `fmt` prints, byte for
//! byte (`tests/format/lines.rs` compares them line by line with `fmt`'s over a corpus of events
//! and spans, with colours on and off, escaping on and off, and `sampling-layer`'s
//! `Annotated` around both):
//!
//! | `fmt`'s | here | saves |
//! |---|---|---|
//! | [`fmt::time::SystemTime`](tracing_subscriber::fmt::time::SystemTime) | [`CachedSystemTime`] | the date and time laid out once a second per thread; six digits per line |
//! | [`DefaultFields`](tracing_subscriber::fmt::format::DefaultFields) | [`PlainFields`] | styles around each name, integer formatting, the message escaped a character at a time; also paid when a span is created |
//! | [`fmt::format()`](tracing_subscriber::fmt::format()) (full) | [`PlainFull`] | styles and padding around level, spans and target |
//!
//! Turn them on together on a layer without colours:
//!
//! ```
//! use backpressure_writer::format::{PlainFields, PlainFull};
//! use tracing_subscriber::{fmt, prelude::*};
//!
//! let (writer, guard) = backpressure_writer::non_blocking(std::io::sink());
//! let layer = fmt::layer()
//!     .with_ansi(false)
//!     .with_writer(writer)
//!     .fmt_fields(PlainFields::new())
//!     .event_format(PlainFull::new());
//! let subscriber = tracing_subscriber::registry().with(layer);
//! tracing::subscriber::with_default(subscriber, || tracing::info!(n = 1, "hello"));
//! drop(guard);
//! ```
//!
//! With colours on, [`PlainFields`] and [`PlainFull`] hand the work to `fmt`'s own
//! formatters, so the output is still `fmt`'s; they save nothing there. What each saves,
//! measured, is in `docs/benchmarks.md` (section *Formatting on the caller*).

mod event;
pub(crate) mod fields;
pub(crate) mod time;

pub use event::PlainFull;
pub use fields::PlainFields;
pub use time::CachedSystemTime;
