//! Plain snapshots of the writer's counters.
//!
//! These types are the contract with `logmetrics` and with anyone polling the writer: they
//! hold no references into the writer and cost nothing to keep. Taking a snapshot reads a
//! handful of relaxed atomics; it never takes the queue lock for long and never waits on
//! the sink.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Lines the writer gave up on, one field per reason.
///
/// Every line handed to [`NonBlocking`](crate::NonBlocking) ends up in exactly one of:
/// written, one of these fields, or still pending in the queue, so
/// `submitted == lines_written + dropped.total() + queue_depth` holds in every snapshot.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Dropped {
    /// Refused on arrival because the queue was full (`Overflow::DropNewest`, or
    /// `Overflow::DropOldest` when every buffered line was already being written).
    pub newest: u64,
    /// Evicted from the head of a full queue to make room (`Overflow::DropOldest`).
    pub oldest: u64,
    /// Waited for room under `Overflow::Block { timeout: Some(_) }` and timed out.
    pub timeout: u64,
    /// A keep-level (WARN/ERROR by default) line that found its reserved room full and
    /// waited its `keep_timeout` in vain, or did not wait: `keep_timeout(0)`, or a keep
    /// line timed out before it and the keep backlog has not drained to half since.
    pub keep_timeout: u64,
    /// Queued, or taken by the worker but not yet handed to the sink, when the guard's
    /// shutdown timeout ran out. These lines are never written. (The chunk inside the
    /// sink at that moment is not counted here: it is settled when its write returns.)
    pub shutdown: u64,
    /// Submitted after the guard's drop began (the drain stops at what was queued then),
    /// or after the worker thread had gone away.
    pub worker_gone: u64,
    /// Taken by the worker but lost because the sink returned an error or panicked: the
    /// lines of the failed chunk not wholly written (a line torn by a partial write counts
    /// here) and the rest of its batch.
    pub write_failed: u64,
}

impl Dropped {
    /// All dropped lines, whatever the reason.
    pub fn total(&self) -> u64 {
        self.newest
            + self.oldest
            + self.timeout
            + self.keep_timeout
            + self.shutdown
            + self.worker_gone
            + self.write_failed
    }

    /// `(reason, count)` pairs with stable lowercase reason names, for labels and reports.
    pub fn by_reason(&self) -> [(&'static str, u64); 7] {
        [
            ("newest", self.newest),
            ("oldest", self.oldest),
            ("timeout", self.timeout),
            ("keep_timeout", self.keep_timeout),
            ("shutdown", self.shutdown),
            ("worker_gone", self.worker_gone),
            ("write_failed", self.write_failed),
        ]
    }
}

/// Number of buckets in a [`LatencySnapshot`].
pub const LATENCY_BUCKETS: usize = 24;

/// A fixed log2-bucketed latency histogram.
///
/// Bucket `i` counts observations `d` with `d <= bucket_upper_bound(i)`, and above the
/// bound of bucket `i - 1`; the last bucket also takes everything larger. Bounds run from
/// 1 µs (`i = 0`) doubling up to about 8.4 s (`i = 23`). Fixed buckets keep recording to
/// one relaxed `fetch_add` and let exporters turn deltas into `record_many` calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LatencySnapshot {
    /// Observations per bucket (not cumulative).
    pub counts: [u64; LATENCY_BUCKETS],
    /// Sum of all observations, in nanoseconds (saturating).
    pub sum_nanos: u64,
}

impl Default for LatencySnapshot {
    fn default() -> Self {
        Self {
            counts: [0; LATENCY_BUCKETS],
            sum_nanos: 0,
        }
    }
}

impl LatencySnapshot {
    /// Upper bound of bucket `i` (1 µs × 2^i).
    pub fn bucket_upper_bound(i: usize) -> Duration {
        Duration::from_nanos(1_000u64 << i.min(LATENCY_BUCKETS - 1))
    }

    /// Index of the bucket an observation falls in.
    pub fn bucket_for(d: Duration) -> usize {
        let micros_ceil = (d.as_nanos().min(u64::MAX as u128) as u64).div_ceil(1_000);
        if micros_ceil <= 1 {
            0
        } else {
            // ceil(log2(micros)) without floating point.
            ((64 - (micros_ceil - 1).leading_zeros()) as usize).min(LATENCY_BUCKETS - 1)
        }
    }

    /// Total number of observations.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }
}

/// A point-in-time view of a [`NonBlocking`](crate::NonBlocking) writer's figures.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Lines buffered and not yet written or dropped: queued, or taken by the worker and
    /// being written ([`queued`](Self::queued) + [`in_flight`](Self::in_flight)). Both count
    /// against the capacity, so `queue_depth <= capacity + keep_capacity`, and
    /// `submitted == lines_written + dropped.total() + queue_depth` holds in every snapshot.
    pub queue_depth: usize,
    /// Lines queued and not yet taken by the worker.
    pub queued: usize,
    /// Lines the worker has taken and is writing.
    pub in_flight: usize,
    /// Of [`in_flight`](Self::in_flight), the lines of the chunk inside the sink's `write`
    /// call right now. They are settled (written, or `write_failed`) when that call
    /// returns, also after the guard's drop gave up on a stalled sink: a snapshot taken
    /// meanwhile shows them here and in `queue_depth`.
    pub in_sink: usize,
    /// The queue's capacity in lines (`buffered_lines_limit`), for lines under the
    /// overflow policy.
    pub capacity: usize,
    /// Capacity reserved for keep-level lines (`keep_capacity`), on top of `capacity`.
    pub keep_capacity: usize,
    /// Highest `queue_depth` seen since the writer was built.
    pub high_water: usize,
    /// Producers currently waiting for room (`Overflow::Block`, or keep-level lines).
    pub blocked_producers: usize,
    /// Lines handed to the writer (each non-empty `write` call is one line), counted once
    /// they are queued or dropped: a producer still waiting for room is not counted yet.
    pub submitted: u64,
    /// Lines the sink accepted.
    pub lines_written: u64,
    /// Bytes the sink accepted (the writer's own drop-report lines included; those are not
    /// counted in `lines_written`).
    pub bytes_written: u64,
    /// Lines lost, by reason.
    pub dropped: Dropped,
    /// Failed sink operations (a failed batch write or flush counts once; a panic too).
    pub write_errors: u64,
    /// Times the sink panicked (each is also a write error).
    pub sink_panics: u64,
    /// Batches the worker wrote.
    pub batches: u64,
    /// Whether the worker thread is still running.
    pub worker_alive: bool,
    /// Time since the sink last accepted a write, `None` if it never has.
    pub since_last_write: Option<Duration>,
    /// Time lines spent queued (a fixed fraction of lines is timed).
    pub queue_wait: LatencySnapshot,
    /// Time each batch took to write and, when it ends with one, flush.
    pub batch_write: LatencySnapshot,
}

/// The recording side of a [`LatencySnapshot`]: relaxed atomics, recorded by the worker.
#[derive(Debug, Default)]
pub(crate) struct Histogram {
    counts: [AtomicU64; LATENCY_BUCKETS],
    sum_nanos: AtomicU64,
}

impl Histogram {
    pub(crate) fn record(&self, d: Duration) {
        self.counts[LatencySnapshot::bucket_for(d)].fetch_add(1, Relaxed);
        let nanos = d.as_nanos().min(u64::MAX as u128) as u64;
        // Saturating, as the snapshot documents. Only the worker records, so the CAS loop
        // practically never retries.
        let _ = self
            .sum_nanos
            .fetch_update(Relaxed, Relaxed, |sum| Some(sum.saturating_add(nanos)));
    }

    pub(crate) fn snapshot(&self) -> LatencySnapshot {
        let mut s = LatencySnapshot::default();
        for (out, c) in s.counts.iter_mut().zip(&self.counts) {
            *out = c.load(Relaxed);
        }
        s.sum_nanos = self.sum_nanos.load(Relaxed);
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_and_saturates() {
        let h = Histogram::default();
        h.record(Duration::from_nanos(500));
        h.record(Duration::from_micros(3));
        h.record(Duration::MAX);
        let s = h.snapshot();
        assert_eq!(
            (s.counts[0], s.counts[2], s.counts[LATENCY_BUCKETS - 1]),
            (1, 1, 1)
        );
        assert_eq!(s.count(), 3);
        assert_eq!(s.sum_nanos, u64::MAX);
    }
}
