//! The run's script: the four phases and where they fall in the run time, what each
//! producer thread does in each, and the figures that size the load.

use std::fmt;
use std::time::Duration;

/// Requests per second per producer thread.
pub(crate) const REQUESTS_PER_SEC: f64 = 2_500.0;
/// Rows per second the batch exporter logs during the overload burst: about five times
/// what the throttled sink can take.
pub(crate) const FLOOD_ROWS_PER_SEC: f64 = 40_000.0;
/// Rows the exporter logs per iteration of its loop, so that its pacing costs little.
pub(crate) const FLOOD_BATCH: u64 = 64;
/// ERROR events per second during the storm: well above the breaker's threshold.
pub(crate) const STORM_ERRORS_PER_SEC: f64 = 400.0;
/// The breaker's threshold (ERROR events per second over a one-second window).
pub(crate) const BREAKER_THRESHOLD: f64 = 50.0;
/// Bytes per second the sink accepts while throttled: a slow disk.
pub(crate) const SLOW_SINK_BYTES_PER_SEC: u64 = 1_000_000;
/// The writer's queue: small enough for the overload burst to fill it.
pub(crate) const QUEUE_LINES: usize = 8_192;

/// A phase of the run, in the order they come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Request traffic alone: the sampler at its configured rates.
    Steady,
    /// A batch export floods the writer while the sink is slow: the overflow policy at work.
    Burst,
    /// Upstream fails and every request logs an ERROR: the circuit breaker trips, holds,
    /// and closes again.
    Storm,
    /// An operator raises the router's rate through the sampler's handle.
    RateChange,
}

impl Phase {
    /// Every phase, in order.
    pub const ALL: [Phase; 4] = [Phase::Steady, Phase::Burst, Phase::Storm, Phase::RateChange];

    /// The phase's number as printed, from 1.
    pub fn number(self) -> usize {
        self as usize + 1
    }

    /// `phase 2/4`: the phase without its title, for the live bar.
    pub fn short(self) -> String {
        format!("phase {}/{}", self.number(), Phase::ALL.len())
    }

    /// What happens in the phase, in a few words.
    pub fn title(self) -> &'static str {
        match self {
            Phase::Steady => "steady traffic",
            Phase::Burst => "overload burst into a slow sink",
            Phase::Storm => "error storm",
            Phase::RateChange => "run-time rate change",
        }
    }

    /// Where the phase starts, as a fraction of the run: steady 35%, burst 20%, storm
    /// 25%, rate change 20%.
    fn starts_at(self) -> f64 {
        match self {
            Phase::Steady => 0.0,
            Phase::Burst => 0.35,
            Phase::Storm => 0.55,
            Phase::RateChange => 0.80,
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.short(), self.title())
    }
}

/// What one producer thread does at a given moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Load {
    /// A request's worth of DEBUG traffic, and now and then a WARN or an ERROR.
    Requests,
    /// [`FLOOD_BATCH`] rows of the batch export, at INFO under no directive.
    Flood,
    /// One ERROR of the storm.
    Storm,
}

impl Load {
    /// Iterations per second of the producer's loop under this load.
    pub(crate) fn per_sec(self) -> f64 {
        match self {
            Load::Requests => REQUESTS_PER_SEC,
            Load::Flood => FLOOD_ROWS_PER_SEC / FLOOD_BATCH as f64,
            Load::Storm => STORM_ERRORS_PER_SEC,
        }
    }
}

/// The phases laid over one run's duration.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Schedule {
    total: Duration,
}

impl Schedule {
    /// The schedule of a run of `total`.
    pub(crate) fn new(total: Duration) -> Self {
        Schedule { total }
    }

    /// The run's length.
    pub(crate) fn end(&self) -> Duration {
        self.total
    }

    /// When `phase` starts, from the start of the run.
    pub(crate) fn start_of(&self, phase: Phase) -> Duration {
        self.total.mul_f64(phase.starts_at())
    }

    /// The phase under way `t` into the run (the last one from its start on).
    pub(crate) fn phase_at(&self, t: Duration) -> Phase {
        Phase::ALL
            .into_iter()
            .rev()
            .find(|p| t >= self.start_of(*p))
            .unwrap_or(Phase::Steady)
    }

    /// The errors of the storm last for its first 5% of the run; the rest of the phase is
    /// the breaker's window and hold, until it closes again.
    fn storm_end(&self) -> Duration {
        self.total.mul_f64(0.60)
    }

    /// How long the breaker stays open once the errors stop: it scales with the run, so
    /// that a short run still shows it closing again (60 s is the library's default, for
    /// real services).
    pub(crate) fn breaker_hold(&self) -> Duration {
        (self.total / 15).max(Duration::from_millis(500))
    }

    /// The breaker's window: the storm's length, at most one second. The ratio and spike
    /// triggers judge the window's figures, so a storm shorter than the window would be
    /// diluted by the calm before it (a real service's storm lasts longer than its
    /// breaker's window; this one is scaled down with the run).
    pub(crate) fn breaker_window(&self) -> Duration {
        (self.storm_end() - self.start_of(Phase::Storm)).min(Duration::from_secs(1))
    }

    /// What producer `n` does `t` into the run: both carry the request traffic; the
    /// second also carries the phase's special load (the flood, the storm) while it lasts.
    pub(crate) fn load(&self, n: u64, t: Duration) -> Load {
        match (n, self.phase_at(t)) {
            (1, Phase::Burst) => Load::Flood,
            (1, Phase::Storm) if t < self.storm_end() => Load::Storm,
            _ => Load::Requests,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_follow_one_another_with_the_numbers_they_print() {
        let s = Schedule::new(Duration::from_secs(20));
        let at = |ms: u64| s.phase_at(Duration::from_millis(ms));
        assert_eq!(at(0), Phase::Steady);
        assert_eq!(at(6_999), Phase::Steady);
        assert_eq!(at(7_000), Phase::Burst);
        assert_eq!(at(11_000), Phase::Storm);
        assert_eq!(at(16_000), Phase::RateChange);
        assert_eq!(at(25_000), Phase::RateChange);
        let printed: Vec<String> = Phase::ALL.iter().map(|p| p.to_string()).collect();
        assert_eq!(
            printed,
            [
                "phase 1/4: steady traffic",
                "phase 2/4: overload burst into a slow sink",
                "phase 3/4: error storm",
                "phase 4/4: run-time rate change",
            ]
        );
    }

    #[test]
    fn the_second_producer_carries_the_special_loads() {
        let s = Schedule::new(Duration::from_secs(20));
        let load = |n, ms| s.load(n, Duration::from_millis(ms));
        for ms in [0, 7_000, 11_000, 16_000] {
            assert_eq!(load(0, ms), Load::Requests);
        }
        assert_eq!(load(1, 6_999), Load::Requests);
        assert_eq!(load(1, 7_000), Load::Flood);
        assert_eq!(load(1, 11_000), Load::Storm);
        assert_eq!(load(1, 11_999), Load::Storm);
        assert_eq!(
            load(1, 12_000),
            Load::Requests,
            "the storm's errors stop at 60%"
        );
        assert_eq!(load(1, 16_000), Load::Requests);
        assert_eq!(s.breaker_hold(), Duration::from_secs(20) / 15);
        let short = Schedule::new(Duration::from_secs(3));
        assert_eq!(short.breaker_hold(), Duration::from_millis(500));
    }
}
