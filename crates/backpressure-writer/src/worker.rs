//! The worker thread: take the whole queue in one swap, write it in large chunks outside
//! the lock, flush when the queue runs empty (or a `flush()` or the interval asks), write
//! the drop report, and survive a failing or panicking sink.

use std::io::{self, Write};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

use crate::queue::LineQueue;
use crate::report::{dropped_since, format_drop_report, Fault, FaultLog};
use crate::shared::{Shared, State};
use crate::stats::Dropped;
use crate::sync::{thread, Arc, JoinHandle, MutexGuard};

/// Bytes handed to the sink per `write_all`: big enough that a file sees few syscalls
/// (1 MiB measured faster than 64 KiB and 256 KiB with 2 producers, see
/// docs/benchmarks.md), small enough that room frees up progressively while a large batch
/// is written.
const CHUNK: usize = 1024 * 1024;

/// How long the worker waits for the next batch to build up after a batch, before it goes
/// to sleep for real (see `State::worker_napping`): the most a line waits in the queue
/// during a busy stretch, for the sake of fewer, larger batches and no futex wake per
/// batch on the producers' side.
const NAP: std::time::Duration = std::time::Duration::from_millis(1);

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
            dirty: false,
            last_flush: Instant::now(),
            reported: Dropped::default(),
            last_report: None,
            report_buf: String::new(),
            faults: FaultLog::new(interval),
            nap_due: false,
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
    /// Bytes were written since the last sink flush.
    dirty: bool,
    last_flush: Instant,
    /// Drop counts already reported in the output.
    reported: Dropped,
    last_report: Option<Instant>,
    report_buf: String,
    faults: FaultLog,
    /// A batch was taken since the last nap: the next empty queue gets a nap first.
    nap_due: bool,
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
                Step::Flush { resolved } => self.flush_sink(resolved),
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
            if st.abandoned {
                return None;
            }
            if st.queued() > 0 {
                std::mem::swap(&mut st.policy, &mut self.policy);
                std::mem::swap(&mut st.keep, &mut self.keep);
                self.nap_due = true;
                st.policy_in_flight = self.policy.len();
                st.keep_in_flight = self.keep.len();
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
            if self.report_pending(&st.dropped) {
                let now = Instant::now();
                let due = self.report_due(now);
                if st.closing || due <= now {
                    return Some(Step::Report { drops: st.dropped });
                }
                wait = Some(due - now);
            }
            if st.closing {
                st.accepting = false;
                return Some(Step::Exit);
            }
            if wait.is_none() && std::mem::take(&mut self.nap_due) {
                st.worker_napping = true;
                st = shared
                    .work
                    .wait_timeout(st, NAP)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
                st.worker_napping = false;
                continue;
            }
            st.worker_idle = true;
            st = match wait {
                None => shared.work.wait(st).unwrap_or_else(|e| e.into_inner()),
                Some(d) => {
                    shared
                        .work
                        .wait_timeout(st, d)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
            };
            st.worker_idle = false;
        }
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
        loop {
            let (from_keep, stop) = match (self.policy.front_seq(), self.keep.front_seq()) {
                (None, None) => break,
                (Some(_), None) => (false, u64::MAX),
                (None, Some(_)) => (true, u64::MAX),
                (Some(p), Some(k)) if p < k => (false, k),
                (Some(p), Some(_)) => (true, p),
            };
            let queue = if from_keep {
                &mut self.keep
            } else {
                &mut self.policy
            };
            let (range, n) = queue.take_run(stop, CHUNK);
            let bytes = queue.bytes(range);
            let len = bytes.len() as u64;
            let sink = &mut self.sink;
            match guarded(|| sink.write_all(bytes)) {
                Ok(()) => {
                    self.dirty = true;
                    let mut st = shared.lock();
                    // Abandoned: the guard already counted these lines as lost to shutdown.
                    if st.abandoned {
                        return false;
                    }
                    if from_keep {
                        st.keep_in_flight -= n;
                    } else {
                        st.policy_in_flight -= n;
                    }
                    st.lines_written += n as u64;
                    let batch_done = self.policy.len() == 0 && self.keep.len() == 0;
                    settle(&shared, st, batch_done);
                    shared.counters.bytes_written.fetch_add(len, Relaxed);
                    shared
                        .counters
                        .last_write
                        .store(shared.now_nanos() + 1, Relaxed);
                }
                Err(fault) => {
                    // The rest of the batch goes with the failed chunk: a sink that just
                    // failed is unlikely to take the next chunk, and one error per batch
                    // keeps `write_errors` meaning "failed batches".
                    let lost = n + self.policy.len() + self.keep.len();
                    let (lost_policy, lost_keep) = if from_keep {
                        (self.policy.len(), n + self.keep.len())
                    } else {
                        (n + self.policy.len(), self.keep.len())
                    };
                    self.policy.clear();
                    self.keep.clear();
                    let mut st = shared.lock();
                    if st.abandoned {
                        return false;
                    }
                    st.policy_in_flight -= lost_policy;
                    st.keep_in_flight -= lost_keep;
                    st.dropped.write_failed += lost as u64;
                    // The report after this batch tells of its own loss, too.
                    drops.write_failed += lost as u64;
                    st.write_errors += 1;
                    st.sink_panics += u64::from(fault.is_panic());
                    settle(&shared, st, true);
                    self.faults.record(&fault, lost as u64);
                    break;
                }
            }
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
        let go_on = self.flush_sink(resolved);
        shared.counters.batch_write.record(started.elapsed());
        go_on
    }

    /// Flushes the sink if anything was written since the last flush, then marks every line
    /// below `resolved` durable. Returns false if the guard abandoned the worker.
    fn flush_sink(&mut self, resolved: u64) -> bool {
        let shared = Arc::clone(&self.alive.0);
        let mut fault = None;
        if self.dirty {
            let sink = &mut self.sink;
            fault = guarded(|| sink.flush()).err();
            self.dirty = false;
            self.last_flush = Instant::now();
        }
        let mut st = shared.lock();
        if st.abandoned {
            return false;
        }
        if let Some(f) = &fault {
            st.write_errors += 1;
            st.sink_panics += u64::from(f.is_panic());
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
        let sink = &mut self.sink;
        let line = self.report_buf.as_bytes();
        match guarded(|| sink.write_all(line)) {
            Ok(()) => {
                self.dirty = true;
                shared
                    .counters
                    .bytes_written
                    .fetch_add(line.len() as u64, Relaxed);
            }
            Err(fault) => {
                let mut st = shared.lock();
                st.write_errors += 1;
                st.sink_panics += u64::from(fault.is_panic());
                drop(st);
                self.faults.record(&fault, 0);
            }
        }
    }
}

/// After the worker made progress: a stalled keep line may try again, and producers
/// waiting for room are woken, but only once half the capacity is free again or the batch
/// is done. Waking them for every chunk would have them refill a few hundred lines and sleep
/// again, a futex round trip and context switches per chunk, stealing the core the worker
/// needs to drain the queue: the hysteresis keeps the wake-ups to about two per batch.
fn settle(shared: &Shared, mut st: MutexGuard<'_, State>, batch_done: bool) {
    st.keep_stalled = false;
    let config = &shared.config;
    let wake = (st.policy_waiters > 0
        && (batch_done || st.policy_occupancy() <= config.capacity / 2))
        || (st.keep_waiters > 0 && (batch_done || st.keep_occupancy() <= config.keep_capacity / 2));
    drop(st);
    if wake {
        shared.room.notify_all();
    }
}

/// Runs a sink operation, turning a panic into a [`Fault`] so the worker survives it.
fn guarded(op: impl FnOnce() -> io::Result<()>) -> Result<(), Fault> {
    match panic::catch_unwind(AssertUnwindSafe(op)) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(Fault::Io(e)),
        Err(payload) => Err(Fault::from_panic(payload)),
    }
}

/// Marks the worker gone however the thread ends, so producers and `flush()` never wait
/// for a thread that no longer exists.
struct AliveGuard(Arc<Shared>);

impl Drop for AliveGuard {
    fn drop(&mut self) {
        let shared = &self.0;
        let mut st = shared.lock();
        st.worker_alive = false;
        st.accepting = false;
        if !st.abandoned {
            // Only an unexpected exit leaves lines behind; nobody will ever write them.
            st.dropped.worker_gone += st.discard_buffered();
        }
        drop(st);
        shared.room.notify_all();
        shared.progress.notify_all();
    }
}
