//! The worker thread: take the whole queue in one swap, write it in large chunks outside
//! the lock, flush when the queue runs empty (or a `flush()` or the interval asks), write
//! the drop report, and survive a failing or panicking sink.
//!
//! Every chunk goes through [`chunk::write_bounded`], not `write_all`: a chunk that meets
//! an error (`WouldBlock` and `Ok(0)` included, and `Interrupted` past a bounded number of
//! retries) fails its batch, so no sink can keep the worker busy forever.

mod chunk;

use std::io::{self, Write};
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use crate::lifecycle::{Lifecycle, Sleep};
use crate::queue::LineQueue;
use crate::report::{dropped_since, format_drop_report, FaultLog};
use crate::shared::{KeepWait, Lines, Shared, State};
use crate::stats::Dropped;
use crate::sync::{thread, Arc, JoinHandle, MutexGuard};
use chunk::{guarded, write_bounded, Chunk};

/// How long one idle poll waits, after a batch, for the next to build up before the worker
/// looks again (see [`Sleep::Napping`]). While the worker polls, producers never wake
/// it (only a half-full queue, a producer about to block, a flush or shutdown does): the
/// futex wake that would otherwise land on the first line of every burst stays off the
/// producer's path. The cost: a line written while the worker polls waits up to this long
/// before the worker takes it, and each poll is one timed wake-up of the worker: about 830
/// a second (timer slack) at 1–2% of a core, measured on a loaded 2-vCPU VM
/// (`benches/benches/latency.rs`, idle CPU section).
pub(crate) const POLL: Duration = Duration::from_millis(1);

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

/// One idle poll: waits up to [`POLL`] for a notification (it only comes for what must not
/// wait), then hands the lock back for the caller to look at the queues again.
#[cfg(not(backpressure_writer_loom))]
fn poll_wait<'a>(shared: &'a Shared, st: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
    sleep(shared, st, Sleep::Napping, Some(POLL))
}

/// loom's `wait_timeout` never times out, which would turn a poll into a park that only a
/// notification ends: the model yields and re-checks instead, as a poll's timeout would.
#[cfg(backpressure_writer_loom)]
fn poll_wait<'a>(shared: &'a Shared, mut st: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
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

pub(crate) fn spawn<W: Write + Send + 'static>(
    shared: Arc<Shared>,
    sink: W,
    name: String,
) -> io::Result<JoinHandle<()>> {
    let interval = shared.config.error_summary_interval;
    thread::Builder::new().name(name).spawn(move || {
        let mut worker = Worker {
            alive: AliveGuard(shared),
            sink,
            policy: LineQueue::default(),
            keep: LineQueue::default(),
            chunk: Chunk::default(),
            dirty: false,
            last_flush: Instant::now(),
            reported: Dropped::default(),
            last_report: None,
            report_buf: String::new(),
            faults: FaultLog::new(interval),
            polls_left: 0,
            final_reported: false,
        };
        worker.run();
        worker.faults.finish();
    })
}

enum Step {
    /// The queues were swapped into the worker's; `drops` is the drop count at that moment.
    Batch {
        taken_upto: u64,
        drops: Dropped,
    },
    /// The sink needs a flush; afterwards every line below `resolved` is settled.
    Flush {
        resolved: u64,
    },
    Report {
        drops: Dropped,
    },
    Exit,
}

struct Worker<W> {
    alive: AliveGuard,
    sink: W,
    /// The batch being written (empty between batches; swapped with the shared queues).
    policy: LineQueue,
    keep: LineQueue,
    chunk: Chunk,
    /// Bytes were written since the last sink flush.
    dirty: bool,
    last_flush: Instant,
    /// Drop counts already reported in the output.
    reported: Dropped,
    last_report: Option<Instant>,
    report_buf: String,
    faults: FaultLog,
    /// Idle polls left before the worker parks; reset by every batch.
    polls_left: u32,
    /// The drop report at shutdown was written; no other follows.
    final_reported: bool,
}

impl<W: Write> Worker<W> {
    fn shared(&self) -> &Shared {
        &self.alive.0
    }

    fn run(&mut self) {
        self.shared().lock().worker_thread = Some(thread::current().id());
        loop {
            let step = match self.next_step() {
                Some(step) => step,
                None => return,
            };
            let go_on = match step {
                Step::Batch { taken_upto, drops } => self.write_batch(taken_upto, drops),
                Step::Flush { resolved } => self.flush_sink(resolved, None),
                Step::Report { drops } => {
                    self.write_report(drops);
                    true
                }
                Step::Exit => false,
            };
            if !go_on {
                return;
            }
        }
    }

    /// Sleeps until there is something to do. `None`: the guard abandoned us.
    fn next_step(&mut self) -> Option<Step> {
        let shared = Arc::clone(&self.alive.0);
        let mut st = shared.lock();
        loop {
            if st.lifecycle == Lifecycle::Abandoned {
                return None;
            }
            if st.queued() > 0 {
                std::mem::swap(&mut st.policy, &mut self.policy);
                std::mem::swap(&mut st.keep, &mut self.keep);
                self.polls_left = shared.config.park_polls;
                st.policy_in_flight = self.policy.len();
                st.keep_in_flight = self.keep.len();
                st.policy_in_flight_bytes = self.policy.live_bytes();
                st.keep_in_flight_bytes = self.keep.live_bytes();
                return Some(Step::Batch {
                    taken_upto: st.next_seq,
                    drops: st.dropped,
                });
            }
            // Nothing queued and nothing in flight: every line submitted so far is settled.
            let resolved = st.next_seq;
            if self.dirty {
                return Some(Step::Flush { resolved });
            }
            if st.durable < resolved {
                st.durable = resolved;
                shared.progress.notify_all();
            }
            let mut wait = None;
            if !self.final_reported && self.report_pending(&st.dropped) {
                let now = Instant::now();
                let due = self.report_due(now);
                let closing = st.lifecycle == Lifecycle::Closing;
                if closing || due <= now {
                    // Closing, one last report: lines other threads keep submitting are
                    // `worker_gone` and would make a report due after every report.
                    self.final_reported = closing;
                    return Some(Step::Report { drops: st.dropped });
                }
                wait = Some(due - now);
            }
            if st.lifecycle == Lifecycle::Closing {
                return Some(Step::Exit);
            }
            if wait.is_none() && self.polls_left > 0 {
                self.polls_left -= 1;
                st = poll_wait(&shared, st);
                shared.counters.worker_wakeups.fetch_add(1, Relaxed);
                continue;
            }
            // Going idle: a burst that grew the buffers is over, give their memory back
            // (outside the lock: freeing a large buffer takes a while), then look again.
            if self.oversized(&st) {
                let spare = (take_oversized(&mut st.policy), take_oversized(&mut st.keep));
                drop(st);
                drop(spare);
                drop(take_oversized(&mut self.policy));
                drop(take_oversized(&mut self.keep));
                self.chunk.shrink(IDLE_RETAIN);
                st = shared.lock();
                continue;
            }
            st = sleep(&shared, st, Sleep::Idle, wait);
            shared.counters.worker_wakeups.fetch_add(1, Relaxed);
        }
    }

    /// Whether any buffer holds more than [`IDLE_RETAIN`] (the shared queues are empty
    /// when this is asked, and so are the worker's between batches).
    fn oversized(&self, st: &State) -> bool {
        [&st.policy, &st.keep, &self.policy, &self.keep]
            .iter()
            .any(|q| q.heap_bytes() > IDLE_RETAIN)
            || self.chunk.oversized(IDLE_RETAIN)
    }

    fn report_pending(&self, now: &Dropped) -> bool {
        self.shared().config.drop_report && dropped_since(now, &self.reported).total() > 0
    }

    fn report_due(&self, now: Instant) -> Instant {
        self.last_report
            .map_or(now, |t| t + self.shared().config.drop_report_interval)
    }

    /// Writes the batch in runs merged by sequence number, accounting each chunk as it
    /// lands. Returns false if the guard abandoned the worker meanwhile.
    fn write_batch(&mut self, taken_upto: u64, mut drops: Dropped) -> bool {
        let started = Instant::now();
        let shared = Arc::clone(&self.alive.0);
        let now = shared.now_nanos();
        for m in self.policy.metas().chain(self.keep.metas()) {
            if m.stamp != 0 {
                let waited = std::time::Duration::from_nanos(now.saturating_sub(m.stamp));
                shared.counters.queue_wait.record(waited);
            }
        }
        while let Some(lines) = self.chunk.assemble(&mut self.policy, &mut self.keep) {
            let lines_bytes = self.chunk.class_bytes();
            {
                let mut st = shared.lock();
                // Abandoned: the guard counted the rest of the batch as lost to shutdown.
                if st.lifecycle == Lifecycle::Abandoned {
                    return false;
                }
                st.in_sink = lines;
                st.in_sink_bytes = lines_bytes;
            }
            let bytes = self.chunk.bytes(&self.policy, &self.keep);
            let (accepted, result) = write_bounded(&mut self.sink, bytes);
            let written = match result {
                Ok(()) => lines,
                Err(_) => self.chunk.whole_lines(accepted, &self.policy, &self.keep),
            };
            if accepted > 0 {
                self.dirty = true;
                let c = &shared.counters;
                c.bytes_written.fetch_add(accepted as u64, Relaxed);
                c.last_write.store(shared.now_nanos() + 1, Relaxed);
            }
            let mut st = shared.lock();
            // The chunk is settled whether or not the guard gave up meanwhile: its lines
            // are in the output (written) or not (failed), and nobody counted them yet.
            st.in_sink = Lines::default();
            st.in_sink_bytes = Lines::default();
            st.policy_in_flight -= lines.policy;
            st.keep_in_flight -= lines.keep;
            st.policy_in_flight_bytes -= lines_bytes.policy;
            st.keep_in_flight_bytes -= lines_bytes.keep;
            st.lines_written += written.total() as u64;
            let torn = (lines.total() - written.total()) as u64;
            let abandoned = st.lifecycle == Lifecycle::Abandoned;
            let fault = match result {
                Ok(()) if abandoned => return false,
                Ok(()) => {
                    let batch_done = self.policy.len() == 0 && self.keep.len() == 0;
                    settle(&shared, st, batch_done);
                    continue;
                }
                Err(fault) => fault,
            };
            if abandoned {
                // The guard counted the rest of the batch; only the torn chunk is ours.
                st.count_fault(&fault, torn);
                drop(st);
                self.faults.record(&fault, torn);
                return false;
            }
            // The rest of the batch goes with the failed chunk: a sink that just failed is
            // unlikely to take the next chunk, and one error per batch keeps `write_errors`
            // meaning "failed batches".
            let rest = (self.policy.len(), self.keep.len());
            st.policy_in_flight_bytes -= self.policy.live_bytes();
            st.keep_in_flight_bytes -= self.keep.live_bytes();
            self.policy.clear();
            self.keep.clear();
            st.policy_in_flight -= rest.0;
            st.keep_in_flight -= rest.1;
            let lost = torn + (rest.0 + rest.1) as u64;
            st.count_fault(&fault, lost);
            // The report after this batch tells of its own loss, too.
            drops.write_failed += lost;
            settle(&shared, st, true);
            self.faults.record(&fault, lost);
            break;
        }
        self.policy.clear();
        self.keep.clear();
        shared.counters.batches.fetch_add(1, Relaxed);

        let now = Instant::now();
        if self.report_pending(&drops) && self.report_due(now) <= now {
            self.write_report(drops);
        }
        let resolved = {
            let st = shared.lock();
            // What a flush now would make durable: everything, if nothing is queued.
            let resolved = if st.queued() == 0 {
                st.next_seq
            } else {
                taken_upto
            };
            let flush_now = st.queued() == 0
                || (st.flush_target > st.durable && st.flush_target <= resolved)
                || self.last_flush.elapsed() >= shared.config.flush_interval;
            if !flush_now {
                drop(st);
                shared.counters.batch_write.record(started.elapsed());
                return true;
            }
            resolved
        };
        self.flush_sink(resolved, Some(started))
    }

    /// Flushes the sink if anything was written since the last flush, then marks every line
    /// below `resolved` durable. Returns false if the guard abandoned the worker.
    ///
    /// A batch that ends with this flush is timed (`batch_started`) before its lines are
    /// marked durable, so a `flush()` that returns sees the batch in `batch_write` too.
    fn flush_sink(&mut self, resolved: u64, batch_started: Option<Instant>) -> bool {
        let shared = Arc::clone(&self.alive.0);
        let mut fault = None;
        if self.dirty {
            let sink = &mut self.sink;
            fault = guarded(|| sink.flush()).err();
            self.dirty = false;
            self.last_flush = Instant::now();
        }
        if let Some(started) = batch_started {
            shared.counters.batch_write.record(started.elapsed());
        }
        let mut st = shared.lock();
        if st.lifecycle == Lifecycle::Abandoned {
            return false;
        }
        if let Some(f) = &fault {
            st.count_fault(f, 0);
        }
        if resolved > st.durable {
            st.durable = resolved;
            shared.progress.notify_all();
        }
        drop(st);
        if let Some(f) = fault {
            self.faults.record(&f, 0);
        }
        true
    }

    /// Writes one drop-report line for the drops in `drops` not yet reported.
    fn write_report(&mut self, drops: Dropped) {
        let since = dropped_since(&drops, &self.reported);
        self.reported = drops;
        self.last_report = Some(Instant::now());
        if since.total() == 0 {
            return;
        }
        format_drop_report(
            &mut self.report_buf,
            &since,
            &self.alive.0.config.own_line_format,
        );
        let shared = Arc::clone(&self.alive.0);
        let (accepted, result) = write_bounded(&mut self.sink, self.report_buf.as_bytes());
        if accepted > 0 {
            self.dirty = true;
            shared
                .counters
                .bytes_written
                .fetch_add(accepted as u64, Relaxed);
        }
        if let Err(fault) = result {
            shared.lock().count_fault(&fault, 0);
            self.faults.record(&fault, 0);
        }
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
    timeout: Option<std::time::Duration>,
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

/// After the worker made progress: keep lines wait for room again once the keep backlog has
/// halved, in lines and in bytes (see `KeepWait`), and producers
/// waiting for room are woken, but only once half the capacity is free again or the batch
/// is done. Waking them for every chunk would have them refill a few hundred lines and sleep
/// again, a futex round trip and context switches per chunk, stealing the core the worker
/// needs to drain the queue: the hysteresis keeps the wake-ups to about two per batch.
fn settle(shared: &Shared, mut st: MutexGuard<'_, State>, batch_done: bool) {
    let config = &shared.config;
    // Half drained in both bounds: the room the keep lines' byte reserve binds (by
    // default) or their line bound.
    let keep_halved = st.keep_occupancy() <= config.keep_capacity / 2
        && st.keep_bytes() <= config.keep_byte_capacity / 2;
    if keep_halved {
        st.keep_wait = KeepWait::Wait;
    }
    let wake = (st.policy_waiters > 0
        && (batch_done || st.policy_occupancy() <= config.capacity / 2))
        || (st.keep_waiters > 0 && (batch_done || keep_halved));
    drop(st);
    if wake {
        shared.room.notify_all();
    }
}

/// Marks the worker gone however the thread ends, so producers and `flush()` never wait
/// for a thread that no longer exists.
struct AliveGuard(Arc<Shared>);

impl Drop for AliveGuard {
    fn drop(&mut self) {
        let shared = &self.0;
        let mut st = shared.lock();
        st.lifecycle.exit();
        // Only an unexpected exit leaves lines behind (after an abandonment, only a chunk
        // whose write never returned, if the thread died in it); nobody will write them.
        st.in_sink = Lines::default();
        st.in_sink_bytes = Lines::default();
        st.dropped.worker_gone += st.discard_buffered();
        drop(st);
        shared.room.notify_all();
        shared.progress.notify_all();
    }
}

#[cfg(all(test, not(backpressure_writer_loom)))]
mod tests;
