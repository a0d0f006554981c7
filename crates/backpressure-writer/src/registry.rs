//! The process-wide list of live writers, so that a panic hook, or a caller about to
//! `process::exit`, can flush every one of them without holding their guards.
//!
//! A writer is listed from `finish` until its guard's drop begins; the list holds weak
//! references, so it keeps nothing alive. It is touched only when a writer starts and
//! when its guard is dropped, never on the logging path, and it is bounded: past
//! [`MAX_WRITERS`] live writers, later ones are not listed (said once on stderr).

use std::time::Instant;

use crate::error::FlushError;

/// The most writers listed at once. Real programs have a handful; the bound keeps a
/// program that builds writers in a loop (and leaks their guards) from growing the list,
/// and the panic hook's work, without end.
// The loom build lists no writers (no panic hook in the models), so it never reads this.
#[cfg_attr(backpressure_writer_loom, allow(dead_code))]
pub(crate) const MAX_WRITERS: usize = 256;

/// What [`flush_all`](crate::panic_flush::flush_all) found, writer by writer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FlushAllReport {
    /// Live writers listed (started, guard not yet dropped).
    pub writers: usize,
    /// Of those, every line submitted before the call is written and the sink flushed.
    pub flushed: usize,
    /// Handled, but the sink failed meanwhile: some lines were lost (`write_failed`).
    pub sink_failed: usize,
    /// Not confirmed before the deadline (a slow or stuck sink).
    pub timed_out: usize,
    /// Not waited for: the calling thread is that writer's worker (a panicking sink), or
    /// holds its lock (a panic inside the writer), or its worker had already exited.
    pub skipped: usize,
}

impl FlushAllReport {
    /// Whether every listed writer was flushed without a loss.
    pub fn all_flushed(&self) -> bool {
        self.flushed == self.writers
    }
}

#[cfg(not(backpressure_writer_loom))]
mod list {
    use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
    use std::sync::{Mutex, MutexGuard, TryLockError, Weak};
    use std::time::Instant;

    use super::MAX_WRITERS;
    use crate::report::PREFIX;
    use crate::shared::Shared;
    use crate::sync::Arc;

    static WRITERS: Mutex<Vec<Weak<Shared>>> = Mutex::new(Vec::new());
    static FULL_SAID: AtomicBool = AtomicBool::new(false);

    fn lock() -> MutexGuard<'static, Vec<Weak<Shared>>> {
        WRITERS.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn register(shared: &Arc<Shared>) {
        let mut list = lock();
        // A writer whose every handle is gone can't be flushed; forget it.
        list.retain(|w| w.strong_count() > 0);
        if list.len() >= MAX_WRITERS {
            drop(list);
            if !FULL_SAID.swap(true, Relaxed) {
                use std::io::Write as _;
                let _ = writeln!(
                    std::io::stderr(),
                    "{PREFIX}more than {MAX_WRITERS} live writers: later ones are not \
                     flushed by flush_all or the panic hook"
                );
            }
            return;
        }
        list.push(Arc::downgrade(shared));
    }

    pub(crate) fn deregister(shared: &Arc<Shared>) {
        let mut list = lock();
        let ptr = Arc::as_ptr(shared);
        list.retain(|w| w.strong_count() > 0 && !std::ptr::eq(w.as_ptr(), ptr));
    }

    /// The listed writers, or `None` if the list's lock could not be had before
    /// `deadline` (the caller panicked while holding it).
    pub(crate) fn live(deadline: Instant) -> Option<Vec<Arc<Shared>>> {
        let list = loop {
            match WRITERS.try_lock() {
                Ok(list) => break list,
                Err(TryLockError::Poisoned(e)) => break e.into_inner(),
                Err(TryLockError::WouldBlock) if Instant::now() < deadline => {
                    std::thread::yield_now()
                }
                Err(TryLockError::WouldBlock) => return None,
            }
        };
        Some(list.iter().filter_map(Weak::upgrade).collect())
    }
}

// loom's `Arc` has no `Weak`, and a static can't hold loom objects: the models never use
// the list.
#[cfg(backpressure_writer_loom)]
mod list {
    use crate::shared::Shared;
    use crate::sync::Arc;

    pub(crate) fn register(_: &Arc<Shared>) {}
    pub(crate) fn deregister(_: &Arc<Shared>) {}
    pub(crate) fn live(_: std::time::Instant) -> Option<Vec<Arc<Shared>>> {
        Some(Vec::new())
    }
}

pub(crate) use list::{deregister, register};

/// Flushes every listed writer under one deadline: asks them all first, so their workers
/// write in parallel, then waits for each until `deadline`.
pub(crate) fn flush_listed(deadline: Instant) -> FlushAllReport {
    let started = Instant::now();
    let mut report = FlushAllReport::default();
    let Some(writers) = list::live(deadline) else {
        return report;
    };
    report.writers = writers.len();
    let tickets: Vec<_> = writers
        .iter()
        .map(|w| w.try_request_flush(deadline))
        .collect();
    for (w, ticket) in writers.iter().zip(tickets) {
        let Some(ticket) = ticket else {
            report.skipped += 1;
            continue;
        };
        match w.wait_flushed(ticket, started, deadline) {
            Ok(()) => report.flushed += 1,
            Err(FlushError::SinkFailed { .. }) => report.sink_failed += 1,
            Err(FlushError::TimedOut { .. }) => report.timed_out += 1,
            Err(_) => report.skipped += 1,
        }
    }
    report
}
