//! Installing directives, moving figures into stats buckets, and the stats
//! snapshot: the accounting side of [`Sampler`].
//!
//! # Why figures never go backwards
//!
//! An event is counted once, in the word (callsite's or key's) it was decided
//! on. Figures leave a word for the [`Ledger`] only by a *move*: when the word
//! is re-resolved under new directives, when its key is evicted, or when a
//! figure is about to fill. Every move takes the ledger lock, and so does a
//! snapshot for its whole pass, so a snapshot sees each event exactly once (in
//! a word, or in the ledger), and words only grow while it reads them. A
//! word's figures belong to the bucket of the rule cached on it; rules with
//! figures behind them change only under the same lock. So each label's
//! figures in a snapshot are at least those of any earlier snapshot.
//!
//! # Freeing a label's slot
//!
//! An install re-resolves every callsite and live key at once (moving their
//! figures to the buckets they were counted under) while it holds the ledger
//! lock and the directive lock, then retires the labels the new set drops
//! (their figures kept by the ledger) and hands their slots to new labels. So
//! no word still points at a freed slot, and a stale in-flight event's count
//! lands in a word whose rule is already the new one. A word resolved for the
//! first time (no figures yet) does so under the directive read lock, so it
//! can never publish a rule of a set that an install already replaced.
//!
//! Lock order: directives, then key store eviction, then ledger, then the key
//! map's shard locks (eviction only tries the directive lock, never waits).
//! Code under a shard lock never waits for anything.

use std::collections::HashMap;
use std::sync::{Arc, MutexGuard};

use tracing_core::Metadata;

pub(crate) use super::installed::Installed;
use super::{Sampler, BREAKER_OPEN, CAPTURE, DISABLED, FLAG_BITS, REPEATS};
use crate::{
    control::budget::{BudgetCell, TargetBudget},
    decide::callsites::CallsiteState,
    decide::entry::{Counts, Flushed, Rule, RuleCache},
    directive::DirectiveSet,
    error::{ParseError, ParseErrorKind},
    figures::ledger::Ledger,
    figures::stats::{SamplingStats, TargetStats},
    sync::Ordering,
};

impl Sampler {
    pub(crate) fn lock_ledger(&self) -> MutexGuard<'_, Ledger> {
        self.ledger.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Makes `set` the current directives; takes effect from the next event.
    /// Costs one pass over the callsites and the live keys.
    pub(crate) fn install(&self, set: DirectiveSet) -> Result<(), ParseError> {
        // A fleet budget needs the fleet's size.
        if self.budgets.fleet.is_none() {
            if let Some((label, b)) = set.budgets().find(|(_, b)| b.is_fleet()) {
                let item = if label.is_empty() {
                    b.to_string()
                } else {
                    format!("{label}={b}")
                };
                return Err(ParseError::new(
                    &item,
                    ParseErrorKind::FleetBudgetWithoutSize,
                ));
            }
        }
        let fleet = self.budgets.fleet_size();
        // The key extractor: the one refusal point for builds and
        // `set_directives` alike. For budgets: pass
        // `set.budgets().next().is_some()` for `false`.
        crate::decide::extract::check_settings(
            self.extractor.as_ref(),
            set.budgets().next().is_some(),
            set.source(),
        )?;
        let mut installed = self.installed.write().unwrap_or_else(|e| e.into_inner());
        let mut ledger = self.lock_ledger();
        let labels = set.labels();
        let plan = ledger
            .plan(labels.iter().map(|(l, _)| l.as_str()))
            // The parser refuses more than `MAX_TARGETS` targets (plus the
            // default's row), so this is a second line of defence.
            .map_err(|_| ParseError::new("", ParseErrorKind::TooManyTargets))?;
        let generation = installed.generation + 1;
        let interval = self.budgets.interval_secs();
        let prev = installed.clone();
        // A budget the new set leaves as it is keeps its state; a changed
        // one on the same target (same label, so same bucket) starts from
        // what the old one learned, its keys' rates scaled by the ratio.
        let mut ratios = HashMap::new();
        let budgets = set
            .budgets()
            .map(|(label, b)| {
                let bucket = plan.buckets[label];
                let before = prev
                    .budgets
                    .get(&bucket)
                    .filter(|_| prev.buckets.get(label) == Some(&bucket));
                let target = match before {
                    Some(t) if t.budget == b => t.clone(),
                    Some(t) => {
                        let new = TargetBudget::replacing(t, b, interval, fleet);
                        // This process's goals, new over old (a fleet share included).
                        ratios.insert(
                            bucket,
                            (b.per_sec() * new.share_of(fleet))
                                / (t.budget.per_sec() * t.share_of(fleet)),
                        );
                        Arc::new(new)
                    }
                    None => Arc::new(TargetBudget::new(
                        b,
                        interval,
                        self.budgets.initial,
                        fleet,
                        self.budgets.aligned(),
                    )),
                };
                (bucket, target)
            })
            .collect();
        self.capture.set_directive_specs(set.captures());
        self.repeats.install(set.repeats());
        self.set_engaged(CAPTURE, self.capture.is_active());
        // Windows still listed keep kept events polling until summarised.
        let repeats = self.repeats.is_active() || self.repeats.anything_due();
        self.set_engaged(REPEATS, repeats);
        let new = Arc::new(Installed {
            generation,
            set,
            buckets: plan.buckets,
            budgets,
            // With a key extractor the trace decides at the directive rate, so
            // no cached rate is scaled; its fallback applies the scale itself
            // (`Sampler::count`).
            scale: self
                .pressure
                .as_ref()
                .filter(|_| self.extractor.is_none())
                .map_or_else(Arc::default, |p| p.scale.clone()),
        });
        let mut moved: Vec<Flushed> = vec![(0, 0); ledger.len()];
        let mut sweep = |cache: &RuleCache,
                         counts: &Counts,
                         cell: &BudgetCell,
                         target: &str,
                         key: Option<u64>| {
            let (g, old) = cache.current();
            if g == 0 {
                return; // Never resolved: no figures, resolves fresh later.
            }
            let rule = new.rule_after(&ratios, (target, key), old);
            // No other writer can hold the tag: fresh resolutions need the
            // directive lock, moves the ledger lock, and we hold both.
            let published = cache.publish(generation, rule, |old| {
                if let Some(old) = old {
                    let (k, d) = counts.take();
                    if old.is_budget() {
                        cell.carry((k, d));
                    }
                    if let Some(m) = moved.get_mut(old.bucket()) {
                        m.0 += k;
                        m.1 += d;
                    }
                }
            });
            debug_assert!(published);
        };
        self.callsites
            .for_each(|cs| sweep(&cs.rule, &cs.counts, &cs.budget, cs.meta.target(), None));
        self.keys.for_each(|e| {
            sweep(
                &e.rule,
                &e.counts,
                &e.budget,
                e.meta.target(),
                Some(e.key_hash),
            );
        });
        self.log_sites
            .for_each(|s| sweep(&s.rule, &s.counts, &s.budget, &s.target, None));
        ledger.commit(&new.buckets, &moved);
        self.budgets
            .set_pace(!new.budgets.is_empty(), new.pace(fleet));
        *installed = new;
        // Published after the set, so a reader that sees the new generation and
        // misses its cache resolves against this set (or a newer one). Installs
        // are serialised by the write lock, so this keeps `state >> 2 == generation`.
        self.state.fetch_add(1 << FLAG_BITS, Ordering::Release);
        Ok(())
    }

    /// Brings a callsite's rule up to the installed directives and, if `full`,
    /// moves its figures out; returns the rule to count under.
    #[inline]
    pub(crate) fn settle_callsite(&self, cs: &CallsiteState, full: bool) -> Rule {
        self.settle_word(&cs.rule, &cs.counts, &cs.budget, cs.meta.target(), full)
    }

    /// [`settle_callsite`](Self::settle_callsite) for any word counted under
    /// `target` with no key of its own (a callsite, a `log` call site).
    #[cold]
    #[inline(never)]
    pub(crate) fn settle_word(
        &self,
        cache: &RuleCache,
        counts: &Counts,
        cell: &BudgetCell,
        target: &str,
        full: bool,
    ) -> Rule {
        if !full {
            let inst = self.installed.read().unwrap_or_else(|e| e.into_inner());
            if cache.current().0 == 0 {
                let rule = inst.rule(target, None);
                if cache.publish(inst.generation, rule, |_| {}) {
                    crate::control::budget::start(counts, rule, self.seed);
                }
            }
            if let Some(rule) = cache.get(inst.generation) {
                return rule;
            }
        }
        let inst = self.current();
        let mut ledger = self.lock_ledger();
        settle(&inst, &mut ledger, cache, counts, cell, target, None)
    }

    /// [`settle_callsite`](Self::settle_callsite) for a key; returns the
    /// generation its rule is now cached under (the key may have been evicted
    /// meanwhile: then the caller inserts it again).
    #[cold]
    #[inline(never)]
    pub(crate) fn settle_key(
        &self,
        store_key: u64,
        (meta, key_hash): (&'static Metadata<'static>, u64),
        full: bool,
    ) -> u64 {
        if !full {
            let inst = self.installed.read().unwrap_or_else(|e| e.into_inner());
            let fresh = self.keys.get(store_key, |e| {
                if e.rule.current().0 != 0 {
                    return false;
                }
                let rule = inst.rule(meta.target(), Some(key_hash));
                if e.rule.publish(inst.generation, rule, |_| {}) {
                    crate::control::budget::start(&e.counts, rule, self.seed);
                }
                true
            });
            if fresh != Some(false) {
                return inst.generation;
            }
        }
        let inst = self.current();
        let mut ledger = self.lock_ledger();
        self.keys.get(store_key, |e| {
            settle(
                &inst,
                &mut ledger,
                &e.rule,
                &e.counts,
                &e.budget,
                meta.target(),
                Some(key_hash),
            );
        });
        inst.generation
    }

    /// Makes room in the key store, moving the evicted keys' figures out.
    /// A budget key's events not yet seen by a pass go to its target's
    /// estimate (see `budget`): read from the set current before the store
    /// was full, without waiting (if an install is under way they are lost
    /// to the estimate, not to the stats).
    pub(crate) fn evict_keys(&self) {
        let inst = match self.installed.try_read() {
            Ok(i) => Some(i.clone()),
            Err(std::sync::TryLockError::Poisoned(i)) => Some(i.into_inner().clone()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        };
        let mut ledger = self.lock_ledger();
        self.keys.evict_batch(|e| {
            let (generation, rule) = e.rule.current();
            if generation != 0 {
                let (kept, dropped) = e.counts.take();
                ledger.add(rule.bucket(), (kept, dropped));
                let target = inst
                    .as_ref()
                    .filter(|i| rule.is_budget() && i.generation == generation)
                    .and_then(|i| i.budgets.get(&rule.bucket()));
                if let Some(t) = target {
                    t.evicted(kept + dropped + e.budget.carried());
                }
            }
        });
    }

    pub(crate) fn stats(&self) -> SamplingStats {
        self.close_breaker_if_due();
        self.expire_due(true);
        let now = self.timed.now();
        // Both locks for the whole pass: no install (which reassigns buckets)
        // and no move of figures while the words are read.
        let inst = self.installed.read().unwrap_or_else(|e| e.into_inner());
        let ledger = self.lock_ledger();
        let mut figures = ledger.figures();
        let (retired_targets, forgotten_targets) = ledger.retired();
        let mut add = |cache: &RuleCache, counts: &Counts| {
            let (generation, rule) = cache.current();
            if generation == 0 {
                return false;
            }
            if let Some(t) = figures.get_mut(rule.bucket()) {
                let (k, d) = counts.peek();
                t.0 += k;
                t.1 += d;
            }
            true
        };
        let mut callsite_keys = 0;
        self.callsites.for_each(|cs| {
            if add(&cs.rule, &cs.counts) {
                callsite_keys += 1;
            }
        });
        self.log_sites.for_each(|s| {
            if add(&s.rule, &s.counts) {
                callsite_keys += 1;
            }
        });
        self.keys.for_each(|e| {
            add(&e.rule, &e.counts);
        });
        drop(ledger);
        let targets = inst
            .set
            .labels()
            .into_iter()
            .map(|(label, rate)| {
                let bucket = inst.buckets[&label];
                let (kept, dropped) = figures[bucket];
                let budget = inst.budgets.get(&bucket);
                TargetStats {
                    budget: budget.map(|b| b.budget.per_sec()),
                    effective_rate: budget
                        .map_or_else(|| inst.scale.apply(rate).as_f64(), |b| b.share()),
                    effective_budget: budget.map(|b| b.effective()),
                    target: label,
                    rate: rate.as_f64(),
                    seen: kept + dropped,
                    kept,
                    dropped,
                    recent_seen: 0,
                    recent_kept: 0,
                }
            })
            .collect::<Vec<_>>();
        drop(inst);
        let mut targets = targets;
        self.timed.fill_recent(now, &mut targets);
        let state = self.state.load(Ordering::Acquire);
        SamplingStats {
            active_keys: self.keys.live(),
            max_keys: self.keys.max(),
            evicted_keys: self.keys.evicted(),
            breaker_open: state & BREAKER_OPEN != 0,
            breaker_trips: self.breaker.as_ref().map_or(0, |b| b.trips()),
            breaker_recoveries: self.breaker.as_ref().map_or(0, |b| b.recoveries()),
            pressure_scale: self.pressure.as_ref().map_or(1.0, |p| p.scale.get()),
            fleet_size: self.budgets.fleet.as_ref().map(|f| f.size()),
            fleet_size_refused: self.budgets.fleet.as_ref().map_or(0, |f| f.refused()),
            breaker_trigger: self
                .breaker
                .as_ref()
                .and_then(|b| b.last_trigger())
                .map(|t| t.as_str()),
            enabled: state & DISABLED == 0,
            callsite_keys,
            retired_targets,
            forgotten_targets,
            targets,
            recent_interval: self.timed.interval(),
            capture: self.capture.stats(),
            repeats: self.repeats.stats(),
        }
    }
}

/// Under the ledger lock: brings `cache` up to `inst` (moving the figures
/// counted under the old rule to its bucket) and moves the rest of the
/// figures out, to the bucket of the rule now cached. Returns that rule.
fn settle(
    inst: &Installed,
    ledger: &mut Ledger,
    cache: &RuleCache,
    counts: &Counts,
    cell: &BudgetCell,
    target: &str,
    key_hash: Option<u64>,
) -> Rule {
    // For budgets: what leaves a budget key's word here counts in its next
    // estimate (the adjustment reads the word's figures).
    let moved = |rule: Rule, ledger: &mut Ledger| {
        let taken = counts.take();
        if rule.is_budget() {
            cell.carry(taken);
        }
        ledger.add(rule.bucket(), taken);
    };
    if cache.current().0 < inst.generation {
        let rule = inst.rule(target, key_hash);
        cache.publish(inst.generation, rule, |old| {
            if let Some(old) = old {
                moved(old, ledger);
            }
        });
    }
    let (_, rule) = cache.current();
    moved(rule, ledger);
    rule
}
