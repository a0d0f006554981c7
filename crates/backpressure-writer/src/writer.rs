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
    /// bound of their own. See [`ContextWriter`](crate::ContextWriter) and the crate docs,
    /// *Flushed context*.
    // Hook (writer-context): the type and its admission live in `context.rs`.
    pub fn context_writer(&self, share: crate::ContextShare) -> crate::ContextWriter {
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
    /// Lines dropped so far (all reasons of [`Dropped`](crate::Dropped), summed).
    pub fn dropped_lines(&self) -> usize {
        self.0.lock().dropped.total() as usize
    }
}
