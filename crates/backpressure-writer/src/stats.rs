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

/// Lines the writer gave up on, one field per reason ([`DropReason`] names the reasons).
///
/// Every line handed to [`NonBlocking`](crate::NonBlocking) ends up written, in one of
/// these fields, or still buffered: see [the accounting invariant](Stats#accounting).
///
/// The struct is `#[non_exhaustive]`: a new reason may be added as a field (and a
/// [`DropReason`] variant) in a minor release. Code that must see every reason iterates
/// [`by_reason`](Self::by_reason) rather than naming the fields.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Dropped {
    /// Refused on arrival because the queue was full, in lines or in bytes
    /// (`Overflow::DropNewest`, or `Overflow::DropOldest` when evicting could not make
    /// room), or at once under any policy because the line is longer than
    /// `buffered_bytes_limit`.
    pub newest: u64,
    /// Evicted from the head of a full queue to make room (`Overflow::DropOldest`).
    pub oldest: u64,
    /// Waited for room under `Overflow::Block { timeout: Some(_) }` and timed out.
    pub timeout: u64,
    /// A keep-level (WARN/ERROR by default) line that found its reserved room full and
    /// waited its `keep_timeout` in vain, or did not wait: `keep_timeout(0)`, a keep line
    /// timed out before it and the keep backlog has not drained to half the room (in lines
    /// and in bytes) since, or it is longer than the keep room in bytes
    /// (`Stats::keep_byte_capacity`) and could never fit. A keep line that finds room is
    /// never counted here: without an explicit `keep_capacity` the room is the byte
    /// reserve.
    pub keep_timeout: u64,
    /// Queued, or taken by the worker but not yet handed to the sink, when the guard's
    /// shutdown timeout ran out. These lines are never written. (The chunk inside the
    /// sink at that moment is not counted here: it is settled when its write returns.)
    pub shutdown: u64,
    /// Submitted after the guard's drop began (the drain stops at what was queued then),
    /// or after the worker thread had gone away. The first such line prints one notice on
    /// stderr naming the cause (a guard dropped too early, e.g. `let (w, _) = ...`).
    pub worker_gone: u64,
    /// Taken by the worker but lost because the sink returned an error or panicked: the
    /// lines of the failed chunk not wholly written (a line torn by a partial write counts
    /// here) and the rest of its batch.
    pub write_failed: u64,
    /// A flushed context line (see [`NonBlocking::context_writer`](crate::NonBlocking::context_writer))
    /// refused because the keep room was at or above the context's share of it and did
    /// not fall below within the context's own wait bound, or because an earlier context
    /// line timed out and the keep room has not drained to half the share since.
    pub context: u64,
}

impl Dropped {
    /// All dropped lines, whatever the reason.
    pub fn total(&self) -> u64 {
        self.by_reason().map(|(_, n)| n).sum()
    }

    /// The count for one reason.
    pub fn get(&self, reason: DropReason) -> u64 {
        match reason {
            DropReason::Newest => self.newest,
            DropReason::Oldest => self.oldest,
            DropReason::Timeout => self.timeout,
            DropReason::KeepTimeout => self.keep_timeout,
            DropReason::Shutdown => self.shutdown,
            DropReason::WorkerGone => self.worker_gone,
            DropReason::WriteFailed => self.write_failed,
            DropReason::Context => self.context,
        }
    }

    /// `(reason, count)` for every reason, always in the order of [`DropReason::ALL`]
    /// (the order of the drop report and of `logmetrics`' series).
    ///
    /// An iterator rather than an array, so that adding a reason is not a breaking change.
    ///
    /// # Examples
    ///
    /// ```
    /// use backpressure_writer::stats::{DropReason, Dropped};
    ///
    /// let mut d = Dropped::default();
    /// d.newest = 3;
    /// d.write_failed = 1;
    /// let nonzero: Vec<(&str, u64)> = d
    ///     .by_reason()
    ///     .filter(|&(_, n)| n > 0)
    ///     .map(|(reason, n)| (reason.as_str(), n))
    ///     .collect();
    /// assert_eq!(nonzero, [("newest", 3), ("write_failed", 1)]);
    /// assert_eq!(d.get(DropReason::Newest), 3);
    /// assert_eq!(d.total(), 4);
    /// ```
    pub fn by_reason(&self) -> impl ExactSizeIterator<Item = (DropReason, u64)> + Clone + '_ {
        DropReason::ALL.iter().map(move |&r| (r, self.get(r)))
    }
}

/// Why a line was dropped: one variant per field of [`Dropped`].
///
/// `#[non_exhaustive]`: a minor release may add a reason, so a `match` needs a wildcard
/// arm. [`as_str`](Self::as_str) gives the stable lowercase name used in the drop report
/// and as the `reason` label of `logmetrics`' series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum DropReason {
    /// See [`Dropped::newest`].
    Newest,
    /// See [`Dropped::oldest`].
    Oldest,
    /// See [`Dropped::timeout`].
    Timeout,
    /// See [`Dropped::keep_timeout`].
    KeepTimeout,
    /// See [`Dropped::shutdown`].
    Shutdown,
    /// See [`Dropped::worker_gone`].
    WorkerGone,
    /// See [`Dropped::write_failed`].
    WriteFailed,
    /// See [`Dropped::context`].
    Context,
}

impl DropReason {
    /// Every reason, in report order. A slice, so that it can grow.
    pub const ALL: &'static [DropReason] = &[
        DropReason::Newest,
        DropReason::Oldest,
        DropReason::Timeout,
        DropReason::KeepTimeout,
        DropReason::Shutdown,
        DropReason::WorkerGone,
        DropReason::WriteFailed,
        DropReason::Context,
    ];

    /// Whether the drop report always names this reason. The seven reasons of the first
    /// release always appear, so a report's format stays what parsers of it expect; a
    /// reason added since (`context`) appears only in a report where it counted a line.
    pub const fn in_every_report(self) -> bool {
        !matches!(self, DropReason::Context)
    }

    /// The stable lowercase name: `newest`, `oldest`, `timeout`, `keep_timeout`,
    /// `shutdown`, `worker_gone`, `write_failed`, `context` (the name of the [`Dropped`]
    /// field).
    pub const fn as_str(self) -> &'static str {
        match self {
            DropReason::Newest => "newest",
            DropReason::Oldest => "oldest",
            DropReason::Timeout => "timeout",
            DropReason::KeepTimeout => "keep_timeout",
            DropReason::Shutdown => "shutdown",
            DropReason::WorkerGone => "worker_gone",
            DropReason::WriteFailed => "write_failed",
            DropReason::Context => "context",
        }
    }
}

/// The writer's drop counts, one slot per [`DropReason`] (indexed by the variant): the one
/// place a drop is counted. [`Dropped`] is its public snapshot.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct DropCounts([u64; DROP_REASONS]);

/// How many reasons there are; a new variant must be added to [`DropReason::ALL`] too,
/// which the assertion below checks.
const DROP_REASONS: usize = 8;
const _: () = assert!(DropReason::ALL.len() == DROP_REASONS);

impl DropCounts {
    /// Counts `lines` more lines dropped for `reason`.
    pub(crate) fn add(&mut self, reason: DropReason, lines: u64) {
        self.0[reason as usize] += lines;
    }

    pub(crate) fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    /// `self - earlier`, reason by reason (counts only grow, so this never underflows).
    pub(crate) fn since(&self, earlier: &DropCounts) -> DropCounts {
        DropCounts(std::array::from_fn(|i| self.0[i] - earlier.0[i]))
    }

    /// The public view of the counts.
    pub(crate) fn snapshot(&self) -> Dropped {
        let n = |r: DropReason| self.0[r as usize];
        Dropped {
            newest: n(DropReason::Newest),
            oldest: n(DropReason::Oldest),
            timeout: n(DropReason::Timeout),
            keep_timeout: n(DropReason::KeepTimeout),
            shutdown: n(DropReason::Shutdown),
            worker_gone: n(DropReason::WorkerGone),
            write_failed: n(DropReason::WriteFailed),
            context: n(DropReason::Context),
        }
    }
}

impl std::fmt::Display for DropReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

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

    #[test]
    fn by_reason_names_every_field_once_in_report_order() {
        let d = Dropped {
            newest: 1,
            oldest: 2,
            timeout: 4,
            keep_timeout: 8,
            shutdown: 16,
            worker_gone: 32,
            write_failed: 64,
            context: 128,
        };
        let pairs: Vec<(&str, u64)> = d.by_reason().map(|(r, n)| (r.as_str(), n)).collect();
        assert_eq!(
            pairs,
            [
                ("newest", 1),
                ("oldest", 2),
                ("timeout", 4),
                ("keep_timeout", 8),
                ("shutdown", 16),
                ("worker_gone", 32),
                ("write_failed", 64),
                ("context", 128),
            ]
        );
        assert_eq!(d.total(), 255);
        assert_eq!(d.by_reason().len(), DropReason::ALL.len());
    }

    #[test]
    fn drop_counts_land_in_their_reasons_field() {
        let mut counts = DropCounts::default();
        for (i, &reason) in DropReason::ALL.iter().enumerate() {
            assert_eq!(reason as usize, i, "ALL is in variant order");
            counts.add(reason, 1 << i);
        }
        let d = counts.snapshot();
        for (i, (reason, n)) in d.by_reason().enumerate() {
            assert_eq!(n, 1 << i, "{reason}");
        }
        let earlier = counts;
        counts.add(DropReason::Shutdown, 5);
        assert_eq!(counts.since(&earlier).snapshot().shutdown, 5);
        assert_eq!(counts.since(&earlier).total(), 5);
        assert_eq!(counts.total(), 255 + 5);
    }
}
