//! Where the sampler judges repeats: before sampling, in `enabled` for a
//! callsite key (from the metadata alone, so a suppressed copy is never
//! built), in `event_enabled` for keys with fields and for `log` records.
//! A covered callsite answers `Interest::sometimes()` at every level: with
//! `always`, `enabled` is never asked, and tracing-subscriber does not expect
//! a per-layer filter to disable an event of such a callsite in
//! `event_enabled`.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tracing_core::field::{Field, Visit};
use tracing_core::{Event, Metadata};
use xxhash_rust::xxh3::xxh3_64;

use super::key::Verdict;
use super::spec::MAX_FIELDS;
use super::state::{Rule, Rules, Summary};
use crate::callsites::CallsiteState;
use crate::fields::hash_debug;
use crate::keys::KeySeed;
use crate::log_bridge;
use crate::mode::splitmix64;
use crate::sampler::{notice::NOTICE_TARGET, Sampler, DISABLED};

/// A callsite's repeat rule, cached: `generation << 16 | code`, 0 before
/// the first resolution.
#[derive(Debug, Default)]
pub(crate) struct RepeatCell(AtomicU64);

const NO_RULE: u64 = 0xFFFF;
/// A `tracing-log` callsite: each record is matched by its own target.
const LOG_RECORD: u64 = 0xFFFE;

/// The longest message a key keeps for its summaries, in bytes.
const MAX_MESSAGE: usize = 512;

impl RepeatCell {
    pub(crate) fn new() -> Self {
        Self::default()
    }
}

impl Sampler {
    /// The callsite's rule code under the installed repeat directives.
    #[inline]
    fn repeat_code(&self, cs: &CallsiteState) -> u64 {
        let generation = self.repeats.generation();
        let cached = cs.repeat.0.load(Ordering::Acquire);
        if cached >> 16 == generation && cached != 0 {
            return cached & 0xFFFF;
        }
        self.resolve_repeat(cs)
    }

    #[cold]
    #[inline(never)]
    fn resolve_repeat(&self, cs: &CallsiteState) -> u64 {
        let rules = self.repeats.rules();
        let code = if cs.log_bridge {
            LOG_RECORD
        } else {
            rules.find(cs.meta.target()).map_or(NO_RULE, |i| i as u64)
        };
        cs.repeat
            .0
            .store(rules.generation << 16 | code, Ordering::Release);
        code
    }

    /// Whether repeat directives cover `cs`'s events: then its interest is
    /// `sometimes` at any level (an event may be suppressed).
    pub(crate) fn repeat_covers(&self, cs: &CallsiteState) -> bool {
        self.repeats.is_active() && cs.meta.is_event() && self.repeat_code(cs) != NO_RULE
    }

    /// The judgement `enabled` can make from the metadata alone: a callsite
    /// key needs no field, so a suppressed copy is never built. Keys with
    /// fields, and `log` records (their own target and site are fields), are
    /// left to [`repeat_gate`](Self::repeat_gate).
    #[inline]
    pub(crate) fn repeat_early(&self, meta: &Metadata<'_>) -> Early {
        if !self.repeats.is_active() || !meta.is_event() {
            return Early::Pass;
        }
        match self
            .callsites
            .get_addr(meta as *const Metadata<'_> as usize)
        {
            Some(cs) if self.repeat_code(cs) != NO_RULE => self.repeat_early_at(cs),
            _ => Early::Pass,
        }
    }

    #[inline(never)]
    fn repeat_early_at(&self, cs: &CallsiteState) -> Early {
        if cs.log_bridge {
            return Early::Defer;
        }
        if cs.meta.target() == NOTICE_TARGET || self.state.load(Ordering::Relaxed) & DISABLED != 0 {
            return Early::Pass;
        }
        self.with_rules(|rules| {
            let Some(index) = callsite_rule(cs, rules) else {
                return Early::Pass;
            };
            let rule = &rules.list[index];
            if !rule.spec.fields.is_empty() {
                return Early::Defer;
            }
            let hash = key_hash(cs.meta, index, rules.generation);
            if self.judge_key(rule, hash, cs.meta, cs.meta.target(), || None) {
                Early::Pass
            } else {
                Early::Suppress
            }
        })
    }

    /// Judges `event`'s repeats: `false` if it is suppressed. Runs before the
    /// sampling decision. With `early`, callsite keys were judged in
    /// [`repeat_early`](Self::repeat_early): a copy here was kept, and gives
    /// its key the message its summaries show, if it has none yet.
    #[inline]
    pub(crate) fn repeat_gate(&self, event: &Event<'_>, early: bool) -> bool {
        if !self.repeats.is_active() {
            return true;
        }
        let meta = event.metadata();
        if meta.target() == NOTICE_TARGET
            || self.state.load(Ordering::Relaxed) & DISABLED != 0
            || !meta.is_event()
        {
            return true;
        }
        let cs = match self.callsites.get(meta) {
            Some(cs) => cs,
            None => self.register(meta),
        };
        if self.repeat_code(cs) == NO_RULE {
            return true;
        }
        self.with_rules(|rules| self.judge_event(event, cs, rules, early))
    }

    /// Runs `f` with the installed repeat set: the thread's copy if current.
    /// Reading the shared one takes a read lock and an `Arc` count, two RMWs
    /// on lines every thread of a storm shares.
    #[inline]
    fn with_rules<R>(&self, f: impl FnOnce(&Rules) -> R) -> R {
        let generation = self.repeats.generation();
        let mut f = Some(f);
        let done = RULES
            .try_with(|c| {
                let mut c = c.try_borrow_mut().ok()?;
                if c.as_ref().is_none_or(|r| r.generation != generation) {
                    *c = Some(self.repeats.rules());
                }
                Some((f.take()?)(c.as_ref()?))
            })
            .ok()
            .flatten();
        match (done, f) {
            (Some(r), _) => r,
            (None, Some(f)) => f(&self.repeats.rules()),
            (None, None) => unreachable!("`f` ran and returned"),
        }
    }

    fn judge_event(
        &self,
        event: &Event<'_>,
        cs: &CallsiteState,
        rules: &Rules,
        early: bool,
    ) -> bool {
        let meta = event.metadata();
        let (index, hash, target) = if cs.log_bridge {
            let site = log_bridge::site_key(event, *meta.level());
            let target = self
                .log_sites
                .get_or_insert(site, || log_bridge::record_target(event))
                .map_or("log", |s| &*s.target);
            match rules.find(target) {
                Some(i) => (i, mix(site, i, rules.generation), target),
                None => return true,
            }
        } else {
            match callsite_rule(cs, rules) {
                Some(i) => (i, key_hash(cs.meta, i, rules.generation), meta.target()),
                None => return true,
            }
        };
        let rule = &rules.list[index];
        if rule.spec.fields.is_empty() {
            if early && !cs.log_bridge {
                self.repeats.fill_message(hash, || message(event));
                return true;
            }
            return self.judge_key(rule, hash, meta, target, || Some(message(event)));
        }
        let mut k = KeyFields {
            names: &rule.spec.fields,
            hashes: [MISSING; MAX_FIELDS],
        };
        event.record(&mut k);
        let hash = k.hashes[..rule.spec.fields.len()]
            .iter()
            .fold(hash, |h, v| KeySeed::process().mix(h ^ splitmix64(*v)));
        self.judge_key(rule, hash, meta, target, || Some(message(event)))
    }

    /// Judges one copy of key `hash` now: `false` if suppressed.
    #[inline]
    fn judge_key(
        &self,
        rule: &Rule,
        hash: u64,
        meta: &Metadata<'_>,
        target: &str,
        message: impl FnOnce() -> Option<Box<str>>,
    ) -> bool {
        // The clock is read by the key only when due (see `CLOCK_READ_EVERY`).
        let level = *meta.level();
        let verdict = self
            .repeats
            .judge(rule, hash, || (target.into(), level, message()));
        self.wake_repeats();
        match verdict {
            Verdict::Keep => true,
            Verdict::Suppress => {
                // The copy happened: the breaker judges it like a written one.
                self.observe_breaker(level);
                false
            }
        }
    }

    /// At a kept event: summarises windows that ended, if any is listed
    /// (one relaxed load otherwise).
    #[inline]
    pub(crate) fn poll_repeats(&self) {
        if self.repeats.anything_due() {
            self.repeats.poll(self.repeats.now_ns());
            self.wake_repeats();
        }
    }

    /// Queues the writing of waiting summaries on the notice thread, once.
    fn wake_repeats(&self) {
        if !self.repeats.has_waiting() || !self.repeats.claim_wake() {
            return;
        }
        let weak = Arc::downgrade(&self.repeats);
        let sent = self.notices.run(Box::new(move || {
            if let Some(r) = weak.upgrade() {
                r.release_wake();
                r.drain(emit);
            }
        }));
        if !sent {
            // Channel full: the summaries wait for the next event or a flush.
            self.repeats.release_wake();
        }
    }

    /// Writes every open window's summary now, on this thread, into the
    /// sampler's dispatcher (else the current default).
    pub(crate) fn flush_repeats(&self) {
        self.repeats.sweep(None);
        match self.notices.dispatch() {
            Some(d) => tracing_core::dispatcher::with_default(&d, || self.repeats.drain(emit)),
            None => self.repeats.drain(emit),
        }
    }
}

thread_local! {
    /// The installed repeat set this thread used last (generations are
    /// unique across samplers).
    static RULES: std::cell::RefCell<Option<Arc<Rules>>> = const { std::cell::RefCell::new(None) };
}

/// What `enabled` does with an event (see [`Sampler::repeat_early`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Early {
    /// Not suppressed (kept, or not judged): sampling decides.
    Pass,
    Suppress,
    /// Judged in `event_enabled`, which sees the fields.
    Defer,
}

/// The callsite's rule in `rules`: its cached code if of this set.
#[inline]
fn callsite_rule(cs: &CallsiteState, rules: &Rules) -> Option<usize> {
    let cached = cs.repeat.0.load(Ordering::Acquire);
    if cached >> 16 == rules.generation {
        Some((cached & 0xFFFF) as usize).filter(|&i| i < rules.list.len())
    } else {
        rules.find(cs.meta.target()) // installed since the code was read
    }
}

/// A callsite key's map key.
#[inline]
fn key_hash(meta: &'static Metadata<'static>, index: usize, generation: u64) -> u64 {
    mix(
        meta as *const Metadata<'static> as usize as u64,
        index,
        generation,
    )
}

/// The map key of `base` under rule `index`: mixed with the process's seed,
/// so field values crafted to collide do not crowd one shard.
#[inline]
fn mix(base: u64, index: usize, generation: u64) -> u64 {
    KeySeed::process().mix(base ^ splitmix64(index as u64 ^ generation << 20))
}

/// A missing field's hash: a value of its own.
const MISSING: u64 = 0x5bd1_e995_9e37_79b9;

/// Hashes the values of the fields a rule names, without allocating.
struct KeyFields<'a> {
    names: &'a [Box<str>],
    hashes: [u64; MAX_FIELDS],
}

impl KeyFields<'_> {
    fn slot(&mut self, field: &Field) -> Option<&mut u64> {
        let i = self.names.iter().position(|n| **n == *field.name())?;
        self.hashes.get_mut(i)
    }
}

impl Visit for KeyFields<'_> {
    // Numbers and flags hash their bytes (tagged by type): no formatting.
    fn record_i64(&mut self, field: &Field, value: i64) {
        if let Some(h) = self.slot(field) {
            *h = splitmix64(value as u64 ^ 0x1);
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if let Some(h) = self.slot(field) {
            *h = splitmix64(value ^ 0x2);
        }
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        if let Some(h) = self.slot(field) {
            *h = splitmix64(u64::from(value) ^ 0x3);
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if let Some(h) = self.slot(field) {
            *h = xxh3_64(value.as_bytes());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if let Some(h) = self.slot(field) {
            *h = hash_debug(value);
        }
    }
}

/// A new key's message, for its summaries (once per key).
fn message(event: &Event<'_>) -> Box<str> {
    struct Message(String);
    impl Visit for Message {
        fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
            if field.name() == "message" {
                use fmt::Write;
                let _ = write!(self.0, "{value:?}");
            }
        }
        fn record_str(&mut self, field: &Field, value: &str) {
            if field.name() == "message" {
                self.0.push_str(value);
            }
        }
    }
    let mut m = Message(String::new());
    event.record(&mut m);
    if m.0.len() > MAX_MESSAGE {
        let mut end = MAX_MESSAGE;
        while !m.0.is_char_boundary(end) {
            end -= 1;
        }
        m.0.truncate(end);
    }
    m.0.into_boxed_str()
}

/// One summary line, through whichever dispatcher is current.
fn emit(s: &Summary) {
    tracing::warn!(
        target: NOTICE_TARGET,
        key_target = &*s.target,
        key_level = %s.level,
        key_message = &*s.message,
        kept = s.kept,
        suppressed = s.suppressed,
        first_suppressed_ms = s.first_ms,
        last_suppressed_ms = s.last_ms,
        window_ms = s.window_ms,
        "repeated event suppressed"
    );
}
