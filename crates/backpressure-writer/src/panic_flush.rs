//! The last lines before a crash: [`PanicFlush`] chains a panic hook that logs the panic
//! as an ERROR event and flushes every live writer of the process within a deadline
//! before the previous hook runs, so a crash (also with `panic = "abort"`, where no guard
//! drains) leaves its own line and the lines before it in the file; [`flush_all`] does the
//! same before `process::exit`, and says in a [`FlushAllReport`] what it found.
//! [`PanicFlush`] says what this can and cannot promise (`abort`, signals).
//!
//! A writer used after its guard was dropped (`let (writer, _) = non_blocking(..)` drops
//! the guard at once) says so once on stderr; its lines count as `worker_gone`.

use std::any::Any;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use crate::error::BuildError;
use crate::registry;
pub use crate::registry::FlushAllReport;

/// Flushes every live writer of the process (built and whose [`WorkerGuard`] is not
/// dropped), waiting at most `timeout` in all: every line submitted before the call is
/// written and the sink flushed, unless the sink is too slow.
///
/// The writers are asked together and flush in parallel. Call it before
/// [`std::process::exit`], which runs no destructor, so no guard drains; the panic hook of
/// [`PanicFlush`] calls it too. Like [`WorkerGuard::flush`] it blocks: never call it from
/// an async signal handler (see [`PanicFlush`] on signals).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// let (writer, _guard) = backpressure_writer::non_blocking(std::io::sink());
/// let stats = writer.clone();
/// let subscriber = tracing_subscriber::fmt().with_writer(writer).finish();
/// tracing::subscriber::with_default(subscriber, || tracing::info!("about to exit"));
///
/// let report = backpressure_writer::panic_flush::flush_all(Duration::from_secs(2));
/// assert!(report.all_flushed());
/// assert_eq!(stats.stats().lines_written, 1);
/// // std::process::exit(0) would lose nothing now.
/// ```
///
/// [`WorkerGuard`]: crate::WorkerGuard
/// [`WorkerGuard::flush`]: crate::WorkerGuard::flush
pub fn flush_all(timeout: Duration) -> FlushAllReport {
    registry::flush_listed(crate::deadline::after(Instant::now(), timeout))
}

/// A panic hook that saves the last lines before a crash.
///
/// With `panic = "abort"` (common in release profiles) a panic runs no destructor, so no
/// [`WorkerGuard`](crate::WorkerGuard) drains, and lines still queued are lost, the
/// panic's own report included. Even with unwinding, a guard kept inside some service
/// object may outlive the panicking thread. This hook runs on the panicking thread before
/// anything else happens (unwinding, or the abort), and:
///
/// 1. logs the panic as an ERROR event through `tracing` (target `panic`, fields `thread`
///    and `location`, the panic message as the message), so it lands in the same files
///    as the lines before it ([`log_panic(false)`](Self::log_panic) turns this off);
/// 2. flushes every live writer of the process ([`flush_all`]) within the deadline;
/// 3. runs the hook installed before it (std's default prints the panic on stderr), so
///    the user's own hook keeps working: the hook is chained, not replaced.
///
/// # What it promises, and what it cannot
///
/// - **A panic**, unwinding or `panic = "abort"`: every line any thread submitted before
///   the hook started, and the panic's ERROR line, are written and the sinks flushed,
///   unless a sink takes longer than the deadline (one deadline for all writers; lines
///   other threads log meanwhile may be written too). The ERROR line is written only if
///   the subscriber's filter lets an ERROR event of target `panic` through, and only to
///   the writers it reaches. Every panic pays the flush, also one caught later by
///   `catch_unwind`.
/// - A panic on a writer's own worker thread (a panicking sink, which the writer catches
///   and counts) does not wait for that writer, nor does a panic raised while the
///   panicking thread holds a writer's lock (it would wait for itself): such a writer is
///   skipped, never deadlocked on.
/// - **[`std::process::exit`]** runs neither hooks nor destructors: call [`flush_all`]
///   before it.
/// - **[`std::process::abort`]**, a failed allocation, a stack overflow, and a panic
///   inside a panic hook end the process at once: nothing can be saved.
/// - **Signals**: SIGTERM and SIGINT kill the process without running any Rust code
///   unless the program handles them; handle them (for example with `tokio::signal`) and
///   shut down in order (drop the guard, or call [`flush_all`] from that ordinary
///   thread). `flush_all` takes locks and waits, so it must never run inside an async
///   signal handler. SIGKILL (and the kernel's OOM killer) leave no chance at all.
/// - A hook set later with [`std::panic::set_hook`] replaces this one unless it calls the
///   previous hook, which [`std::panic::take_hook`] returns; install this one last.
///
/// # Installing
///
/// [`install`](Self::install) chains the hook once per process; installing again only
/// updates the deadline and the `log_panic` setting. Like `set_hook`, it panics if called
/// from a panicking thread.
///
/// Writers are listed when they are built and leave the list when their guard's drop
/// begins; the list holds weak references (it keeps no writer alive), costs nothing on the
/// logging path, and is bounded (256 live writers; later ones are not listed, said once on
/// stderr).
#[derive(Debug, Clone)]
#[must_use = "a PanicFlush does nothing until `install` is called"]
pub struct PanicFlush {
    deadline: Duration,
    log_panic: bool,
}

impl PanicFlush {
    /// A hook that waits at most `deadline` for the writers (must be positive), logging
    /// the panic first.
    pub fn new(deadline: Duration) -> Self {
        PanicFlush {
            deadline,
            log_panic: true,
        }
    }

    /// Whether the hook logs the panic as an ERROR event before flushing (default `true`).
    /// Turn it off if your own hook, installed *after* this one, logs the panic itself:
    /// it then runs first and its event is flushed too.
    pub fn log_panic(mut self, log: bool) -> Self {
        self.log_panic = log;
        self
    }

    /// Validates the settings and chains the hook in front of the current one (once per
    /// process; a second call updates the settings).
    pub fn install(self) -> Result<(), BuildError> {
        if self.deadline.is_zero() {
            return Err(BuildError::ZeroTimeout {
                setting: "the panic flush deadline",
            });
        }
        let nanos = u64::try_from(self.deadline.as_nanos()).unwrap_or(u64::MAX);
        DEADLINE_NANOS.store(nanos, Relaxed);
        LOG_PANIC.store(self.log_panic, Relaxed);
        if INSTALLED.swap(true, Relaxed) {
            return Ok(());
        }
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let wait = Duration::from_nanos(DEADLINE_NANOS.load(Relaxed));
            let deadline = crate::deadline::after(Instant::now(), wait);
            if LOG_PANIC.load(Relaxed) {
                let message = payload_text(info.payload());
                let thread = std::thread::current();
                let name = thread.name().unwrap_or("<unnamed>");
                match info.location() {
                    Some(location) => tracing::error!(
                        target: "panic",
                        thread = name,
                        location = %location,
                        "panicked: {message}"
                    ),
                    None => tracing::error!(target: "panic", thread = name, "panicked: {message}"),
                }
            }
            let _ = registry::flush_listed(deadline);
            previous(info);
        }));
        Ok(())
    }
}

static INSTALLED: AtomicBool = AtomicBool::new(false);
static DEADLINE_NANOS: AtomicU64 = AtomicU64::new(0);
static LOG_PANIC: AtomicBool = AtomicBool::new(true);

/// The text of a panic payload (`panic!` gives a `&str` or a `String`).
fn payload_text(payload: &(dyn Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "Box<dyn Any>"
    }
}
