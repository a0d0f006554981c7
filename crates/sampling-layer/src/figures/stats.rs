//! Plain snapshots of the sampler's counters: the contract with `logmetrics`.
//!
#![doc = include_str!("stats.md")]

/// Figures for one directive target (or the catch-all [`OTHER_TARGET`]).
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct TargetStats {
    /// The directive's target (`app::router`), `""` for the bare default rate, or
    /// [`OTHER_TARGET`] for events no directive names.
    pub target: String,
    /// The configured rate in `[0, 1]` for this target (its target-wide rate; per-key
    /// rates under it are counted here too).
    pub rate: f64,
    /// Sampled-level events that reached the sampler's decision.
    pub seen: u64,
    /// Of those, kept.
    pub kept: u64,
    /// Of those, sampled out (`seen - kept`).
    pub dropped: u64,
    /// The target's budget in lines per second (`target=200/s`; `30/min` is
    /// 0.5), if it has one; its keys' rates then follow it and `rate` is 1.
    pub budget: Option<f64>,
    /// The rate the target samples at now: its configured rate under the
    /// pressure scale; for a budget target, the share of its events kept in
    /// the last adjustment interval. With a key extractor, the configured
    /// rate: events inside a trace are decided at it whatever the pressure
    /// (events outside any trace at it under the scale).
    pub effective_rate: f64,
    /// A budget target's goal in this process, in lines per second (as of
    /// the last adjustment): its budget under the pressure scale, and for a
    /// fleet budget (`/fleet`) divided by the fleet's size.
    pub effective_budget: Option<f64>,
    /// Seen over the last complete recent interval
    /// ([`SamplingStats::recent_interval`], 10 s by default): the difference
    /// between the figures marked at the first stats read of the last two
    /// intervals (see [`recent_rate`](Self::recent_rate)). 0 before the
    /// first interval is complete, and for a target added since.
    pub recent_seen: u64,
    /// Kept over the same interval as `recent_seen`.
    pub recent_kept: u64,
}

impl TargetStats {
    /// `kept / seen`, or `None` before any event was seen.
    pub fn actual_rate(&self) -> Option<f64> {
        (self.seen > 0).then(|| self.kept as f64 / self.seen as f64)
    }

    /// `recent_kept / recent_seen`: the rate actually kept over the last
    /// complete interval, so a rate change shows within one interval (the
    /// lifetime [`actual_rate`](Self::actual_rate) moves slowly). `None` if
    /// nothing was seen in it. Reading it changes nothing: every reader gets
    /// the same until the next interval starts.
    pub fn recent_rate(&self) -> Option<f64> {
        (self.recent_seen > 0).then(|| self.recent_kept as f64 / self.recent_seen as f64)
    }

    /// Share of seen events that were sampled out, in `[0, 1]`.
    pub fn reduction(&self) -> Option<f64> {
        self.actual_rate().map(|r| 1.0 - r)
    }
}

pub use crate::directive::OTHER_TARGET;

/// A point-in-time view of a sampler's state.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct SamplingStats {
    /// Per-key counters currently live (keys from the key field; at most `max_keys`).
    pub active_keys: usize,
    /// The configured bound on live keys (`max_keys`).
    pub max_keys: usize,
    /// Per-key counters evicted since the sampler was built.
    pub evicted_keys: u64,
    /// Whether the circuit breaker is open (sampling suspended, everything kept).
    pub breaker_open: bool,
    /// Times the breaker has opened.
    pub breaker_trips: u64,
    /// Times the breaker has closed again (sampling resumed).
    pub breaker_recoveries: u64,
    /// What opened the breaker last: `"threshold"` (the absolute rate, with
    /// no ratio or spike trigger configured), `"ratio"` or `"spike"`; `None`
    /// before it first opened.
    pub breaker_trigger: Option<&'static str>,
    /// Callsites with a counter of their own (events without a key field,
    /// and `log` call sites bridged by `tracing-log`). These are bounded by
    /// the program's code, not by `max_keys`, and are not counted in
    /// `active_keys`.
    pub callsite_keys: usize,
    /// Targets no longer configured whose figures are remembered (a target
    /// that comes back carries on from them); at most 65 536.
    pub retired_targets: usize,
    /// Retired targets forgotten because more than 65 536 were remembered:
    /// if one comes back, its figures restart from zero.
    pub forgotten_targets: u64,
    /// The pressure scale every sampled rate and budget is multiplied by, in
    /// `(0, 1]`: 1 without pressure (see [`Pressure`](crate::Pressure)).
    pub pressure_scale: f64,
    /// The fleet's size as last read, with a
    /// [`fleet_size`](crate::SamplingFilterBuilder::fleet_size) provider
    /// (`None` without one): a `/fleet` budget's per-process goal is the
    /// budget divided by it ([`TargetStats::effective_budget`]).
    pub fleet_size: Option<u64>,
    /// Reads of the fleet size refused (0, above 1 048 576, or a panic of the
    /// provider); the last good size was held each time.
    pub fleet_size_refused: u64,
    /// Whether sampling is enabled (`SamplingHandle::set_enabled`).
    pub enabled: bool,
    /// Per target: seen, kept, dropped and the configured rate.
    pub targets: Vec<TargetStats>,
    /// The length of the interval `TargetStats::recent_seen` covers
    /// ([`recent_interval`](crate::SamplingFilterBuilder::recent_interval)).
    pub recent_interval: std::time::Duration,

    /// Context capture's figures (all zero without capture).
    pub capture: crate::capture::CaptureStats,
    /// Repeat suppression's figures (empty without repeat directives).
    pub repeats: crate::repeat::RepeatStats,
}
