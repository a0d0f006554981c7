//! The worker between batches: it polls for a while after a batch (cheap wake-ups for the
//! producers), then gives back the memory a burst grew and parks until a line arrives.

use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use super::Worker;
use crate::config::Config;
use crate::lifecycle::Sleep;
use crate::queue::LineQueue;
use crate::shared::{Shared, State};
#[cfg(backpressure_writer_loom)]
use crate::sync::thread;
use crate::sync::MutexGuard;

/// The shortest idle poll, and the unit `park_after` is counted in: after a batch the
/// worker waits this long (or a few times this long, see [`next_poll`]) for the next to
/// build up before it looks again (see [`Sleep::Napping`]). While the worker polls,
/// producers never wake it (only a half-full queue, a producer about to block, a flush or
/// shutdown does): the futex wake that would otherwise land on the first line of every
/// burst stays off the producer's path. The cost: a line written while the worker polls
/// waits up to one poll before the worker takes it, and each poll is one timed wake-up of
/// the worker: at 1 ms, about 830 a second (timer slack) at 1–2% of a core, measured on a
/// loaded 2-vCPU VM (`benches/benches/latency.rs`, idle CPU section).
pub(crate) const POLL: Duration = Duration::from_millis(1);

/// The longest idle poll, in [`POLL`]s: what a sparse stream of lines waits at most in the
/// queue. Each wake-up costs the worker's core some 10–25 µs on a VM, and the threads it
/// shares the cores with more, so a worker taking a few lines a millisecond spent more on
/// waking than on writing: polls of up to 8 ms instead of 1 took 4–6% off the CPU a request
/// of the service benchmark (where the worker takes about seven lines a millisecond), and
/// up to 32 ms another 0.7–2.2% in each of five long side-by-side runs. Longer would save
/// little more (a quarter of what is left, against a line waiting four times as long); the
/// default of `NonBlockingBuilder::max_poll`, which sets it per writer.
pub(crate) const MAX_POLL_UNITS: u32 = 32;

/// [`MAX_POLL_UNITS`] as a duration: the default longest idle poll.
pub(crate) const MAX_POLL: Duration = Duration::from_millis(MAX_POLL_UNITS as u64);

/// The longest idle poll `max_poll` allows, in [`POLL`]s (at least one; `max_poll` below one
/// poll is refused by the builder).
pub(crate) fn max_poll_units(max_poll: Duration) -> u32 {
    (max_poll.as_nanos() / POLL.as_nanos()).clamp(1, u32::MAX as u128) as u32
}

/// The small-batch bound, in lines (before the queues' own bounds lower it): a batch under
/// half of it lets the next poll be twice as long (the batch that poll finds, about twice
/// this one, stays under the bound), a batch that reaches it halves the poll. So a longer
/// poll never fills a queue towards the half-full mark that wakes the worker from a
/// producer's thread. It scales with the longest poll (eight lines a [`POLL`] of it), so a
/// longer `max_poll` lets a steady stream reach it; this is its value at the default.
#[cfg(test)]
pub(crate) const SMALL_BATCH_LINES: usize = SMALL_BATCH_LINES_PER_POLL * MAX_POLL_UNITS as usize;

/// The small-batch bound per [`POLL`] of the longest poll.
const SMALL_BATCH_LINES_PER_POLL: usize = 8;

/// The next poll's length in [`POLL`]s, from the current one and the batch just taken (its
/// lines and bytes, both queues; a poll that found nothing counts as an empty batch):
/// twice as long (up to the longest, `Config::max_poll_units`) while twice the batch stays
/// under the small-batch bound, half as long (down to one) once the batch reaches it, the
/// same in between. The bound is eight lines a [`POLL`] of the longest poll (64 at the
/// default), lowered to an eighth of the smallest line and byte bound of the two queues, so that a small queue is never half full within a
/// poll. A doubling or a halving per batch: a steady stream settles on one length, a
/// burst brings the poll down as fast as it builds up.
pub(crate) fn next_poll(units: u32, lines: usize, bytes: usize, config: &Config) -> u32 {
    let line_bound = (SMALL_BATCH_LINES_PER_POLL.saturating_mul(config.max_poll_units as usize))
        .min(config.capacity / 8)
        .min(config.keep_capacity / 8);
    let byte_bound = config.byte_capacity.min(config.keep_byte_capacity) / 8;
    if lines >= line_bound || bytes >= byte_bound {
        (units / 2).max(1)
    } else if lines.saturating_mul(2) < line_bound && bytes.saturating_mul(2) < byte_bound {
        units.saturating_mul(2).min(config.max_poll_units)
    } else {
        units
    }
}

/// How long the worker keeps polling after its last batch before it parks (the default of
/// `NonBlockingBuilder::park_after`). Parked, it costs no CPU at all, and the first line
/// after that pays one futex wake on its producer's thread.
pub(crate) const PARK_AFTER: Duration = Duration::from_millis(100);

/// The idle polls that make up `park_after` (at least one: the old single nap).
pub(crate) fn park_polls(park_after: Duration) -> u32 {
    let polls = (park_after.as_nanos() / POLL.as_nanos()).clamp(1, u32::MAX as u128) as u32;
    // loom's timed waits never time out, so a poll is modelled by a yield (see
    // `poll_wait`); two of them explore the poll-to-park transition without multiplying
    // the model's state space by a hundred.
    if cfg!(backpressure_writer_loom) {
        polls.min(2)
    } else {
        polls
    }
}

/// One idle poll: waits up to `units` [`POLL`]s for a notification (it only comes for what
/// must not wait), then hands the lock back for the caller to look at the queues again.
#[cfg(not(backpressure_writer_loom))]
fn poll_wait<'a>(
    shared: &'a Shared,
    st: MutexGuard<'a, State>,
    units: u32,
) -> MutexGuard<'a, State> {
    sleep(shared, st, Sleep::Napping, Some(POLL * units))
}

/// loom's `wait_timeout` never times out, which would turn a poll into a park that only a
/// notification ends: the model yields and re-checks instead, as a poll's timeout would.
#[cfg(backpressure_writer_loom)]
fn poll_wait<'a>(
    shared: &'a Shared,
    mut st: MutexGuard<'a, State>,
    _units: u32,
) -> MutexGuard<'a, State> {
    st.sleep = Sleep::Napping;
    drop(st);
    thread::yield_now();
    let mut st = shared.lock();
    st.sleep = Sleep::Awake;
    st
}

/// What each buffer (the two shared queues, the worker's two, its merge buffer) may keep
/// once the worker goes idle; a larger one is freed. A writer that never sees a burst
/// never reaches it, so it never reallocates; after a burst, the five hold at most
/// 1.25 MiB between them.
#[cfg(not(backpressure_writer_loom))]
pub(crate) const IDLE_RETAIN: usize = 256 * 1024;
/// Under loom every idle worker gives its buffers back, so that the models go through the
/// unlock-free-relock of that path.
#[cfg(backpressure_writer_loom)]
pub(crate) const IDLE_RETAIN: usize = 0;

impl<W> Worker<W> {
    /// Nothing to do: polls while `park_after` is not used up since the last batch (unless
    /// a drop report is due in `wait`), gives back the buffers a burst grew, or sleeps (for
    /// at most `wait`). Returns the lock for the caller to look at the queues again.
    pub(super) fn idle<'a>(
        &mut self,
        shared: &'a Shared,
        mut st: MutexGuard<'a, State>,
        wait: Option<Duration>,
    ) -> MutexGuard<'a, State> {
        if wait.is_none() && self.polls_left > 0 {
            // The last poll before parking is cut to what is left of `park_after`.
            let units = self.poll_units.min(self.polls_left);
            self.polls_left -= units;
            let st = poll_wait(shared, st, units);
            shared.counters.worker_wakeups.fetch_add(1, Relaxed);
            // A poll that found nothing is a batch of none: the next may be longer.
            if st.queued() == 0 {
                self.poll_units = next_poll(self.poll_units, 0, 0, &shared.config);
            }
            return st;
        }
        // Going idle: a burst that grew the buffers is over, give their memory back
        // (outside the lock: freeing a large buffer takes a while), then look again.
        if self.oversized(&st) {
            let spare = (
                take_oversized(&mut st.queue.policy),
                take_oversized(&mut st.queue.keep),
            );
            drop(st);
            drop(spare);
            drop(take_oversized(&mut self.policy));
            drop(take_oversized(&mut self.keep));
            self.chunk.shrink(IDLE_RETAIN);
            return shared.lock();
        }
        st = sleep(shared, st, Sleep::Idle, wait);
        shared.counters.worker_wakeups.fetch_add(1, Relaxed);
        st
    }

    /// Whether any buffer holds more than [`IDLE_RETAIN`] (the shared queues are empty
    /// when this is asked, and so are the worker's between batches).
    fn oversized(&self, st: &State) -> bool {
        [&st.queue.policy, &st.queue.keep, &self.policy, &self.keep]
            .iter()
            .any(|q| q.heap_bytes() > IDLE_RETAIN)
            || self.chunk.oversized(IDLE_RETAIN)
    }
}

/// Leaves an empty queue in the place of one that holds more than [`IDLE_RETAIN`] bytes,
/// and returns that one for the caller to drop where it likes (an empty one otherwise).
/// Only for an empty queue.
fn take_oversized(q: &mut LineQueue) -> LineQueue {
    debug_assert_eq!(q.len(), 0);
    if q.heap_bytes() > IDLE_RETAIN {
        std::mem::take(q)
    } else {
        LineQueue::default()
    }
}

/// Waits on `work` in the given sleep state (until notified, or for at most `timeout`), and
/// is awake again on return, whoever woke it.
fn sleep<'a>(
    shared: &'a Shared,
    mut st: MutexGuard<'a, State>,
    how: Sleep,
    timeout: Option<Duration>,
) -> MutexGuard<'a, State> {
    st.sleep = how;
    st = match timeout {
        None => shared.work.wait(st).unwrap_or_else(|e| e.into_inner()),
        Some(d) => {
            shared
                .work
                .wait_timeout(st, d)
                .unwrap_or_else(|e| e.into_inner())
                .0
        }
    };
    st.sleep = Sleep::Awake;
    st
}
