//! A non-blocking, level-aware, batching [`MakeWriter`](tracing_subscriber::fmt::MakeWriter):
//! a drop-in replacement for `tracing_appender::non_blocking`.
//!
//! Migrating is a change of crate name: [`non_blocking()`], [`NonBlocking::new`] and
//! [`NonBlockingBuilder`] (`buffered_lines_limit`, `lossy`, `thread_name`, `finish`) mean
//! what they mean in tracing-appender, and the [`non_blocking`](mod@non_blocking) module
//! offers tracing-appender's paths. Two differences show in tracing-appender's own tests,
//! ported in `tests/writer/appender_compat.rs`: lines that meet in the queue reach the
//! sink in one `write` call (tracing-appender makes one per line), and
//! `buffered_lines_limit` counts the lines being written as well as those queued. The per-event writer is a
//! [`LineWriter`], a borrow of the shared state rather than a `NonBlocking` clone, which
//! spares an atomic reference-count round trip per event.
//!
//! Each `write` call is one line (`fmt::Layer` formats an event into one buffer and calls
//! `write_all` once). Lines are never torn or interleaved, and one thread's lines keep
//! their order, keep-level or not. What changes is underneath; each topic is documented
//! once, where it is configured or counted:
//!
//! | Topic | Where |
//! |---|---|
//! | What a line costs the logging thread; batching; sink faults | [`NonBlocking`] |
//! | Bounds in lines and bytes; memory | [`buffered_lines_limit`](NonBlockingBuilder::buffered_lines_limit), [`buffered_bytes_limit`](NonBlockingBuilder::buffered_bytes_limit) |
//! | A full queue | [`Overflow`] |
//! | WARN/ERROR never dropped by the policy; their reserved room | [`keep_level`](NonBlockingBuilder::keep_level), [`keep_capacity`](NonBlockingBuilder::keep_capacity), [`keep_timeout`](NonBlockingBuilder::keep_timeout) |
//! | When the worker sleeps, polls and flushes | [`park_after`](NonBlockingBuilder::park_after), [`max_poll`](NonBlockingBuilder::max_poll), [`flush_interval`](NonBlockingBuilder::flush_interval) |
//! | Exact counts of every loss, the accounting invariant | [`stats::Stats`](stats::Stats#accounting), [`stats::DropReason`] |
//! | The drop-report line in the output | [`stats`](stats#the-drop-report), [`OwnLineFormat`] |
//! | A bounded shutdown | [`WorkerGuard`] |
//! | Lines flushed ahead of an error by a capture | [`context`] |
//! | The last lines before a crash or `process::exit` | [`panic_flush`] |
//! | Files that rotate, are kept and compressed (gzip, or zstd with the `zstd` feature) | [`rolling`] |
//! | A kept line's formatting on the caller, cheaper and byte for byte `fmt`'s | [`format`](mod@format) |
//! | A kept line laid out on the worker instead (text, or JSON with the `json` feature), byte for byte `fmt`'s | [`deferred`] |
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use backpressure_writer::{NonBlockingBuilder, Overflow};
//!
//! let file = std::io::sink(); // or a File, stdout, any `Write + Send + 'static`
//! let (writer, guard) = NonBlockingBuilder::default()
//!     .buffered_lines_limit(64_000)
//!     .overflow(Overflow::Block { timeout: Some(Duration::from_millis(50)) })
//!     .keep_level(tracing::Level::WARN)
//!     .finish(file);
//! let stats = writer.clone();
//!
//! let subscriber = tracing_subscriber::fmt().with_writer(writer).finish();
//! tracing::subscriber::with_default(subscriber, || {
//!     tracing::info!("hello");
//!     tracing::warn!("never dropped by the overflow policy");
//! });
//!
//! guard.flush().expect("all lines written");
//! let s = stats.stats();
//! assert_eq!(s.lines_written, 2);
//! assert_eq!(s.submitted, s.lines_written + s.dropped.total() + s.queue_depth as u64);
//! drop(guard); // drains, flushes and joins the worker
//! ```
//!
//! # Dependencies
//!
//! `tracing-core` (levels, metadata), `tracing-subscriber` (the `MakeWriter` trait),
//! `tracing` (the panic hook logs the panic as an event) and `flate2` on its pure-Rust
//! backend (gzip of closed files in [`rolling`]); with the `zstd` feature `ruzstd` (pure
//! Rust, zstd of closed files); with the `json` feature `serde`, `serde_json` and
//! `tracing-serde` (deferred JSON lines, through the visitors `fmt`'s JSON uses); on Linux `libc`, for the one call that
//! lowers the rolling sink's housekeeping thread's priority. The queue is a `Mutex` + `Condvar`
//! design from `std` (`loom` replaces them under `cfg(backpressure_writer_loom)` for the
//! model checks in `tests/loom.rs`); the [`deferred`] layer's table of span values is
//! atomics only, model-checked in the library's own tests (`--lib loom`).
//!
//! # Composition
//!
//! The writer knows nothing of sampling or metrics: `sampling-layer` decides which events
//! reach `fmt::Layer` (or the [`deferred`] layer), this crate decides what happens to the
//! line, and `logmetrics` polls [`NonBlocking::stats`] to export the figures.
// One `unsafe` block in the crate, allowed where it stands: the rolling sink's
// housekeeping thread lowering its own priority (`rolling/housekeeper.rs`).
#![deny(unsafe_code)]

mod admit;
mod builder;
mod config;
pub mod context;
mod deadline;
pub mod deferred;
mod error;
mod flush;
pub mod format;
mod gone_notice;
mod guard;
mod lifecycle;
mod own_line;
pub mod panic_flush;
mod queue;
mod registry;
mod report;
pub mod rolling;
mod shared;
pub mod stats;
mod sync;
mod worker;
mod writer;

pub use builder::{
    non_blocking, NonBlockingBuilder, DEFAULT_BUFFERED_BYTES_LIMIT, DEFAULT_BUFFERED_LINES_LIMIT,
};
pub use config::Overflow;
pub use error::{BuildError, FlushError};
pub use guard::WorkerGuard;
pub use own_line::{OwnLine, OwnLineFormat};
pub use writer::{ErrorCounter, LineWriter, NonBlocking};

/// The module path tracing-appender uses, so that migrating is a change of crate name:
/// `use backpressure_writer::non_blocking::{NonBlocking, NonBlockingBuilder, WorkerGuard};`
/// works as `use tracing_appender::non_blocking::{...}` does.
///
/// Everything here is also exported at the crate root; these are the same items, not
/// copies.
pub mod non_blocking {
    pub use crate::builder::{NonBlockingBuilder, DEFAULT_BUFFERED_LINES_LIMIT};
    pub use crate::guard::WorkerGuard;
    pub use crate::writer::{ErrorCounter, LineWriter, NonBlocking};
}
