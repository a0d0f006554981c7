//! What runs after a decision, a short dispatcher over the optional parts:
//! a kept event's duties of the engaged ones (expiring changes, repeat
//! windows, the pressure signal), the timed duties every 128th sampled-out
//! event of a word, and the budget pass when it is due
//! (`control::budget::pass`, run here under the locks it needs).

use std::sync::{Arc, MutexGuard, RwLock, TryLockError};

use super::install::Installed;
use super::{Sampler, PRESSURE, REPEATS, REVERTS};
use crate::{
    control::budget::{self, pass::Words, Pass},
    decide::entry::{Rule, RuleCache},
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
    /// A kept event's duties of the engaged parts (`engaged`, one of
    /// [`REVERTS`], [`REPEATS`], [`PRESSURE`] set): changes that expired
    /// applied, repeat windows that ended summarised, the pressure read if
    /// due (rewriting the rates if its scale moved). A budget's pace is the
    /// decision's own (`budget_line` in `decide`).
    #[inline(never)]
    pub(crate) fn engaged_duties(&self, engaged: u64, rule: Rule) {
        if engaged & REVERTS != 0 {
            self.expire_due(false);
        }
        if engaged & REPEATS != 0 {
            self.poll_repeats();
        }
        // Sampled rules only: a target kept in full is not the sampler's to relieve.
        if engaged & PRESSURE != 0 && (rule.is_budget() || !rule.rate().is_one()) {
            self.read_pressure();
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
            if let Some(due) = self.budgets.due() {
                self.budget_pass(due);
            }
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
    /// pressure scale (a linear pass, as [`budget_pass`](Self::budget_pass));
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

    /// Adjusts the budgets (their interval is over or they are ahead of
    /// their pace: [`Budgets::due`](crate::control::budget::Budgets::due) said so and gave its state).
    #[cold]
    pub(crate) fn budget_pass(&self, (mut pass, now, early): (MutexGuard<'_, Pass>, u64, bool)) {
        let Some((inst, mut ledger)) = try_both(&self.installed, &self.ledger) else {
            return;
        };
        let words = Words {
            callsites: &self.callsites,
            keys: &self.keys,
            log_sites: &self.log_sites,
        };
        let at = (now, early);
        let installed = (&inst.budgets, inst.scale.get(), inst.generation);
        // The ledger's guard is held for the whole pass: an install sweeps
        // every word under it and must find no tag busy with a retune.
        budget::pass::run(&self.budgets, &mut pass, at, installed, &words, &mut ledger);
    }
}
