//! [`Repeats`]: the installed repeat directives, the live keys with their
//! window counts, and the summaries waiting to be written.
//!
//! A key's window state is one word, `window index << KEPT_BITS | kept in it`, so a
//! kept copy is one CAS and a suppressed copy is a load of that word plus
//! one RMW (the window's suppressed count) and nothing else: no lock (the
//! thread keeps its last key), no allocation, and a clock read only every
//! [`CLOCK_READ_EVERY`](super::CLOCK_READ_EVERY)-th copy (see there for
//! what that costs in precision).
//! A key whose first copy in a window is suppressed is listed once in
//! `pending`, so a window that ended is summarised even if its key never
//! comes back; `next_due` (the earliest end of a listed window) tells a
//! passing event whether there is anything to do, in one load.

use std::collections::VecDeque;
use std::hash::BuildHasherDefault;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use dashmap::DashMap;
use tracing_core::Level;

use super::key::{window_end, window_of, KeyState, Verdict, KEPT_BITS, KEPT_MASK};
pub(crate) use super::rules::{Figures, Rule, Rules};
use super::{RepeatStats, RepeatTargetStats, MAX_REPEAT_KEYS};
use crate::clock::Clock;
use crate::decide::keys::PassThrough;
use crate::directive::repeat_spec::RepeatSpec;

/// Summaries waiting to be written, at most (one per key and window; the
/// notice thread drains them as they come, so this is only reached if it
/// cannot keep up). Past it a summary is lost and counted.
const MAX_WAITING: usize = 65_536;

const NONE_DUE: u64 = u64::MAX;

thread_local! {
    /// The key this thread judged last: (its `Repeats`, its hash, the key).
    static LAST_KEY: std::cell::RefCell<Option<(usize, u64, Arc<KeyState>)>> =
        const { std::cell::RefCell::new(None) };
}

/// One summary line's content.
#[derive(Debug, Clone)]
pub(crate) struct Summary {
    pub(crate) target: Box<str>,
    pub(crate) level: Level,
    pub(crate) message: Box<str>,
    pub(crate) kept: u64,
    pub(crate) suppressed: u64,
    /// Unix milliseconds of the first and last suppressed copy.
    pub(crate) first_ms: u64,
    pub(crate) last_ms: u64,
    pub(crate) window_ms: u64,
    pub(crate) figures: Arc<Figures>,
}

#[derive(Debug)]
pub(crate) struct Repeats {
    clock: Arc<dyn Clock>,
    /// Unix ms at the clock's origin, to stamp summaries in wall time.
    wall_origin_ms: u64,
    active: AtomicBool,
    /// `rules.generation`, readable without the lock.
    generation: AtomicU64,
    rules: RwLock<Arc<Rules>>,
    keys: DashMap<u64, Arc<KeyState>, BuildHasherDefault<PassThrough>>,
    max_keys: usize,
    evicted: AtomicU64,
    /// Every target's figures, by name, for as long as the sampler lives
    /// (bounded by the targets ever configured).
    figures: Mutex<Vec<(Box<str>, Arc<Figures>)>>,
    pending: Mutex<Vec<Arc<KeyState>>>,
    next_due: AtomicU64,
    waiting: Mutex<VecDeque<Summary>>,
    /// `waiting` is not empty (read by every judged copy, without the lock).
    any_waiting: AtomicBool,
    /// The repeat targets changed since callsite interest was last rebuilt.
    interest_stale: AtomicBool,
    /// A drain of `waiting` is queued on the notice thread.
    wake_queued: AtomicBool,
    lost: AtomicU64,
}

impl Repeats {
    pub(crate) fn new(clock: Arc<dyn Clock>) -> Self {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let since_origin = clock.now().as_millis() as u64;
        Repeats {
            clock,
            wall_origin_ms: now_ms.saturating_sub(since_origin),
            active: AtomicBool::new(false),
            generation: AtomicU64::new(0),
            rules: RwLock::default(),
            keys: DashMap::default(),
            max_keys: MAX_REPEAT_KEYS,
            evicted: AtomicU64::new(0),
            figures: Mutex::default(),
            pending: Mutex::default(),
            next_due: AtomicU64::new(NONE_DUE),
            waiting: Mutex::default(),
            any_waiting: AtomicBool::new(false),
            wake_queued: AtomicBool::new(false),
            interest_stale: AtomicBool::new(false),
            lost: AtomicU64::new(0),
        }
    }

    /// Whether any repeat directive is installed (one relaxed load).
    #[inline]
    pub(crate) fn is_active(&self) -> bool {
        self.active.load(Ordering::Relaxed)
    }

    pub(crate) fn rules(&self) -> Arc<Rules> {
        self.rules.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    #[inline]
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub(crate) fn now_ns(&self) -> u64 {
        u64::try_from(self.clock.now().as_nanos()).unwrap_or(NONE_DUE - 1)
    }

    /// Installs a new set. Every live key's open window is summarised now
    /// (its rule may have changed) and the keys start over.
    pub(crate) fn install(&self, specs: &[(Box<str>, RepeatSpec)]) {
        let mut rules = self.rules.write().unwrap_or_else(|e| e.into_inner());
        let mut figures = self.figures.lock().unwrap_or_else(|e| e.into_inner());
        let list = specs
            .iter()
            .map(|(target, spec)| {
                let f = match figures.iter().find(|(t, _)| t == target) {
                    Some((_, f)) => f.clone(),
                    None => {
                        let f = Arc::<Figures>::default();
                        figures.push((target.clone(), f.clone()));
                        f
                    }
                };
                Rule {
                    target: target.clone(),
                    spec: spec.clone(),
                    window_ns: u64::try_from(spec.window.as_nanos()).unwrap_or(u64::MAX),
                    figures: f,
                }
            })
            .collect::<Vec<_>>();
        drop(figures);
        self.active.store(!list.is_empty(), Ordering::Relaxed);
        let same_targets = rules.list.len() == list.len()
            && rules
                .list
                .iter()
                .zip(&list)
                .all(|(a, b)| a.target == b.target);
        if !same_targets {
            self.interest_stale.store(true, Ordering::Relaxed);
        }
        // Unique across samplers, so a thread's cached set (see `gate`) is
        // never mistaken for another sampler's.
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let generation = NEXT.fetch_add(1, Ordering::Relaxed);
        *rules = Arc::new(Rules { generation, list });
        self.generation.store(generation, Ordering::Release);
        drop(rules);
        let old: Vec<Arc<KeyState>> = self.keys.iter().map(|e| e.value().clone()).collect();
        self.keys.clear();
        for k in &old {
            k.gone.store(true, Ordering::Relaxed);
            k.figures.live.fetch_sub(1, Ordering::Relaxed);
            self.take(k, None);
        }
    }

    /// The current targets' interest needs no rebuild (see `Sampler::new`).
    pub(crate) fn interest_settled(&self) {
        self.interest_stale.store(false, Ordering::Relaxed);
    }

    /// Recomputes every callsite's interest if the repeat targets changed:
    /// a callsite they cover must answer `Interest::sometimes()`, even at
    /// `WARN`/`ERROR`. Under `dispatch` (the sampler's, when known: see
    /// `crate::interest`). Called from handle methods, never from inside a
    /// dispatch (the rebuild asks every dispatcher about every callsite).
    pub(crate) fn rebuild_interest(&self, dispatch: Option<tracing_core::Dispatch>) {
        if self.interest_stale.swap(false, Ordering::Relaxed) {
            crate::interest::rebuild(dispatch);
        }
    }

    /// The verdict on a copy of key `hash` under `rule`, now; `make`
    /// builds a new key's description (the only allocation, once per key).
    /// The thread's last key is kept at hand: a storm is one key hammered,
    /// and the map's shard lock is two RMWs on a line every thread shares.
    /// A copy that did not read the clock (see
    /// [`CLOCK_READ_EVERY`](super::CLOCK_READ_EVERY)) does not poll either:
    /// ended windows of other keys wait for the next reading.
    #[inline]
    pub(crate) fn judge(
        &self,
        rule: &Rule,
        hash: u64,
        make: impl FnOnce() -> (Box<str>, Level, Option<Box<str>>),
    ) -> Verdict {
        let me = self as *const Repeats as usize;
        let mut make = Some(make);
        let judged = LAST_KEY
            .try_with(|c| {
                let mut c = c.try_borrow_mut().ok()?;
                if let Some((owner, h, k)) = &*c {
                    if *owner == me && *h == hash && !k.gone.load(Ordering::Relaxed) {
                        return Some(k.judge(self));
                    }
                }
                let k = self.key(rule, hash, make.take()?);
                let judged = k.judge(self);
                *c = Some((me, hash, k));
                Some(judged)
            })
            .ok()
            .flatten();
        let (verdict, now) = match (judged, make) {
            (Some(v), _) => v,
            (None, Some(make)) => self.key(rule, hash, make).judge(self),
            // unreachable: `make` is taken only with a verdict
            (None, None) => (Verdict::Keep, None),
        };
        if let Some(now) = now {
            self.poll(now);
        }
        verdict
    }

    /// The live key `hash`, inserted if new.
    fn key(
        &self,
        rule: &Rule,
        hash: u64,
        make: impl FnOnce() -> (Box<str>, Level, Option<Box<str>>),
    ) -> Arc<KeyState> {
        match self.keys.get(&hash) {
            Some(k) => k.value().clone(),
            None => self.insert(rule, hash, self.now_ns(), make),
        }
    }

    #[cold]
    fn insert(
        &self,
        rule: &Rule,
        hash: u64,
        now: u64,
        make: impl FnOnce() -> (Box<str>, Level, Option<Box<str>>),
    ) -> Arc<KeyState> {
        if self.keys.len() >= self.max_keys {
            self.evict(now);
        }
        let (target, level, text) = make();
        let message = OnceLock::new();
        if let Some(text) = text {
            let _ = message.set(text);
        }
        let fresh = Arc::new(KeyState {
            word: AtomicU64::new(window_of(now, rule.window_ns) << KEPT_BITS),
            suppressed: AtomicU64::new(0),
            first_at: AtomicU64::new(0),
            last_at: AtomicU64::new(0),
            listed: AtomicBool::new(false),
            read_due: AtomicBool::new(true),
            gone: AtomicBool::new(false),
            first: rule.spec.first,
            window_ns: rule.window_ns,
            figures: rule.figures.clone(),
            target,
            level,
            message,
        });
        let entry = self.keys.entry(hash).or_insert_with(|| {
            rule.figures.live.fetch_add(1, Ordering::Relaxed);
            fresh
        });
        entry.value().clone()
    }

    /// Makes room: drops every key with nothing pending whose window ended;
    /// if none, any one key, its open window summarised first.
    #[cold]
    fn evict(&self, now: u64) {
        let mut gone = 0;
        self.keys.retain(|_, k| {
            let idle = !k.listed.load(Ordering::SeqCst)
                && (k.word.load(Ordering::Relaxed) >> KEPT_BITS) != window_of(now, k.window_ns);
            if idle {
                k.gone.store(true, Ordering::Relaxed);
                k.figures.live.fetch_sub(1, Ordering::Relaxed);
                k.figures.evicted.fetch_add(1, Ordering::Relaxed);
                gone += 1;
            }
            !idle
        });
        if gone == 0 {
            let victim = self.keys.iter().next().map(|e| *e.key());
            if let Some((_, k)) = victim.and_then(|h| self.keys.remove(&h)) {
                k.gone.store(true, Ordering::Relaxed);
                k.figures.live.fetch_sub(1, Ordering::Relaxed);
                k.figures.evicted.fetch_add(1, Ordering::Relaxed);
                self.take(&k, None);
                gone = 1;
            }
        }
        self.evicted.fetch_add(gone, Ordering::Relaxed);
    }

    /// Sets a key's message from the first copy that has fields, if unset.
    pub(crate) fn fill_message(&self, hash: u64, message: impl FnOnce() -> Box<str>) {
        if let Some(k) = self.keys.get(&hash) {
            if k.message.get().is_none() {
                let _ = k.message.set(message());
            }
        }
    }

    /// Summarises `k`'s window if it suppressed anything: moves its counts
    /// out and queues the summary. `kept` is the window's kept copies when
    /// the caller knows it (a window rollover), else read from the word.
    pub(super) fn take(&self, k: &KeyState, kept: Option<u64>) {
        let suppressed = k.suppressed.swap(0, Ordering::SeqCst);
        if suppressed == 0 {
            return;
        }
        let first = k.first_at.load(Ordering::Relaxed);
        let last = k.last_at.load(Ordering::Relaxed).max(first);
        let kept = kept.unwrap_or(k.word.load(Ordering::Relaxed) & KEPT_MASK);
        k.figures
            .suppressed
            .fetch_add(suppressed, Ordering::Relaxed);
        let summary = Summary {
            target: k.target.clone(),
            level: k.level,
            message: k.message.get().cloned().unwrap_or_default(),
            kept,
            suppressed,
            first_ms: self.wall_origin_ms + first / 1_000_000,
            last_ms: self.wall_origin_ms + last / 1_000_000,
            window_ms: k.window_ns / 1_000_000,
            figures: k.figures.clone(),
        };
        let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        if waiting.len() >= MAX_WAITING {
            self.lost.fetch_add(1, Ordering::Relaxed);
        } else {
            waiting.push_back(summary);
            self.any_waiting.store(true, Ordering::Release);
        }
    }

    /// At a passing event: summarises the listed windows that ended by `now`.
    #[inline]
    pub(crate) fn poll(&self, now: u64) {
        if now >= self.next_due.load(Ordering::Relaxed) {
            self.sweep(Some(now));
        }
    }

    /// Whether a listed window may have ended (then a caller reads the clock).
    #[inline]
    pub(crate) fn anything_due(&self) -> bool {
        self.next_due.load(Ordering::Relaxed) != NONE_DUE
    }

    /// Summarises listed windows that ended by `now`, or all of them (`None`:
    /// shutdown).
    #[cold]
    pub(crate) fn sweep(&self, now: Option<u64>) {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let mut next = NONE_DUE;
        let mut relist = Vec::new();
        pending.retain(|k| {
            let open = k.word.load(Ordering::Relaxed) >> KEPT_BITS;
            let ended = now.is_none_or(|now| window_of(now, k.window_ns) != open);
            if !ended {
                next = next.min(window_end(open, k.window_ns));
                return true;
            }
            self.take(k, None);
            // Its next copy reads the clock, so is not counted in this window.
            k.read_due.store(true, Ordering::Relaxed);
            k.listed.store(false, Ordering::SeqCst);
            // A copy suppressed since `take` found `listed` still set: list it again.
            if k.suppressed.load(Ordering::SeqCst) > 0 && !k.listed.swap(true, Ordering::SeqCst) {
                relist.push(k.clone());
            }
            false
        });
        for k in relist {
            let open = k.word.load(Ordering::Relaxed) >> KEPT_BITS;
            next = next.min(window_end(open, k.window_ns));
            pending.push(k);
        }
        self.next_due.store(next, Ordering::Relaxed);
    }

    pub(super) fn list(&self, k: &Arc<KeyState>, open: u64) {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        pending.push(k.clone());
        let end = window_end(open, k.window_ns);
        self.next_due.fetch_min(end, Ordering::Relaxed);
    }

    /// Whether summaries wait to be written.
    #[inline]
    pub(crate) fn has_waiting(&self) -> bool {
        self.any_waiting.load(Ordering::Acquire)
    }

    /// Claims the one queued drain (`false`: one is queued already).
    pub(crate) fn claim_wake(&self) -> bool {
        !self.wake_queued.swap(true, Ordering::AcqRel)
    }

    pub(crate) fn release_wake(&self) {
        self.wake_queued.store(false, Ordering::Release);
    }

    /// Writes every waiting summary with `emit`, in order, under the queue's
    /// lock, so a second drain (the handle's flush) returns only once the
    /// first has written what it took.
    pub(crate) fn drain(&self, emit: impl Fn(&Summary)) {
        let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        self.any_waiting.store(false, Ordering::Release);
        while let Some(s) = waiting.pop_front() {
            emit(&s);
            s.figures.summaries.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn stats(&self) -> RepeatStats {
        // Lock order, as in `install`: the rules, then the figures.
        let rules = self.rules();
        // Live windows' suppressed copies, per target, added to the closed ones.
        let figures = self.figures.lock().unwrap_or_else(|e| e.into_inner());
        let mut open: Vec<u64> = vec![0; figures.len()];
        for k in self.keys.iter() {
            if let Some(i) = figures.iter().position(|(_, f)| Arc::ptr_eq(f, &k.figures)) {
                open[i] += k.suppressed.load(Ordering::Relaxed);
            }
        }
        RepeatStats {
            live_keys: self.keys.len(),
            max_keys: self.max_keys,
            evicted_keys: self.evicted.load(Ordering::Relaxed),
            summaries_lost: self.lost.load(Ordering::Relaxed),
            targets: figures
                .iter()
                .zip(open)
                .map(|((t, f), open)| RepeatTargetStats {
                    target: t.to_string(),
                    configured: rules
                        .list
                        .iter()
                        .find(|r| r.target == *t)
                        .map(|r| r.spec.to_string()),
                    kept: f.kept.load(Ordering::Relaxed),
                    suppressed: f.suppressed.load(Ordering::Relaxed) + open,
                    summaries: f.summaries.load(Ordering::Relaxed),
                    live_keys: f.live.load(Ordering::Relaxed),
                    evicted_keys: f.evicted.load(Ordering::Relaxed),
                })
                .collect(),
        }
    }
}
