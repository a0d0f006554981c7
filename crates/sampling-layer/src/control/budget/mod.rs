//! Budgets: a target's lines per second, shared out among its keys.
//!
//! A directive `app::router=200/s` (or `=30/min`) gives the target a budget
//! instead of a rate. Each key under it (callsite or `sample_key` value) is
//! still decided by its own rate, cached in its rule exactly as a configured
//! rate is (so a sampled-out event costs what it costs in the same mode
//! without a budget); what changes is who writes that rate: once per
//! adjustment interval, a pass ([`pass`]) estimates each key's event
//! rate and gives it the rate that spends the budget.
//!
//! # The estimate
//!
//! Per key, an exponential moving average of events per second
//! ([`BudgetCell`]), fed with the events counted on its word since the last
//! pass (the pass moves them to the stats ledger, so it reads counts the
//! sampler keeps anyway). Over a full interval the average follows a rise at
//! once and a fall halfway: a key whose traffic doubles is caught by the next
//! pass, while a brief lull does not let a busy key flood the next interval.
//! A key's first estimate is counted over the whole stretch since the last
//! pass, though the key may be younger: it may be too low, so it cannot take
//! the key below its target's average rate (where any new key starts), and
//! the next pass replaces it. An estimate from a short
//! stretch (an early pass, below) is a few events' worth: the next pass
//! replaces it too. A settled estimate is only measured at the end of an
//! interval, over the whole interval: an early pass counts it as it stands,
//! so a sub-second burst of a known key cannot swing its rate (a rise is
//! caught at the interval's end).
//!
//! Only keys that had events since the last pass share the budget: a key
//! that stopped (a client id seen once) keeps its decaying estimate for its
//! own rate should it come back, but stops taking a share at once. Keys the
//! bounded key table evicted since the last pass count too, at their mean
//! ([`TargetBudget::evicted`]): with more keys than `max_keys` most traffic
//! comes from keys no pass ever sees.
//!
//! # Sharing out (water filling)
//!
//! With estimates `e_i` and a budget `B`, the pass finds the level `c` with
//! `sum(min(e_i, c)) = B`: a key below `c` (a rare key, below its fair share)
//! keeps everything, a key above keeps `c / e_i`. The level is found from a
//! histogram of the estimates ([`Histogram`], fixed size, no sorting and no
//! allocation per key), so the pass stays linear in the number of keys.
//!
//! # Rates as fractions
//!
//! A rate below 1/16 becomes `1/N` (N rounded to nearest: at most 1/32
//! relative error, and the deterministic hot path, which handles `1/N` without
//! a division); above, `p/1024`. Every kept event carries the exact rate it
//! was kept at, so `sum(1 / sample_rate)` over kept lines estimates what was
//! emitted whatever the rounding.
//!
//! # New keys, and the pace
//!
//! A key seen for the first time starts at the initial rate (1 unless
//! configured) while its target's allowance lasts (a tenth of the budget's
//! lines per interval, at least one key, counted per interval); later new
//! keys in the same interval start at the target's average rate
//! (`B / events` at the last pass). So key churn (dynamic client ids) costs
//! about the allowance extra: 1 000 new keys an interval under a budget
//! keep 1.09-1.15x the budget on average (`tests/budget/sharing.rs`).
//!
//! A key kept in full can still bring far more than its allowance in lines
//! (a fresh budget over a busy callsite, steady keys coming back after
//! eviction). So the budgets keep a pace ([`Budgets`]): when their targets
//! have kept more than a tenth of an interval's lines ahead of `B` per
//! second since the last pass, the next kept event adjusts at once, from the
//! traffic counted so far, without waiting for the interval to end. A new
//! budget's first interval is held to about its budget plus the allowance.
//!
//! # Consistent mode: one rate per target
//!
//! In consistent mode no key gets a rate of its own ([`TargetBudget::renew_whole`]):
//! the target has one, a power of two computed from the goal and the
//! target's counted traffic at the end of each wall-clock-aligned interval
//! (the schedule makes no early pass then), with hysteresis. Every word of
//! the target is retuned to it, and new words start at it, so the events of
//! one request share one rate and one consistent decision.
//!
//! # Run-time edits
//!
//! An install keeps the state of every budget whose directive is unchanged
//! (its keys keep their rates, its allowance and average rate carry on); a
//! budget whose amount changed scales its keys' learned rates by the ratio;
//! a target switched from a rate to a budget starts from the rate it had.

mod fleet;
mod histogram;
pub(crate) mod pass;
mod schedule;

pub(crate) use fleet::{valid as fleet_valid, Fleet, Provider as FleetProvider};
pub(crate) use histogram::Histogram;
pub(crate) use schedule::{Budgets, Pass, DEFAULT_INTERVAL};

pub(crate) use crate::decide::budget_cell::{BudgetCell, Footing};
use crate::decide::entry::{Counts, Rule};
pub(crate) use crate::directive::budget::Budget;
use crate::directive::rate::Rate;
use crate::sync::{AtomicU64, Ordering};

/// How much of the budget (per interval) new keys may take at rate 1.
const FRESH_SHARE: f64 = 0.1;

/// A target's budget at run time (one per budget label of the installed
/// set, kept by later sets that leave the label's budget as it is).
#[derive(Debug)]
pub(crate) struct TargetBudget {
    pub(crate) budget: Budget,
    /// New keys started within the allowance in this interval.
    fresh: AtomicU64,
    /// The packed rate new keys start at within the allowance: the initial
    /// rate until the first pass, then 1.
    start: AtomicU64,
    /// The packed rate later new keys start at.
    fresh_rate: AtomicU64,
    /// New keys per interval that start within the allowance.
    allowance: AtomicU64,
    /// The budget's lines per interval.
    per_interval: f64,
    /// The budget under pressure at the last pass (lines/s), and the share of
    /// the target's events kept in the interval before it (both `f64` bits).
    effective: AtomicU64,
    share: AtomicU64,
    /// Events and keys of this target's keys evicted from the key table since
    /// the last pass (their words are gone; the pass counts them at their mean).
    evicted_events: AtomicU64,
    evicted_keys: AtomicU64,
    /// Consistent mode: one rate for the whole target (every callsite, every
    /// request), a power of two, packed; see [`whole_rate`](Self::whole_rate).
    whole: Option<AtomicU64>,
}

impl TargetBudget {
    /// A budget of its own (no earlier state), `fleet_size` the fleet's size
    /// now (for a fleet budget's share until its first pass).
    pub(crate) fn new(
        budget: Budget,
        interval_secs: f64,
        initial: Rate,
        fleet_size: u64,
        whole: bool,
    ) -> Self {
        let per_interval = budget.per_sec() * interval_secs;
        let share = if budget.is_fleet() {
            1.0 / fleet_size.max(1) as f64
        } else {
            1.0
        };
        TargetBudget {
            budget,
            fresh: AtomicU64::new(0),
            start: AtomicU64::new(initial.pack()),
            fresh_rate: AtomicU64::new(initial.pack()),
            // Until the first pass knows how many lines a key brings: one each.
            allowance: AtomicU64::new(keys_for(per_interval * share * FRESH_SHARE, 1.0)),
            per_interval,
            effective: AtomicU64::new((budget.per_sec() * share).to_bits()),
            share: AtomicU64::new(1f64.to_bits()),
            evicted_events: AtomicU64::new(0),
            evicted_keys: AtomicU64::new(0),
            whole: whole.then(|| AtomicU64::new(power_of_two_below(initial.as_f64()).pack())),
        }
    }

    /// `budget` replacing `old` on the same target: what `old` learned (its
    /// allowance, where new keys start) carries over, the average rate scaled
    /// by `ratio` (the new budget over the old).
    pub(crate) fn replacing(
        old: &TargetBudget,
        budget: Budget,
        interval_secs: f64,
        fleet_size: u64,
    ) -> Self {
        let whole = old.whole.is_some();
        let t = TargetBudget::new(budget, interval_secs, Rate::ONE, fleet_size, whole);
        if let (Some(w), Some(old_w)) = (&t.whole, &old.whole) {
            // Until the next aligned pass: the rate the old budget had.
            w.store(old_w.load(Ordering::Relaxed), Ordering::Relaxed);
        }
        // This process's goals, new over old (a fleet budget's share included).
        let ratio = (budget.per_sec() * t.share_of(fleet_size))
            / (old.budget.per_sec() * old.share_of(fleet_size));
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        t.start.store(load(&old.start), Ordering::Relaxed);
        let fresh_rate = Rate::unpack(load(&old.fresh_rate));
        t.fresh_rate
            .store(scaled(fresh_rate, ratio).pack(), Ordering::Relaxed);
        t.allowance.store(
            ((load(&old.allowance) as f64 * ratio) as u64).max(1),
            Ordering::Relaxed,
        );
        t.effective
            .store((old.effective() * ratio).to_bits(), Ordering::Relaxed);
        t
    }

    /// What this process keeps of the budget: all of it, or for a fleet
    /// budget one member's share of a fleet of `fleet_size`.
    pub(crate) fn share_of(&self, fleet_size: u64) -> f64 {
        if self.budget.is_fleet() {
            1.0 / fleet_size.max(1) as f64
        } else {
            1.0
        }
    }

    /// Consistent mode's one rate for the target, if this is such a budget.
    pub(crate) fn whole_rate(&self) -> Option<Rate> {
        self.whole
            .as_ref()
            .map(|w| Rate::unpack(w.load(Ordering::Relaxed)))
    }

    /// Consistent mode, at an aligned pass that counted `events` of the
    /// target over `secs`: the largest power of two at most `goal` lines per
    /// second over that traffic (the same in every process that saw the same
    /// traffic; see the module docs). No events: the rate stays. With
    /// hysteresis: the rate stays while the ideal one is within 0.9× to 2.2×
    /// of it, so traffic that hovers at a power of two does not flip the rate
    /// every interval (each flip splits the requests that straddle it); the
    /// price is up to a tenth over the goal while it hovers below.
    pub(crate) fn renew_whole(&self, events: u64, secs: f64, goal: f64) {
        let Some(w) = self.whole.as_ref().filter(|_| events > 0) else {
            return;
        };
        let ideal = goal * secs / events as f64;
        let now = Rate::unpack(w.load(Ordering::Relaxed)).as_f64();
        if ideal >= 0.9 * now && ideal < 2.2 * now {
            return;
        }
        let r = if ideal >= 2.2 * now {
            power_of_two_below(ideal / 1.1)
        } else {
            power_of_two_below(ideal)
        };
        w.store(r.pack(), Ordering::Relaxed);
    }

    /// The rate a key seen for the first time starts at (see the module docs).
    pub(crate) fn start_rate(&self) -> Rate {
        if let Some(r) = self.whole_rate() {
            return r;
        }
        if self.fresh.fetch_add(1, Ordering::Relaxed) < self.allowance.load(Ordering::Relaxed) {
            Rate::unpack(self.start.load(Ordering::Relaxed))
        } else {
            Rate::unpack(self.fresh_rate.load(Ordering::Relaxed))
        }
    }

    /// The rate new keys start at once the allowance is spent: the budget
    /// over the target's traffic counted at the last pass.
    pub(crate) fn average_rate(&self) -> Rate {
        Rate::unpack(self.fresh_rate.load(Ordering::Relaxed))
    }

    /// This process's goal at the last pass, in lines per second: the budget
    /// under pressure, and for a fleet budget divided by the fleet's size.
    pub(crate) fn effective(&self) -> f64 {
        f64::from_bits(self.effective.load(Ordering::Relaxed))
    }

    /// The share of the target's events kept in the last interval.
    pub(crate) fn share(&self) -> f64 {
        f64::from_bits(self.share.load(Ordering::Relaxed))
    }

    /// A key of this target left the key table with `events` not yet seen by
    /// a pass.
    pub(crate) fn evicted(&self, events: u64) {
        self.evicted_events.fetch_add(events, Ordering::Relaxed);
        self.evicted_keys.fetch_add(1, Ordering::Relaxed);
    }

    /// The evicted keys' events and keys since the last call.
    pub(crate) fn take_evicted(&self) -> (u64, u64) {
        (
            self.evicted_events.swap(0, Ordering::Relaxed),
            self.evicted_keys.swap(0, Ordering::Relaxed),
        )
    }

    /// After a pass that saw `h`'s keys over `secs`: later new keys start at
    /// the rate that would spend the budget on the whole target's traffic
    /// as counted (not as estimated: estimates decay only by half per
    /// interval). At the end of an interval (`early` false) the allowance
    /// refills too (as many keys as bring a tenth of the budget's lines at
    /// the last interval's lines per active key); an early pass leaves it, so
    /// a burst of early passes cannot hand out more.
    /// `scale` is the pressure's (1 without) times this process's share of
    /// a fleet budget ([`share_of`](Self::share_of)).
    pub(crate) fn renew(&self, h: &Histogram, secs: f64, scale: f64, early: bool) {
        let (events, kept, active) = h.events();
        if !early {
            let per_key = events as f64 / active.max(1) as f64;
            self.allowance.store(
                keys_for(self.per_interval * scale * FRESH_SHARE, per_key),
                Ordering::Relaxed,
            );
            self.fresh.store(0, Ordering::Relaxed);
        }
        self.start.store(Rate::ONE.pack(), Ordering::Relaxed);
        self.effective
            .store((self.budget.per_sec() * scale).to_bits(), Ordering::Relaxed);
        // Shown for the last full interval (an early pass sees a part).
        if !early {
            let share = kept as f64 / events.max(1) as f64;
            self.share.store(
                if events == 0 { 1.0 } else { share }.to_bits(),
                Ordering::Relaxed,
            );
        }
        let rate = if events == 0 {
            Rate::ONE
        } else {
            quantize(self.budget.per_sec() * scale * secs / events as f64)
        };
        self.fresh_rate.store(rate.pack(), Ordering::Relaxed);
    }

    /// Lines of this budget per second and its slack (the allowance's lines)
    /// under `scale`: what the pace allows (see [`Budgets`]).
    pub(crate) fn pace(&self, scale: f64) -> (f64, f64) {
        (
            self.budget.per_sec() * scale,
            (self.per_interval * scale * FRESH_SHARE).max(1.0),
        )
    }
}

/// The largest `1/2^k` at most `r` (1 at most; `1/2^23` at least, the
/// smallest power of two a rate can be).
pub(crate) fn power_of_two_below(r: f64) -> Rate {
    // At least 1, or NaN: keep everything.
    if r >= 1.0 || r.is_nan() {
        return Rate::ONE;
    }
    // k = ceil(-log2 r), from the exponent, corrected for rounding.
    let mut k = (-r.log2()).ceil().clamp(1.0, 23.0) as u32;
    while k > 1 && 1.0 / f64::from(1u32 << (k - 1)) <= r {
        k -= 1;
    }
    Rate::from_fraction(1, 1 << k).expect("1/2^k with k <= 23 is a rate")
}

/// `rate` times `ratio`, as a budget's fraction (1 at most).
pub(crate) fn scaled(rate: Rate, ratio: f64) -> Rate {
    if rate.is_zero() || ratio == 1.0 {
        return rate;
    }
    quantize(rate.as_f64() * ratio)
}

/// How many keys of `per_key` lines make `lines` (at least one).
fn keys_for(lines: f64, per_key: f64) -> u64 {
    (lines / per_key.max(1.0)).floor().max(1.0) as u64
}

/// A budget key's first rule was just published on `counts`: below rate 1,
/// start it at a random position of its first window. In deterministic mode
/// a key keeps the first event of each window; a key that lives for fewer
/// events than a window (key churn) would otherwise keep one event where it
/// should keep a fraction, so `sum(1 / sample_rate)` would over-count it and
/// churn would overspend the budget. With a random start each key keeps its
/// share in expectation, and exactly `p` in `q` after its first window.
pub(crate) fn start(counts: &Counts, rule: Rule, seed: u64) {
    let rate = rule.rate();
    if rule.is_budget() && !rate.is_one() && !rate.is_zero() {
        counts.set_position(crate::decide::mode::draw(seed) % u64::from(rate.denominator()));
    }
}

/// The rate a key with estimate `e` gets under level `c`, as a fraction (see
/// the module docs); never 0, so every key still shows up.
pub(crate) fn rate_for(e: f64, c: f64) -> Rate {
    if e.is_nan() || e <= c {
        return Rate::ONE;
    }
    quantize(c / e)
}

/// `r` in (0, 1] as `1/N` below 1/16, else `p/1024`.
pub(crate) fn quantize(r: f64) -> Rate {
    if r.is_nan() || r >= 1.0 {
        return Rate::ONE;
    }
    if r < 1.0 / 16.0 {
        let n = (1.0 / r)
            .round()
            .clamp(16.0, f64::from(crate::directive::rate::MAX_DENOMINATOR));
        return Rate::from_fraction(1, n as u32).unwrap_or(Rate::ONE);
    }
    let p = (r * 1024.0).round().clamp(64.0, 1024.0) as u32;
    Rate::from_fraction(p, 1024).unwrap_or(Rate::ONE)
}

#[cfg(all(test, not(sampling_layer_loom)))]
mod tests;
