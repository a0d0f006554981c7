//! The budget adjustment: once per interval, re-estimate every budget key and
//! give it the rate that spends its target's budget (the algorithm is in
//! [`budget`](crate::budget); this is the pass over the sampler's keys).
//!
//! It runs on the thread of a kept event of a budget key that notices the
//! interval is over (a kept event is formatted and written anyway; a
//! sampled-out one never reads the clock), behind try-locks: if another
//! thread is adjusting, or a directive install or a stats snapshot holds a
//! lock the pass needs, the event goes on and a later one adjusts. No thread
//! per sampler. Two passes over the callsites, the live keys (at most
//! `max_keys`) and the `log` sites: estimate (moving each word's figures to
//! the stats ledger, as a flush does), then set each key's rate in its rule
//! cache, where its decision reads it.
//!
//! The whole pass holds the stats ledger lock (taken after the directive
//! lock's read side was let go, never waited for). An install sweeps every
//! word under the same lock, so a retune never holds a tag an install's
//! sweep needs, and a word the install already moved to the next generation
//! is left alone (a retune only applies to the generation it was computed
//! under). Lock order as in `accounts`: ledger, then the key map's shards.

use std::sync::{Arc, MutexGuard, RwLock, TryLockError};

use super::accounts::Installed;
use super::Sampler;
use crate::{
    budget::{rate_for, BudgetCell, Histogram},
    counts::Counts,
    ledger::Ledger,
    rule::{Rule, RuleCache},
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
    /// A kept event of a budget key, or any kept event with pressure wired:
    /// read the pressure if due (rewriting the rates if its scale moved),
    /// adjust the budgets if their interval is over.
    #[cold]
    #[inline(never)]
    pub(crate) fn on_kept(&self, rule: Rule) {
        if let Some(p) = &self.pressure {
            // Sampled rules only: a target kept in full is not the sampler's to relieve.
            let sampled = rule.is_budget() || !rule.rate().is_one();
            // With a key extractor no cached rate is scaled (the fallback
            // outside any trace reads the scale itself): nothing to rewrite.
            if sampled
                && (p.tick() || p.pending.load(Ordering::Relaxed))
                && (self.extractor.is_some() || self.rescale())
            {
                p.pending.store(false, Ordering::Relaxed);
                // Budgets follow at once rather than at the end of their interval.
                self.budgets.force();
            }
        }
        if rule.is_budget() {
            self.budget_kept();
        }
    }

    /// Rewrites every cached rate that is not a budget's under the current
    /// pressure scale (a linear pass, as [`budget_kept`](Self::budget_kept));
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

    /// A budget key kept an event: adjust if the interval is over.
    #[cold]
    #[inline(never)]
    pub(crate) fn budget_kept(&self) {
        let Some((mut pass, now)) = self.budgets.due() else {
            return;
        };
        let Some((inst, mut ledger)) = try_both(&self.installed, &self.ledger) else {
            return;
        };
        let scale = inst.scale.get();
        let secs = now.saturating_sub(pass.last) as f64 / 1e9;
        let generation = inst.generation;
        let histograms = &mut pass.histograms;
        histograms.retain(|b, _| inst.budgets.contains_key(b));
        for &b in inst.budgets.keys() {
            histograms.entry(b).or_default().clear();
        }
        let mut observe = |cache: &RuleCache, counts: &Counts, cell: &BudgetCell| {
            let (g, rule) = cache.current();
            if g != generation || !rule.is_budget() {
                return;
            }
            let (kept, dropped) = counts.take();
            ledger.add(rule.bucket(), (kept, dropped));
            let (e, events) = cell.observe(kept + dropped, secs);
            if let Some(h) = histograms.get_mut(&rule.bucket()) {
                h.add(e, events, kept);
            }
        };
        self.callsites
            .for_each(|cs| observe(&cs.rule, &cs.counts, &cs.budget));
        self.keys.visit(|e| observe(&e.rule, &e.counts, &e.budget));
        self.log_sites
            .for_each(|s| observe(&s.rule, &s.counts, &s.budget));

        // Pressure scales every budget (see `pressure`).
        for (b, target) in &inst.budgets {
            target.renew(&histograms[b], secs, scale);
        }
        let level = |bucket: usize| -> Option<f64> {
            let h: &Histogram = histograms.get(&bucket)?;
            Some(h.level(inst.budgets.get(&bucket)?.budget.per_sec() * scale))
        };
        let retune = |cache: &RuleCache, cell: &BudgetCell| {
            let (g, rule) = cache.current();
            if g != generation || !rule.is_budget() {
                return;
            }
            let (Some(e), Some(c)) = (cell.estimate(), level(rule.bucket())) else {
                return;
            };
            let rate = rate_for(e, c);
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
        self.budgets.done(&mut pass, now);
    }
}
