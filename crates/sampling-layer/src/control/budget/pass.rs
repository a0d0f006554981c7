//! The budget pass: once per interval, re-estimate every budget key and give
//! it the rate that spends its target's budget (the sharing out is in the
//! parent module; this is the pass over the words that hold the keys).
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
//! under). Lock order as in the install: ledger, then the key map's shards.

use std::collections::HashMap;
use std::sync::Arc;

use super::schedule::Pass;
use super::{rate_for, BudgetCell, Budgets, Footing, Histogram, TargetBudget};
use crate::decide::callsites::CallsiteTable;
use crate::decide::entry::{Counts, RuleCache};
use crate::decide::keys::KeyStore;
use crate::decide::log_sites::LogSites;
use crate::figures::ledger::Ledger;

/// The three tables whose words hold budget keys.
pub(crate) struct Words<'a> {
    pub(crate) callsites: &'a CallsiteTable,
    pub(crate) keys: &'a KeyStore,
    pub(crate) log_sites: &'a LogSites,
}

/// One pass at `now` (`early`: ahead of the pace, before the interval's
/// end) over `words`, for the installed `targets` (by stats bucket) under
/// the pressure `scale`, for rule caches of `generation`; figures move into
/// `ledger`.
pub(crate) fn run(
    budgets: &Budgets,
    pass: &mut Pass,
    (now, early): (u64, bool),
    (targets, scale, generation): (&HashMap<usize, Arc<TargetBudget>>, f64, u64),
    words: &Words<'_>,
    ledger: &mut Ledger,
) {
    // Read once per pass: every fleet budget's share follows it from here.
    let fleet = budgets.refresh_fleet();
    let secs = now.saturating_sub(pass.last) as f64 / 1e9;
    let secs_full = now.saturating_sub(pass.last_full) as f64 / 1e9;
    let interval = budgets.interval_secs();
    let histograms = &mut pass.histograms;
    histograms.retain(|b, _| targets.contains_key(b));
    for (&b, target) in targets {
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
    words
        .callsites
        .for_each(|cs| observe(&cs.rule, &cs.counts, &cs.budget));
    words.keys.visit(|e| observe(&e.rule, &e.counts, &e.budget));
    words
        .log_sites
        .for_each(|s| observe(&s.rule, &s.counts, &s.budget));

    // Pressure scales every budget (see `pressure`); a fleet budget is
    // this process's share of it.
    let mut pace = (0.0, 0.0);
    for (b, target) in targets {
        let s = scale * target.share_of(fleet);
        target.renew(&histograms[b], secs, s, early);
        // Consistent mode: one rate for the target, from its traffic.
        target.renew_whole(histograms[b].events().0, secs, target.budget.per_sec() * s);
        let (p, slack) = target.pace(s);
        pace = (pace.0 + p, pace.1 + slack);
    }
    budgets.set_pace(!targets.is_empty(), pace);
    let level = |bucket: usize| -> Option<f64> {
        let h: &Histogram = histograms.get(&bucket)?;
        let target = targets.get(&bucket)?;
        Some(h.level(target.budget.per_sec() * scale * target.share_of(fleet)))
    };
    let retune = |cache: &RuleCache, cell: &BudgetCell| {
        let (g, rule) = cache.current();
        if g != generation || !rule.is_budget() {
            return;
        }
        // Consistent mode: every word of the target at the target's rate,
        // so a request is kept or dropped whole.
        if let Some(rate) = targets.get(&rule.bucket()).and_then(|t| t.whole_rate()) {
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
            if let Some(t) = targets.get(&rule.bucket()) {
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
    words.callsites.for_each(|cs| retune(&cs.rule, &cs.budget));
    words.keys.visit(|e| retune(&e.rule, &e.budget));
    words.log_sites.for_each(|s| retune(&s.rule, &s.budget));
    budgets.done(pass, now, early);
    if early && !measured {
        budgets.hold();
    }
}
