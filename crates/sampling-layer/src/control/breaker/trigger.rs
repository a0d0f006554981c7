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
//! Errors: the breaker's own slots (it counts every breaker-level event) and
//! its lifetime count of them. Traffic: the sampler's lifetime count of
//! sampled-level events (every event is counted once in a callsite's or
//! key's word, or moved to the stats ledger), read at most once per slot by
//! the thread of a breaker-level event (a pass over the callsites and live
//! keys, under a try-lock of the ledger) and kept, with the clock time of
//! the reading, in a ring of samples: no counter on the sampled-out path.
//!
//! The ratio is the window's error rate (the one the threshold is compared
//! with) against the traffic's rate: `errors / (errors + events)` per
//! second. The traffic's rate is measured from this slot's sample back to
//! the newest sample at least a window older, else to the oldest at least a
//! slot older; it is unknown until two samples a slot apart exist. Errors
//! that come in bursts are judged against the window's traffic, not the
//! traffic of the few milliseconds around the burst: 1 000 errors in 10 ms
//! among 100 000 events per second are 0.1% of the window, not half of the
//! 2 000 events logged in those 10 ms.
//!
//! # The baseline
//!
//! An exponential moving average of the error rate per slot, over about six
//! windows, fed with each slot as it becomes the oldest of the window (so
//! the window judged is not part of its own baseline), and armed once a
//! whole window has been folded in. The window's rate is what is compared,
//! so a storm fires the spike trigger once it has filled enough of the
//! window: `k = 10` against a steady baseline needs a 15× storm for 9 of 10
//! slots, a 19× one for half the window.
//!
//! It is fed while the breaker is open as well as while it is closed. A
//! storm that lasts becomes the baseline within about a window of folded
//! slots, so the spike alone lets the breaker close a hold period later
//! (the ratio, if it still fires, keeps it open); in exchange, errors that
//! recur in bursts become this service's normal instead of re-firing the
//! spike at every burst, which held the breaker open for good. Slots whose
//! ring entry a later slot overwrote before they were folded (bursts ten
//! slots apart do that) are folded from the lifetime count (see
//! `TriggerState::fold`).

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
const RING: usize = super::SLOTS + 1;

/// Slots of history the baseline averages over (about six windows).
const BASELINE_SLOTS: f64 = 6.0 * super::SLOTS as f64;

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

/// One reading of the sampler's lifetime count of sampled-level events.
#[derive(Debug, Clone, Copy, Default)]
struct Sample {
    /// Slot tick + 1; 0 = empty.
    tick: u64,
    /// Clock time (ns) of the reading.
    at: u64,
    total: u64,
}

#[derive(Debug, Default)]
struct History {
    samples: [Sample; RING],
    /// Errors per second, averaged per slot; `None` until armed.
    baseline: Option<f64>,
    /// The first slot not yet folded into the baseline, and slots folded.
    next_fold: Option<u64>,
    seen_slots: u64,
    /// The breaker's lifetime error count up to `next_fold`.
    folded_errors: u64,
}

impl History {
    /// Sampled-level events per second, from this slot's sample (`None` if
    /// there is none) back to the newest sample at least a window older, else
    /// to the oldest at least a slot older: a rate over a window or more
    /// where the samples allow it. Errors that come in bursts leave samples
    /// far apart (or a few milliseconds apart, on either side of a slot
    /// boundary); the traffic between two close samples is no measure of the
    /// window's, so a span shorter than a slot is never used.
    fn traffic_rate(&self, tick: u64, slot_nanos: u64) -> Option<f64> {
        let newest = self.samples[(tick % RING as u64) as usize];
        if newest.tick != tick + 1 {
            return None;
        }
        let window = slot_nanos.saturating_mul(super::SLOTS as u64);
        let older = self.samples.iter().filter(|s| {
            s.tick != 0 && s.tick < newest.tick && newest.at.saturating_sub(s.at) >= slot_nanos
        });
        let reference = older
            .clone()
            .filter(|s| newest.at.saturating_sub(s.at) >= window)
            .max_by_key(|s| s.at)
            .or_else(|| older.min_by_key(|s| s.at))?;
        let secs = (newest.at - reference.at) as f64 / 1e9;
        Some(newest.total.saturating_sub(reference.total) as f64 / secs)
    }
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

    /// Brings the history up to slot `tick` (clock time `now`, in ns) and
    /// judges the window, whose error rate is `rate` (per second).
    /// `errors` is the breaker's lifetime count of breaker-level events,
    /// `slot_errors(t)` those of slot `t` (0 once it left the ring);
    /// `traffic()` reads the sampler's lifetime event count (`None` if it
    /// cannot now). `None` if another thread holds the history.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn judge(
        &self,
        tick: u64,
        now: u64,
        slot_nanos: u64,
        rate: f64,
        errors: u64,
        slot_errors: impl Fn(u64) -> u64,
        traffic: &mut dyn FnMut() -> Option<u64>,
    ) -> Option<Verdict> {
        let mut h = self.history.try_lock().ok()?;
        if self.cfg.spike.is_some() {
            self.fold(&mut h, tick, slot_nanos, errors, slot_errors);
        }
        // The traffic: at most one sample per slot. The ratio is the window's
        // error rate against the traffic's rate, both per second: the
        // window's errors against the window's traffic, however the errors
        // are spread in it.
        let mut ratio = None;
        if self.cfg.ratio.is_some() {
            let at = (tick % RING as u64) as usize;
            if h.samples[at].tick != tick + 1 {
                if let Some(total) = traffic() {
                    h.samples[at] = Sample {
                        tick: tick + 1,
                        at: now,
                        total,
                    };
                }
            }
            if let Some(events) = h.traffic_rate(tick, slot_nanos) {
                if rate + events > 0.0 {
                    ratio = Some(rate / (rate + events));
                }
            }
        }
        let armed = h.seen_slots >= super::SLOTS as u64;
        Some(Verdict {
            ratio,
            baseline: h.baseline.filter(|_| armed),
        })
    }

    /// The baseline: folds in each slot as it becomes the oldest of the
    /// window (so the window being judged is not yet in its own baseline,
    /// and a storm can stand out against it).
    ///
    /// It is brought up to date only when a breaker-level event (or a poll
    /// of an open breaker) judges, so when errors come in bursts the slots
    /// to fold have often left the ring already (a burst's slot is
    /// overwritten by the next burst ten slots later). Their errors are not
    /// lost: the lifetime count less the slots still in the ring is what
    /// the slots before them held, folded in as an even rate over those
    /// slots (in closed form: bounded work however long the gap); the slots
    /// still in the ring are folded one by one. Without this a baseline fed
    /// only by bursts stays near zero and every burst is a "spike".
    ///
    /// Fed while open too: errors that come in bursts are this service's
    /// normal once they recur, and a baseline frozen at the first burst
    /// would let every later one fire the spike again and hold the breaker
    /// open.
    fn fold(
        &self,
        h: &mut History,
        tick: u64,
        slot_nanos: u64,
        errors: u64,
        slot_errors: impl Fn(u64) -> u64,
    ) {
        let slot_secs = slot_nanos as f64 / 1e9;
        let slots = super::SLOTS as u64;
        // Exclusive: slot `tick - (SLOTS - 1)` (the oldest of the window) is the last.
        let upto = (tick + 1).saturating_sub(slots - 1);
        // Errors counted in slots before `upto`: every slot from `upto` on is
        // still in the ring. A count that races a concurrent event is off by
        // that event, which the next fold picks up (the totals telescope).
        let in_window: u64 = (upto..=tick).map(&slot_errors).sum();
        let before = errors.saturating_sub(in_window);
        let Some(next) = h.next_fold else {
            (h.next_fold, h.folded_errors) = (Some(upto), before);
            return;
        };
        if next >= upto {
            return;
        }
        let alpha = 1.0 / BASELINE_SLOTS;
        let add = |b: &mut Option<f64>, rate: f64| {
            *b = Some(match *b {
                Some(b) => b + alpha * (rate - b),
                None => rate,
            });
        };
        // The slots still in the ring (at most the last one of the range).
        let known = next.max(tick.saturating_sub(slots - 1))..upto;
        let known_errors: u64 = known.clone().map(&slot_errors).sum();
        let gone = known.start - next;
        if gone > 0 {
            let lost = before.saturating_sub(h.folded_errors + known_errors);
            let mean = lost as f64 / gone as f64 / slot_secs;
            add(&mut h.baseline, mean);
            // The rest of the gap at the same mean rate: b' = r + (b - r)(1 - α)^n.
            let n = (gone - 1).min(i32::MAX as u64) as i32;
            h.baseline = h
                .baseline
                .map(|b| mean + (b - mean) * (1.0 - alpha).powi(n));
        }
        for t in known {
            add(&mut h.baseline, slot_errors(t) as f64 / slot_secs);
        }
        h.seen_slots += upto - next;
        h.next_fold = Some(upto);
        h.folded_errors = h.folded_errors.max(before);
    }

    /// The baseline as it stands, armed or not.
    #[cfg(test)]
    pub(crate) fn baseline(&self) -> Option<f64> {
        self.history.lock().unwrap().baseline
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
