//! The state producers, the worker and the guard share: one mutex-protected [`State`]
//! with every count that has to add up exactly, three condvars, and the relaxed atomics
//! that only feed statistics.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use tracing_core::Level;

use crate::own_line::OwnLineFormat;
use crate::policy::Overflow;
use crate::queue::LineQueue;
use crate::stats::{Dropped, Histogram, Stats};
use crate::sync::{Condvar, Mutex, MutexGuard, ThreadId};

/// The builder's settings, validated.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) capacity: usize,
    pub(crate) keep_capacity: usize,
    pub(crate) overflow: Overflow,
    pub(crate) keep_level: Option<Level>,
    pub(crate) keep_timeout: Duration,
    pub(crate) shutdown_timeout: Duration,
    pub(crate) flush_interval: Duration,
    pub(crate) drop_report: bool,
    pub(crate) drop_report_interval: Duration,
    pub(crate) error_summary_interval: Duration,
    pub(crate) own_line_format: OwnLineFormat,
}

impl Config {
    pub(crate) fn keeps(&self, level: &Level) -> bool {
        // In tracing, more severe levels compare smaller: ERROR < WARN < INFO.
        self.keep_level.is_some_and(|keep| *level <= keep)
    }

    /// How long a keep line that finds its room full may wait (`None`: without end), and
    /// whether that bound is the overflow policy's rather than `keep_timeout`. Under
    /// `Overflow::Block` a keep line waits at least as long as a line under the policy
    /// would, so that it is never worse off than an INFO line; it then also ignores the
    /// stall state, which only shortens `keep_timeout` waits.
    pub(crate) fn keep_wait(&self) -> (Option<Duration>, bool) {
        match self.overflow {
            Overflow::Block { timeout: None } => (None, true),
            Overflow::Block { timeout: Some(t) } if t > self.keep_timeout => (Some(t), true),
            _ => (Some(self.keep_timeout), false),
        }
    }
}

/// Why a line was dropped; maps onto a [`Dropped`] field.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Reason {
    Newest,
    Timeout,
    KeepTimeout,
    WorkerGone,
}

/// A number of lines, by class: under the overflow policy, or keep-level.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Lines {
    pub(crate) policy: usize,
    pub(crate) keep: usize,
}

impl Lines {
    pub(crate) fn total(&self) -> usize {
        self.policy + self.keep
    }
}

/// Whether a keep line that finds its reserved room full waits for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeepWait {
    /// It waits up to `keep_timeout`.
    Wait,
    /// A keep line timed out, and the keep backlog has not drained to half the reserved
    /// room since: it is dropped at once. Leaving this state on any progress instead would
    /// let a slow sink that frees a slot now and then hold every keep line for the full
    /// timeout, one after the other.
    Stalled,
}

/// Everything that must stay consistent; guarded by [`Shared::state`].
#[derive(Debug)]
pub(crate) struct State {
    /// Lines under the overflow policy.
    pub(crate) policy: LineQueue,
    /// Keep-level lines, in their own reserved capacity.
    pub(crate) keep: LineQueue,
    /// Lines the worker took and has not yet written or lost; they still count against
    /// capacity, so `buffered_lines_limit` bounds memory as it does in tracing-appender.
    pub(crate) policy_in_flight: usize,
    pub(crate) keep_in_flight: usize,
    /// Of the lines in flight, those of the chunk inside the sink's `write` right now.
    /// Nobody can take them back: if the guard gives up on the worker, the rest of its
    /// batch is counted as `shutdown`, but these are counted as written (or failed) when
    /// the write returns, whenever that is.
    pub(crate) in_sink: Lines,
    /// Sequence number of the next line; equals the number of lines submitted so far.
    pub(crate) next_seq: u64,
    pub(crate) lines_written: u64,
    pub(crate) dropped: Dropped,
    pub(crate) write_errors: u64,
    pub(crate) sink_panics: u64,
    pub(crate) high_water: usize,
    /// The worker sleeps on `work` and wants a notification for any new line.
    pub(crate) worker_idle: bool,
    /// The worker naps briefly after a batch, to let the next one build up; it wants a
    /// notification only for what should not wait (a keep line, a half-full queue, a
    /// producer about to block, a flush or shutdown).
    pub(crate) worker_napping: bool,
    /// Producers waiting for room under the policy, and keep-level ones.
    pub(crate) policy_waiters: usize,
    pub(crate) keep_waiters: usize,
    pub(crate) keep_wait: KeepWait,
    /// New lines are taken in (false once the worker exited or was abandoned).
    pub(crate) accepting: bool,
    /// The guard asked the worker to drain and exit.
    pub(crate) closing: bool,
    /// The guard gave up waiting; the worker must exit without touching the accounting.
    pub(crate) abandoned: bool,
    pub(crate) worker_alive: bool,
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
        self.policy.len() + self.policy_in_flight
    }

    pub(crate) fn keep_occupancy(&self) -> usize {
        self.keep.len() + self.keep_in_flight
    }

    /// Lines neither written nor dropped yet.
    pub(crate) fn buffered(&self) -> usize {
        self.policy_occupancy() + self.keep_occupancy()
    }

    /// Forgets every buffered line (queued or in flight) except the chunk inside the sink,
    /// which only the returning write can settle, and returns how many lines that was, for
    /// the caller to count under its reason (`shutdown`, `worker_gone`).
    pub(crate) fn discard_buffered(&mut self) -> u64 {
        let lost = (self.buffered() - self.in_sink.total()) as u64;
        self.policy.clear();
        self.keep.clear();
        self.policy_in_flight = self.in_sink.policy;
        self.keep_in_flight = self.in_sink.keep;
        lost
    }

    pub(crate) fn queued(&self) -> usize {
        self.policy.len() + self.keep.len()
    }

    /// Whether the worker must be woken for something urgent (clears the flags, so only
    /// the first caller pays the syscall).
    pub(crate) fn take_worker_wake(&mut self) -> bool {
        std::mem::take(&mut self.worker_idle) | std::mem::take(&mut self.worker_napping)
    }

    pub(crate) fn waiters(&mut self, keep: bool) -> &mut usize {
        if keep {
            &mut self.keep_waiters
        } else {
            &mut self.policy_waiters
        }
    }

    pub(crate) fn drop_line(&mut self, reason: Reason) {
        self.next_seq += 1;
        let d = &mut self.dropped;
        match reason {
            Reason::Newest => d.newest += 1,
            Reason::Timeout => d.timeout += 1,
            Reason::KeepTimeout => d.keep_timeout += 1,
            Reason::WorkerGone => d.worker_gone += 1,
        }
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
                policy: LineQueue::default(),
                keep: LineQueue::default(),
                policy_in_flight: 0,
                keep_in_flight: 0,
                in_sink: Lines::default(),
                next_seq: 0,
                lines_written: 0,
                dropped: Dropped::default(),
                write_errors: 0,
                sink_panics: 0,
                high_water: 0,
                worker_idle: false,
                worker_napping: false,
                policy_waiters: 0,
                keep_waiters: 0,
                keep_wait: KeepWait::Wait,
                accepting: true,
                closing: false,
                abandoned: false,
                worker_alive: true,
                worker_thread: None,
                flush_target: 0,
                durable: 0,
            }),
            work: Condvar::new(),
            room: Condvar::new(),
            progress: Condvar::new(),
            counters: Counters::default(),
            epoch: Instant::now(),
        }
    }

    /// Locks the state. Nothing panics while holding it, but if something ever did, the
    /// counts are still the best information there is, so poisoning is ignored.
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
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
            in_flight: st.policy_in_flight + st.keep_in_flight,
            in_sink: st.in_sink.total(),
            capacity: self.config.capacity,
            keep_capacity: self.config.keep_capacity,
            high_water: st.high_water,
            submitted: st.next_seq,
            lines_written: st.lines_written,
            dropped: st.dropped,
            write_errors: st.write_errors,
            sink_panics: st.sink_panics,
            blocked_producers: st.policy_waiters + st.keep_waiters,
            worker_alive: st.worker_alive,
            ..Stats::default()
        };
        drop(st);
        s.bytes_written = c.bytes_written.load(Relaxed);
        s.batches = c.batches.load(Relaxed);
        s.since_last_write = since_last_write;
        s.queue_wait = c.queue_wait.snapshot();
        s.batch_write = c.batch_write.snapshot();
        s
    }
}
