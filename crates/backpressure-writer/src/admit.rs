//! Admission: the path every `write` call takes, from the line to the queue or to a
//! counted drop, applying the [`Overflow`] policy and the keep-level rules when the queue
//! is full.
//!
//! Admission is the producer's hot path. Its cost per line: one mutex acquisition (held for
//! a few dozen instructions; contended, the taker yields its core rather than sleeping,
//! see [`lock_yielding`](crate::sync::lock_yielding)), a `memcpy` of the line into the
//! shared byte buffer and a push of a 24-byte record, plus a clock read for one line in 64.
//! No allocation once the buffers have grown to their working size (a worker gone idle
//! gives back buffers past 256 KiB, so a writer that idles between bursts larger than that
//! regrows them, under this lock, at the start of the next); no syscall unless the worker is parked (then one
//! futex wake, and only the first line after it parked pays it; a worker that wrote a
//! batch within `park_after` polls instead and is never woken by an ordinary line) or the
//! line has to wait for room.
//! The worker never holds this lock while it talks to the sink, so a slow sink delays a
//! producer only through a full queue, as the policy decides.

use std::time::{Duration, Instant};

use crate::config::Overflow;
use crate::lifecycle::Sleep;
use crate::shared::{KeepWait, Shared, State};
use crate::stats::DropReason;
use crate::sync::{thread, MutexGuard};

impl Shared {
    /// Locks the state if the writer still takes lines. Otherwise counts the line as
    /// `worker_gone`, lets the first such line say why on stderr, and returns `None`.
    pub(crate) fn lock_accepting(&self) -> Option<MutexGuard<'_, State>> {
        let mut st = self.lock();
        if st.lifecycle.accepts() {
            return Some(st);
        }
        st.drop_line(DropReason::WorkerGone);
        drop(st);
        self.gone_notice.line_refused();
        None
    }

    /// Hands one line to the queue (or drops it, counting why). Never fails, never panics on
    /// a poisoned lock, and returns only once the line is queued or accounted as dropped.
    pub(crate) fn submit(&self, line: &[u8], keep: bool) {
        if line.is_empty() {
            return;
        }
        let Some(st) = self.lock_accepting() else {
            return;
        };
        if keep {
            self.admit_keep(st, line);
        } else {
            self.admit_policy(st, line);
        }
    }

    fn admit_policy(&self, mut st: MutexGuard<'_, State>, line: &[u8]) {
        let config = &self.config;
        let len = line.len();
        if st.policy_fits(len, config) {
            return self.enqueue(st, line, false);
        }
        // A line longer than the byte bound would never fit: no policy may wait for it or
        // evict for it. It is the newest line, and it is dropped.
        if len > config.byte_capacity {
            return st.drop_line(DropReason::Newest);
        }
        match config.overflow {
            Overflow::DropNewest => st.drop_line(DropReason::Newest),
            Overflow::DropOldest => {
                // Evicting queued lines makes room only if the line fits beside what the
                // worker holds; otherwise nothing is evicted for nothing.
                let can_make_room = st.in_flight.policy < config.capacity
                    && st.in_flight_bytes.policy + len <= config.byte_capacity;
                if !can_make_room {
                    return st.drop_line(DropReason::Newest);
                }
                while !st.policy_fits(len, config) {
                    st.queue.policy.evict_front();
                    st.count_dropped(DropReason::Oldest, 1);
                }
                self.enqueue(st, line, false);
            }
            Overflow::Block { timeout } => {
                let deadline = timeout.map(|t| crate::deadline::after(Instant::now(), t));
                let (mut st, admitted) = self
                    .wait_for_room(st, deadline, false, false, |st| st.policy_fits(len, config));
                match admitted {
                    Admission::Room => self.enqueue(st, line, false),
                    Admission::TimedOut => st.drop_line(DropReason::Timeout),
                    Admission::WorkerGone => st.drop_line(DropReason::WorkerGone),
                }
            }
        }
    }

    fn admit_keep(&self, mut st: MutexGuard<'_, State>, line: &[u8]) {
        let config = &self.config;
        let len = line.len();
        if st.keep_fits(len, config) {
            return self.enqueue(st, line, true);
        }
        // Longer than the reserved room: it would never fit, so it never waits.
        if len > config.keep_byte_capacity {
            return st.drop_line(DropReason::KeepTimeout);
        }
        let (wait, like_policy) = config.keep_wait();
        // `keep_timeout(0)`: never wait. And a keep line already timed out against this
        // stall: don't make every later one wait the full timeout again (see `KeepWait`).
        if !like_policy && (wait == Some(Duration::ZERO) || st.keep_wait == KeepWait::Stalled) {
            st.drop_line(DropReason::KeepTimeout);
            return;
        }
        let deadline = wait.map(|d| crate::deadline::after(Instant::now(), d));
        let (mut st, admitted) = self.wait_for_room(st, deadline, true, !like_policy, |st| {
            st.keep_fits(len, config)
        });
        match admitted {
            Admission::Room => self.enqueue(st, line, true),
            Admission::TimedOut => {
                st.drop_line(DropReason::KeepTimeout);
                if !like_policy {
                    st.keep_wait = KeepWait::Stalled;
                    // Keep lines that started waiting after this one give up now, too.
                    if st.waiters.keep > 0 {
                        self.room.notify_all();
                    }
                }
            }
            Admission::WorkerGone => st.drop_line(DropReason::WorkerGone),
        }
    }

    /// Waits on the `room` condvar until `has_room` holds, the deadline passes or the worker
    /// goes away. With `give_up_on_stall`, also once a keep line marked the sink stalled.
    // Crate-visible: a context line (`context.rs`) waits for its share of the keep room
    // through the same loop, so it gives up on a stall exactly as a keep line does.
    pub(crate) fn wait_for_room<'a>(
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
        *st.waiters.get_mut(keep) += 1;
        if st.sleep.take_wake() {
            self.wake_worker();
        }
        let outcome = loop {
            if !st.lifecycle.accepts() {
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
        *st.waiters.get_mut(keep) -= 1;
        (st, outcome)
    }

    /// Appends the line and wakes the worker if, and only if, it sleeps: a busy worker will
    /// find the line on its next swap without a syscall on our side.
    // Crate-visible: a context line that finds room is queued as a keep line.
    pub(crate) fn enqueue(&self, mut st: MutexGuard<'_, State>, line: &[u8], keep: bool) {
        let seq = st.next_seq;
        st.next_seq += 1;
        // Timing every line would cost a clock read each; one in 64 is plenty for a histogram.
        let stamp = if seq % QUEUE_WAIT_SAMPLE == 0 {
            self.now_nanos()
        } else {
            0
        };
        // Grown here, within the bound, rather than by `Vec`'s doubling: see `reserve`.
        if keep {
            st.queue
                .keep
                .reserve(line.len(), self.config.keep_byte_capacity);
            st.queue.keep.push(line, seq, stamp);
        } else {
            st.queue
                .policy
                .reserve(line.len(), self.config.policy_buffer_max());
            st.queue.policy.push(line, seq, stamp);
        }
        let depth = st.buffered();
        if depth > st.high_water {
            st.high_water = depth;
        }
        // A sleeping worker is woken by the first line; a napping one only once either
        // queue is half full, in lines or in bytes: during a busy stretch that spares the
        // producers a futex wake per batch and lets the worker take large batches (a keep
        // line waits at most one poll, 1 ms to `max_poll`). Waking it for every keep line
        // would cut the poll short at each one and
        // shrink the batches of a mixed stream to a few lines.
        let wake = st.sleep.take_idle()
            || (st.sleep == Sleep::Napping
                && (st.queue.policy.len() >= (self.config.capacity / 2).max(1)
                    || st.queue.keep.len() >= (self.config.keep_capacity / 2).max(1)
                    || st.queue.policy.live_bytes() >= self.config.byte_capacity / 2
                    || st.queue.keep.live_bytes() >= self.config.keep_byte_capacity / 2)
                && st.sleep.take_wake());
        drop(st);
        if wake {
            self.wake_worker();
        }
    }
}

/// One line in this many has its queue wait timed.
const QUEUE_WAIT_SAMPLE: u64 = 64;

// Crate-visible: `context.rs` admits its lines through `wait_for_room` too.
pub(crate) enum Admission {
    Room,
    TimedOut,
    WorkerGone,
}
