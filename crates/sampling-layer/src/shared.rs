//! The state one sampler shares with its handles, and the per-event decision.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use tracing_core::{dispatcher::WeakDispatch, Event, Level, Metadata};

use crate::{
    annotate,
    breaker::{BreakerState, Transition},
    callsites::{CallsiteState, CallsiteTable},
    counts::{Counts, Flushed},
    directive::DirectiveSet,
    error::{ParseError, ParseErrorKind},
    fields::FieldHashes,
    keys::{KeyEntry, KeyStore},
    mode::{self, Mode},
    rule::{Rule, MAX_BUCKETS},
    stats::{SamplingStats, TargetStats},
    sync::{AtomicU64, Ordering},
};

/// Target of the breaker's own notices; never sampled.
pub(crate) const NOTICE_TARGET: &str = "sampling_layer";

/// Low bits of [`Shared::state`]; any set means keep everything.
const DISABLED: u64 = 1;
const BREAKER_OPEN: u64 = 2;
const FLAG_BITS: u32 = 2;
const FLAG_MASK: u64 = (1 << FLAG_BITS) - 1;

/// A directive set with the stats buckets its labels map to.
#[derive(Debug)]
pub(crate) struct Installed {
    pub(crate) generation: u64,
    pub(crate) set: DirectiveSet,
    buckets: HashMap<String, usize>,
}

impl Installed {
    fn rule(&self, target: &str, key_hash: Option<u64>) -> Rule {
        let resolved = match key_hash {
            Some(h) => self.set.resolve_key(target, h),
            None => self.set.resolve_target(target),
        };
        let bucket = self.buckets[resolved.label];
        Rule::new(
            resolved.rate,
            bucket,
            key_hash.is_none() && self.set.has_key_rules_for(target),
        )
    }
}

#[derive(Debug, Default, Clone)]
struct Totals {
    label: String,
    kept: u64,
    dropped: u64,
}

pub(crate) struct Shared {
    pub(crate) mode: Mode,
    pub(crate) key_field: String,
    pub(crate) always_keep: Level,
    pub(crate) seed: u64,
    pub(crate) callsites: CallsiteTable,
    pub(crate) keys: KeyStore,
    /// `generation << 2 | DISABLED | BREAKER_OPEN`: one load tells the hot
    /// path both whether to sample and whether its cached rules are current.
    state: AtomicU64,
    installed: RwLock<Arc<Installed>>,
    /// Counts moved out of callsites and keys (re-resolved or evicted), per bucket.
    totals: Mutex<Vec<Totals>>,
    pub(crate) breaker: Option<BreakerState>,
    /// The dispatcher this sampler is part of (told or recognised), for notices.
    pub(crate) dispatch: OnceLock<WeakDispatch>,
    /// Set by `SamplingHandle::set_notice_dispatch`; wins over `dispatch`.
    pub(crate) notice_dispatch: Mutex<Option<WeakDispatch>>,
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("mode", &self.mode)
            .field("key_field", &self.key_field)
            .field("always_keep", &self.always_keep)
            .field("directives", &self.directives())
            .field("max_keys", &self.keys.max())
            .field("breaker", &self.breaker.is_some())
            .finish_non_exhaustive()
    }
}

impl Shared {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        set: DirectiveSet,
        mode: Mode,
        key_field: String,
        always_keep: Level,
        seed: u64,
        max_keys: usize,
        breaker: Option<BreakerState>,
    ) -> Result<Self, ParseError> {
        let shared = Shared {
            mode,
            key_field,
            always_keep,
            seed,
            callsites: CallsiteTable::new(),
            keys: KeyStore::new(max_keys),
            state: AtomicU64::new(0),
            installed: RwLock::new(Arc::new(Installed {
                generation: 0,
                set: DirectiveSet::default(),
                buckets: HashMap::new(),
            })),
            totals: Mutex::new(Vec::new()),
            breaker,
            dispatch: OnceLock::new(),
            notice_dispatch: Mutex::new(None),
        };
        shared.install(set)?;
        Ok(shared)
    }

    /// Makes `set` the current directives; takes effect from the next event.
    pub(crate) fn install(&self, set: DirectiveSet) -> Result<(), ParseError> {
        let mut installed = self.installed.write().unwrap_or_else(|e| e.into_inner());
        let mut totals = self.totals.lock().unwrap_or_else(|e| e.into_inner());
        let mut buckets = HashMap::new();
        // Indexed once, not searched per label: with 4 096 labels a search
        // per label cost ~10 ms (issue 8, item 8).
        let mut known: HashMap<String, usize> = totals
            .iter()
            .enumerate()
            .map(|(i, t)| (t.label.clone(), i))
            .collect();
        for (label, _) in set.labels() {
            let idx = match known.get(&label) {
                Some(&i) => i,
                None if totals.len() < MAX_BUCKETS => {
                    totals.push(Totals { label: label.clone(), ..Totals::default() });
                    known.insert(label.clone(), totals.len() - 1);
                    totals.len() - 1
                }
                None => {
                    return Err(ParseError::new(
                        set.source(),
                        ParseErrorKind::InvalidSetting(format!(
                            "more than {MAX_BUCKETS} distinct targets configured over the sampler's life"
                        )),
                    ))
                }
            };
            buckets.insert(label, idx);
        }
        let generation = installed.generation + 1;
        *installed = Arc::new(Installed {
            generation,
            set,
            buckets,
        });
        // Published after the set, so a reader that sees the new generation and
        // misses its cache resolves against this set (or a newer one). Installs
        // are serialised by the write lock, so this keeps `state >> 2 == generation`.
        self.state.fetch_add(1 << FLAG_BITS, Ordering::Release);
        Ok(())
    }

    pub(crate) fn directives(&self) -> String {
        self.current().set.source().to_owned()
    }

    fn current(&self) -> Arc<Installed> {
        self.installed
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub(crate) fn set_enabled(&self, enabled: bool) {
        if enabled {
            self.state.fetch_and(!DISABLED, Ordering::Release);
        } else {
            self.state.fetch_or(DISABLED, Ordering::Release);
        }
    }

    pub(crate) fn register(&self, meta: &'static Metadata<'static>) -> &CallsiteState {
        self.callsites.get_or_insert(meta, || {
            let consistent = match &self.mode {
                Mode::Consistent { field } => Some(field.as_str()),
                _ => None,
            };
            let sampled = meta.is_event()
                && *meta.level() > self.always_keep
                && meta.target() != NOTICE_TARGET;
            CallsiteState::new(meta, sampled, &self.key_field, consistent)
        })
    }

    /// Moves counts from a callsite or key into the bucket they were counted under.
    fn flush(&self, bucket: usize, (k, d): Flushed) {
        if k | d != 0 {
            let mut totals = self.totals.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(t) = totals.get_mut(bucket) {
                t.kept += k;
                t.dropped += d;
            }
        }
    }

    #[cold]
    fn resolve_callsite(&self, cs: &CallsiteState) -> Rule {
        let inst = self.current();
        let rule = inst.rule(cs.meta.target(), None);
        cs.rule.publish(inst.generation, rule, |old| {
            if let Some(old) = old {
                self.flush(old.bucket(), cs.counts.take());
            }
        });
        rule
    }

    #[cold]
    fn resolve_key(&self, e: &KeyEntry, target: &str, key_hash: u64) -> Rule {
        let inst = self.current();
        let rule = inst.rule(target, Some(key_hash));
        e.rule.publish(inst.generation, rule, |old| {
            if let Some(old) = old {
                self.flush(old.bucket(), e.counts.take());
            }
        });
        rule
    }

    fn evicted(&self, e: &KeyEntry) {
        let (generation, rule) = e.rule.current();
        if generation != 0 {
            self.flush(rule.bucket(), e.counts.take());
        }
    }

    /// Identifies this sampler (its address; stable: it lives in an `Arc`).
    #[inline]
    fn id(&self) -> usize {
        self as *const Shared as usize
    }

    #[inline]
    fn observe_breaker(&self, level: Level) {
        if let Some(b) = &self.breaker {
            if level <= b.level {
                self.record_breaker(b);
            }
        }
    }

    /// Out of line (events at the breaker's level are rare next to sampled
    /// ones), so the sampled-out path carries none of its code.
    #[inline(never)]
    fn record_breaker(&self, b: &BreakerState) {
        if let Some(t) = b.record() {
            self.transition(t);
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

    /// The state word after letting an open breaker close (out of line, as
    /// [`record_breaker`](Self::record_breaker)).
    #[cold]
    #[inline(never)]
    fn poll_breaker(&self, state: u64) -> u64 {
        match self.breaker.as_ref().and_then(|b| b.poll()) {
            Some(t) => {
                self.transition(t);
                self.state.load(Ordering::Acquire)
            }
            None => state,
        }
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
    /// thread-local store for the annotation.
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
        if level <= self.always_keep || !meta.is_event() {
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
        let rule = match cs.rule.get(generation) {
            Some(r) => r,
            None => self.resolve_callsite(cs),
        };
        let keep = self.count(rule, bypass, &cs.counts, || None);
        if keep {
            self.set_pending(meta, rule, bypass);
        }
        keep
    }

    /// An early keep below rate 1 on the fast path (counted already).
    #[cold]
    #[inline(never)]
    fn kept_early(&self, meta: &Metadata<'_>, rule: Rule) -> bool {
        self.set_pending(meta, rule, 0);
        true
    }

    /// Leaves an early keep decision for `decide` to tie to the event.
    #[inline]
    fn set_pending(&self, meta: &Metadata<'_>, rule: Rule, bypass: u64) {
        let rate = rule.rate();
        annotate::set_pending(
            self.id(),
            meta,
            (bypass == 0 && !rate.is_one()).then(|| rate.as_f64()),
        );
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
        if level <= self.always_keep {
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
        let cs_rule = match cs.rule.get(generation) {
            Some(r) => r,
            None => self.resolve_callsite(cs),
        };

        let deterministic = matches!(self.mode, Mode::Deterministic);
        let consistent = matches!(self.mode, Mode::Consistent { .. });
        // Per-key state only where a key changes something: a `[key]` directive
        // may apply, or a deterministic position must be kept per key. Rates 1
        // and 0 need no position, so they keep no per-key state.
        let cs_rate = cs_rule.rate();
        let needs_key = cs.key_field.is_some()
            && (cs_rule.key_rules() || (deterministic && !cs_rate.is_one() && !cs_rate.is_zero()));
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
        let value_hash = |hashes: &FieldHashes<'_>| {
            if !needs_value {
                None
            } else {
                hashes.value_hash.or_else(span_hash)
            }
        };

        let (keep, rate) = match hashes.key_hash {
            Some(key_hash) => {
                // Counters are per (target, key): fold the target's hash in.
                let store_key = key_hash ^ mode::splitmix64(cs.target_hash);
                self.keys.with_entry(
                    store_key,
                    |e| self.evicted(e),
                    |e| {
                        let rule = match e.rule.get(generation) {
                            Some(r) => r,
                            None => self.resolve_key(e, meta.target(), key_hash),
                        };
                        let rate = rule.rate();
                        let keep = self.count(rule, bypass, &e.counts, || value_hash(&hashes));
                        (keep, rate)
                    },
                )
            }
            None => {
                let rate = cs_rule.rate();
                let keep = self.count(cs_rule, bypass, &cs.counts, || value_hash(&hashes));
                (keep, rate)
            }
        };
        if keep {
            let sampled = bypass == 0 && !rate.is_one();
            annotate::set(self.id(), event, sampled.then(|| rate.as_f64()));
        }
        keep
    }

    /// Decides and counts one event under `rule` in one atomic RMW on `counts`.
    #[inline]
    fn count(
        &self,
        rule: Rule,
        bypass: u64,
        counts: &Counts,
        value_hash: impl FnOnce() -> Option<u64>,
    ) -> bool {
        let rate = rule.rate();
        let (keep, flushed) = if bypass != 0 || rate.is_one() {
            counts.count(None, true)
        } else if rate.is_zero() {
            counts.count(None, false)
        } else {
            match self.mode {
                Mode::Deterministic => counts.count(Some(rate), false),
                Mode::Probabilistic => counts.count(None, mode::below(mode::draw(self.seed), rate)),
                Mode::Consistent { .. } => {
                    let x = value_hash().unwrap_or_else(|| {
                        // No value anywhere: an independent draw at the same rate.
                        mode::draw(self.seed)
                    });
                    counts.count(None, mode::below(x, rate))
                }
            }
        };
        if let Some(f) = flushed {
            self.flush(rule.bucket(), f);
        }
        keep
    }

    #[cold]
    fn transition(&self, t: Transition) {
        if t.opened {
            self.state.fetch_or(BREAKER_OPEN, Ordering::Release);
        } else {
            self.state.fetch_and(!BREAKER_OPEN, Ordering::Release);
        }
        let explicit = self
            .notice_dispatch
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        crate::handle::notify(explicit.or_else(|| self.dispatch.get().cloned()), t);
    }

    pub(crate) fn stats(&self) -> SamplingStats {
        if let Some(t) = self
            .breaker
            .as_ref()
            .filter(|b| b.is_open())
            .and_then(|b| b.poll())
        {
            self.transition(t);
        }
        let inst = self.current();
        let mut totals: Vec<(u64, u64)> = self
            .totals
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|t| (t.kept, t.dropped))
            .collect();
        let mut add = |rule: Rule, counts: &Counts| {
            if let Some(t) = totals.get_mut(rule.bucket()) {
                let (k, d) = counts.peek();
                t.0 += k;
                t.1 += d;
            }
        };
        let mut callsite_keys = 0;
        self.callsites.for_each(|cs| {
            let (generation, rule) = cs.rule.current();
            if generation != 0 {
                add(rule, &cs.counts);
                callsite_keys += 1;
            }
        });
        self.keys.for_each(|e| {
            let (generation, rule) = e.rule.current();
            if generation != 0 {
                add(rule, &e.counts);
            }
        });
        let targets = inst
            .set
            .labels()
            .into_iter()
            .map(|(label, rate)| {
                let (kept, dropped) = totals[inst.buckets[&label]];
                TargetStats {
                    target: label,
                    rate: rate.as_f64(),
                    seen: kept + dropped,
                    kept,
                    dropped,
                }
            })
            .collect();
        let bypass = self.state.load(Ordering::Acquire);
        SamplingStats {
            active_keys: self.keys.live(),
            max_keys: self.keys.max(),
            evicted_keys: self.keys.evicted(),
            breaker_open: bypass & BREAKER_OPEN != 0,
            breaker_trips: self.breaker.as_ref().map_or(0, |b| b.trips()),
            breaker_recoveries: self.breaker.as_ref().map_or(0, |b| b.recoveries()),
            enabled: bypass & DISABLED == 0,
            callsite_keys,
            targets,
        }
    }
}
