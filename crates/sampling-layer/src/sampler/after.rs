//! The budget adjustment: once per interval, re-estimate every budget key and
//! give it the rate that spends its target's budget (the algorithm is in
//! [`budget`](crate::control::budget); this is the pass over the sampler's keys).
//!
//! It runs on the thread of an event that notices it is due, behind
//! try-locks: a kept event of a budget key (a kept event is formatted and
//! written anyway), or a sampled-out event that brings its word's dropped
//! figure to a multiple of `TICK_EVERY` (128): with rates that make kept
//! events rare (1/40 000), the adjustment, and so the decay of keys that
//! stopped, still comes on time, for one clock read per 128 sampled-out
//! events of a key and none on the others. If another thread is adjusting,
//! or a directive install or a stats snapshot holds a lock the pass needs,
//! the event goes on and a later one adjusts. No thread per sampler. Two
//! passes over the callsites, the live keys (at most `max_keys`) and the
//! `log` sites: estimate (moving each word's figures to the stats ledger, as
//! a flush does), then set each key's rate in its rule cache, where its
//! decision reads it.
//!
//! The whole pass holds the stats ledger lock (taken after the directive
//! lock's read side was let go, never waited for). An install sweeps every
//! word under the same lock, so a retune never holds a tag an install's
//! sweep needs, and a word the install already moved to the next generation
//! is left alone (a retune only applies to the generation it was computed
//! under). Lock order as in `install`: ledger, then the key map's shards.

use std::sync::{Arc, MutexGuard, RwLock, TryLockError};

use super::install::Installed;
use super::Sampler;
use crate::{
    control::budget::{rate_for, BudgetCell, Footing, Histogram},
    decide::counts::Counts,
    decide::rule::{Rule, RuleCache},
    figures::ledger::Ledger,
    sync::Ordering,
};

/// The installed set and the ledger, if neither is busy.
fn try_both<'a>(
    installed: &RwLock<Arc<Installed>>,
    ledger: &'a std::sync::Mutex<Ledger>,
) -> Option<(Arc<Installed>, MutexGuard<'a, Ledger>)> {
    let inst = match installed.try_read() {
        Ok(i) => i.clone(),
        Err(TryLockError::Poisoned(i)) => i.into_inner().clone(),
        Err(TryLockError::WouldBlock) => return None,
    };
    let ledger = match ledger.try_lock() {
        Ok(l) => l,
        Err(TryLockError::Poisoned(l)) => l.into_inner(),
        Err(TryLockError::WouldBlock) => return None,
    };
    Some((inst, ledger))
}

impl Sampler {
    /// A kept event of a budget key, or any kept event with pressure wired
    /// (`bypassed`: kept by the breaker or a disabled sampler, not the rule):
    /// read the pressure if due (rewriting the rates if its scale moved),
    /// adjust the budgets if their interval is over or they are ahead of
    /// their pace.
    #[cold]
    #[inline(never)]
    pub(crate) fn on_kept(&self, rule: Rule, bypassed: bool) {
        // Sampled rules only: a target kept in full is not the sampler's to relieve.
        if rule.is_budget() || !rule.rate().is_one() {
            self.read_pressure();
        }
        if rule.is_budget() {
            // Only lines the budget kept count against its pace: while the
            // breaker keeps everything, early passes would only burn time.
            if !bypassed {
                self.budgets.kept_line();
            }
            self.adjust_if_due();
        }
    }

    /// Every `TICK_EVERY`-th sampled-out event of a word: the same timed
    /// duties as a kept event, so that they do not wait for one. Costs a
    /// clock read for the pressure and one for the budgets when they are
    /// wired (a few tens of ns, once per 128 sampled-out events of a key).
    #[cold]
    #[inline(never)]
    pub(crate) fn on_time(&self) {
        self.read_pressure();
        if self.budgets.active() {
            self.adjust_if_due();
        }
    }

    /// Reads the pressure signal if due, rewriting the rates if its scale moved.
    fn read_pressure(&self) {
        if let Some(p) = &self.pressure {
            // With a key extractor no cached rate is scaled (the fallback
            // outside any trace reads the scale itself): nothing to rewrite.
            if (p.tick() || p.pending.load(Ordering::Relaxed))
                && (self.extractor.is_some() || self.rescale())
            {
                p.pending.store(false, Ordering::Relaxed);
                // Budgets follow at once rather than at the end of their interval.
                self.budgets.force();
            }
        }
    }

    /// Rewrites every cached rate that is not a budget's under the current
    /// pressure scale (a linear pass, as [`adjust_if_due`](Self::adjust_if_due));
    /// false if a lock was busy (a later kept event tries again).
    fn rescale(&self) -> bool {
        let Some((inst, ledger)) = try_both(&self.installed, &self.ledger) else {
            return false;
        };
        let generation = inst.generation;
        let retune = |cache: &RuleCache, target: &str, key: Option<u64>| {
            let (g, rule) = cache.current();
            if g != generation || rule.is_budget() {
                return;
            }
            let fresh = inst.rule(target, key);
            if fresh != rule {
                cache.retune(generation, fresh);
            }
        };
        self.callsites
            .for_each(|cs| retune(&cs.rule, cs.meta.target(), None));
        self.keys
            .visit(|e| retune(&e.rule, e.meta.target(), Some(e.key_hash)));
        self.log_sites
            .for_each(|s| retune(&s.rule, &s.target, None));
        // Held until here, as in the budget pass.
        drop(ledger);
        true
    }

    /// Adjusts the budgets if their interval is over or they are ahead of
    /// their pace.
    fn adjust_if_due(&self) {
        let Some((mut pass, now, early)) = self.budgets.due() else {
            return;
        };
        let Some((inst, mut ledger)) = try_both(&self.installed, &self.ledger) else {
            return;
        };
        let scale = inst.scale.get();
        // Read once per pass: every fleet budget's share follows it from here.
        let fleet = self.budgets.refresh_fleet();
        let secs = now.saturating_sub(pass.last) as f64 / 1e9;
        let secs_full = now.saturating_sub(pass.last_full) as f64 / 1e9;
        let interval = self.budgets.interval_secs();
        let generation = inst.generation;
        let histograms = &mut pass.histograms;
        histograms.retain(|b, _| inst.budgets.contains_key(b));
        for (&b, target) in &inst.budgets {
            let h = histograms.entry(b).or_default();
            h.clear();
            // Keys evicted since the last pass, at their mean.
            let (events, keys) = target.take_evicted();
            if keys > 0 {
                h.add_many(events as f64 / secs / keys as f64, keys, events, 0);
            }
        }
        // Whether the pass measured a key with no settled estimate.
        let mut measured = false;
        let mut observe = |cache: &RuleCache, counts: &Counts, cell: &BudgetCell| {
            let (g, rule) = cache.current();
            if g != generation || !rule.is_budget() {
                return;
            }
            // A settled estimate is measured over full intervals only: an
            // early pass (a burst, new keys) counts it as it stands, so that
            // sub-second bursts of a known key cannot swing its rate. Others
            // (new keys, first and short estimates) are measured now.
            let settled = match cell.get() {
                Some((e, Footing::Settled)) => Some(e),
                _ => None,
            };
            if let (Some(e), true) = (settled, early) {
                let (kept, dropped) = counts.peek();
                if let Some(h) = histograms
                    .get_mut(&rule.bucket())
                    .filter(|_| kept + dropped > 0)
                {
                    h.add(e, (e * secs).round() as u64, 0);
                }
                return;
            }
            let window = if settled.is_some() { secs_full } else { secs };
            let (kept, dropped) = counts.take();
            ledger.add(rule.bucket(), (kept, dropped));
            let (e, events) = cell.observe(kept + dropped, window, interval);
            // A key with no events since the last pass (it stopped, or the
            // pass is early) keeps its estimate for its own rate but takes
            // no share of the budget.
            if events == 0 {
                return;
            }
            measured |= settled.is_none();
            if let Some(h) = histograms.get_mut(&rule.bucket()) {
                h.add(e, events, kept);
            }
        };
        self.callsites
            .for_each(|cs| observe(&cs.rule, &cs.counts, &cs.budget));
        self.keys.visit(|e| observe(&e.rule, &e.counts, &e.budget));
        self.log_sites
            .for_each(|s| observe(&s.rule, &s.counts, &s.budget));

        // Pressure scales every budget (see `pressure`); a fleet budget is
        // this process's share of it.
        let mut pace = (0.0, 0.0);
        for (b, target) in &inst.budgets {
            let s = scale * target.share_of(fleet);
            target.renew(&histograms[b], secs, s, early);
            // Consistent mode: one rate for the target, from its traffic.
            target.renew_whole(histograms[b].events().0, secs, target.budget.per_sec() * s);
            let (p, slack) = target.pace(s);
            pace = (pace.0 + p, pace.1 + slack);
        }
        self.budgets.set_pace(!inst.budgets.is_empty(), pace);
        let level = |bucket: usize| -> Option<f64> {
            let h: &Histogram = histograms.get(&bucket)?;
            let target = inst.budgets.get(&bucket)?;
            Some(h.level(target.budget.per_sec() * scale * target.share_of(fleet)))
        };
        let retune = |cache: &RuleCache, cell: &BudgetCell| {
            let (g, rule) = cache.current();
            if g != generation || !rule.is_budget() {
                return;
            }
            // Consistent mode: every word of the target at the target's rate,
            // so a request is kept or dropped whole.
            if let Some(rate) = inst
                .budgets
                .get(&rule.bucket())
                .and_then(|t| t.whole_rate())
            {
                if rate != rule.rate() {
                    cache.retune(generation, rule.with_rate(rate));
                }
                return;
            }
            let (Some((e, footing)), Some(c)) = (cell.get(), level(rule.bucket())) else {
                return;
            };
            let mut rate = rate_for(e, c);
            // A first estimate may be too low (see `budget`): the key gets at
            // least what a new key of its target would.
            if footing == Footing::First {
                if let Some(t) = inst.budgets.get(&rule.bucket()) {
                    let average = t.average_rate();
                    if average.as_f64() > rate.as_f64() {
                        rate = average;
                    }
                }
            }
            if rate != rule.rate() {
                cache.retune(generation, rule.with_rate(rate));
            }
        };
        self.callsites.for_each(|cs| retune(&cs.rule, &cs.budget));
        self.keys.visit(|e| retune(&e.rule, &e.budget));
        self.log_sites.for_each(|s| retune(&s.rule, &s.budget));
        // Held until here: an install sweeps every word under this lock and
        // must find no tag busy with a retune (see the module docs).
        drop(ledger);
        self.budgets.done(&mut pass, now, early);
        if early && !measured {
            self.budgets.hold();
        }
    }
}
