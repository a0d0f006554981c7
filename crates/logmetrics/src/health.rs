//! Typed health reports for readiness probes and start-up checks.
//!
//! # What a probe sees
//!
//! [`Exporter::health`](crate::Exporter::health) judges the present state (worker alive,
//! queue saturation, a stalled sink) and, for counts (lines dropped, write errors, breaker
//! trips), what happened within the **health window**: a fixed span of recent time,
//! [`health_window`](crate::ExporterBuilder::health_window) (six export intervals, 30 s,
//! by default). A check changes nothing another check sees: a kubelet and a human with
//! `curl` probing the same exporter at the same moment get the same answer, however often
//! either probes. A drop keeps the report unhealthy (with the default `max_dropped(0)`)
//! from the moment it is seen for as long as it is inside the window, and then heals by
//! itself, without anyone having to read it.
//!
//! The window is measured from observations of the counters that every export and every
//! check takes, at most one per export interval: a check compares with the latest one
//! taken at or before the window's start. So a change counts for at least the window and
//! at most the window plus the gap between two observations (one export interval while the
//! exporter thread runs; an exporter without its thread observes only when checked). For
//! the first window after the exporter is built, everything since each source started
//! counts.

use std::fmt;
use std::time::Duration;

use backpressure_writer::stats::Stats;
use sampling_layer::stats::SamplingStats;

use crate::window::WriterCounts;

/// When a writer or sampler counts as unhealthy.
///
/// Built like everything else here: `HealthThresholds::default()` and consuming setters;
/// the exporter's `build()` validates them.
///
/// # Examples
///
/// A writer that dropped 3 lines is unhealthy under the default `max_dropped(0)`, and
/// healthy once a few drops per window are tolerated; a threshold out of range is refused
/// by `build()`:
///
/// ```
/// use backpressure_writer::stats::Stats;
/// use logmetrics::health::{HealthThresholds, Problem};
/// use logmetrics::Exporter;
///
/// let source = || {
///     let mut s = Stats::default();
///     s.worker_alive = true;
///     s.submitted = 10;
///     s.lines_written = 7;
///     s.dropped.newest = 3;
///     s
/// };
///
/// let strict = Exporter::builder().writer("app", source).build().unwrap();
/// let report = strict.health();
/// assert!(!report.is_healthy());
/// assert!(matches!(
///     report.writers[0].problems[..],
///     [Problem::LinesDropped { lines: 3, .. }]
/// ));
///
/// let tolerant = Exporter::builder()
///     .writer("app", source)
///     .health_thresholds(HealthThresholds::default().max_dropped(5))
///     .build()
///     .unwrap();
/// assert!(tolerant.health().is_healthy());
///
/// let refused = Exporter::builder()
///     .writer("app", source)
///     .health_thresholds(HealthThresholds::default().max_queue_saturation(1.5))
///     .build();
/// assert_eq!(
///     refused.unwrap_err().to_string(),
///     "logmetrics: health threshold max_queue_saturation: 1.5 is not in (0, 1]"
/// );
/// ```
#[derive(Debug, Clone, PartialEq)]
#[must_use]
pub struct HealthThresholds {
    pub(crate) max_queue_saturation: f64,
    pub(crate) max_dropped: u64,
    pub(crate) max_write_errors: u64,
    pub(crate) max_write_stall: Duration,
    pub(crate) breaker_open_is_unhealthy: bool,
}

impl Default for HealthThresholds {
    fn default() -> Self {
        Self {
            max_queue_saturation: 0.8,
            max_dropped: 0,
            max_write_errors: 0,
            max_write_stall: Duration::from_secs(30),
            breaker_open_is_unhealthy: false,
        }
    }
}

impl HealthThresholds {
    /// Queue saturation, in lines or in bytes (see [`WriterHealth::queue_saturation`] and
    /// [`WriterHealth::byte_saturation`]), above which the writer is unhealthy, in `(0, 1]`
    /// (default 0.8). One threshold for both: either bound, once full, refuses lines.
    pub fn max_queue_saturation(mut self, ratio: f64) -> Self {
        self.max_queue_saturation = ratio;
        self
    }

    /// Lines a writer may drop within the health window and still be healthy (default 0).
    pub fn max_dropped(mut self, lines: u64) -> Self {
        self.max_dropped = lines;
        self
    }

    /// Write errors a writer may see within the health window and still be healthy
    /// (default 0).
    pub fn max_write_errors(mut self, errors: u64) -> Self {
        self.max_write_errors = errors;
        self
    }

    /// How long a writer may hold queued lines without the sink accepting a write
    /// (default 30 s). An idle writer with an empty queue is never stalled.
    pub fn max_write_stall(mut self, stall: Duration) -> Self {
        self.max_write_stall = stall;
        self
    }

    /// Whether an open sampling breaker makes the report unhealthy (default `false`: an
    /// error storm is worth seeing, but pulling the service out of rotation for it rarely
    /// helps). The report shows the breaker's state either way.
    pub fn breaker_open_is_unhealthy(mut self, unhealthy: bool) -> Self {
        self.breaker_open_is_unhealthy = unhealthy;
        self
    }

    pub(crate) fn validate(&self) -> Result<(), crate::BuildError> {
        let s = self.max_queue_saturation;
        if !(s > 0.0 && s <= 1.0) {
            return Err(crate::BuildError::InvalidThreshold {
                what: "max_queue_saturation",
                why: format!("{s} is not in (0, 1]"),
            });
        }
        if self.max_write_stall.is_zero() {
            return Err(crate::BuildError::InvalidThreshold {
                what: "max_write_stall",
                why: "zero would report every non-empty queue as stalled".to_owned(),
            });
        }
        Ok(())
    }
}

/// Something wrong with a writer or sampler.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Problem {
    /// The writer's worker thread has gone away: every line from now on is lost.
    WorkerGone,
    /// Lines are queued but the sink has not accepted a write for longer than
    /// `max_write_stall`. (A writer that never wrote is not judged: nothing says how long
    /// its lines have waited.)
    WriteStalled {
        /// Lines waiting.
        pending: usize,
        /// Time since the last accepted write.
        since_last_write: Duration,
    },
    /// The queue is fuller than the threshold, counted in lines.
    QueueSaturated {
        /// Depth over capacity, in `[0, 1]`.
        saturation: f64,
    },
    /// The queue is fuller than the threshold, counted in bytes (the byte bound fills
    /// first when lines are large).
    BytesSaturated {
        /// Buffered bytes over the byte capacity, in `[0, 1]`.
        saturation: f64,
    },
    /// Lines were dropped within the health window.
    LinesDropped {
        /// How many.
        lines: u64,
        /// The health window.
        window: Duration,
    },
    /// The sink failed within the health window.
    WriteErrors {
        /// How many failed operations.
        errors: u64,
        /// The health window.
        window: Duration,
    },
    /// The sampler's breaker is open (only a problem if the thresholds say so).
    BreakerOpen,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::WorkerGone => f.write_str("worker thread is gone"),
            Problem::WriteStalled {
                pending,
                since_last_write,
            } => write!(
                f,
                "{pending} lines queued, no write for {:.1} s",
                since_last_write.as_secs_f64()
            ),
            Problem::QueueSaturated { saturation } => {
                write!(f, "queue {:.0}% full", saturation * 100.0)
            }
            Problem::BytesSaturated { saturation } => {
                write!(f, "queue {:.0}% full in bytes", saturation * 100.0)
            }
            Problem::LinesDropped { lines, window } => {
                write!(f, "{lines} lines dropped in the last {window:?}")
            }
            Problem::WriteErrors { errors, window } => {
                write!(f, "{errors} write errors in the last {window:?}")
            }
            Problem::BreakerOpen => f.write_str("sampling breaker open"),
        }
    }
}

/// One writer's health at the time of the check.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct WriterHealth {
    /// The name it was registered under.
    pub name: String,
    /// Whether its worker thread runs.
    pub worker_alive: bool,
    /// Time since the sink last accepted a write, `None` if it never has.
    pub since_last_write: Option<Duration>,
    /// Lines buffered: queued or being written, keep-level lines included
    /// ([`Stats::queue_depth`]).
    pub queue_depth: usize,
    /// Lines the overflow policy lets the writer buffer: `buffered_lines_limit`
    /// ([`Stats::capacity`]). Keep-level lines may be buffered beyond it, in their reserve.
    pub capacity: usize,
    /// `queue_depth / capacity`, clamped to `[0, 1]` (0 when the capacity is 0): 1 when
    /// the room the policy drops from is full. Keep-level lines count in the depth, so
    /// keep lines taking that room make it read full early; those beyond it sit in their
    /// own reserve, bounded by bytes, which [`byte_saturation`](Self::byte_saturation)
    /// watches.
    pub queue_saturation: f64,
    /// Bytes of the buffered lines ([`Stats::buffered_bytes`]).
    pub buffered_bytes: usize,
    /// Bytes the writer can buffer: [`Stats::byte_capacity`] plus
    /// [`Stats::keep_byte_capacity`], the bound of `buffered_bytes`.
    pub byte_capacity: usize,
    /// `buffered_bytes / byte_capacity`, in `[0, 1]` (0 when the byte capacity is 0). As
    /// with lines, lines under the overflow policy fill at most the policy's share of it.
    pub byte_saturation: f64,
    /// Lines dropped within the health window, all reasons.
    pub dropped_in_window: u64,
    /// Of those, per reason (only reasons with drops), named by `DropReason::as_str`, in
    /// the order of `DropReason::ALL`.
    pub dropped_by_reason: Vec<(&'static str, u64)>,
    /// Write errors within the health window.
    pub write_errors_in_window: u64,
    /// What is wrong, empty when healthy.
    pub problems: Vec<Problem>,
}

/// One sampler's health at the time of the check.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SamplerHealth {
    /// The name it was registered under.
    pub name: String,
    /// Whether the breaker is open.
    pub breaker_open: bool,
    /// Breaker trips within the health window.
    pub breaker_trips_in_window: u64,
    /// What is wrong, empty when healthy.
    pub problems: Vec<Problem>,
}

/// The health of every registered writer and sampler, from
/// [`Exporter::health`](crate::Exporter::health).
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct HealthReport {
    /// The health window the counts cover.
    pub window: Duration,
    /// One entry per registered writer, in registration order.
    pub writers: Vec<WriterHealth>,
    /// One entry per registered sampler, in registration order.
    pub samplers: Vec<SamplerHealth>,
}

impl HealthReport {
    /// `true` when no writer or sampler has a problem.
    pub fn is_healthy(&self) -> bool {
        self.problems().next().is_none()
    }

    /// Every problem with the name of the writer or sampler it belongs to.
    pub fn problems(&self) -> impl Iterator<Item = (&str, &Problem)> + '_ {
        let w = self
            .writers
            .iter()
            .flat_map(|w| w.problems.iter().map(move |p| (w.name.as_str(), p)));
        let s = self
            .samplers
            .iter()
            .flat_map(|s| s.problems.iter().map(move |p| (s.name.as_str(), p)));
        w.chain(s)
    }
}

impl fmt::Display for HealthReport {
    /// `healthy`, or `unhealthy: app: 3 lines dropped in the last 30s; ...`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_healthy() {
            return f.write_str("healthy");
        }
        f.write_str("unhealthy:")?;
        for (i, (name, p)) in self.problems().enumerate() {
            let sep = if i == 0 { " " } else { "; " };
            write!(f, "{sep}{name}: {p}")?;
        }
        Ok(())
    }
}

/// How full the room the overflow policy drops from is: buffered lines over
/// `buffered_lines_limit`, clamped to `[0, 1]`. Keep-level lines are counted in the depth
/// too, so a queue whose keep lines take its room reads full early: the safe side for a
/// warning. Keep lines beyond it sit in their own reserve, which the byte ratio watches.
pub(crate) fn saturation(s: &Stats) -> f64 {
    ratio(s.queue_depth, s.capacity)
}

/// The fraction of the writer's byte room in use: buffered bytes over
/// `byte_capacity + keep_byte_capacity`, clamped to `[0, 1]` as [`saturation`] is.
pub(crate) fn byte_saturation(s: &Stats) -> f64 {
    ratio(
        s.buffered_bytes,
        s.byte_capacity.saturating_add(s.keep_byte_capacity),
    )
}

/// `part / whole` in `[0, 1]`; 0 for an empty whole (a hand-made `Stats` with no bound).
fn ratio(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        0.0
    } else {
        (part as f64 / whole as f64).clamp(0.0, 1.0)
    }
}

/// `now - base`; a counter that went backwards means the source was replaced: count it
/// from zero.
fn since(now: u64, base: u64) -> u64 {
    now.checked_sub(base).unwrap_or(now)
}

pub(crate) fn check_writer(
    name: &str,
    s: &Stats,
    base: &WriterCounts,
    window: Duration,
    t: &HealthThresholds,
) -> WriterHealth {
    let mut dropped_by_reason = Vec::new();
    let mut dropped = 0;
    for (reason, now) in s.dropped.by_reason() {
        let d = since(now, base.dropped.get(reason));
        if d > 0 {
            dropped_by_reason.push((reason.as_str(), d));
        }
        dropped += d;
    }
    let errors = since(s.write_errors, base.write_errors);

    let saturation = saturation(s);
    let byte_saturation = byte_saturation(s);
    let mut problems = Vec::new();
    if !s.worker_alive {
        problems.push(Problem::WorkerGone);
    }
    if let Some(since) = s.since_last_write {
        if s.queue_depth > 0 && since > t.max_write_stall {
            problems.push(Problem::WriteStalled {
                pending: s.queue_depth,
                since_last_write: since,
            });
        }
    }
    if saturation > t.max_queue_saturation {
        problems.push(Problem::QueueSaturated { saturation });
    }
    if byte_saturation > t.max_queue_saturation {
        problems.push(Problem::BytesSaturated {
            saturation: byte_saturation,
        });
    }
    if dropped > t.max_dropped {
        problems.push(Problem::LinesDropped {
            lines: dropped,
            window,
        });
    }
    if errors > t.max_write_errors {
        problems.push(Problem::WriteErrors { errors, window });
    }
    WriterHealth {
        name: name.to_owned(),
        worker_alive: s.worker_alive,
        since_last_write: s.since_last_write,
        queue_depth: s.queue_depth,
        capacity: s.capacity,
        queue_saturation: saturation,
        buffered_bytes: s.buffered_bytes,
        byte_capacity: s.byte_capacity.saturating_add(s.keep_byte_capacity),
        byte_saturation,
        dropped_in_window: dropped,
        dropped_by_reason,
        write_errors_in_window: errors,
        problems,
    }
}

pub(crate) fn check_sampler(
    name: &str,
    s: &SamplingStats,
    base_trips: u64,
    t: &HealthThresholds,
) -> SamplerHealth {
    let mut problems = Vec::new();
    if s.breaker_open && t.breaker_open_is_unhealthy {
        problems.push(Problem::BreakerOpen);
    }
    SamplerHealth {
        name: name.to_owned(),
        breaker_open: s.breaker_open,
        breaker_trips_in_window: since(s.breaker_trips, base_trips),
        problems,
    }
}
