//! What the writer counts about lost lines: the public view ([`Dropped`], by
//! [`DropReason`]) and the one place the writer counts them ([`DropCounts`]).

/// Lines the writer gave up on, one field per reason ([`DropReason`] names the reasons).
///
/// Every line handed to [`NonBlocking`](crate::NonBlocking) ends up written, in one of
/// these fields, or still buffered: see [the accounting invariant](super::Stats#accounting).
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

#[cfg(test)]
mod tests {
    use super::*;

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
