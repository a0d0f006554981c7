//! Where the decision path asks the repeat gate, and the repeat passes that
//! run on the sampler's clock.

use super::Sampler;
use super::DISABLED;
use crate::control::breaker::notice::NOTICE_TARGET;
use crate::decide::callsites::CallsiteState;
use crate::decide::keys::KeySeed;
use crate::decide::log_sites;
use crate::decide::mode::splitmix64;
use crate::directive::repeat_spec::MAX_FIELDS;
use crate::repeat::gate::*;
use crate::repeat::key::Verdict;
use crate::repeat::state::{Rule, Rules};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tracing_core::{Event, Metadata};

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
                mark_judged(self.id(), cs.meta);
                Early::Kept
            } else {
                Early::Suppress
            }
        })
    }

    /// Marks a copy [`repeat_early`](Self::repeat_early) suppressed that
    /// still goes on to `event_enabled` (to write its span's captured
    /// context), as a kept one is marked there.
    pub(crate) fn mark_judged(&self, meta: &Metadata<'_>) {
        mark_judged(self.id(), meta);
    }

    /// Takes back the mark of a copy [`repeat_early`](Self::repeat_early)
    /// kept (`Early::Kept`) that goes no further than `enabled` (sampled
    /// out), so that it is not taken for a later copy's judgement.
    pub(crate) fn forget_judged(&self, meta: &Metadata<'_>) {
        take_judged(self.id(), meta);
    }

    /// Judges `event`'s repeats: `false` if it is suppressed. Runs before the
    /// sampling decision. With `early`, callsite keys were judged in
    /// [`repeat_early`](Self::repeat_early): a copy marked there was kept,
    /// and gives its key the message its summaries show, if it has none yet;
    /// a copy `enabled` did not judge (see [`Early::Kept`]) is judged here.
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
            let site = log_sites::site_key(event, *meta.level());
            let target = self
                .log_sites
                .get_or_insert(site, || log_sites::record_target(event))
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
            if early && !cs.log_bridge && take_judged(self.id(), meta) {
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

    /// At a kept event while repeats are engaged: summarises windows that
    /// ended, if any is listed (one relaxed load otherwise).
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
