//! What happens to a line that finds the queue full: the [`Overflow`] policy, and the
//! admission path every `write` call takes.
//!
//! Admission is the producer's hot path. Its cost per line: one mutex acquisition (held for
//! a few dozen instructions), a `memcpy` of the line into the shared byte buffer and a push
//! of a 24-byte record, plus a clock read for one line in 64. No allocation once the
//! buffers have grown to their working size; no syscall unless the worker sleeps (then one
//! futex wake, and only the first line after it fell asleep pays it) or the line has to
//! wait for room.
//! The worker never holds this lock while it talks to the sink, so a slow sink delays a
//! producer only through a full queue, as the policy decides.

use std::time::{Duration, Instant};

use crate::shared::{KeepWait, Reason, Shared, State};
use crate::sync::{thread, MutexGuard};

/// What a line that finds the queue full does.
///
/// Lines at or above the writer's `keep_level` (WARN by default) never follow this policy:
/// they have their own reserved capacity and wait for room up to `keep_timeout` (5 ms by
/// default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Overflow {
    /// Drop the line being written and keep what is queued (tracing-appender's lossy mode).
    /// Counted under [`Dropped::newest`](crate::Dropped::newest).
    DropNewest,
    /// Evict the oldest queued line to make room for the new one, so a stalled sink leaves
    /// the most recent lines in the buffer. Counted under
    /// [`Dropped::oldest`](crate::Dropped::oldest). When every buffered line is already being
    /// written by the worker there is nothing to evict, and the new line is dropped and
    /// counted under [`Dropped::newest`](crate::Dropped::newest).
    DropOldest,
    /// Wait for room. `timeout: None` waits as long as it takes (tracing-appender's
    /// `lossy(false)`); `Some(t)` gives up after `t` and counts the line under
    /// [`Dropped::timeout`](crate::Dropped::timeout).
    Block {
        /// How long a line may wait for room; `None` waits forever (or until the worker is
        /// gone).
        timeout: Option<Duration>,
    },
}

impl Default for Overflow {
    /// [`Overflow::DropNewest`], as tracing-appender's default `lossy(true)`.
    fn default() -> Self {
        Overflow::DropNewest
    }
}

impl Shared {
    /// Hands one line to the queue (or drops it, counting why). Never fails, never panics on
    /// a poisoned lock, and returns only once the line is queued or accounted as dropped.
    pub(crate) fn submit(&self, line: &[u8], keep: bool) {
        if line.is_empty() {
            return;
        }
        let mut st = self.lock();
        if !st.accepting {
            st.drop_line(Reason::WorkerGone);
            return;
        }
        if keep {
            self.admit_keep(st, line);
        } else {
            self.admit_policy(st, line);
        }
    }

    fn admit_policy(&self, mut st: MutexGuard<'_, State>, line: &[u8]) {
        let cap = self.config.capacity;
        if st.policy_occupancy() < cap {
            return self.enqueue(st, line, false);
        }
        match self.config.overflow {
            Overflow::DropNewest => st.drop_line(Reason::Newest),
            Overflow::DropOldest => {
                if st.policy.evict_front().is_some() {
                    st.dropped.oldest += 1;
                    self.enqueue(st, line, false);
                } else {
                    st.drop_line(Reason::Newest);
                }
            }
            Overflow::Block { timeout } => {
                let deadline = timeout.map(|t| Instant::now() + t);
                let (mut st, admitted) = self
                    .wait_for_room(st, deadline, false, false, |st| st.policy_occupancy() < cap);
                match admitted {
                    Admission::Room => self.enqueue(st, line, false),
                    Admission::TimedOut => st.drop_line(Reason::Timeout),
                    Admission::WorkerGone => st.drop_line(Reason::WorkerGone),
                }
            }
        }
    }

    fn admit_keep(&self, st: MutexGuard<'_, State>, line: &[u8]) {
        let cap = self.config.keep_capacity;
        if st.keep_occupancy() < cap {
            return self.enqueue(st, line, true);
        }
        let mut st = st;
        let (wait, like_policy) = self.config.keep_wait();
        // `keep_timeout(0)`: never wait. And a keep line already timed out against this
        // stall: don't make every later one wait the full timeout again (see `KeepWait`).
        if !like_policy && (wait == Some(Duration::ZERO) || st.keep_wait == KeepWait::Stalled) {
            st.drop_line(Reason::KeepTimeout);
            return;
        }
        let deadline = wait.map(|d| Instant::now() + d);
        let (mut st, admitted) = self.wait_for_room(st, deadline, true, !like_policy, |st| {
            st.keep_occupancy() < cap
        });
        match admitted {
            Admission::Room => self.enqueue(st, line, true),
            Admission::TimedOut => {
                st.drop_line(Reason::KeepTimeout);
                if !like_policy {
                    st.keep_wait = KeepWait::Stalled;
                    // Keep lines that started waiting after this one give up now, too.
                    if st.keep_waiters > 0 {
                        self.room.notify_all();
                    }
                }
            }
            Admission::WorkerGone => st.drop_line(Reason::WorkerGone),
        }
    }

    /// Waits on the `room` condvar until `has_room` holds, the deadline passes or the worker
    /// goes away. With `give_up_on_stall`, also once a keep line marked the sink stalled.
    fn wait_for_room<'a>(
        &'a self,
        mut st: MutexGuard<'a, State>,
        deadline: Option<Instant>,
        keep: bool,
        give_up_on_stall: bool,
        has_room: impl Fn(&State) -> bool,
    ) -> (MutexGuard<'a, State>, Admission) {
        // A sink that logs through this same writer runs on the worker thread: waiting there
        // would deadlock, so such a line gives up at once (counted as a timeout).
        if st
            .worker_thread
            .is_some_and(|id| id == thread::current().id())
        {
            return (st, Admission::TimedOut);
        }
        *st.waiters(keep) += 1;
        if st.take_worker_wake() {
            self.work.notify_one();
        }
        let outcome = loop {
            if !st.accepting {
                break Admission::WorkerGone;
            }
            if has_room(&st) {
                break Admission::Room;
            }
            if give_up_on_stall && st.keep_wait == KeepWait::Stalled {
                break Admission::TimedOut;
            }
            match deadline {
                None => st = self.room.wait(st).unwrap_or_else(|e| e.into_inner()),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        break Admission::TimedOut;
                    }
                    st = self
                        .room
                        .wait_timeout(st, deadline - now)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
            }
        };
        *st.waiters(keep) -= 1;
        (st, outcome)
    }

    /// Appends the line and wakes the worker if, and only if, it sleeps: a busy worker will
    /// find the line on its next swap without a syscall on our side.
    fn enqueue(&self, mut st: MutexGuard<'_, State>, line: &[u8], keep: bool) {
        let seq = st.next_seq;
        st.next_seq += 1;
        // Timing every line would cost a clock read each; one in 64 is plenty for a histogram.
        let stamp = if seq.is_multiple_of(QUEUE_WAIT_SAMPLE) {
            self.now_nanos()
        } else {
            0
        };
        if keep {
            st.keep.push(line, seq, stamp);
        } else {
            st.policy.push(line, seq, stamp);
        }
        let depth = st.buffered();
        if depth > st.high_water {
            st.high_water = depth;
        }
        // A sleeping worker is woken by the first line; a napping one only once either
        // queue is half full: during a busy stretch that spares the producers a futex wake
        // per batch and lets the worker take large batches (a keep line waits at most the
        // nap, 1 ms). Waking it for every keep line would cut the nap short at each one and
        // shrink the batches of a mixed stream to a few lines.
        let wake = std::mem::take(&mut st.worker_idle)
            || (st.worker_napping
                && (st.policy.len() >= (self.config.capacity / 2).max(1)
                    || st.keep.len() >= (self.config.keep_capacity / 2).max(1))
                && st.take_worker_wake());
        drop(st);
        if wake {
            self.work.notify_one();
        }
    }
}

/// One line in this many has its queue wait timed.
pub(crate) const QUEUE_WAIT_SAMPLE: u64 = 64;

enum Admission {
    Room,
    TimedOut,
    WorkerGone,
}
