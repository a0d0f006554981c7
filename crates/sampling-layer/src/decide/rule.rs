//! A resolved rule (rate, stats bucket, flags) cached per callsite and per key,
//! invalidated by the directive generation.
//!
//! Directives can be replaced at run time. Rather than reading the directive
//! set on every event (which would need a lock or reference counting), each
//! callsite and key caches the rule it resolved to, tagged with the generation
//! it was resolved under. A set change bumps the generation; the next event on
//! each callsite/key misses and re-resolves once (the slow path).
//!
//! The rule is one `u64`, the tag another. A writer claims the tag with a CAS
//! (odd = busy) only if its generation is newer than the cached one, writes
//! the rule, then releases the tag at its generation. So rules only ever get
//! newer, and a reader that sees the tag at the current generation reads that
//! generation's rule or a newer one. Cost on the hit path: two loads, no RMW.

use crate::directive::rate::Rate;
use crate::limits::MAX_BUCKETS;
use crate::sync::{fence, AtomicU64, Ordering};

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

#[cfg(all(test, not(sampling_layer_loom)))]
mod tests {
    use super::*;

    #[test]
    fn rule_packs_rate_bucket_and_flag() {
        let rate = Rate::parse("3/7").unwrap();
        let r = Rule::new(rate, MAX_BUCKETS - 1, true);
        assert_eq!(
            (r.rate(), r.bucket(), r.key_rules()),
            (rate, MAX_BUCKETS - 1, true)
        );
        let r = Rule::new(Rate::ONE, 0, false);
        assert_eq!((r.rate(), r.bucket(), r.key_rules()), (Rate::ONE, 0, false));
    }

    #[test]
    fn cache_hits_only_for_its_generation_and_never_goes_back() {
        let c = RuleCache::new();
        let a = Rule::new(Rate::parse("0.5").unwrap(), 1, false);
        let b = Rule::new(Rate::parse("0.25").unwrap(), 2, false);
        assert_eq!(c.get(1), None);
        let mut seen = Vec::new();
        assert!(c.publish(1, a, |old| seen.push(old)));
        assert_eq!(c.get(1), Some(a));
        assert_eq!(c.get(2), None);
        assert!(c.publish(3, b, |old| seen.push(old)));
        assert!(!c.publish(2, a, |_| unreachable!()));
        assert_eq!(c.get(3), Some(b));
        assert_eq!(seen, vec![None, Some(a)]);
        assert_eq!(c.current(), (3, b));
        // A budget's retune changes the rate of the current generation only.
        let tuned = b.with_budget().with_rate(Rate::parse("1/8").unwrap());
        assert_eq!((tuned.bucket(), tuned.is_budget()), (2, true));
        assert!(!c.retune(2, tuned), "not the cached generation");
        assert!(c.retune(3, tuned));
        assert_eq!(c.get(3), Some(tuned));
        assert!(c.publish(4, a, |_| {}));
        assert!(!c.retune(3, tuned), "never over a newer generation");
        assert_eq!(c.get(4), Some(a));
    }
}
