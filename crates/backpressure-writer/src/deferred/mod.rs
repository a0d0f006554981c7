//! Lines laid out on the writer's thread: the caller records, the worker formats.
//!
//! `fmt` formats every kept line on the thread that logs it: the timestamp, the level,
//! each span's fields, the event's fields, before the writer ever sees the line. A
//! [`DeferredLayer`] does on the caller only what cannot wait — the time read, each
//! value copied (a `?` or `%` value and the message formatted, since they borrow from the
//! caller) — and writes that as a compact record; a [`Decoded`] sink around the file lays
//! each record out as the line `fmt::layer()` (or `fmt::layer().json()`, with the `json`
//! feature) would have written, on the writer's worker thread. The bytes are `fmt`'s
//! (`tests/format/deferred.rs` compares them line by line with `fmt`'s over a corpus of
//! events and spans: text with colours on and off, sanitizing on and off, JSON with and
//! without its span members, and `sampling-layer`'s `Annotated` around both).
//!
//! ```
//! use backpressure_writer::deferred::{Decoded, DeferredLayer};
//! use tracing_subscriber::prelude::*;
//!
//! let (writer, guard) = backpressure_writer::non_blocking(Decoded::new(std::io::sink()));
//! let subscriber = tracing_subscriber::registry().with(DeferredLayer::new(writer));
//! tracing::subscriber::with_default(subscriber, || tracing::info!(n = 1, "hello"));
//! drop(guard);
//! ```
//!
//! What a line costs its caller this way, against `fmt` and this crate's
//! [`format`](crate::format) drop-ins, is in `docs/benchmarks.md` (section *Formatting
//! on the writer's thread*).
//!
//! # What differs from `fmt`
//!
//! - The line's bytes are what the writer counts and bounds: a record is about as long
//!   as its line (shorter for numbers and the timestamp, longer by a header), so byte
//!   capacities and byte figures count records, not the lines they become.
//! - The layouts are `fmt::format()`'s full text with `DefaultFields`, and
//!   `fmt::format().json()` with `JsonFields` (its `with_current_span`,
//!   `with_span_list` and `flatten_event` offered), each with `fmt`'s switches for the
//!   time, the level, the target, the file and line and the thread's name and id
//!   (`tests/format/options.rs` compares them with `fmt`'s, switched each way). Not
//!   offered: compact or pretty text, other timers than the UTC RFC 3339 one: keep
//!   `fmt::layer()` for those.
//! - A text line pads thread names to the longest this crate laid out so far, as `fmt`
//!   pads to the longest it printed; the two maxima are apart, so a process that prints
//!   thread names through both `fmt` and a deferred layer can pad the same name to two
//!   widths.
//! - An error's chain of sources is kept to 64 (no real error has more; a cycle would
//!   never end).
//! - Colours are off unless asked for ([`DeferredLayer::with_ansi`]): a deferred line goes
//!   to a file.
//! - A span's fields are recorded when the span is created and when it records more,
//!   as `fmt` formats them then: a line shows each span's values as of the event.
//!
//! # With the rest of the workspace
//!
//! Under `sampling-layer`'s sampler it is filtered like any layer;
//! [`DeferredLayer::with_sample_rate`] writes the annotation `Annotated` writes; inside
//! `sampling-layer`'s `CaptureLayer`, with a `CaptureWriter` as its writer, captured
//! events are kept as records (recorded, not formatted, until a trigger writes them) and
//! come out marked `captured=true`. The writer's accounting is unchanged: one record is
//! one line, written whole with one `write_all` (a `CaptureWriter` stores it as it comes).

#[cfg(feature = "json")]
mod json;
mod known;
mod layer;
mod layout;
mod record;
mod sink;
mod slots;
mod text;

pub use layer::DeferredLayer;
pub use sink::{Decoded, Unreadables};

#[cfg(all(test, not(backpressure_writer_loom)))]
mod tests;
