//! Pressure: sampling that tightens before the writer drops.
//!
//! The sampler reads a fill fraction in `[0, 1]` from a signal the user wires
//! in (a closure, such as `move || writer.fill()` with `backpressure-writer`,
//! or any [`PressureSignal`]); the crates stay independent. Above
//! [`high`](Pressure::high) it multiplies every sampled rate and budget by
//! [`step`](Pressure::step) (down to [`floor`](Pressure::floor)) at each read
//! where the fill has not fallen since the last one (a queue already
//! draining has been relieved: tightening further would overshoot); below
//! [`low`](Pressure::low) it divides by it (up to 1); in between it holds (the
//! hysteresis: a queue hovering at the threshold does not make the rates
//! flap). Rates of 1 (targets not sampled) and 0 are left alone: pressure
//! tightens sampling, it does not start it.
//!
//! The signal is read at most every [`every`](Pressure::every) (50 ms by
//! default: a queue can fill in a quarter of a second, and budgets adjust
//! every second), behind a try-lock, on the thread of a kept, sampled event
//! or of every 128th sampled-out event of a key or callsite (no thread; one
//! clock read per 128 sampled-out events, none on the others, which keeps
//! the sampled-out path's cost). So the scale moves on time however rare it
//! made kept events: at 1 000 events per second of a sampled target, the
//! signal is read at least every 128 ms, and a scale at the floor is back to
//! 1 about 1.3 s after the queue empties. A change of scale
//! rewrites the cached rates of every callsite and key in one pass (as a
//! budget adjustment does); each kept event still carries the rate it was
//! kept at, so `sample_rate` stays true.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::clock::Clock;
use crate::control::budget::quantize;
use crate::directive::rate::Rate;
use crate::error::SettingError;
use crate::sync::{AtomicBool, AtomicU64, Ordering};

/// A source of pressure: how full the downstream queue is, in `[0, 1]`
/// (values outside are clamped, NaN reads as 0). Implemented for closures.
pub trait PressureSignal: Send + Sync {
    /// The fill fraction now.
    fn fill(&self) -> f64;
}

impl<F: Fn() -> f64 + Send + Sync> PressureSignal for F {
    fn fill(&self) -> f64 {
        self()
    }
}

/// Pressure settings for
/// [`SamplingFilterBuilder::pressure`](crate::SamplingFilterBuilder::pressure).
///
/// Defaults: tighten above 0.5, relax below 0.25, by a factor of 2 per read,
/// down to 1/1024 of the configured rates, read every 50 ms (timed with the
/// builder's [`clock`](crate::SamplingFilterBuilder::clock)).
///
#[doc = include_str!("pressure.md")]
#[derive(Clone)]
pub struct Pressure {
    signal: Arc<dyn PressureSignal>,
    pub(crate) high: f64,
    pub(crate) low: f64,
    pub(crate) step: f64,
    pub(crate) floor: f64,
    pub(crate) every: Duration,
}

impl fmt::Debug for Pressure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pressure")
            .field("high", &self.high)
            .field("low", &self.low)
            .field("step", &self.step)
            .field("floor", &self.floor)
            .field("every", &self.every)
            .finish_non_exhaustive()
    }
}

impl Pressure {
    /// Pressure read from `signal`, with the default settings.
    pub fn new(signal: impl PressureSignal + 'static) -> Self {
        Pressure {
            signal: Arc::new(signal),
            high: 0.5,
            low: 0.25,
            step: 0.5,
            floor: 1.0 / 1024.0,
            every: Duration::from_millis(50),
        }
    }

    /// Tighten while the fill is at or above this. Default 0.5.
    pub fn high(mut self, fill: f64) -> Self {
        self.high = fill;
        self
    }

    /// Relax while the fill is at or below this (below `high`). Default 0.25.
    pub fn low(mut self, fill: f64) -> Self {
        self.low = fill;
        self
    }

    /// The factor per read, in (0, 1). Default 0.5.
    pub fn step(mut self, factor: f64) -> Self {
        self.step = factor;
        self
    }

    /// The smallest scale, in (0, 1]. Default 1/1024.
    pub fn floor(mut self, scale: f64) -> Self {
        self.floor = scale;
        self
    }

    /// How often the signal is read (at most; it is read by a kept sampled
    /// event or every 128th sampled-out event of a key, whichever comes
    /// first once the period is over). Default 50 ms.
    pub fn every(mut self, period: Duration) -> Self {
        self.every = period;
        self
    }

    pub(crate) fn validate(&self) -> Result<(), SettingError> {
        let ok = self.low >= 0.0
            && self.low < self.high
            && self.high <= 1.0
            && self.step > 0.0
            && self.step < 1.0
            && self.floor > 0.0
            && self.floor <= 1.0
            && self.every <= Duration::from_secs(3600);
        if ok {
            return Ok(());
        }
        Err(SettingError::new(
            "pressure",
            "needs 0 <= low < high <= 1, 0 < step < 1, 0 < floor <= 1 and a read period \
             of at most one hour",
        ))
    }
}

/// The scale every sampled rate and budget is multiplied by (1 without pressure).
#[derive(Debug)]
pub(crate) struct Scale(AtomicU64);

impl Default for Scale {
    fn default() -> Self {
        Scale(AtomicU64::new(1f64.to_bits()))
    }
}

impl Scale {
    pub(crate) fn get(&self) -> f64 {
        f64::from_bits(self.0.load(Ordering::Relaxed))
    }

    fn set(&self, scale: f64) {
        self.0.store(scale.to_bits(), Ordering::Relaxed);
    }

    /// `rate` under this scale: rates of 0 and 1 as they are, others
    /// multiplied and made a fraction again (never 0).
    pub(crate) fn apply(&self, rate: Rate) -> Rate {
        let s = self.get();
        if s >= 1.0 || rate.is_one() || rate.is_zero() {
            return rate;
        }
        quantize((rate.as_f64() * s).max(1e-7))
    }
}

/// The pressure loop's run-time state, owned by the sampler.
#[derive(Debug)]
pub(crate) struct PressureState {
    cfg: Pressure,
    clock: Arc<dyn Clock>,
    pub(crate) scale: Arc<Scale>,
    /// Clock time (ns) of the next read.
    next: AtomicU64,
    /// The scale changed and the cached rates are not rewritten yet.
    pub(crate) pending: AtomicBool,
    /// The fill at the last read (under `reading`).
    reading: Mutex<f64>,
}

impl PressureState {
    pub(crate) fn new(cfg: Pressure, clock: Arc<dyn Clock>) -> Self {
        PressureState {
            cfg,
            clock,
            scale: Arc::new(Scale::default()),
            next: AtomicU64::new(0),
            pending: AtomicBool::new(false),
            reading: Mutex::new(0.0),
        }
    }

    /// On a kept, sampled event or every 128th sampled-out event of a word:
    /// reads the signal if due and moves the scale; true if it changed. One
    /// clock read and one load when not due.
    pub(crate) fn tick(&self) -> bool {
        let now = self.clock.now().as_nanos() as u64;
        if now < self.next.load(Ordering::Relaxed) {
            return false;
        }
        let Ok(mut last) = self.reading.try_lock() else {
            return false;
        };
        if now < self.next.load(Ordering::Relaxed) {
            return false;
        }
        let every = self.cfg.every.as_nanos() as u64;
        self.next
            .store(now.saturating_add(every), Ordering::Relaxed);
        let fill = self.cfg.signal.fill();
        let fill = if fill.is_nan() {
            0.0
        } else {
            fill.clamp(0.0, 1.0)
        };
        let old = self.scale.get();
        let draining = fill < *last;
        *last = fill;
        // Above `high` and not draining: tighten. A queue that is already emptying
        // has been relieved; tightening further would overshoot.
        let new = if fill >= self.cfg.high && !draining {
            (old * self.cfg.step).max(self.cfg.floor)
        } else if fill <= self.cfg.low {
            (old / self.cfg.step).min(1.0)
        } else {
            old
        };
        if new == old {
            return false;
        }
        self.scale.set(new);
        self.pending.store(true, Ordering::Relaxed);
        true
    }
}

#[cfg(all(test, not(sampling_layer_loom)))]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use std::sync::atomic::AtomicU64 as StdU64;

    #[test]
    fn the_scale_moves_with_hysteresis_at_most_once_per_period() {
        let clock = ManualClock::new();
        let fill = Arc::new(StdU64::new(0f64.to_bits()));
        let f = fill.clone();
        let p = PressureState::new(
            Pressure::new(move || f64::from_bits(f.load(Ordering::Relaxed))).floor(0.25),
            Arc::new(clock.clone()),
        );
        let set = |v: f64| fill.store(v.to_bits(), Ordering::Relaxed);
        let step = |expect: f64| {
            clock.advance(Duration::from_millis(50));
            p.tick();
            assert_eq!(p.scale.get(), expect);
        };
        set(0.9);
        step(0.5);
        assert!(!p.tick(), "not again within the period");
        step(0.25);
        set(0.8); // above high, but draining: held
        step(0.25);
        set(0.8);
        step(0.25); // the floor
        set(0.4); // between low and high: hold
        step(0.25);
        set(0.1);
        step(0.5);
        step(1.0);
        step(1.0);
        set(f64::NAN); // reads as empty
        step(1.0);
    }

    #[test]
    fn only_sampled_rates_are_scaled() {
        let s = Scale::default();
        let r = |t: &str| Rate::parse(t).unwrap();
        assert_eq!(s.apply(r("0.5")), r("0.5"));
        s.set(0.5);
        assert_eq!(s.apply(r("0.5")), r("0.25"));
        assert_eq!(s.apply(r("1/100")), r("1/200"));
        assert_eq!(s.apply(Rate::ONE), Rate::ONE);
        assert_eq!(s.apply(r("0")), r("0"));
    }

    #[test]
    fn bad_settings_are_refused() {
        for p in [
            Pressure::new(|| 0.0).high(0.2).low(0.3),
            Pressure::new(|| 0.0).step(1.0),
            Pressure::new(|| 0.0).floor(0.0),
            Pressure::new(|| 0.0).high(1.5),
        ] {
            assert!(p.validate().is_err(), "{p:?}");
        }
        assert!(Pressure::new(|| 0.0).validate().is_ok());
    }
}
