//! The worker thread: take the whole queue in one swap, write it in large chunks outside
//! the lock, flush when the queue runs empty (or a `flush()` or the interval asks), write
//! the drop report, and survive a failing or panicking sink.
//!
//! Every chunk goes through [`chunk::write_bounded`], not `write_all`: a chunk that meets
//! an error (`WouldBlock` and `Ok(0)` included, and `Interrupted` past a bounded number of
//! retries) fails its batch, so no sink can keep the worker busy forever.

mod chunk;
mod idle;

use std::io::{self, Write};
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use crate::lifecycle::Lifecycle;
use crate::queue::LineQueue;
use crate::report::{format_drop_report, FaultLog};
use crate::shared::{KeepWait, Lines, Shared, State};
use crate::stats::{DropCounts, DropReason};
use crate::sync::{thread, Arc, JoinHandle, MutexGuard};
use chunk::{guarded, write_bounded, Chunk};
pub(crate) use idle::{max_poll_units, park_polls, MAX_POLL, PARK_AFTER, POLL};

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
            reported: DropCounts::default(),
            last_report: None,
            report_buf: String::new(),
            faults: FaultLog::new(interval),
            polls_left: 0,
            poll_units: 1,
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
        drops: DropCounts,
    },
    /// The sink needs a flush; afterwards every line below `resolved` is settled.
    Flush {
        resolved: u64,
    },
    Report {
        drops: DropCounts,
    },
    Exit,
}

/// What `next_step` should do about the drop report.
enum Report {
    /// Write one now, for these counts.
    Now(DropCounts),
    /// One is due after this long: the worker sleeps at most that.
    Due(Duration),
    /// None is pending (or the last one was written).
    Nothing,
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
    reported: DropCounts,
    last_report: Option<Instant>,
    report_buf: String,
    faults: FaultLog,
    /// What is left of `park_after` since the last batch, in `POLL`s; reset by every
    /// batch. The worker parks when it is used up.
    polls_left: u32,
    /// The length of the next idle poll, in `POLL`s: longer while batches are small
    /// (`idle::next_poll`).
    poll_units: u32,
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
    ///
    /// The jobs, in the order they are looked at: take a batch (`take_batch`), flush what
    /// was written, mark everything settled durable, write a due drop report
    /// (`report_step`), exit once closing, and otherwise go idle (`idle`, in `idle.rs`).
    fn next_step(&mut self) -> Option<Step> {
        let shared = Arc::clone(&self.alive.0);
        let mut st = shared.lock();
        loop {
            if st.lifecycle == Lifecycle::Abandoned {
                return None;
            }
            if st.queued() > 0 {
                return Some(self.take_batch(&mut st));
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
            let wait = match self.report_step(&st) {
                Report::Now(drops) => return Some(Step::Report { drops }),
                Report::Due(wait) => Some(wait),
                Report::Nothing => None,
            };
            if st.lifecycle == Lifecycle::Closing {
                return Some(Step::Exit);
            }
            st = self.idle(&shared, st, wait);
        }
    }

    /// Swaps both shared queues with the worker's (empty) ones: the whole queue in one
    /// step, under the lock, so producers wait for nothing but the swap.
    fn take_batch(&mut self, st: &mut State) -> Step {
        std::mem::swap(&mut st.queue.policy, &mut self.policy);
        std::mem::swap(&mut st.queue.keep, &mut self.keep);
        st.in_flight = Lines {
            policy: self.policy.len(),
            keep: self.keep.len(),
        };
        st.in_flight_bytes = Lines {
            policy: self.policy.live_bytes(),
            keep: self.keep.live_bytes(),
        };
        let config = &self.alive.0.config;
        self.polls_left = config.park_polls;
        let (lines, bytes) = (st.in_flight.total(), st.in_flight_bytes.total());
        self.poll_units = idle::next_poll(self.poll_units, lines, bytes, config);
        Step::Batch {
            taken_upto: st.next_seq,
            drops: st.dropped,
        }
    }

    /// Whether a drop report is to be written now, later (bounding how long the worker
    /// may sleep), or not at all.
    fn report_step(&mut self, st: &State) -> Report {
        if self.final_reported || !self.report_pending(&st.dropped) {
            return Report::Nothing;
        }
        let now = Instant::now();
        let due = self.report_due(now);
        let closing = st.lifecycle == Lifecycle::Closing;
        if closing || due <= now {
            // Closing, one last report: lines other threads keep submitting are
            // `worker_gone` and would make a report due after every report.
            self.final_reported = closing;
            return Report::Now(st.dropped);
        }
        Report::Due(due - now)
    }

    fn report_pending(&self, now: &DropCounts) -> bool {
        self.shared().config.drop_report && now.since(&self.reported).total() > 0
    }

    fn report_due(&self, now: Instant) -> Instant {
        self.last_report
            .map_or(now, |t| t + self.shared().config.drop_report_interval)
    }

    /// Writes the batch in runs merged by sequence number, accounting each chunk as it
    /// lands. Returns false if the guard abandoned the worker meanwhile.
    fn write_batch(&mut self, taken_upto: u64, mut drops: DropCounts) -> bool {
        let started = Instant::now();
        let shared = Arc::clone(&self.alive.0);
        let now = shared.now_nanos();
        for m in self.policy.metas().chain(self.keep.metas()) {
            if m.stamp != 0 {
                let waited = Duration::from_nanos(now.saturating_sub(m.stamp));
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
            st.in_flight -= lines;
            st.in_flight_bytes -= lines_bytes;
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
            let rest = Lines {
                policy: self.policy.len(),
                keep: self.keep.len(),
            };
            st.in_flight_bytes -= Lines {
                policy: self.policy.live_bytes(),
                keep: self.keep.live_bytes(),
            };
            self.policy.clear();
            self.keep.clear();
            st.in_flight -= rest;
            let lost = torn + rest.total() as u64;
            st.count_fault(&fault, lost);
            // The report after this batch tells of its own loss, too.
            drops.add(DropReason::WriteFailed, lost);
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
    fn write_report(&mut self, drops: DropCounts) {
        let since = drops.since(&self.reported);
        self.reported = drops;
        self.last_report = Some(Instant::now());
        if since.total() == 0 {
            return;
        }
        format_drop_report(
            &mut self.report_buf,
            &since.snapshot(),
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
    let wake = (st.waiters.policy > 0
        && (batch_done || st.policy_occupancy() <= config.capacity / 2))
        || (st.waiters.keep > 0 && (batch_done || keep_halved));
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
        let lost = st.discard_buffered();
        st.count_dropped(DropReason::WorkerGone, lost);
        drop(st);
        shared.room.notify_all();
        shared.progress.notify_all();
    }
}

#[cfg(all(test, not(backpressure_writer_loom)))]
mod tests;
