//! The per-event decision: callsite or key lookup → rule → mode → count.
//!
//! Two entry points, by what the decision needs. [`Sampler::decide_early`]
//! runs in `enabled`, from the metadata alone, for callsites with no key
//! field outside consistent mode (a dropped event is never built).
//! [`Sampler::decide`] runs in `event_enabled` for the others, and for `log`
//! records (their own target and call site come from the fields). Both count
//! the event where it is decided, in one atomic RMW on a [`Counts`] word
//! ([`Sampler::count`]); moving figures out of a full word or re-resolving a
//! stale rule is [`install`](super::install)'s job.
//!
//! # The path of one event
//!
//! A kept `debug!(target: "app", sample_key = %client, ...)` under
//! `app=0.5`, its key already in the table, in the order it runs. This file
//! is the hub: each step is a call from here into a leaf that returns here.
//!
//! 1. `filter/mod.rs`: `Filter::enabled` reads which optional parts are
//!    engaged ([`engaged`](Sampler::engaged), one load) and, none being,
//!    calls [`Sampler::decide_early`], which answers "not decided yet" for a
//!    callsite with a key field; `Filter::event_enabled` reads the word
//!    again and calls [`Sampler::decide`].
//! 2. `decide/callsites.rs`: the callsite's state, found from its
//!    `&'static Metadata` by a lock-free probe, with its cached rule
//!    (`decide/entry/mod.rs`, two loads and a generation compare).
//! 3. `decide/keys/mod.rs`: the `sample_key` value hashed as the event's fields
//!    are visited (no allocation), then the key's entry, under one shard's
//!    read lock, with its own cached rule and counts word;
//!    [`Sampler::count`] decides and counts in one compare-and-swap on it
//!    (`decide/entry/mod.rs`, inlined).
//! 4. Kept: `annotate.rs` leaves the rate for the formatter, and one load of
//!    the engaged word says the kept event has no other duty.
//!
//! That is six files: `filter/mod.rs`, this file, `decide/callsites.rs`,
//! `decide/entry/mod.rs`, `decide/keys/mod.rs` and `annotate.rs` (values read on the
//! way, such as a rule's [`Rate`] and the `sync` wrappers, hold no state of
//! their own and are not counted). Under a budget (`app=200/s`) a kept line
//! adds the budget's pace check, `control/budget/schedule.rs` (one atomic
//! add, one clock read and two loads when nothing is due). Each engaged part
//! adds its own: repeats (`sampler/repeat.rs` and `repeat/`, before the decision),
//! capture (`capture/`, after it), and for a kept event the dispatcher
//! `sampler/after.rs` over changes that expire, repeat windows and the
//! pressure signal.
//!
//! A sampled-out event stops after step 3 (every 128th of its word also runs
//! the timed duties in `sampler/after.rs`). Rare paths leave this list: a
//! stale rule re-resolves in `sampler/install.rs`, a new key is inserted
//! (and the table evicted) in `decide/keys/mod.rs`, a due budget pass runs in
//! `control/budget/pass.rs`, and the breaker's transitions are
//! `sampler/breaker.rs`'s.

use tracing_core::{Event, Level, Metadata};

use super::{Sampler, BREAKER_OPEN, FLAG_BITS, FLAG_MASK, PRESSURE, REPEATS, REVERTS};
use crate::{
    annotate::{self, Reason},
    decide::callsites::CallsiteState,
    decide::entry::{Counts, Rule},
    decide::keys::FieldHashes,
    decide::mode::{self, Mode},
    directive::rate::Rate,
    sync::Ordering,
};

impl Sampler {
    /// Which optional parts are engaged (see [`engaged`](Sampler::engaged)):
    /// the filter's first load, which sends an event straight to the
    /// decision when neither repeats nor capture are.
    #[inline]
    pub(crate) fn engaged(&self) -> u64 {
        self.engaged.load(Ordering::Relaxed)
    }

    /// Identifies this sampler (its address; stable: it lives in an `Arc`).
    #[inline]
    pub(crate) fn id(&self) -> usize {
        self as *const Sampler as usize
    }

    /// Counts an event at or above the breaker's level (if there is a breaker).
    #[inline]
    pub(crate) fn observe_breaker(&self, level: Level) {
        if let Some(b) = &self.breaker {
            if level <= b.level {
                self.record_breaker(b);
            }
        }
    }

    /// The bypass flags (after letting an open breaker close) and the generation.
    #[inline]
    fn bypass_and_generation(&self) -> (u64, u64) {
        let mut state = self.state.load(Ordering::Acquire);
        if state & BREAKER_OPEN != 0 {
            state = self.poll_breaker(state);
        }
        (state & FLAG_MASK, state >> FLAG_BITS)
    }

    /// The decision for events whose callsite needs no field to decide (no key
    /// field, not consistent mode), made from the metadata in `enabled`, so a
    /// dropped event is never built or dispatched: the same point where any
    /// level or target filter rejects. Other events return `true` here and are
    /// decided in [`decide`](Self::decide), which sees the fields.
    ///
    /// Hot path for a sampled-out event with a callsite key, deterministic mode:
    /// a level compare, the callsite table probe (two loads), one load of the
    /// state word (bypass flags and generation), the rule cache (two loads) and
    /// one CAS on the callsite's [`Counts`] word (decision and figures together).
    /// No allocation, no lock, no syscall. A kept event below rate 1 adds a
    /// thread-local store for the annotation. Every 128th sampled-out event of
    /// the callsite leaves for the slow path, which reads the clock for the
    /// budget adjustment and the pressure signal (`on_time`).
    ///
    /// That path (rates 0 and 1/N) makes no call and no division: anything
    /// else (a callsite outside the inline table, the breaker's level, a
    /// bypass, a stale rule, rate 1, a rate p/q with p > 1, a position left
    /// outside the window by a rate change, figures to move out, the
    /// probabilistic mode) leaves it, before any side effect, by a tail call
    /// to [`decide_early_at`](Self::decide_early_at), which decides from
    /// scratch. With no value live across a call the body keeps everything in
    /// registers (no spills, fewer saved registers), which measured about
    /// 2 ns cheaper than one function doing every case: fewer instructions
    /// before the CAS, and fewer stores for that locked instruction to wait
    /// on (`docs/benchmarks.md`).
    #[inline]
    pub(crate) fn decide_early(&self, meta: &Metadata<'_>) -> bool {
        let level = *meta.level();
        if level <= self.keep_level || !meta.is_event() {
            return true;
        }
        let addr = meta as *const Metadata<'_> as usize;
        let Some(cs) = self.callsites.get_inline(addr) else {
            return self.decide_early_slow(addr, meta);
        };
        if !cs.early {
            return true;
        }
        if !matches!(self.mode, Mode::Deterministic)
            || self.extractor.is_some() // a key extractor decides in `count`
            || self.breaker.as_ref().is_some_and(|b| level <= b.level)
        {
            return self.decide_early_at(meta, cs);
        }
        let state = self.state.load(Ordering::Acquire);
        if state & FLAG_MASK != 0 {
            return self.decide_early_at(meta, cs);
        }
        let Some(rule) = cs.rule.get(state >> FLAG_BITS) else {
            return self.decide_early_at(meta, cs);
        };
        let rate = rule.rate();
        if rate.is_one() {
            return self.decide_early_at(meta, cs);
        }
        // What `count` does for this case (no bypass, deterministic, below 1),
        // for rates 0 and 1/N: with p = 1 the kept position is 0, no division.
        let counted = if rate.is_zero() {
            cs.counts.try_count(None, false)
        } else if rate.numerator() == 1 {
            cs.counts.try_count(Some(rate), false)
        } else {
            return self.decide_early_at(meta, cs);
        };
        match counted {
            Some(false) => false,
            Some(true) => self.kept_early(meta, rule),
            // Nothing counted: the figures are full, `count` moves them out.
            None => self.decide_early_at(meta, cs),
        }
    }

    /// [`decide_early`](Self::decide_early) for a callsite not in the inline
    /// table: in its overflow, or not registered. Callsites register in
    /// `callsite_enabled`; one that did not (a sampler added late) is
    /// registered by `decide` on its first event.
    #[inline(never)]
    fn decide_early_slow(&self, addr: usize, meta: &Metadata<'_>) -> bool {
        match self.callsites.get_addr(addr) {
            Some(cs) if cs.early => self.decide_early_at(meta, cs),
            _ => true,
        }
    }

    /// The early decision for an early-decided callsite, every case.
    #[inline(never)]
    fn decide_early_at(&self, meta: &Metadata<'_>, cs: &CallsiteState) -> bool {
        self.observe_breaker(*meta.level());
        let (bypass, generation) = self.bypass_and_generation();
        let mut rule = match cs.rule.get(generation) {
            Some(r) => r,
            None => self.settle_callsite(cs, false),
        };
        let keep = loop {
            match self.count(rule, bypass, &cs.counts, &mut || None) {
                Some((keep, tick)) => {
                    if tick {
                        self.on_time(); // budgets' and pressure's timed duties
                    }
                    break keep;
                }
                None => rule = self.settle_callsite(cs, true),
            }
        };
        if keep {
            self.set_pending(meta, rule, bypass);
            self.kept_duties(rule, bypass);
        }
        keep
    }

    /// An early keep below rate 1 on the fast path (counted already).
    #[cold]
    #[inline(never)]
    fn kept_early(&self, meta: &Metadata<'_>, rule: Rule) -> bool {
        self.set_pending(meta, rule, 0);
        self.kept_duties(rule, 0);
        true
    }

    /// What every kept event does after its decision: the duties of the
    /// engaged parts (changes that expire, repeat windows, the pressure
    /// signal; see [`engaged`](Sampler::engaged)), one load when none is,
    /// and under a budget its pace.
    #[inline]
    fn kept_duties(&self, rule: Rule, bypass: u64) {
        let engaged = self.engaged();
        if engaged & (REVERTS | REPEATS | PRESSURE) != 0 {
            self.engaged_duties(engaged, rule);
        }
        if rule.is_budget() {
            self.budget_line(bypass != 0);
        }
    }

    /// A line a budget kept, counted against the budgets' pace, then the
    /// budget pass if it is due (`control/budget/schedule.rs`: one clock
    /// read and two loads when nothing is due). A line kept by the breaker
    /// or a disabled sampler (`bypassed`) is not counted: while the breaker
    /// keeps everything, early passes would only burn time.
    #[inline(never)]
    fn budget_line(&self, bypassed: bool) {
        if !bypassed {
            self.budgets.kept_line();
        }
        if let Some(due) = self.budgets.due() {
            self.budget_pass(due);
        }
    }

    /// An event outside any trace under a key extractor: its directive rate
    /// under the pressure scale (the rules hold directive rates then).
    #[inline]
    fn outside_trace_rate(&self, rate: Rate) -> Rate {
        self.pressure.as_ref().map_or(rate, |p| p.scale.apply(rate))
    }

    /// The rate a kept event under `rule` carries (`None`: kept whole) and
    /// why it was kept. Its rate is the probability it had of being kept:
    /// the rule's rate; under a key extractor, inside a trace what its policy
    /// says (the head sampler's probability included), outside one the rate
    /// under the pressure scale. Calls the extractor's closure a second time
    /// on a kept event, only with an extractor.
    #[inline]
    fn kept_as(&self, rule: Rule, bypass: u64) -> (Option<f64>, Reason) {
        if bypass != 0 {
            return (None, Reason::Bypass);
        }
        let (rate, reason) = match &self.extractor {
            Some(x) => match x.kept_probability(rule.rate()) {
                Some(p) => (p, Reason::Trace),
                None => (self.outside_trace_rate(rule.rate()).as_f64(), Reason::Rate),
            },
            None => (rule.rate().as_f64(), Reason::Rate),
        };
        match (rate < 1.0, reason) {
            (true, _) => (Some(rate), reason),
            (false, Reason::Trace) => (None, Reason::Trace),
            (false, _) => (None, Reason::Whole),
        }
    }

    /// Leaves an early keep decision for `decide` to tie to the event.
    #[inline]
    fn set_pending(&self, meta: &Metadata<'_>, rule: Rule, bypass: u64) {
        let (rate, reason) = self.kept_as(rule, bypass);
        annotate::set_pending(self.id(), meta, rate, reason);
    }

    /// Whether to keep `event`. `span_hash` finds the consistent field's hash on
    /// the event's spans (only called in consistent mode when the event lacks it).
    /// Events of early-decided callsites were decided in
    /// [`decide_early`](Self::decide_early) and only pick up their annotation here.
    #[inline]
    pub(crate) fn decide(
        &self,
        event: &Event<'_>,
        span_hash: impl FnOnce() -> Option<u64>,
    ) -> bool {
        let meta = event.metadata();
        let level = *meta.level();
        if level <= self.keep_level {
            self.observe_breaker(level);
            return true;
        }
        let cs = match self.callsites.get(meta) {
            Some(cs) => cs,
            None => self.register(meta),
        };
        if !cs.sampled {
            return true;
        }
        if cs.early && annotate::adopt_pending(self.id(), event) {
            return true;
        }
        self.observe_breaker(level);
        let (bypass, generation) = self.bypass_and_generation();
        if cs.log_bridge {
            // A `log` record: its own target and call site, from the fields.
            let consistent = matches!(self.mode, Mode::Consistent { .. });
            let mut span_hash = Some(span_hash);
            return self.decide_log(event, cs, bypass, generation, &mut || {
                span_hash.take().filter(|_| consistent).and_then(|f| f())
            });
        }
        let mut cs_rule = match cs.rule.get(generation) {
            Some(r) => r,
            None => self.settle_callsite(cs, false),
        };

        // With a key extractor: no per-key positions when the trace decides.
        let deterministic = matches!(self.mode, Mode::Deterministic) && self.extractor.is_none();
        let consistent = matches!(self.mode, Mode::Consistent { .. });
        // Per-key state only where a key changes something: a `[key]` directive
        // may apply, or a deterministic position must be kept per key. Rates 1
        // and 0 need no position, so they keep no per-key state.
        let cs_rate = cs_rule.rate();
        // For budgets: a budget shares out per key, so every key is tracked.
        let needs_key = cs.key_field.is_some()
            && (cs_rule.key_rules()
                || (cs_rule.is_budget() && !consistent)
                || (deterministic && !cs_rate.is_one() && !cs_rate.is_zero()));
        let needs_value = consistent && !cs_rule.rate().is_one() && bypass == 0;
        let mut hashes = FieldHashes {
            key: if needs_key {
                cs.key_field.as_ref()
            } else {
                None
            },
            value: if needs_value {
                cs.consistent_field.as_ref()
            } else {
                None
            },
            key_hash: None,
            value_hash: None,
        };
        if hashes.key.is_some() || hashes.value.is_some() {
            event.record(&mut hashes);
        }
        // Looked up at most once, and only if a decision needs it.
        let mut span_hash = Some(span_hash);
        let mut found: Option<Option<u64>> = None;
        let mut value_hash = || {
            *found.get_or_insert_with(|| {
                if !needs_value {
                    None
                } else {
                    hashes
                        .value_hash
                        .or_else(|| span_hash.take().and_then(|f| f()))
                }
            })
        };

        let (keep, tick, rule) = match hashes.key_hash {
            Some(key_hash) => {
                // Counters are per (target, key): fold the target's hash in.
                let store_key = key_hash ^ cs.key_salt;
                let origin = (meta, key_hash);
                let mut generation = generation;
                loop {
                    // Under the key's shard lock: nothing here may block.
                    let counted = self.keys.with_entry(
                        store_key,
                        origin,
                        || self.evict_keys(),
                        |e| {
                            let Some(rule) = e.rule.get(generation) else {
                                return Err(false);
                            };
                            match self.count(rule, bypass, &e.counts, &mut value_hash) {
                                Some((keep, tick)) => Ok((keep, tick, rule)),
                                None => Err(true),
                            }
                        },
                    );
                    match counted {
                        Ok(decided) => break decided,
                        Err(full) => generation = self.settle_key(store_key, origin, full),
                    }
                }
            }
            None => loop {
                match self.count(cs_rule, bypass, &cs.counts, &mut value_hash) {
                    Some((keep, tick)) => break (keep, tick, cs_rule),
                    None => cs_rule = self.settle_callsite(cs, true),
                }
            },
        };
        if tick {
            // Outside the key's shard lock: the adjustment visits every shard.
            self.on_time(); // budgets' and pressure's timed duties
        }
        if keep {
            self.kept(event, rule, bypass);
        }
        keep
    }

    /// Decides and counts one event under `rule` in one atomic RMW on
    /// `counts`; `None` (nothing counted) when its figures must be moved out
    /// first ([`settle_callsite`](Self::settle_callsite) and
    /// [`settle_key`](Self::settle_key) do it). With the decision, whether
    /// this sampled-out event is one on which the timed duties are due (see
    /// [`on_time`](Self::on_time): every `TICK_EVERY`-th of its word).
    // Inlined into each decision: out of line it costs a call and spills
    // (~40 instructions per keyed event, measured with callgrind).
    #[inline(always)]
    pub(crate) fn count(
        &self,
        rule: Rule,
        bypass: u64,
        counts: &Counts,
        value_hash: &mut impl FnMut() -> Option<u64>,
    ) -> Option<(bool, bool)> {
        let rate = rule.rate();
        if bypass != 0 {
            return counts.count_ticked(None, true);
        }
        // With a key extractor: the trace decides, also at rate 1 (a trace
        // that is not sampled drops the event under `FollowTrace`), at the
        // directive rate: pressure does not thin the logs of a trace the
        // policy keeps (nor may a budget), or they would not line up with
        // the traces exported. Outside any trace: the consistent field, else
        // an independent draw (never a deterministic position: it would
        // differ between processes), at the rate under the pressure scale.
        if let Some(x) = &self.extractor {
            let keep = x.decide(rate).unwrap_or_else(|| {
                let rate = self.outside_trace_rate(rate);
                rate.is_one()
                    || (!rate.is_zero()
                        && mode::below(value_hash().unwrap_or_else(|| mode::draw(self.seed)), rate))
            });
            return counts.count_ticked(None, keep);
        }
        if rate.is_one() {
            counts.count_ticked(None, true)
        } else if rate.is_zero() {
            counts.count_ticked(None, false)
        } else {
            match self.mode {
                Mode::Deterministic => counts.count_ticked(Some(rate), false),
                Mode::Probabilistic => {
                    counts.count_ticked(None, mode::below(mode::draw(self.seed), rate))
                }
                Mode::Consistent { .. } => {
                    let x = value_hash().unwrap_or_else(|| {
                        // No value anywhere: an independent draw at the same rate.
                        mode::draw(self.seed)
                    });
                    counts.count_ticked(None, mode::below(x, rate))
                }
            }
        }
    }

    /// What every kept event of the `event_enabled` paths does: leave its rate
    /// for the annotation (none if kept whole), then the kept-event duties
    /// (expiring changes, budgets and pressure).
    pub(super) fn kept(&self, event: &Event<'_>, rule: Rule, bypass: u64) {
        let (rate, reason) = self.kept_as(rule, bypass);
        annotate::set_as(self.id(), event, rate, reason);
        self.kept_duties(rule, bypass);
    }
}
