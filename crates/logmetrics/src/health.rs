//! Typed health reports for readiness probes and start-up checks.

use std::fmt;
use std::time::Duration;

use backpressure_writer::Stats;
use sampling_layer::SamplingStats;

/// When a writer or sampler counts as unhealthy.
///
/// Built like everything else here: `HealthThresholds::default()` and consuming setters;
/// the exporter's `build()` validates them.
#[derive(Debug, Clone, PartialEq)]
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
    /// Queue depth over capacity above which the writer is unhealthy, in `(0, 1]`
    /// (default 0.8).
    pub fn max_queue_saturation(mut self, ratio: f64) -> Self {
        self.max_queue_saturation = ratio;
        self
    }

    /// Lines a writer may drop between two checks and still be healthy (default 0).
    pub fn max_dropped(mut self, lines: u64) -> Self {
        self.max_dropped = lines;
        self
    }

    /// Write errors a writer may see between two checks and still be healthy (default 0).
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

    pub(crate) fn validate(&self) -> Result<(), crate::Error> {
        let s = self.max_queue_saturation;
        if !(s > 0.0 && s <= 1.0) {
            return Err(crate::Error::InvalidThreshold {
                what: "max_queue_saturation",
                why: format!("{s} is not in (0, 1]"),
            });
        }
        if self.max_write_stall.is_zero() {
            return Err(crate::Error::InvalidThreshold {
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
    WorkerDead,
    /// Lines are queued but the sink has not accepted a write for longer than
    /// `max_write_stall`. (A writer that never wrote is not judged: nothing says how long
    /// its lines have waited.)
    WriteStalled {
        /// Lines waiting.
        pending: usize,
        /// Time since the last accepted write.
        since_last_write: Duration,
    },
    /// The queue is fuller than the threshold.
    QueueSaturated {
        /// Depth over capacity.
        saturation: f64,
    },
    /// Lines were dropped since the last check.
    LinesDropped {
        /// How many.
        lines: u64,
    },
    /// The sink failed since the last check.
    WriteErrors {
        /// How many failed operations.
        errors: u64,
    },
    /// The sampler's breaker is open (only a problem if the thresholds say so).
    BreakerOpen,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::WorkerDead => f.write_str("worker thread is gone"),
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
            Problem::LinesDropped { lines } => write!(f, "{lines} lines dropped since last check"),
            Problem::WriteErrors { errors } => write!(f, "{errors} write errors since last check"),
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
    /// Lines queued.
    pub queue_depth: usize,
    /// Queue capacity.
    pub capacity: usize,
    /// `queue_depth / capacity` (0 when the capacity is 0).
    pub queue_saturation: f64,
    /// Lines dropped since the previous check, all reasons.
    pub dropped_since_last_check: u64,
    /// Of those, per reason (only reasons with drops), with `Dropped::by_reason` names.
    pub dropped_by_reason: Vec<(&'static str, u64)>,
    /// Write errors since the previous check.
    pub write_errors_since_last_check: u64,
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
    /// Breaker trips since the previous check.
    pub breaker_trips_since_last_check: u64,
    /// What is wrong, empty when healthy.
    pub problems: Vec<Problem>,
}

/// The health of every registered writer and sampler, from
/// [`Exporter::health`](crate::Exporter::health).
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct HealthReport {
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
    /// `healthy`, or `unhealthy: app: 3 lines dropped since last check; ...`.
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

/// What the previous check saw of one writer, so the next reports differences.
#[derive(Debug, Clone, Default)]
pub(crate) struct WriterBaseline {
    dropped: Vec<u64>,
    write_errors: u64,
}

/// What the previous check saw of one sampler.
#[derive(Debug, Clone, Default)]
pub(crate) struct SamplerBaseline {
    trips: u64,
}

pub(crate) fn check_writer(
    name: &str,
    s: &Stats,
    base: &mut WriterBaseline,
    t: &HealthThresholds,
) -> WriterHealth {
    let reasons = s.dropped.by_reason();
    base.dropped.resize(reasons.len(), 0);
    let mut dropped_by_reason = Vec::new();
    let mut dropped = 0;
    for (i, &(reason, now)) in reasons.iter().enumerate() {
        // A counter that went backwards means the source was replaced: count from zero.
        let d = now.checked_sub(base.dropped[i]).unwrap_or(now);
        if d > 0 {
            dropped_by_reason.push((reason, d));
        }
        dropped += d;
        base.dropped[i] = now;
    }
    let errors = s
        .write_errors
        .checked_sub(base.write_errors)
        .unwrap_or(s.write_errors);
    base.write_errors = s.write_errors;

    let saturation = if s.capacity == 0 {
        0.0
    } else {
        s.queue_depth as f64 / s.capacity as f64
    };
    let mut problems = Vec::new();
    if !s.worker_alive {
        problems.push(Problem::WorkerDead);
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
    if dropped > t.max_dropped {
        problems.push(Problem::LinesDropped { lines: dropped });
    }
    if errors > t.max_write_errors {
        problems.push(Problem::WriteErrors { errors });
    }
    WriterHealth {
        name: name.to_owned(),
        worker_alive: s.worker_alive,
        since_last_write: s.since_last_write,
        queue_depth: s.queue_depth,
        capacity: s.capacity,
        queue_saturation: saturation,
        dropped_since_last_check: dropped,
        dropped_by_reason,
        write_errors_since_last_check: errors,
        problems,
    }
}

pub(crate) fn check_sampler(
    name: &str,
    s: &SamplingStats,
    base: &mut SamplerBaseline,
    t: &HealthThresholds,
) -> SamplerHealth {
    let trips = s
        .breaker_trips
        .checked_sub(base.trips)
        .unwrap_or(s.breaker_trips);
    base.trips = s.breaker_trips;
    let mut problems = Vec::new();
    if s.breaker_open && t.breaker_open_is_unhealthy {
        problems.push(Problem::BreakerOpen);
    }
    SamplerHealth {
        name: name.to_owned(),
        breaker_open: s.breaker_open,
        breaker_trips_since_last_check: trips,
        problems,
    }
}
