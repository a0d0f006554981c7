//! The circuit breaker: suspend sampling while errors arrive too fast.
//!
//! Error-level events are counted in a sliding window of [`SLOTS`] time slots
//! (each `window / SLOTS` long; the window's rate is the sum of the slots that
//! are younger than the window, divided by its length). The breaker opens when
//! that rate exceeds the threshold and closes once the rate has stayed at or
//! below it for the hold period. Both transitions are decided by a CAS, so each
//! is reported exactly once however many threads see it.
//!
//! Cost: nothing for events below the breaker's level while it is closed (the
//! sampler reads one flag). Each breaker-level event reads the clock, does a
//! CAS on its slot and one add to the lifetime count (which keeps the errors
//! of slots overwritten before the baseline folded them); while open, every sampled-level event also re-checks the
//! rate (they are all being kept and formatted anyway, which costs far more).
//!
//! The glue at the end of this file is how a [`Sampler`] feeds it: the
//! decision path reports breaker-level events and polls an open breaker; a
//! transition flips the `BREAKER_OPEN` bit of the sampler's state word (one
//! load on the hot path sees it) and is handed to the sampler's
//! [`NoticeRoute`](super::notice::NoticeRoute) for its notice.

pub(crate) mod notice;
pub(crate) mod trigger;

use std::sync::Arc;
use std::time::Duration;

use tracing_core::Level;

use crate::clock::Clock;
use crate::error::SettingError;
use crate::sync::{AtomicBool, AtomicU64, Ordering};
use trigger::{Trigger, TriggerState, Triggers};

/// Number of slots in the sliding window.
pub(crate) const SLOTS: usize = 10;

/// Circuit breaker settings for [`SamplingFilterBuilder::breaker`](crate::SamplingFilterBuilder::breaker).
///
/// Defaults: on, 50 events per second at `ERROR` over a 10 s window as a
/// floor, above which the error ratio (> 1%) or a spike (> 10× the baseline)
/// opens it (see the crate docs, *Circuit breaker*), 60 s hold. It measures
/// with the builder's [`clock`](crate::SamplingFilterBuilder::clock).
///
#[doc = include_str!("breaker.md")]
#[derive(Debug, Clone)]
#[must_use = "a breaker does nothing until it is given to `SamplingFilterBuilder::breaker`"]
pub struct Breaker {
    pub(crate) enabled: bool,
    pub(crate) threshold: f64,
    pub(crate) window: Duration,
    pub(crate) hold: Duration,
    pub(crate) level: Level,
    pub(crate) triggers: Triggers,
}

impl Default for Breaker {
    fn default() -> Self {
        Breaker {
            enabled: true,
            threshold: 50.0,
            window: Duration::from_secs(10),
            hold: Duration::from_secs(60),
            level: Level::ERROR,
            triggers: Triggers::default(),
        }
    }
}

impl Breaker {
    /// A breaker that never opens.
    pub fn disabled() -> Self {
        Breaker {
            enabled: false,
            ..Breaker::default()
        }
    }

    /// Open only when more than `per_sec` events per second arrive (averaged
    /// over the window), and then if the ratio or the spike trigger fires (or
    /// always, with [`threshold_only`](Self::threshold_only)).
    pub fn threshold_per_sec(mut self, per_sec: f64) -> Self {
        self.threshold = per_sec;
        self
    }

    /// The length of the sliding window the rate is measured over.
    pub fn window(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }

    /// How long the rate must stay at or below the threshold before sampling resumes.
    pub fn hold(mut self, hold: Duration) -> Self {
        self.hold = hold;
        self
    }

    /// Also open when, above the threshold, errors make more than `ratio` of
    /// all events of the sampled targets over the window (`errors / (errors +
    /// sampled-level events)`, the window's error rate against the traffic's
    /// rate, however the errors are spread in the window). Default 0.01 (1%).
    /// See the crate docs, *Circuit breaker*, for why.
    pub fn ratio(mut self, ratio: f64) -> Self {
        self.triggers.ratio = Some(ratio);
        self
    }

    /// Also open when, above the threshold, the error rate exceeds `factor`
    /// times its own baseline (a moving average over about six windows, fed
    /// whether the breaker is open or closed, so errors that recur in bursts
    /// become the baseline). Default 10.
    pub fn spike(mut self, factor: f64) -> Self {
        self.triggers.spike = Some(factor);
        self
    }

    /// No ratio and no spike trigger: open on the absolute threshold alone
    /// (the behaviour before they existed).
    pub fn threshold_only(mut self) -> Self {
        self.triggers = Triggers {
            ratio: None,
            spike: None,
        };
        self
    }

    /// No ratio trigger (the spike trigger, if any, still applies).
    pub fn without_ratio(mut self) -> Self {
        self.triggers.ratio = None;
        self
    }

    /// No spike trigger (the ratio trigger, if any, still applies).
    pub fn without_spike(mut self) -> Self {
        self.triggers.spike = None;
        self
    }

    /// The level whose events are counted (and every more severe one). Default `ERROR`.
    pub fn level(mut self, level: Level) -> Self {
        self.level = level;
        self
    }

    pub(crate) fn validate(&self) -> Result<(), SettingError> {
        if !self.enabled {
            return Ok(());
        }
        if !(self.threshold.is_finite() && self.threshold > 0.0) {
            return Err(SettingError::new(
                "breaker.threshold_per_sec",
                "must be a positive, finite number of events per second",
            ));
        }
        if self.window.as_nanos() < SLOTS as u128 || self.window > Duration::from_secs(86_400) {
            return Err(SettingError::new(
                "breaker.window",
                "must be between 10 ns and one day",
            ));
        }
        if let Some(r) = self.triggers.ratio {
            if !(r > 0.0 && r < 1.0) {
                return Err(SettingError::new(
                    "breaker.ratio",
                    "must be between 0 and 1 (exclusive)",
                ));
            }
        }
        if let Some(k) = self.triggers.spike {
            if !(k.is_finite() && k > 1.0) {
                return Err(SettingError::new(
                    "breaker.spike",
                    "must be a finite number above 1",
                ));
            }
        }
        Ok(())
    }
}

/// A transition to report.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Transition {
    pub(crate) opened: bool,
    pub(crate) rate: f64,
    pub(crate) threshold: f64,
    /// What opened it (on opening; `None` on closing).
    pub(crate) trigger: Option<Trigger>,
    /// The error ratio and the baseline error rate when it happened, if known.
    pub(crate) ratio: Option<f64>,
    pub(crate) baseline: Option<f64>,
}

/// The breaker's run-time state.
#[derive(Debug)]
pub(crate) struct BreakerState {
    pub(crate) level: Level,
    threshold: f64,
    slot_nanos: u64,
    window_secs: f64,
    hold_nanos: u64,
    clock: Arc<dyn Clock>,
    /// `(slot tick as u32) << 32 | count`.
    slots: [AtomicU64; SLOTS],
    /// Every breaker-level event counted, ever: what the slots a new tick
    /// overwrote held, for a baseline that folds them in late.
    errors: AtomicU64,
    open: AtomicBool,
    /// Clock time (ns) + 1 when the rate was first seen at or below the
    /// threshold while open; 0 = not below.
    below_since: AtomicU64,
    trips: AtomicU64,
    recoveries: AtomicU64,
    pub(super) triggers: TriggerState,
    /// The trigger of the last opening (0 none, 1 threshold, 2 ratio, 3 spike).
    last_trigger: AtomicU64,
}

impl BreakerState {
    pub(crate) fn new(cfg: &Breaker, clock: Arc<dyn Clock>) -> Self {
        let window = cfg.window.as_nanos() as u64;
        BreakerState {
            level: cfg.level,
            threshold: cfg.threshold,
            slot_nanos: window / SLOTS as u64,
            window_secs: (window / SLOTS as u64 * SLOTS as u64) as f64 / 1e9,
            hold_nanos: cfg.hold.as_nanos().min(u128::from(u64::MAX / 2)) as u64,
            clock,
            slots: std::array::from_fn(|_| AtomicU64::new(0)),
            errors: AtomicU64::new(0),
            open: AtomicBool::new(false),
            below_since: AtomicU64::new(0),
            trips: AtomicU64::new(0),
            recoveries: AtomicU64::new(0),
            triggers: TriggerState::new(cfg.triggers),
            last_trigger: AtomicU64::new(0),
        }
    }

    /// What opened the breaker last (`None` before it first opened).
    pub(crate) fn last_trigger(&self) -> Option<Trigger> {
        match self.last_trigger.load(Ordering::Relaxed) {
            1 => Some(Trigger::Threshold),
            2 => Some(Trigger::Ratio),
            3 => Some(Trigger::Spike),
            _ => None,
        }
    }

    pub(crate) fn is_open(&self) -> bool {
        self.open.load(Ordering::Acquire)
    }

    pub(crate) fn trips(&self) -> u64 {
        self.trips.load(Ordering::Relaxed)
    }

    pub(crate) fn recoveries(&self) -> u64 {
        self.recoveries.load(Ordering::Relaxed)
    }

    fn now(&self) -> u64 {
        self.clock.now().as_nanos() as u64
    }

    /// Counts one breaker-level event; reports the transition it caused, if
    /// any. `traffic` reads the sampler's lifetime count of sampled-level
    /// events (for the ratio trigger; called at most once per slot).
    pub(crate) fn record(&self, traffic: &mut dyn FnMut() -> Option<u64>) -> Option<Transition> {
        let now = self.now();
        let tick = now / self.slot_nanos;
        let slot = &self.slots[(tick % SLOTS as u64) as usize];
        let tag = (tick as u32 as u64) << 32;
        let mut cur = slot.load(Ordering::Relaxed);
        loop {
            let next = if cur & !0xFFFF_FFFF == tag {
                tag | ((cur & 0xFFFF_FFFF) + 1).min(0xFFFF_FFFF)
            } else {
                tag | 1
            };
            match slot.compare_exchange_weak(cur, next, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => break,
                Err(c) => cur = c,
            }
        }
        self.errors.fetch_add(1, Ordering::Relaxed);
        self.check(now, traffic)
    }

    /// Re-checks the rate (called while open, and by `stats()`).
    pub(crate) fn poll(&self, traffic: &mut dyn FnMut() -> Option<u64>) -> Option<Transition> {
        self.check(self.now(), traffic)
    }

    /// Breaker-level events counted in slot `tick` (0 once it left the ring).
    fn slot_errors(&self, tick: u64) -> u64 {
        let v = self.slots[(tick % SLOTS as u64) as usize].load(Ordering::Relaxed);
        if (v >> 32) as u32 == tick as u32 {
            v & 0xFFFF_FFFF
        } else {
            0
        }
    }

    fn rate(&self, now: u64) -> f64 {
        self.rate_at((now / self.slot_nanos) as u32)
    }

    /// The window's rate as of slot `tick`: the slots of the window ending there (a
    /// later slot is left out, so for a past tick after the newest error this is the
    /// rate it had then).
    fn rate_at(&self, tick: u32) -> f64 {
        let sum: u64 = self
            .slots
            .iter()
            .map(|s| s.load(Ordering::Relaxed))
            .filter(|v| tick.wrapping_sub((v >> 32) as u32) < SLOTS as u32)
            .map(|v| v & 0xFFFF_FFFF)
            .sum();
        sum as f64 / self.window_secs
    }

    /// When the window's rate fell to the threshold or below, no later than `now`: the
    /// start of the first slot, from the newest one holding errors on, whose window's
    /// rate is at or below it. No error came after that slot (each one is checked), so
    /// from there the rate only fell as slots left the window; at most [`SLOTS`] + 1
    /// windows summed, and only when an open breaker first finds the rate low.
    fn fell_below(&self, now: u64) -> u64 {
        let now_tick = now / self.slot_nanos;
        let newest_age = self
            .slots
            .iter()
            .map(|s| s.load(Ordering::Relaxed))
            .filter(|v| v & 0xFFFF_FFFF != 0)
            .map(|v| (now_tick as u32).wrapping_sub((v >> 32) as u32))
            .min();
        let Some(age) = newest_age else { return now };
        let newest = now_tick.saturating_sub(u64::from(age));
        (newest..=now_tick.min(newest + SLOTS as u64))
            .find(|&t| self.rate_at(t as u32) <= self.threshold)
            .map_or(now, |t| (t * self.slot_nanos).min(now))
    }

    fn check(&self, now: u64, traffic: &mut dyn FnMut() -> Option<u64>) -> Option<Transition> {
        let rate = self.rate(now);
        let open = self.open.load(Ordering::Acquire);
        let tick = now / self.slot_nanos;
        // The triggers judge on every check (the baseline is fed below the
        // floor too); above the floor, one of them must fire.
        let verdict = self.triggers.judge(
            tick,
            now,
            self.slot_nanos,
            rate,
            self.errors.load(Ordering::Relaxed),
            |t| self.slot_errors(t),
            traffic,
        );
        let fired = if rate <= self.threshold {
            None
        } else if !self.triggers.configured() {
            Some(Trigger::Threshold)
        } else {
            match verdict {
                Some(v) => self.triggers.fires(rate, v),
                // Another thread is judging right now: it decides.
                None => return None,
            }
        };
        let over = fired.is_some();
        let (ratio, baseline) = verdict.map_or((None, None), |v| (v.ratio, v.baseline));
        if !open {
            if over
                && self
                    .open
                    .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
            {
                self.below_since.store(0, Ordering::Relaxed);
                self.trips.fetch_add(1, Ordering::Relaxed);
                self.last_trigger.store(
                    match fired {
                        Some(Trigger::Threshold) => 1,
                        Some(Trigger::Ratio) => 2,
                        _ => 3,
                    },
                    Ordering::Relaxed,
                );
                return Some(Transition {
                    opened: true,
                    rate,
                    threshold: self.threshold,
                    trigger: fired,
                    ratio,
                    baseline,
                });
            }
            return None;
        }
        if over {
            self.below_since.store(0, Ordering::Relaxed);
            return None;
        }
        let mut since = self.below_since.load(Ordering::Relaxed);
        if since == 0 {
            // The first check to find the rate low may come long after it fell (nothing
            // logged, nothing read meanwhile): the hold counts from the fall.
            let fell = self.fell_below(now) + 1;
            since = match self.below_since.compare_exchange(
                0,
                fell,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => fell,
                Err(marked) => marked,
            };
        }
        if (now + 1).saturating_sub(since) < self.hold_nanos {
            // Saturating: another thread may have marked `since` with a clock read
            // later than this one's `now` (the triggers' judgement runs in between).
            return None;
        }
        if self
            .open
            .compare_exchange(true, false, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            self.below_since.store(0, Ordering::Relaxed);
            self.recoveries.fetch_add(1, Ordering::Relaxed);
            return Some(Transition {
                opened: false,
                rate,
                threshold: self.threshold,
                trigger: None,
                ratio,
                baseline,
            });
        }
        None
    }
}

// The glue: how the sampler feeds the breaker and acts on its transitions.
#[cfg(all(test, not(sampling_layer_loom)))]
mod tests;
