//! A non-blocking, level-aware, batching [`MakeWriter`](tracing_subscriber::fmt::MakeWriter):
//! a drop-in replacement for `tracing_appender::non_blocking`.
//!
//! Migrating is a change of crate name: [`non_blocking()`], [`NonBlocking::new`] and
//! [`NonBlockingBuilder`] (`buffered_lines_limit`, `lossy`, `thread_name`, `finish`) mean
//! what they mean in tracing-appender, and the [`non_blocking`](mod@non_blocking) module
//! offers tracing-appender's paths (`backpressure_writer::non_blocking::{NonBlocking,
//! NonBlockingBuilder, WorkerGuard, ErrorCounter}`). Two differences show in
//! tracing-appender's own tests, ported in `tests/appender_compat.rs`: lines that meet in
//! the queue reach the sink in one `write` call (tracing-appender makes one per line), and
//! `buffered_lines_limit` counts the lines being written as well as those queued (its
//! channel's bound leaves the line in the worker's hands on top). (One visible difference: the per-event writer `MakeWriter` hands out is
//! a [`LineWriter`], a borrow of the shared state, rather than a `NonBlocking` clone, which
//! spares an atomic reference-count round trip per event.) What changes is underneath:
//!
//! - **No allocation, no syscall per line.** Producers append each line into one shared,
//!   reused byte buffer under a short lock (a producer that finds it taken yields its core
//!   to the holder rather than sleeping on it, so eight producers on two cores cost about
//!   what two do: `docs/benchmarks.md` §4); the worker swaps the whole buffer out and writes
//!   it in chunks of up to 1 MiB outside the lock (keep-level lines merged with the others
//!   in submission order, in the same chunks), so a slow sink never holds the producers'
//!   lock. After a batch it polls, a timed wait of 1 ms at a time, for up to
//!   [`park_after`](NonBlockingBuilder::park_after) (100 ms) before it parks (a half-full
//!   queue or keep queue, a blocked producer, `flush()` or shutdown wake it at once), so
//!   during a busy stretch, and in bursts with pauses shorter than that, producers never pay
//!   a wake-up syscall and batches stay large; once parked (no CPU at all), the first line
//!   wakes it. It flushes the sink when the queue runs empty, on
//!   [`flush_interval`](NonBlockingBuilder::flush_interval), and on [`WorkerGuard::flush`].
//! - **A choice of [`Overflow`] policy**: drop the newest line, drop the oldest, or block
//!   (optionally with a timeout).
//! - **Bounded in lines and in bytes.** The queue is full at
//!   [`buffered_lines_limit`](NonBlockingBuilder::buffered_lines_limit) lines or
//!   [`buffered_bytes_limit`](NonBlockingBuilder::buffered_bytes_limit) bytes (64 MiB by
//!   default), whichever comes first, and the policy applies to either; keep-level lines
//!   have room reserved on top (a byte reserve of 1/8 of the bound, and a line bound, see
//!   *Level awareness*). A line longer than the byte bound is dropped at once
//!   (counted under `newest`, a keep line under `keep_timeout`). Memory follows use: a
//!   fresh writer holds about 1 KiB, the buffers grow (doubling, never past the bound) as
//!   lines arrive, and once the worker parks after a burst (`park_after`, 100 ms after the
//!   last batch) they shrink back to at most
//!   256 KiB each, 1.25 MiB in all (`tests/memory.rs`: 2 000 lines of 1 MiB into a stalled
//!   sink hold 64 MiB, not 2 GB, and 2 KiB once idle). While a batch is written two
//!   buffers exist, the one producers fill and the one the worker writes from: the lines
//!   in both together stay within the bound, and each buffer's capacity within it too
//!   (1.5 times it under `DropOldest`, room to reclaim evicted lines cheaply), so the
//!   worst case is about twice the bound. Each buffered line also holds a 24-byte record,
//!   capped by the line bounds: at most 3/8 of the keep byte reserve for keep lines
//!   without an explicit `keep_capacity` (`tests/keep_memory.rs`: 131 072 two-byte ERROR
//!   lines hold 3.3 MiB, and long lines of both classes 72 MiB, the two byte bounds).
//! - **Level awareness.** Through [`make_writer_for`](tracing_subscriber::fmt::MakeWriter::make_writer_for)
//!   the writer knows each event's level. Lines at [`keep_level`](NonBlockingBuilder::keep_level)
//!   (WARN by default) or more severe are never dropped by the overflow policy: they have
//!   reserved room, bounded by its bytes (1/8 of
//!   [`buffered_bytes_limit`](NonBlockingBuilder::buffered_bytes_limit), 8 MiB by default),
//!   not by a share of the line count, unless
//!   [`keep_capacity`](NonBlockingBuilder::keep_capacity) sets a bound in lines. A keep
//!   line that finds room never waits, however long the sink stalls (a 64-line queue
//!   stuck while 20 000 INFO and 200 ERROR arrive writes all 200 once it recovers:
//!   `tests/keep_reserve.rs`). Only when the room is full does one wait, up to
//!   [`keep_timeout`](NonBlockingBuilder::keep_timeout) (5 ms by default, short enough
//!   not to stall an async runtime; under [`Overflow::Block`] as long as the policy waits),
//!   and then it is dropped, counted under `keep_timeout`.
//!   Once one has timed out, later ones (and those already waiting) don't wait again until
//!   the keep backlog has drained to half the reserved room, in lines and in bytes. Context lines flushed ahead of
//!   an error get a capped share of that room ([`NonBlocking::context_writer`], see
//!   *Flushed context* below).
//! - **Losses are visible.** [`NonBlocking::stats`] returns exact counts, by
//!   [`DropReason`], with `submitted == lines_written + dropped.total() + queue_depth` in
//!   every snapshot ([the accounting invariant](Stats#accounting)); and the worker writes a
//!   drop-report line into the output itself (format below).
//! - **Faults are survived.** A sink error loses that batch (counted under `write_failed`
//!   and `write_errors`; the first error and then periodic summaries go to stderr):
//!   `WouldBlock`, `Ok(0)` and every other error at once, `Interrupted` after 16 retries
//!   per chunk (never retried without end, as `write_all` would); lines a partial write
//!   put wholly in the output count as written. A
//!   panicking sink is caught and counted; once the worker is gone, producers never wait and
//!   their lines count as `worker_gone`. A sink that logs into its own writer (its lines come
//!   from the worker thread) never waits for room: such a line that finds no room is dropped
//!   at once, counted as a timeout, instead of deadlocking.
//! - **A bounded shutdown.** Dropping the [`WorkerGuard`] drains what was submitted before
//!   the drop (later lines count as `worker_gone`, so other threads that keep logging can't
//!   stretch it), flushes and joins, within
//!   [`shutdown_timeout`](NonBlockingBuilder::shutdown_timeout) (5 s by default). On timeout
//!   what was not yet handed to the sink is counted under `shutdown` and never written; the
//!   chunk inside the sink is counted when its write returns. One line on stderr gives both
//!   numbers, e.g. `backpressure-writer: shutdown timed out after 5s: 0 lines were not
//!   written (counted as shutdown); 100 lines are still inside the sink's write, counted as
//!   written or write_failed if it returns` (the part after `;` only when the sink holds
//!   lines).
//!   A line counted dropped never appears in the output.
//!
//! - **The last lines before a crash.** [`install_panic_flush`] chains a panic hook that
//!   logs the panic as an ERROR event and flushes every live writer of the process within
//!   a deadline before the previous hook runs, so a crash (also with `panic = "abort"`,
//!   where no guard drains) leaves its own line and the lines before it in the file;
//!   [`flush_all`] does the same before `process::exit`. [`PanicFlush`] says what this
//!   can and cannot promise (`abort`, signals). A writer used after its guard was dropped
//!   (`let (writer, _) = non_blocking(..)` drops the guard at once) says so once on
//!   stderr; its lines count as `worker_gone`.
//!
//! - **Files that rotate.** [`rolling::RollingFile`] is a sink that rotates by size and
//!   time between two lines, keeps files by count, size and age, gzips closed files on a
//!   thread of its own and reopens for logrotate; its module docs are its manual.
//!
//! Each `write` call is one line (`fmt::Layer` formats an event into one buffer and calls
//! `write_all` once). Lines are never torn or interleaved, and one thread's lines keep
//! their order, keep-level or not.
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
//! # The drop report
//!
//! After lines were dropped, the worker writes one line into the output (at most one per
//! [`drop_report_interval`](NonBlockingBuilder::drop_report_interval), 1 s by default, the
//! first as soon as drops are seen, and a last one at shutdown if drops remain unreported;
//! [`drop_report(false)`](NonBlockingBuilder::drop_report) turns it off). In the default
//! text form:
//!
//! ```text
//! backpressure-writer: dropped 1234 lines since last report (newest=1234 oldest=0 timeout=0 keep_timeout=0 shutdown=0 worker_gone=0 write_failed=0)
//! ```
//!
//! `dropped N` is the sum of the counts that follow, always in this order with the names of
//! [`DropReason::as_str`] (the order of [`DropReason::ALL`]). The seven reasons above are
//! always named; `context=N` ([`Dropped::context`]) follows only in a report where context
//! lines were dropped ([`DropReason::in_every_report`]), so the format stays as it was for
//! writers without a [`context_writer`](NonBlocking::context_writer). It follows the batch of lines that was queued while the drops
//! happened. It ends with `\n` and counts in `bytes_written` but not in `lines_written`.
//!
//! For output made by `fmt::layer().json()`, [`OwnLineFormat::Json`] (set with
//! [`own_line_format`](NonBlockingBuilder::own_line_format)) writes the same report as one
//! JSON object in fmt's layout (level `WARN`, target `backpressure_writer`, the message
//! and the per-reason counts under `fields`), so the file still parses line by line; a
//! closure can take any other form. [`OwnLineFormat`] documents the forms.
//!
//! # Flushed context
//!
//! An error-triggered capture (`sampling-layer`'s `CaptureWriter`) writes the sampled-out
//! lines of a failed request ahead of its ERROR line, possibly hundreds at once.
//! [`NonBlocking::context_writer`] gives it a writer for them: a line for a keep-level
//! trigger goes into the keep room, so the overflow policy cannot drop the context at the
//! moment it is needed, but only while the keep room holds less than a share of
//! `keep_capacity` (and of the keep room's bytes), so that context never crowds out real
//! WARN/ERROR lines, which may use the whole room. The [`ContextShare`] sets the share (a
//! quarter by default, refused outside (0, 1]) and the context's own wait bound, 1 ms by
//! default and independent of `keep_timeout` and of the overflow policy: a context line
//! that finds the share full waits at most that long, then is dropped and counted under
//! [`Dropped::context`]; after such a timeout later context lines do not wait until the
//! keep room has drained to half the share, so a flush against a stalled sink costs one
//! wait, not one per line. Context lines keep their order with the trigger line (one
//! thread, one order); when the share fills up during a flush, the lines that get in are
//! its first ones (later ones only as the worker drains the room), while the capture's
//! own buffer keeps a span's newest lines. For a trigger below `keep_level` the context follows the overflow policy, as
//! the trigger itself does.
//!
//! ```
//! use backpressure_writer::{ContextShare, NonBlockingBuilder};
//! use sampling_layer::{CaptureWriter, SamplingFilter};
//! use tracing_subscriber::{fmt, prelude::*};
//!
//! let (writer, _guard) = NonBlockingBuilder::default().finish(std::io::sink());
//! let sampler = SamplingFilter::builder().capture_span("request").parse("0.01").unwrap();
//! let share = ContextShare::builder().share_of_keep_capacity(0.25).build()?;
//! let capture = CaptureWriter::new(writer.clone(), &sampler.handle())
//!     .with_context_writer(writer.context_writer(share));
//! let _subscriber = tracing_subscriber::registry()
//!     .with(fmt::layer().with_writer(capture).with_filter(sampler));
//! # Ok::<(), backpressure_writer::BuildError>(())
//! ```
//!
//! # Dependencies
//!
//! `tracing-core` (levels, metadata), `tracing-subscriber` (the `MakeWriter` trait) and
//! `flate2` on its pure-Rust backend (gzip of closed files in [`rolling`]) only;
//! the queue is a `Mutex` + `Condvar` design from `std` (`loom` replaces them under
//! `cfg(backpressure_writer_loom)` for the model checks in `tests/backpressure_writer_loom.rs`).
//!
//! # Composition
//!
//! The writer knows nothing of sampling or metrics: `sampling-layer` decides which events
//! reach `fmt::Layer`, this crate decides what happens to the formatted line, and
//! `logmetrics` polls [`NonBlocking::stats`] to export the figures.
// One `unsafe` block in the crate, allowed where it stands: the rolling sink's
// housekeeping thread lowering its own priority (`rolling/housekeeper.rs`).
#![deny(unsafe_code)]
#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub
)]

mod admit;
mod builder;
mod config;
mod context;
mod error;
mod flush;
mod gone_notice;
mod guard;
mod lifecycle;
mod own_line;
mod panic_flush;
mod queue;
mod registry;
mod report;
pub mod rolling;
mod shared;
mod stats;
mod sync;
mod worker;
mod writer;

pub use builder::{
    non_blocking, NonBlockingBuilder, DEFAULT_BUFFERED_BYTES_LIMIT, DEFAULT_BUFFERED_LINES_LIMIT,
};
pub use config::Overflow;
pub use context::{ContextLineWriter, ContextShare, ContextShareBuilder, ContextWriter};
pub use error::{BuildError, FlushError};
pub use guard::WorkerGuard;
pub use own_line::{OwnLine, OwnLineFormat};
pub use panic_flush::{flush_all, install_panic_flush, PanicFlush};
pub use registry::FlushAllReport;
pub use stats::{DropReason, Dropped, LatencySnapshot, Stats};
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
