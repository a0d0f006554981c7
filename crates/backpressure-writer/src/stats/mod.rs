//! Plain snapshots of the writer's counters ([`NonBlocking::stats`](crate::NonBlocking::stats)),
//! and the drop report the writer writes into its own output.
//!
//! These types are the contract with `logmetrics` and with anyone polling the writer: they
//! hold no references into the writer and cost nothing to keep. Taking a snapshot reads a
//! handful of relaxed atomics; it never takes the queue lock for long and never waits on
//! the sink. Losses are counted exactly, by [`DropReason`], with
//! `submitted == lines_written + dropped.total() + queue_depth` in every snapshot
//! ([the accounting invariant](Stats#accounting)).
//!
//! # The drop report
//!
//! After lines were dropped, the worker writes one line into the output (at most one per
//! [`drop_report_interval`](crate::NonBlockingBuilder::drop_report_interval), 1 s by
//! default, the first as soon as drops are seen, and a last one at shutdown if drops
//! remain unreported; [`drop_report(false)`](crate::NonBlockingBuilder::drop_report) turns
//! it off). In the default text form:
//!
//! ```text
//! backpressure-writer: dropped 1234 lines since last report (newest=1234 oldest=0 timeout=0 keep_timeout=0 shutdown=0 worker_gone=0 write_failed=0)
//! ```
//!
//! `dropped N` is the sum of the counts that follow, always in this order with the names of
//! [`DropReason::as_str`] (the order of [`DropReason::ALL`]). The seven reasons above are
//! always named; `context=N` ([`Dropped::context`]) follows only in a report where context
//! lines were dropped ([`DropReason::in_every_report`]), so the format stays as it was for
//! writers without a [`context_writer`](crate::NonBlocking::context_writer). It follows
//! the batch of lines that was queued while the drops happened. It ends with `\n` and
//! counts in `bytes_written` but not in `lines_written`.
//!
//! For output made by `fmt::layer().json()`,
//! [`OwnLineFormat::Json`](crate::OwnLineFormat::Json) (set with
//! [`own_line_format`](crate::NonBlockingBuilder::own_line_format)) writes the same report
//! as one JSON object in fmt's layout (level `WARN`, target `backpressure_writer`, the
//! message and the per-reason counts under `fields`), so the file still parses line by
//! line; a closure can take any other form. [`OwnLineFormat`](crate::OwnLineFormat)
//! documents the forms.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

mod dropped;

pub(crate) use dropped::DropCounts;
pub use dropped::{DropReason, Dropped};
/// Number of buckets of a [`LatencySnapshot`] in this version (a minor release may add
/// some: read [`LatencySnapshot::bucket_count`] rather than building types on it).
pub(crate) const LATENCY_BUCKETS: usize = 24;

/// A fixed log2-bucketed latency histogram.
///
/// Bucket `i` counts observations `d` with `d <= bucket_upper_bound(i)`, and above the
/// bound of bucket `i - 1`; the last bucket also takes everything larger. Bounds run from
/// 1 µs (`i = 0`) doubling up to about 8.4 s (`i = 23` in this version). Fixed buckets keep
/// recording to one relaxed `fetch_add` and let exporters turn deltas into `record_many`
/// calls.
///
/// The buckets are read through [`counts`](Self::counts), a slice, so that a minor release
/// can add buckets; a snapshot is built from observations with [`record`](Self::record)
/// (for tests and for stats sources of one's own).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use backpressure_writer::stats::LatencySnapshot;
///
/// let mut h = LatencySnapshot::default();
/// h.record(Duration::from_micros(3)); // (2 µs, 4 µs]: bucket 2
/// h.record_many(Duration::from_nanos(500), 2); // up to 1 µs: bucket 0
/// assert_eq!(h.counts()[..3], [2, 0, 1]);
/// assert_eq!(h.counts().len(), LatencySnapshot::bucket_count());
/// assert_eq!(h.count(), 3);
/// assert_eq!(h.sum_nanos(), 4_000);
/// assert_eq!(LatencySnapshot::bucket_upper_bound(2), Duration::from_micros(4));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct LatencySnapshot {
    /// Observations per bucket (not cumulative).
    counts: [u64; LATENCY_BUCKETS],
    /// Sum of all observations, in nanoseconds (saturating).
    sum_nanos: u64,
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
    /// Number of buckets (24 in this version: 1 µs to about 8.4 s).
    pub const fn bucket_count() -> usize {
        LATENCY_BUCKETS
    }

    /// Upper bound of bucket `i` (1 µs × 2^i); an `i` past the last bucket gives the last
    /// bucket's bound.
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

    /// Observations per bucket (not cumulative), bucket 0 first;
    /// `counts().len() == bucket_count()`.
    pub fn counts(&self) -> &[u64] {
        &self.counts
    }

    /// Sum of all observations, in nanoseconds (saturating).
    pub fn sum_nanos(&self) -> u64 {
        self.sum_nanos
    }

    /// Total number of observations.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Adds one observation.
    pub fn record(&mut self, d: Duration) {
        self.record_many(d, 1);
    }

    /// Adds `n` observations of `d` (counts and sum saturate).
    pub fn record_many(&mut self, d: Duration, n: u64) {
        let bucket = &mut self.counts[Self::bucket_for(d)];
        *bucket = bucket.saturating_add(n);
        let nanos = d.as_nanos().min(u64::MAX as u128) as u64;
        self.sum_nanos = self.sum_nanos.saturating_add(nanos.saturating_mul(n));
    }
}

/// A point-in-time view of a [`NonBlocking`](crate::NonBlocking) writer's figures.
///
/// # Accounting
///
/// Every submitted line is, at any moment, in exactly one place: written, dropped (under
/// one [`DropReason`]) or buffered (queued, or taken by the worker, including the chunk
/// inside the sink's `write`, [`in_sink`](Self::in_sink)). So in **every** snapshot,
/// busy or idle, before and after the guard's drop, and also when a sink that the drop
/// gave up on recovers later:
///
/// ```text
/// submitted == lines_written + dropped.total() + queue_depth
/// ```
///
/// The counts are read together under the writer's lock, so no snapshot sees a line
/// twice or not at all. This is the one statement of the invariant; the rest of the docs
/// link here.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Lines buffered and not yet written or dropped: queued, or taken by the worker and
    /// being written ([`queued`](Self::queued) + [`in_flight`](Self::in_flight)). Both count
    /// against the bounds: lines under the policy against `capacity` and `byte_capacity`,
    /// keep-level lines against `keep_capacity` and `keep_byte_capacity`, so
    /// `queue_depth <= capacity + keep_capacity` and
    /// `buffered_bytes <= byte_capacity + keep_byte_capacity`. Without an explicit
    /// `keep_capacity` the keep lines' bytes bind first for any line of 64 bytes or more
    /// (see [`keep_capacity`](Self::keep_capacity)); see [Accounting](Self#accounting).
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
    /// The bound in lines on keep-level lines, on top of `capacity`: the builder's
    /// `keep_capacity`, or, when that is not set, one line per 64 bytes of
    /// [`keep_byte_capacity`](Self::keep_byte_capacity) (131 072 by default), a cap on the
    /// lines' 24-byte records that lines of ordinary length never reach: their bytes bind
    /// first.
    pub keep_capacity: usize,
    /// Bytes of the lines in [`queue_depth`](Self::queue_depth): what the byte bounds
    /// limit, `buffered_bytes <= byte_capacity + keep_byte_capacity`.
    pub buffered_bytes: usize,
    /// The bound in bytes on lines under the overflow policy (`buffered_bytes_limit`).
    pub byte_capacity: usize,
    /// Bytes reserved for keep-level lines, on top of `byte_capacity`: 1/8 of it, or with
    /// an explicit `keep_capacity` the proportion that has to `capacity` if larger.
    pub keep_byte_capacity: usize,
    /// Highest `queue_depth` seen since the writer was built.
    pub high_water: usize,
    /// Producers currently waiting for room (`Overflow::Block`, or keep-level lines).
    pub blocked_producers: usize,
    /// Lines handed to the writer (each non-empty `write` call is one line), counted once
    /// they are queued or dropped: a producer still waiting for room is not counted yet.
    pub submitted: u64,
    /// Submitted lines the sink accepted, each wholly (of a chunk a failed write left
    /// partly in the output, the lines wholly in it). The writer's own drop-report lines
    /// are not submitted lines and are not counted here (their bytes are in
    /// [`bytes_written`](Self::bytes_written)): the output holds these lines plus one line
    /// per drop report.
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
    /// Whether the worker is parked: idle long enough (`park_after`) that the next line
    /// wakes it with a futex wake on the producer's thread. While it polls instead (right
    /// after a batch), producers never pay that wake-up.
    pub worker_parked: bool,
    /// Times the worker woke while idle: each poll, and each wake from being parked. A
    /// long-idle writer stops adding to it.
    pub worker_wakeups: u64,
    /// Times a producer, `flush()` or the guard woke the sleeping worker (one futex wake
    /// each, paid by that thread).
    pub worker_notifies: u64,
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
        LatencySnapshot {
            counts: std::array::from_fn(|i| self.counts[i].load(Relaxed)),
            sum_nanos: self.sum_nanos.load(Relaxed),
        }
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
