//! [`WorkerGuard`]: on-demand `flush()`, and the bounded drain-flush-join on drop.

use std::fmt;
use std::time::{Duration, Instant};

use crate::error::FlushError;
use crate::report::PREFIX;
use crate::shared::Shared;
use crate::stats::{DropReason, Stats};
use crate::sync::{Arc, JoinHandle};

/// Keeps the worker thread running; dropping it drains the queue, flushes the sink and
/// joins the thread, all within `shutdown_timeout` (5 s by default).
///
/// The drop stops taking lines at once: the drain covers what was submitted before it
/// began, and lines submitted from then on (other threads may well keep logging) are
/// counted under [`Dropped::worker_gone`](crate::stats::Dropped::worker_gone), so they cannot
/// stretch the drain. If the timeout runs out, the lines still queued and the part of the
/// worker's batch not yet handed to the sink are counted under
/// [`Dropped::shutdown`](crate::stats::Dropped::shutdown) and are never written; the chunk inside
/// the sink's `write` at that moment is counted as written or failed when that call
/// returns (until then it shows in [`Stats::in_sink`](crate::stats::Stats::in_sink) and
/// `queue_depth`), and the worker thread then exits on its own. One line on stderr names
/// both numbers:
///
/// ```text
/// backpressure-writer: shutdown timed out after 5s: 0 lines were not written (counted as shutdown); 100 lines are still inside the sink's write, counted as written or write_failed if it returns
/// ```
///
/// (the part after `;` only when the sink holds lines at that moment). [The accounting invariant](crate::stats::Stats#accounting) holds throughout.
#[must_use = "dropping the guard at once shuts the writer down: keep it until the end of main"]
pub struct WorkerGuard {
    shared: Arc<Shared>,
    handle: Option<JoinHandle<()>>,
}

impl fmt::Debug for WorkerGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkerGuard")
            .field("thread", &self.handle.as_ref().map(|h| h.thread().name()))
            .finish_non_exhaustive()
    }
}

impl WorkerGuard {
    pub(crate) fn new(shared: Arc<Shared>, handle: JoinHandle<()>) -> Self {
        WorkerGuard {
            shared,
            handle: Some(handle),
        }
    }

    /// Waits until every line submitted before this call is written and the sink flushed
    /// (or the line was dropped), bounded by the writer's `shutdown_timeout`.
    ///
    /// Errors if the time runs out, if the worker is gone, or if the sink failed meanwhile
    /// (the lines it lost are counted under `write_failed`).
    pub fn flush(&self) -> Result<(), FlushError> {
        self.flush_timeout(self.shared.config.shutdown_timeout)
    }

    /// [`flush`](Self::flush) with an explicit bound.
    pub fn flush_timeout(&self, timeout: Duration) -> Result<(), FlushError> {
        let started = Instant::now();
        let ticket = self.shared.request_flush();
        let deadline = crate::deadline::after(started, timeout);
        self.shared.wait_flushed(ticket, started, deadline)
    }

    /// The same snapshot as [`NonBlocking::stats`](crate::NonBlocking::stats).
    pub fn stats(&self) -> Stats {
        self.shared.stats()
    }
}

impl Drop for WorkerGuard {
    fn drop(&mut self) {
        // Out of `flush_all`'s reach from now on (the drain below does its job), and a
        // line written after this point says once on stderr why it is lost.
        crate::registry::deregister(&self.shared);
        self.shared.gone_notice.guard_dropped();
        let shared = &self.shared;
        let timeout = shared.config.shutdown_timeout;
        let deadline = crate::deadline::after(Instant::now(), timeout);
        let mut st = shared.lock();
        // The drain point: what is submitted from now on is `worker_gone`. Producers
        // waiting for room give up now, too.
        st.lifecycle.close();
        if st.sleep.take_wake() {
            shared.wake_worker();
        }
        if st.waiters.total() > 0 {
            shared.room.notify_all();
        }
        while st.lifecycle.worker_alive() {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            st = shared
                .progress
                .wait_timeout(st, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        if !st.lifecycle.worker_alive() {
            drop(st);
            if let Some(handle) = self.handle.take() {
                // A panic escaping the worker was already accounted by its alive guard.
                let _ = handle.join();
            }
            return;
        }
        // The sink is stuck: give up on what is left (but the chunk inside the sink, which
        // its write settles), and let the thread go. It may be asleep rather than stuck in
        // the sink: wake it so it sees it was abandoned and exits.
        st.lifecycle.abandon();
        let lost = st.discard_buffered();
        st.count_dropped(DropReason::Shutdown, lost);
        let in_sink = st.in_sink.total();
        drop(st);
        shared.work.notify_all();
        shared.room.notify_all();
        shared.progress.notify_all();
        eprintln!("{}", shutdown_timed_out(timeout, lost, in_sink));
    }
}

/// The stderr line of a shutdown that timed out. It names the chunk inside the sink's
/// `write` as well as the lines given up: a stuck sink usually holds the whole last
/// batch there, and "0 lines were not written" alone would read as "nothing is missing"
/// while those lines may never reach the output.
fn shutdown_timed_out(timeout: Duration, lost: u64, in_sink: usize) -> String {
    let mut msg = format!(
        "{PREFIX}shutdown timed out after {timeout:?}: {lost} {} not written (counted as shutdown)",
        lines_were(lost)
    );
    if in_sink > 0 {
        msg.push_str(&format!(
            "; {in_sink} {} still inside the sink's write, counted as written or \
             write_failed if it returns",
            if in_sink == 1 { "line is" } else { "lines are" }
        ));
    }
    msg
}

fn lines_were(n: u64) -> &'static str {
    if n == 1 {
        "line was"
    } else {
        "lines were"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shutdown_message_names_the_lines_inside_the_sink() {
        let t = Duration::from_millis(100);
        assert_eq!(
            shutdown_timed_out(t, 0, 100),
            "backpressure-writer: shutdown timed out after 100ms: 0 lines were not written \
             (counted as shutdown); 100 lines are still inside the sink's write, counted as \
             written or write_failed if it returns"
        );
        assert_eq!(
            shutdown_timed_out(t, 1, 1),
            "backpressure-writer: shutdown timed out after 100ms: 1 line was not written \
             (counted as shutdown); 1 line is still inside the sink's write, counted as \
             written or write_failed if it returns"
        );
        assert_eq!(
            shutdown_timed_out(t, 4, 0),
            "backpressure-writer: shutdown timed out after 100ms: 4 lines were not written \
             (counted as shutdown)"
        );
    }
}
