//! The producer-facing handles: [`NonBlocking`] (the `MakeWriter`), [`LineWriter`] (what
//! it hands to `fmt::Layer` per event) and [`ErrorCounter`].

use std::fmt;
use std::io;

use tracing_core::Metadata;
use tracing_subscriber::fmt::MakeWriter;

use crate::own_line::OwnLineFormat;
use crate::shared::Shared;
use crate::stats::Stats;
use crate::sync::Arc;

/// A cloneable, non-blocking writer: every `write` call queues one line for the worker
/// thread. Created by [`non_blocking`](crate::non_blocking()) or
/// [`NonBlockingBuilder`](crate::NonBlockingBuilder).
///
/// `write` returns `Ok(buf.len())` even when the line is dropped (a logger must not fail
/// its caller); losses show in [`stats`](Self::stats) and in the drop report.
/// `flush` returns at once: use [`WorkerGuard::flush`](crate::WorkerGuard::flush) to wait for
/// the sink.
///
/// # What a line costs the logging thread
///
/// A line that finds room (the usual case) is appended into one shared, reused byte buffer
/// under a short lock: one lock acquisition, a `memcpy` and a 24-byte record, and a clock
/// read for one line in 64. A producer that finds the lock taken yields its core to the
/// holder rather than sleeping on it, so eight producers on two cores cost about what two
/// do (`docs/benchmarks.md` §4). That path allocates nothing once the buffers have grown
/// to their working size, and makes no syscall unless the worker is parked. The
/// exceptions, exactly:
///
/// - the first line after a burst larger than 256 KiB regrows the buffers, under the
///   lock (a worker gone idle gives back larger buffers);
/// - the first line after the worker parked pays one futex wake;
/// - a line that finds no room waits as its [`Overflow`](crate::Overflow) policy or
///   [`keep_timeout`](crate::NonBlockingBuilder::keep_timeout) says, on a condvar;
/// - the first line refused after the guard's drop prints one notice on stderr.
///
/// The worker swaps the whole buffer out and writes it in chunks of up to 1 MiB outside
/// the lock (keep-level lines merged with the others in submission order, in the same
/// chunks), so a slow sink never holds the producers' lock. After a batch it polls for
/// [`park_after`](crate::NonBlockingBuilder::park_after) before it parks (a half-full
/// queue, a blocked producer, `flush()` or shutdown wake it at once), so during a busy
/// stretch producers never pay a wake-up and batches stay large. It flushes the sink when
/// the queue runs empty, on [`flush_interval`](crate::NonBlockingBuilder::flush_interval),
/// and on [`WorkerGuard::flush`](crate::WorkerGuard::flush).
///
/// # Sink faults
///
/// A sink error loses that batch (counted under
/// [`write_failed`](crate::stats::Dropped::write_failed) and `write_errors`; the first
/// error and then periodic summaries go to stderr): `WouldBlock`, `Ok(0)` and every other
/// error at once, `Interrupted` after 16 retries per chunk (never retried without end, as
/// `write_all` would); lines a partial write put wholly in the output count as written. A
/// panicking sink is caught and counted; once the worker is gone, producers never wait
/// and their lines count as `worker_gone`. A sink that logs into its own writer (its lines
/// come from the worker thread) never waits for room: such a line that finds no room is
/// dropped at once, counted as a timeout, instead of deadlocking. A line counted dropped
/// never appears in the output.
#[derive(Clone)]
pub struct NonBlocking {
    shared: Arc<Shared>,
    keep: bool,
}

impl fmt::Debug for NonBlocking {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NonBlocking")
            .field("keep", &self.keep)
            .field("shared", &self.shared)
            .finish()
    }
}

impl NonBlocking {
    pub(crate) fn from_shared(shared: Arc<Shared>) -> Self {
        NonBlocking {
            shared,
            keep: false,
        }
    }

    /// A snapshot of the writer's figures (takes the queue lock for a few loads).
    pub fn stats(&self) -> Stats {
        self.shared.stats()
    }

    /// How full the queue is: lines buffered under the overflow policy (queued or in
    /// flight) over `buffered_lines_limit`, in `[0, 1]`. Keep-level lines have their
    /// own reserve and do not count. A pressure signal for a sampler
    /// (`sampling_layer::Pressure::new(move || writer.fill())`), so the two crates stay
    /// independent. Takes the queue lock for a load, like [`stats`](Self::stats).
    pub fn fill(&self) -> f64 {
        let used = self.shared.lock().policy_occupancy();
        (used as f64 / self.shared.config.capacity.max(1) as f64).min(1.0)
    }

    /// The form this writer's own lines take (see
    /// [`NonBlockingBuilder::own_line_format`](crate::NonBlockingBuilder::own_line_format)):
    /// companion crates that write a line of their own through it use the same, so their
    /// line matches the rest of the output.
    pub fn own_line_format(&self) -> &OwnLineFormat {
        &self.shared.config.own_line_format
    }

    /// Lines dropped so far, as tracing-appender's `ErrorCounter`.
    pub fn error_counter(&self) -> ErrorCounter {
        ErrorCounter(Arc::clone(&self.shared))
    }

    /// A `MakeWriter` for flushed context lines (those an error-triggered capture writes
    /// ahead of its trigger, e.g. `sampling-layer`'s `CaptureWriter::with_context_writer`):
    /// in the trigger's class, but within a capped share of the keep room and with a wait
    /// bound of their own, set by the builder's
    /// [`context_share`](crate::NonBlockingBuilder::context_share). See the
    /// [`context`](crate::context) module.
    // The type and its admission live in `context.rs`, beside the rest of what context
    // lines do; here only the handle that producers see.
    pub fn context_writer(&self) -> crate::context::ContextWriter {
        let share = self.shared.config.context;
        crate::context::ContextWriter::new(Arc::clone(&self.shared), share)
    }

    /// A handle whose plain `write` calls are treated as keep-level lines (never dropped by
    /// the overflow policy), for writers used outside `tracing`.
    pub fn keeping(&self) -> NonBlocking {
        NonBlocking {
            shared: Arc::clone(&self.shared),
            keep: true,
        }
    }
}

impl io::Write for NonBlocking {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.shared.submit(buf, self.keep);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for NonBlocking {
    type Writer = LineWriter<'a>;

    /// A writer whose lines follow the overflow policy (the level is unknown).
    fn make_writer(&'a self) -> Self::Writer {
        LineWriter {
            shared: &self.shared,
            keep: self.keep,
        }
    }

    /// A writer that knows the event's level: at or above `keep_level`, its line is kept.
    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> Self::Writer {
        LineWriter {
            shared: &self.shared,
            keep: self.keep || self.shared.config.keeps(meta.level()),
        }
    }
}

/// The per-event writer [`NonBlocking`] makes: a borrow, so making one costs no reference
/// count traffic on the shared state. Each `write` call is one line.
pub struct LineWriter<'a> {
    shared: &'a Shared,
    keep: bool,
}

impl fmt::Debug for LineWriter<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LineWriter")
            .field("keep", &self.keep)
            .finish_non_exhaustive()
    }
}

impl io::Write for LineWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.shared.submit(buf, self.keep);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Counts the lines a [`NonBlocking`] writer dropped, whatever the reason.
#[derive(Clone)]
pub struct ErrorCounter(Arc<Shared>);

impl fmt::Debug for ErrorCounter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ErrorCounter")
            .field(&self.dropped_lines())
            .finish()
    }
}

impl ErrorCounter {
    /// Lines dropped so far (all reasons of [`Dropped`](crate::stats::Dropped), summed).
    pub fn dropped_lines(&self) -> usize {
        self.0.lock().dropped.total() as usize
    }
}
