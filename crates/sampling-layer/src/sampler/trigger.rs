//! What opens the breaker besides an absolute error rate: the **error
//! ratio** (errors among all events of the sampled targets) and a **spike**
//! (errors per second over a multiple of their own recent baseline).
//!
//! # Why not the absolute rate alone
//!
//! A busy, healthy service errs at a steady small ratio: 0.1% of 100 000
//! events/s is 100 ERROR/s, twice the default absolute threshold of 50/s,
//! which kept the breaker open (every event kept) for as long as the load
//! lasted. A storm is different in kind: the ratio jumps (the demo's storm:
//! 1.4% against a healthy 0.1%) or the error rate jumps against its own past
//! (36× there). So by default the absolute threshold is a floor (no trigger
//! fires at or below 50 ERROR/s), and the breaker opens when, above it, the
//! ratio exceeds 1% **or** the rate exceeds 10× its baseline. The healthy
//! busy service (0.1%, steady) fires neither; the storm fires both.
//!
//! # Where the figures come from
//!
//! Errors: the breaker's own slots (it counts every breaker-level event).
//! Traffic: the sampler's lifetime count of sampled-level events (every
//! event is counted once in a callsite's or key's word, or moved to the stats
//! ledger), read at most once per slot by the thread of a breaker-level event
//! (a pass over the callsites and live keys, under a try-lock of the ledger)
//! and kept in a ring of samples: no counter on the sampled-out path. The
//! ratio is taken over the span from the oldest sample inside the window to
//! the newest: `errors / (errors + events)`. It is unknown until two samples
//! a slot apart exist.
//!
//! The baseline is an exponential moving average of the error rate per slot,
//! over about six windows, fed with each slot as it becomes the oldest of the
//! window (so the window judged is not part of its own baseline), only while
//! the breaker is closed (a storm does not become the normal while it lasts),
//! and armed once a whole window has been folded in. The window's rate is
//! what is compared, so a storm fires the spike trigger once it has filled
//! enough of the window: `k = 10` against a steady baseline needs a 15× storm
//! for 9 of 10 slots, a 19× one for half the window.

use crate::sync::Mutex;

/// Which condition opened the breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Trigger {
    /// The absolute rate alone (no ratio or spike trigger configured).
    Threshold,
    /// Errors among all events above the configured ratio.
    Ratio,
    /// Errors per second above the configured multiple of their baseline.
    Spike,
}

impl Trigger {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Trigger::Threshold => "threshold",
            Trigger::Ratio => "ratio",
            Trigger::Spike => "spike",
        }
    }
}

/// Samples kept: one per slot of the window, and the one before it.
const RING: usize = super::breaker::SLOTS + 1;

/// Slots of history the baseline averages over (about six windows).
const BASELINE_SLOTS: f64 = 6.0 * super::breaker::SLOTS as f64;

/// The triggers' settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Triggers {
    pub(crate) ratio: Option<f64>,
    pub(crate) spike: Option<f64>,
}

impl Default for Triggers {
    fn default() -> Self {
        Triggers {
            ratio: Some(0.01),
            spike: Some(10.0),
        }
    }
}

#[derive(Debug, Default)]
struct History {
    /// `(slot tick + 1, lifetime events)`; tick 0 = empty.
    samples: [(u64, u64); RING],
    /// Errors per second, averaged per slot; `None` until armed.
    baseline: Option<f64>,
    /// The first slot not yet folded into the baseline, and slots folded.
    next_fold: Option<u64>,
    seen_slots: u64,
}

/// The triggers' run-time state (touched only by breaker-level events and
/// polls of an open breaker, behind a try-lock).
#[derive(Debug)]
pub(crate) struct TriggerState {
    cfg: Triggers,
    history: Mutex<History>,
}

/// What the triggers make of the current window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Verdict {
    pub(crate) ratio: Option<f64>,
    pub(crate) baseline: Option<f64>,
}

impl TriggerState {
    pub(crate) fn new(cfg: Triggers) -> Self {
        TriggerState {
            cfg,
            history: Mutex::new(History::default()),
        }
    }

    pub(crate) fn configured(&self) -> bool {
        self.cfg.ratio.is_some() || self.cfg.spike.is_some()
    }

    /// Brings the history up to slot `tick` and judges the window.
    /// `errors_since(t)` counts breaker-level events in slots `>= t` of the
    /// window, `slot_errors(t)` those of slot `t`; `traffic()` reads the
    /// sampler's lifetime event count (`None` if it cannot now). `open`
    /// freezes the baseline. `None` if another thread holds the history.
    pub(crate) fn judge(
        &self,
        tick: u64,
        slot_secs: f64,
        open: bool,
        errors_since: impl Fn(u64) -> u64,
        slot_errors: impl Fn(u64) -> u64,
        traffic: &mut dyn FnMut() -> Option<u64>,
    ) -> Option<Verdict> {
        let mut h = self.history.try_lock().ok()?;
        // The baseline: fold in each slot as it becomes the oldest of the
        // window (so the window being judged is not yet in its own baseline,
        // and a storm can stand out against it); slots skipped meanwhile had
        // no breaker-level event to judge them: zero errors.
        if self.cfg.spike.is_some() {
            let lag = super::breaker::SLOTS as u64 - 1;
            // Exclusive: slot `tick - lag` (the oldest still in the ring) is the last.
            let upto = (tick + 1).saturating_sub(lag);
            let next = *h.next_fold.get_or_insert(upto);
            if next < upto {
                let alpha = 1.0 / BASELINE_SLOTS;
                // Bounded work: past two windows, the rest only decays.
                let counted = (upto - next).min(2 * lag + 2);
                for t in upto - counted..upto {
                    let rate = slot_errors(t) as f64 / slot_secs;
                    if !open {
                        h.baseline = Some(match h.baseline {
                            Some(b) => b + alpha * (rate - b),
                            None => rate,
                        });
                    }
                }
                let rest = (upto - next - counted).min(i32::MAX as u64) as i32;
                if !open && rest > 0 {
                    h.baseline = h.baseline.map(|b| b * (1.0 - alpha).powi(rest));
                }
                h.seen_slots += upto - next;
                h.next_fold = Some(upto);
            }
        }
        // The traffic: at most one sample per slot.
        let mut ratio = None;
        if self.cfg.ratio.is_some() {
            let at = (tick % RING as u64) as usize;
            if h.samples[at].0 != tick + 1 {
                if let Some(total) = traffic() {
                    h.samples[at] = (tick + 1, total);
                }
            }
            let window = super::breaker::SLOTS as u64;
            let newest = h.samples[at];
            let oldest = h
                .samples
                .iter()
                .filter(|s| s.0 != 0 && s.0 + window > tick && s.0 < newest.0)
                .min_by_key(|s| s.0);
            if let (true, Some(&(t0, total0))) = (newest.0 == tick + 1, oldest) {
                let errors = errors_since(t0 - 1) as f64;
                let events = newest.1.saturating_sub(total0) as f64;
                if errors + events > 0.0 {
                    ratio = Some(errors / (errors + events));
                }
            }
        }
        let armed = h.seen_slots >= super::breaker::SLOTS as u64;
        Some(Verdict {
            ratio,
            baseline: h.baseline.filter(|_| armed),
        })
    }

    /// Which trigger fires for `rate` (errors per second over the window,
    /// already above the floor) under `v`, if any.
    pub(crate) fn fires(&self, rate: f64, v: Verdict) -> Option<Trigger> {
        if !self.configured() {
            return Some(Trigger::Threshold);
        }
        if let (Some(limit), Some(r)) = (self.cfg.ratio, v.ratio) {
            if r > limit {
                return Some(Trigger::Ratio);
            }
        }
        if let (Some(k), Some(b)) = (self.cfg.spike, v.baseline) {
            if rate > k * b {
                return Some(Trigger::Spike);
            }
        }
        None
    }
}
