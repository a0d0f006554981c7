//! The state producers, the worker and the guard share: one mutex-protected [`State`]
//! with every count that has to add up exactly, three condvars, and the relaxed atomics
//! that only feed statistics.
//!
//! [`Shared`]'s behaviour is split by job, one `impl Shared` per file:
//!
//! - here: construction, locking, waking the worker, and the [`Stats`] snapshot;
//! - `admit.rs`: a producer's line, from `write` to the queue or a counted drop (the
//!   overflow policy, the keep room, waiting for room);
//! - `context.rs`: a flushed context line, admitted into its share of the keep room;
//! - `flush.rs`: `flush()` requests and waiting for them.
//!
//! The worker (`worker/`) and the guard (`guard.rs`) use these and change [`State`]
//! under the same lock; the queue itself is `queue.rs`.
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::gone_notice::GoneNotice;
use crate::lifecycle::{Lifecycle, Sleep};
use crate::queue::LineQueue;
use crate::report::Fault;
use crate::stats::{DropCounts, DropReason, Histogram, Stats};
use crate::sync::{lock_yielding, Condvar, Mutex, MutexGuard, ThreadId};

/// One value per class of line: under the overflow policy, or keep-level. Every figure the
/// two classes keep apart (their queues, lines and bytes in flight, waiting producers)
/// is one of these, so a class can never be updated without its peer being in sight.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ByClass<T> {
    pub(crate) policy: T,
    pub(crate) keep: T,
}

impl<T> ByClass<T> {
    /// The keep-level value if `keep`, the policy one otherwise.
    pub(crate) fn get_mut(&mut self, keep: bool) -> &mut T {
        if keep {
            &mut self.keep
        } else {
            &mut self.policy
        }
    }
}

/// A number of lines (or of their bytes, where the name says so), by class.
pub(crate) type Lines = ByClass<usize>;

impl Lines {
    pub(crate) fn total(&self) -> usize {
        self.policy + self.keep
    }
}

impl std::ops::SubAssign for Lines {
    fn sub_assign(&mut self, rhs: Lines) {
        self.policy -= rhs.policy;
        self.keep -= rhs.keep;
    }
}

/// Whether a keep line that finds its reserved room full waits for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeepWait {
    /// It waits up to `keep_timeout`.
    Wait,
    /// A keep line timed out, and the keep backlog has not drained to half the reserved
    /// room since, in lines and in bytes (without an explicit `keep_capacity` the bytes
    /// are what fills): it is dropped at once. Leaving this state on any progress instead would
    /// let a slow sink that frees a slot now and then hold every keep line for the full
    /// timeout, one after the other.
    Stalled,
}

/// Everything that must stay consistent; guarded by [`Shared::state`].
#[derive(Debug)]
pub(crate) struct State {
    /// The queued lines, by class: keep-level lines have their own reserved capacity.
    pub(crate) queue: ByClass<LineQueue>,
    /// Lines the worker took and has not yet written or lost; they still count against
    /// capacity, so `buffered_lines_limit` bounds memory as it does in tracing-appender.
    pub(crate) in_flight: Lines,
    /// The bytes of those lines, which count against the byte bound the same way.
    pub(crate) in_flight_bytes: Lines,
    /// Of the lines in flight, those of the chunk inside the sink's `write` right now.
    /// Nobody can take them back: if the guard gives up on the worker, the rest of its
    /// batch is counted as `shutdown`, but these are counted as written (or failed) when
    /// the write returns, whenever that is.
    pub(crate) in_sink: Lines,
    /// Their bytes.
    pub(crate) in_sink_bytes: Lines,
    /// Sequence number of the next line; equals the number of lines submitted so far.
    pub(crate) next_seq: u64,
    pub(crate) lines_written: u64,
    /// Every drop, by reason; counted only through [`State::count_dropped`].
    pub(crate) dropped: DropCounts,
    pub(crate) write_errors: u64,
    pub(crate) sink_panics: u64,
    pub(crate) high_water: usize,
    /// How the worker waits, and so who must wake it.
    pub(crate) sleep: Sleep,
    /// Producers waiting for room, by the class of their line.
    pub(crate) waiters: Lines,
    pub(crate) keep_wait: KeepWait,
    /// Whether flushed context lines wait for their share of the keep room. Only
    /// `context.rs` reads and resets it, so the worker needs to know nothing of context.
    pub(crate) context_wait: KeepWait,
    pub(crate) lifecycle: Lifecycle,
    /// The worker thread, so that a sink which logs into its own writer never waits for
    /// room only the worker itself could make.
    pub(crate) worker_thread: Option<ThreadId>,
    /// Highest sequence a `flush()` call waits for.
    pub(crate) flush_target: u64,
    /// Every line with a smaller sequence was written and flushed, or dropped.
    pub(crate) durable: u64,
}

impl State {
    pub(crate) fn policy_occupancy(&self) -> usize {
        self.queue.policy.len() + self.in_flight.policy
    }

    pub(crate) fn keep_occupancy(&self) -> usize {
        self.queue.keep.len() + self.in_flight.keep
    }

    /// Lines neither written nor dropped yet.
    pub(crate) fn buffered(&self) -> usize {
        self.policy_occupancy() + self.keep_occupancy()
    }

    /// Bytes of lines under the policy neither written nor dropped yet.
    pub(crate) fn policy_bytes(&self) -> usize {
        self.queue.policy.live_bytes() + self.in_flight_bytes.policy
    }

    pub(crate) fn keep_bytes(&self) -> usize {
        self.queue.keep.live_bytes() + self.in_flight_bytes.keep
    }

    /// Whether a line of `len` bytes under the policy fits now: both bounds, lines and
    /// bytes, have room for it.
    pub(crate) fn policy_fits(&self, len: usize, config: &Config) -> bool {
        self.policy_occupancy() < config.capacity
            && self.policy_bytes() + len <= config.byte_capacity
    }

    /// Whether a keep-level line of `len` bytes fits in the reserved room now.
    pub(crate) fn keep_fits(&self, len: usize, config: &Config) -> bool {
        self.keep_occupancy() < config.keep_capacity
            && self.keep_bytes() + len <= config.keep_byte_capacity
    }

    /// Forgets every buffered line (queued or in flight) except the chunk inside the sink,
    /// which only the returning write can settle, and returns how many lines that was, for
    /// the caller to count under its reason (`shutdown`, `worker_gone`).
    pub(crate) fn discard_buffered(&mut self) -> u64 {
        let lost = (self.buffered() - self.in_sink.total()) as u64;
        self.queue.policy.clear();
        self.queue.keep.clear();
        self.in_flight = self.in_sink;
        self.in_flight_bytes = self.in_sink_bytes;
        lost
    }

    pub(crate) fn queued(&self) -> usize {
        self.queue.policy.len() + self.queue.keep.len()
    }

    /// Counts `lines` lines dropped for `reason`: the one place a drop is counted.
    pub(crate) fn count_dropped(&mut self, reason: DropReason, lines: u64) {
        self.dropped.add(reason, lines);
    }

    /// Refuses a line just submitted: it takes a sequence number, as every submitted line
    /// does, and is counted dropped for `reason`.
    pub(crate) fn drop_line(&mut self, reason: DropReason) {
        self.next_seq += 1;
        self.count_dropped(reason, 1);
    }

    /// Counts a failed sink call: one more error (and panic, if it was one), and the
    /// `lost` lines it took with it under `write_failed`. The one place sink faults are
    /// counted; their stderr message is the worker's `FaultLog`, outside the lock.
    pub(crate) fn count_fault(&mut self, fault: &Fault, lost: u64) {
        self.write_errors += 1;
        self.sink_panics += u64::from(fault.is_panic());
        self.count_dropped(DropReason::WriteFailed, lost);
    }
}

/// Figures that need no consistency with the rest: relaxed atomics, written by the worker.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) bytes_written: AtomicU64,
    pub(crate) batches: AtomicU64,
    /// Nanoseconds since the epoch of the last successful sink write, plus one (0 = never).
    pub(crate) last_write: AtomicU64,
    pub(crate) queue_wait: Histogram,
    pub(crate) batch_write: Histogram,
    /// Times the worker woke up while idle (a poll's timeout, or a notification): lets a
    /// test count, not time, that a long-idle writer sleeps.
    pub(crate) worker_wakeups: AtomicU64,
    /// Times another thread paid a futex wake to rouse the worker.
    pub(crate) worker_notifies: AtomicU64,
}

pub(crate) struct Shared {
    pub(crate) config: Config,
    pub(crate) state: Mutex<State>,
    /// Wakes the worker (new lines, flush requests, shutdown).
    pub(crate) work: Condvar,
    /// Wakes producers waiting for room.
    pub(crate) room: Condvar,
    /// Wakes `flush()` and the guard's shutdown (durable progress, worker exit).
    pub(crate) progress: Condvar,
    pub(crate) counters: Counters,
    pub(crate) epoch: Instant,
    /// Says once, on stderr, why lines are refused after the guard's drop.
    pub(crate) gone_notice: GoneNotice,
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Shared {
    pub(crate) fn new(config: Config) -> Self {
        Shared {
            config,
            state: Mutex::new(State {
                queue: ByClass::default(),
                in_flight: Lines::default(),
                in_flight_bytes: Lines::default(),
                in_sink: Lines::default(),
                in_sink_bytes: Lines::default(),
                next_seq: 0,
                lines_written: 0,
                dropped: DropCounts::default(),
                write_errors: 0,
                sink_panics: 0,
                high_water: 0,
                sleep: Sleep::Awake,
                waiters: Lines::default(),
                keep_wait: KeepWait::Wait,
                context_wait: KeepWait::Wait,
                lifecycle: Lifecycle::Running,
                worker_thread: None,
                flush_target: 0,
                durable: 0,
            }),
            work: Condvar::new(),
            room: Condvar::new(),
            progress: Condvar::new(),
            counters: Counters::default(),
            epoch: Instant::now(),
            gone_notice: GoneNotice::new(),
        }
    }

    /// Rouses the sleeping worker (a futex wake): callers do it only when a `take_*`
    /// flag on [`State`] said the worker sleeps and wants it, and count it.
    pub(crate) fn wake_worker(&self) {
        self.counters.worker_notifies.fetch_add(1, Relaxed);
        self.work.notify_one();
    }

    /// Locks the state. Nothing panics while holding it, but if something ever did, the
    /// counts are still the best information there is, so poisoning is ignored.
    /// Producers, the worker and readers of the figures all take it this way; see
    /// [`lock_yielding`] for why it yields rather than sleeps under contention.
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        lock_yielding(&self.state)
    }

    /// Nanoseconds since the epoch, at least 1 (0 means "not timed").
    pub(crate) fn now_nanos(&self) -> u64 {
        (self.epoch.elapsed().as_nanos() as u64).max(1)
    }

    pub(crate) fn stats(&self) -> Stats {
        let c = &self.counters;
        let last_write = c.last_write.load(Relaxed);
        let since_last_write = (last_write != 0)
            .then(|| Duration::from_nanos(self.now_nanos().saturating_sub(last_write - 1)));
        let st = self.lock();
        let mut s = Stats {
            queue_depth: st.buffered(),
            queued: st.queued(),
            in_flight: st.in_flight.total(),
            in_sink: st.in_sink.total(),
            capacity: self.config.capacity,
            keep_capacity: self.config.keep_capacity,
            buffered_bytes: st.policy_bytes() + st.keep_bytes(),
            byte_capacity: self.config.byte_capacity,
            keep_byte_capacity: self.config.keep_byte_capacity,
            high_water: st.high_water,
            submitted: st.next_seq,
            lines_written: st.lines_written,
            dropped: st.dropped.snapshot(),
            write_errors: st.write_errors,
            sink_panics: st.sink_panics,
            blocked_producers: st.waiters.total(),
            worker_alive: st.lifecycle.worker_alive(),
            worker_parked: st.sleep == Sleep::Idle,
            ..Stats::default()
        };
        drop(st);
        s.bytes_written = c.bytes_written.load(Relaxed);
        s.batches = c.batches.load(Relaxed);
        s.since_last_write = since_last_write;
        s.queue_wait = c.queue_wait.snapshot();
        s.batch_write = c.batch_write.snapshot();
        s.worker_wakeups = c.worker_wakeups.load(Relaxed);
        s.worker_notifies = c.worker_notifies.load(Relaxed);
        s
    }
}
