//! What each entry of the three tables (callsites, keys, `log` sites)
//! decides with: its cached rule and its counts word. A hit reads the first
//! and updates the second; nothing else is per entry on the decision's path.
//!
//! # The cached rule
//!
//! A resolved rule (rate, stats bucket, flags) is cached per entry,
//! invalidated by the directive generation. Directives can be replaced at
//! run time. Rather than reading the directive set on every event (which
//! would need a lock or reference counting), each entry caches the rule it
//! resolved to, tagged with the generation it was resolved under. A set
//! change bumps the generation; the next event on each entry misses and
//! re-resolves once (the slow path).
//!
//! The rule is one `u64`, the tag another. A writer claims the tag with a CAS
//! (odd = busy) only if its generation is newer than the cached one, writes
//! the rule, then releases the tag at its generation. So rules only ever get
//! newer, and a reader that sees the tag at the current generation reads that
//! generation's rule or a newer one. Cost on the hit path: two loads, no RMW.
//!
//! # The counts word
//!
//! One atomic word per entry: the deterministic position and the
//! kept/dropped figures, so a decision costs a single atomic RMW.
//!
//! Layout: bits 0..24 the position in the current window of `q` events (`q`
//! fits in 24 bits, see [`MAX_DENOMINATOR`](crate::limits::MAX_DENOMINATOR)), bits
//! 24..44 kept, bits 44..64 dropped. The position wraps at `q`. When counting
//! an event would bring either figure to [`FLUSH_AT`], nothing is counted and
//! the caller moves the figures out ([`take`](Counts::take)) into the stats
//! bucket, under the stats lock (at most once per 2^19 events of one key), and
//! counts again. Figures are only ever moved under that lock, so a stats
//! snapshot taken under it sees every event exactly once (in a word or in a
//! bucket), and no field ever overflows, whatever value the word starts from.

use crate::directive::rate::Rate;
use crate::limits::MAX_BUCKETS;
use crate::sync::{fence, AtomicU64, Ordering};

#[cfg(all(test, not(sampling_layer_loom)))]
mod tests;

const BUSY: u64 = 1;
const BUCKET_SHIFT: u32 = 48;
const BUCKET_MASK: u64 = MAX_BUCKETS as u64 - 1;
/// The callsite's target has `[key]` directives: a keyed event must be looked up per key.
const KEY_RULES: u64 = 1 << 60;
/// The rule's label has a budget: its rate is the key's, set by the adjustment.
const BUDGET: u64 = 1 << 61;
const RATE_MASK: u64 = (1 << BUCKET_SHIFT) - 1;

/// Rate (48 bits), stats bucket (12 bits), flags (4 bits).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Rule(u64);

impl Rule {
    pub(crate) fn new(rate: Rate, bucket: usize, key_rules: bool) -> Rule {
        debug_assert!(bucket < MAX_BUCKETS);
        Rule(
            rate.pack() | ((bucket as u64) << BUCKET_SHIFT) | if key_rules { KEY_RULES } else { 0 },
        )
    }
    #[inline]
    pub(crate) fn rate(self) -> Rate {
        Rate::unpack(self.0)
    }
    #[inline]
    pub(crate) fn bucket(self) -> usize {
        ((self.0 >> BUCKET_SHIFT) & BUCKET_MASK) as usize
    }
    #[inline]
    pub(crate) fn key_rules(self) -> bool {
        self.0 & KEY_RULES != 0
    }
    /// The same rule under a budget (see `budget`).
    pub(crate) fn with_budget(self) -> Rule {
        Rule(self.0 | BUDGET)
    }
    #[inline]
    pub(crate) fn is_budget(self) -> bool {
        self.0 & BUDGET != 0
    }
    /// The same rule at another rate (a budget key's adjustment).
    pub(crate) fn with_rate(self, rate: Rate) -> Rule {
        Rule((self.0 & !RATE_MASK) | rate.pack())
    }
}

/// A rule tagged with the generation it was resolved under.
#[derive(Debug)]
pub(crate) struct RuleCache {
    /// `generation << 1 | busy`; 0 = never resolved (generations start at 1).
    tag: AtomicU64,
    rule: AtomicU64,
}

impl RuleCache {
    pub(crate) fn new() -> Self {
        RuleCache {
            tag: AtomicU64::new(0),
            rule: AtomicU64::new(0),
        }
    }

    /// The cached rule if it was resolved under `generation` (or, if a writer
    /// is publishing a newer one right now, possibly that newer rule).
    ///
    /// One check of the tag suffices: writers only ever replace a rule with
    /// one of a newer generation (see [`publish`](Self::publish)), so the rule
    /// read after seeing the tag at `generation` is that generation's rule or a
    /// newer, complete one, never an older one.
    #[inline]
    pub(crate) fn get(&self, generation: u64) -> Option<Rule> {
        if self.tag.load(Ordering::Acquire) != generation << 1 {
            return None;
        }
        Some(Rule(self.rule.load(Ordering::Relaxed)))
    }

    /// The generation the cached rule belongs to (0 if none), and the rule.
    pub(crate) fn current(&self) -> (u64, Rule) {
        loop {
            let t1 = self.tag.load(Ordering::Acquire);
            if t1 & BUSY != 0 {
                crate::sync::spin_hint();
                continue;
            }
            let rule = self.rule.load(Ordering::Relaxed);
            fence(Ordering::Acquire);
            if self.tag.load(Ordering::Relaxed) == t1 {
                return (t1 >> 1, Rule(rule));
            }
        }
    }

    /// Publishes `rule` for `generation` unless another writer is busy or a
    /// rule for this or a newer generation is already there. `replaced` sees
    /// the previous rule (if any) while this writer holds the tag: it is where
    /// counts accumulated under the old rule are moved to the old bucket.
    pub(crate) fn publish(
        &self,
        generation: u64,
        rule: Rule,
        replaced: impl FnOnce(Option<Rule>),
    ) -> bool {
        let t = self.tag.load(Ordering::Relaxed);
        if t & BUSY != 0 || t >> 1 >= generation {
            return false;
        }
        if self
            .tag
            .compare_exchange(t, t | BUSY, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            return false;
        }
        fence(Ordering::Release);
        let old = self.rule.load(Ordering::Relaxed);
        replaced((t != 0).then_some(Rule(old)));
        self.rule.store(rule.0, Ordering::Relaxed);
        self.tag.store(generation << 1, Ordering::Release);
        true
    }

    /// Replaces the rule of `generation` with `rule` (a budget key's new
    /// rate), unless a writer is busy or the cached rule is of another
    /// generation. Claims the tag as [`publish`](Self::publish) does, so it
    /// never overwrites a newer generation's rule; a reader sees the old rule
    /// or the new one, both of this generation.
    pub(crate) fn retune(&self, generation: u64, rule: Rule) -> bool {
        let t = generation << 1;
        if self
            .tag
            .compare_exchange(t, t | BUSY, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            return false;
        }
        fence(Ordering::Release);
        self.rule.store(rule.0, Ordering::Relaxed);
        self.tag.store(t, Ordering::Release);
        true
    }
}

const POS_MASK: u64 = (1 << 24) - 1;
const CNT_MASK: u64 = (1 << 20) - 1;
const KEPT_SHIFT: u32 = 24;
const DROPPED_SHIFT: u32 = 44;
/// A figure this large is moved out to the stats bucket.
pub(crate) const FLUSH_AT: u64 = 1 << 19;

/// Every this many sampled-out events of one word, the decision does the
/// sampler's timed duties (budget adjustment, pressure read; see
/// `Sampler::on_time`): a clock read per 128 sampled-out events of a key
/// instead of none, about 0.2 ns each, tested on a figure the decision
/// computes anyway.
pub(crate) const TICK_EVERY: u64 = 128;
const _: () = assert!(FLUSH_AT % TICK_EVERY == 0);

/// Kept and dropped counts moved out of a word.
pub(crate) type Flushed = (u64, u64);

#[derive(Debug)]
pub(crate) struct Counts(AtomicU64);

impl Counts {
    pub(crate) fn new() -> Self {
        Counts(AtomicU64::new(0))
    }

    #[cfg(test)]
    pub(crate) fn from_raw(raw: u64) -> Self {
        Counts(AtomicU64::new(raw))
    }

    #[cfg(all(test, not(sampling_layer_loom)))]
    pub(crate) fn raw(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    /// Counts one event. With `rate`, decides it deterministically (exactly
    /// `p` kept per window of `q`, exact under concurrency); with `None`, the
    /// caller already decided `keep`. Returns the decision, or `None` (and
    /// counts nothing) when counting would fill a figure: the caller moves
    /// the figures out and calls again.
    ///
    /// Cost: one load and one successful CAS (uncontended); a division only
    /// for rates `p/q` with `p > 1`.
    // The decision uses `count_ticked`; tests and models count plainly.
    #[cfg(any(test, sampling_layer_loom))]
    pub(crate) fn count(&self, rate: Option<Rate>, keep: bool) -> Option<bool> {
        self.count_ticked(rate, keep).map(|(keep, _)| keep)
    }

    /// [`count`](Self::count), also telling whether this event is a
    /// sampled-out one that brings the dropped figure to a multiple of
    /// [`TICK_EVERY`] (the caller then does the timed duties).
    // Inlined into the decision: a call here costs as much as the CAS's setup.
    #[inline(always)]
    pub(crate) fn count_ticked(&self, rate: Option<Rate>, keep: bool) -> Option<(bool, bool)> {
        let mut cur = self.0.load(Ordering::Relaxed);
        loop {
            let (keep, next_pos, kept, dropped) = step(cur, rate, keep);
            if kept >= FLUSH_AT || dropped >= FLUSH_AT {
                return None;
            }
            let next = next_pos | (kept << KEPT_SHIFT) | (dropped << DROPPED_SHIFT);
            match self
                .0
                .compare_exchange_weak(cur, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return Some((keep, !keep && dropped % TICK_EVERY == 0)),
                Err(c) => cur = c,
            }
        }
    }

    /// [`count`](Self::count) for the common case only: counts the event and
    /// returns the decision, unless counting it would fill a figure or the
    /// position lies outside the window (the rate changed), or the dropped
    /// figure would be a multiple of [`TICK_EVERY`] with this event (the
    /// timed duties are due); then it counts nothing and returns `None`, and
    /// the caller calls `count_ticked`. The dropped figure never passes
    /// `FLUSH_AT` here: it grows by one, from below, and `FLUSH_AT` is such a
    /// multiple.
    ///
    /// The same transition as `count` (same [`step`]), so the two mix freely.
    /// It exists for the hot path: the window check keeps the fold's division
    /// out of it (with rates 1/N or `None`, as the hot path passes, there is
    /// none at all), which leaves the caller's registers (and stack) alone.
    #[inline(always)]
    pub(crate) fn try_count(&self, rate: Option<Rate>, keep: bool) -> Option<bool> {
        let mut cur = self.0.load(Ordering::Relaxed);
        loop {
            if let Some(rate) = rate {
                if cur & POS_MASK >= u64::from(rate.denominator()) {
                    return None;
                }
            }
            let (keep, next_pos, kept, dropped) = step(cur, rate, keep);
            // One test for two bail-outs: `FLUSH_AT` is a multiple of
            // `TICK_EVERY` and the figure grows by one, so a dropped figure
            // reaching it is caught here too. (A kept event when the dropped
            // figure is a multiple bails out as well: rare, and harmless.)
            if kept >= FLUSH_AT || dropped % TICK_EVERY == 0 {
                return None;
            }
            let next = next_pos | (kept << KEPT_SHIFT) | (dropped << DROPPED_SHIFT);
            match self
                .0
                .compare_exchange_weak(cur, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return Some(keep),
                Err(c) => cur = c,
            }
        }
    }

    /// Moves the position to `pos` (a budget key's random start, see
    /// `control::budget::start`), keeping the figures.
    pub(crate) fn set_position(&self, pos: u64) {
        let _ = self
            .0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |c| {
                Some((c & !POS_MASK) | (pos & POS_MASK))
            });
    }

    /// The figures not yet moved out.
    pub(crate) fn peek(&self) -> Flushed {
        let cur = self.0.load(Ordering::Relaxed);
        (
            (cur >> KEPT_SHIFT) & CNT_MASK,
            (cur >> DROPPED_SHIFT) & CNT_MASK,
        )
    }

    /// Moves the figures out (zeroing them), keeping the position.
    pub(crate) fn take(&self) -> Flushed {
        let prev = self
            .0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |c| Some(c & POS_MASK))
            .unwrap_or_else(|c| c);
        (
            (prev >> KEPT_SHIFT) & CNT_MASK,
            (prev >> DROPPED_SHIFT) & CNT_MASK,
        )
    }
}

/// One event counted on the word `cur`: the decision, the next position, and
/// the kept and dropped figures with this event (not yet checked against
/// [`FLUSH_AT`]). With `rate`, decided by the position; with `None`, `keep`.
#[inline(always)]
fn step(cur: u64, rate: Option<Rate>, keep: bool) -> (bool, u64, u64, u64) {
    let (keep, next_pos) = match rate {
        Some(rate) => {
            let q = u64::from(rate.denominator());
            let mut pos = cur & POS_MASK;
            if pos >= q {
                // The rate changed (or the word started anywhere): fold into the window.
                pos %= q;
            }
            let next = if pos + 1 == q { 0 } else { pos + 1 };
            (keep_position(pos, u64::from(rate.numerator()), q), next)
        }
        None => (keep, cur & POS_MASK),
    };
    let mut kept = (cur >> KEPT_SHIFT) & CNT_MASK;
    let mut dropped = (cur >> DROPPED_SHIFT) & CNT_MASK;
    if keep {
        kept += 1;
    } else {
        dropped += 1;
    }
    (keep, next_pos, kept, dropped)
}

/// Whether position `c` of a window of `q` events is kept at rate `p/q`.
///
/// Kept iff `ceil((c+1)p/q) > ceil(cp/q)`, i.e. iff `cp mod q == 0` or
/// `cp mod q > q - p`: position 0 is always kept (the first event is) and the
/// `p` kept positions are spread evenly (`3/10` keeps positions 0, 3 and 6).
#[inline]
pub(crate) fn keep_position(c: u64, p: u64, q: u64) -> bool {
    if p == 0 {
        return false;
    }
    if p == 1 {
        // 1/N, the common case: no division.
        return c == 0;
    }
    // c < q < 2^24 and p <= q, so c * p < 2^48: no overflow.
    let r = (c * p) % q;
    r == 0 || r > q - p
}
