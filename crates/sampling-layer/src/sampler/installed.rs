//! [`Installed`]: the directive set in force, with the stats buckets its
//! labels map to, its budgets' run-time state and the pressure scale; and how
//! a word's rule is resolved under it.

use std::collections::HashMap;
use std::sync::Arc;

use crate::{
    control::budget::{scaled, TargetBudget},
    control::pressure::Scale,
    decide::entry::Rule,
    directive::rate::Rate,
    directive::DirectiveSet,
};

/// A directive set with the stats buckets its labels map to.
#[derive(Debug)]
pub(crate) struct Installed {
    pub(crate) generation: u64,
    pub(crate) set: DirectiveSet,
    pub(crate) buckets: HashMap<String, usize>,
    /// For budgets: per stats bucket of a label with a budget (shared with
    /// the next set if it leaves that budget as it is).
    pub(crate) budgets: HashMap<usize, Arc<TargetBudget>>,
    /// For pressure: the scale sampled rates are multiplied by.
    pub(crate) scale: Arc<Scale>,
}

impl Installed {
    /// Generation 0: nothing installed yet (every rule cache is older).
    pub(crate) fn empty() -> Self {
        Installed {
            generation: 0,
            set: DirectiveSet::default(),
            buckets: HashMap::new(),
            budgets: HashMap::new(),
            scale: Arc::default(),
        }
    }

    pub(crate) fn rule(&self, target: &str, key_hash: Option<u64>) -> Rule {
        // For budgets: a key resolved here is new to its rule; it starts
        // within its target's allowance (see `budget`).
        self.rule_with(target, key_hash, TargetBudget::start_rate)
    }

    /// The rule for `target` (and key), a budget's rate given by `start`.
    fn rule_with(
        &self,
        target: &str,
        key_hash: Option<u64>,
        start: impl FnOnce(&TargetBudget) -> Rate,
    ) -> Rule {
        let resolved = match key_hash {
            Some(h) => self.set.resolve_key(target, h),
            None => self.set.resolve_target(target),
        };
        let bucket = self.buckets[resolved.label];
        let key_rules = key_hash.is_none() && self.set.has_key_rules_for(target);
        match self
            .budgets
            .get(&bucket)
            .filter(|_| resolved.budget.is_some())
        {
            Some(b) => Rule::new(start(b), bucket, key_rules).with_budget(),
            None => Rule::new(self.scale.apply(resolved.rate), bucket, key_rules),
        }
    }

    /// The rule for a word that had `old` under the previous set `prev`:
    /// under a budget, what it learned carries over (see `budget`, "Run-time
    /// edits"): the same rate under the same budget, the rate scaled by
    /// `ratios[bucket]` under a changed one on the same target, else the
    /// rate it had (a rate switched to a budget starts from it).
    pub(super) fn rule_after(
        &self,
        ratios: &HashMap<usize, f64>,
        (target, key): (&str, Option<u64>),
        old: Rule,
    ) -> Rule {
        self.rule_with(target, key, |b| {
            // Still on the same target's budget (whether the same or changed).
            let stays = old.is_budget()
                && self
                    .budgets
                    .get(&old.bucket())
                    .is_some_and(|t| std::ptr::eq(Arc::as_ptr(t), b));
            match ratios.get(&old.bucket()) {
                Some(&ratio) if stays => scaled(old.rate(), ratio),
                _ => old.rate(),
            }
        })
    }

    /// The budgets' pace (lines per second, slack) under the current scale,
    /// fleet budgets at their share of a fleet of `fleet_size`.
    pub(super) fn pace(&self, fleet_size: u64) -> (f64, f64) {
        let scale = self.scale.get();
        self.budgets.values().fold((0.0, 0.0), |(p, s), b| {
            let (bp, bs) = b.pace(scale * b.share_of(fleet_size));
            (p + bp, s + bs)
        })
    }
}
