//! Key extractors: decide by the trace an event belongs to, read from
//! the thread's current context by a user closure, instead of by a field or
//! the callsite.
//!
//! This module knows nothing of OpenTelemetry's types: a closure returns a
//! [`TraceKey`] (16 bytes of trace id and the sampled flag), so any
//! OpenTelemetry version, or any other tracing system, can plug in. The
//! `opentelemetry` feature's `otel` module is one such closure.

use std::cell::Cell;
use std::fmt;
use std::sync::Arc;

use crate::directive::rate::Rate;
use crate::error::{ParseError, ParseErrorKind};
use crate::probability::{self, Threshold};

/// The trace an event belongs to, as a [`KeyExtractor`]'s closure reads it
/// from the current context: its trace id (the W3C 16 bytes, big-endian, as
/// OpenTelemetry's `TraceId::to_bytes`), whether the trace is sampled (the
/// `sampled` trace flag), and what the `ot` entry of its W3C `tracestate`
/// says, if the closure passes it on ([`with_ot`](Self::with_ot)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceKey {
    trace_id: [u8; 16],
    sampled: bool,
    /// `rv`, or `NONE`.
    rv: u64,
    /// `th` as read (consistency is checked by `head_threshold`), or `NONE`.
    th: u64,
}

/// No value: both fields hold 56-bit numbers.
const NONE: u64 = u64::MAX;

impl TraceKey {
    /// A trace id (16 bytes, big-endian) and its sampled flag.
    pub const fn new(trace_id: [u8; 16], sampled: bool) -> Self {
        TraceKey {
            trace_id,
            sampled,
            rv: NONE,
            th: NONE,
        }
    }

    /// The key with what the value of the `tracestate`'s `ot` entry says
    /// (`"th:8;rv:0123456789abcd"`: the part after `ot=`): `rv`, the
    /// trace's explicit randomness (exactly 14 lowercase hex digits), and
    /// `th`, the threshold the head sampler kept it at (1 to 14 lowercase hex
    /// digits). Malformed or absent sub-keys are ignored (the randomness then
    /// comes from the trace id; the head's probability is unknown), so is a
    /// value longer than [`MAX_OT_LEN`](crate::probability::MAX_OT_LEN)
    /// bytes; reading it never allocates and never panics.
    pub fn with_ot(mut self, ot: &str) -> Self {
        let (rv, th) = probability::parse_ot(ot);
        self.rv = rv.unwrap_or(NONE);
        self.th = th.map_or(NONE, Threshold::value);
        self
    }

    /// The trace id's 16 bytes.
    pub const fn trace_id(&self) -> [u8; 16] {
        self.trace_id
    }

    /// Whether the trace's sampled flag is set.
    pub const fn is_sampled(&self) -> bool {
        self.sampled
    }

    /// The trace's 56-bit randomness R: `rv` if [`with_ot`](Self::with_ot)
    /// read a well-formed one, else the trace id's rightmost 56 bits.
    #[inline]
    pub fn randomness(&self) -> u64 {
        if self.rv != NONE {
            self.rv
        } else {
            probability::trace_id_randomness(&self.trace_id)
        }
    }

    /// The threshold the trace's head sampler kept it at (`th`), if the key
    /// has one that is consistent with the trace: the trace is sampled and
    /// its randomness is at or above the threshold. An inconsistent `th` (a
    /// sampler upstream changed the decision without updating it) says
    /// nothing reliable about the probability, so it is not used, as the
    /// specification asks.
    #[inline]
    pub fn head_threshold(&self) -> Option<Threshold> {
        let th = Threshold::from_value(self.th)?;
        (self.sampled && th.keeps(self.randomness())).then_some(th)
    }
}

/// How an event inside a trace is decided (events outside any trace fall
/// back to the sampler's [`Mode`](crate::Mode); see [`KeyExtractor`]), and
/// what a kept event's `sample_rate` then says: the probability it had of
/// being kept, so `sum(1 / sample_rate)` over kept lines estimates the lines
/// emitted (none is written when that probability is 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TracePolicy {
    /// Keep the event iff its trace is sampled (the sampled flag), so the
    /// logs kept are exactly those of the traces the tracing pipeline keeps,
    /// whatever head sampler decided it, thinned by the event's directive
    /// rate with the head sampler's own test so the two nest: with a `th`
    /// in the trace's `tracestate` ([`TraceKey::head_threshold`]), the
    /// specification's test ([`Probability`](Self::Probability)); without
    /// one, the legacy `TraceIdRatioBased` test
    /// ([`TraceIdRatio`](Self::TraceIdRatio)). Under a head sampler of the
    /// same kind at rate `h` on every trace's root, a directive rate `r`
    /// keeps the logs of the traces a sampler at `min(r, h)` keeps: it thins
    /// only where `r < h`, and rate 1 (the default when nothing matches)
    /// keeps every log of every sampled trace; rate 0 keeps none.
    ///
    /// `sample_rate`: with `th`, `min(r, h)` as the thresholds state it
    /// (exact: the head kept the trace iff R ≥ T_h, the log iff R ≥ T_r as
    /// well); so a line is annotated even at rate 1. Without `th` the head's
    /// rate is unknown here and `sample_rate` is `r` alone (none at rate 1):
    /// exact under a legacy ratio head at `h ≥ r`, too high by `r / h`
    /// under one at `h < r` (each line then counts once where it stands for
    /// `1 / h`), and unrelated to what a rate-limiting or custom head did.
    FollowTrace,
    /// Keep the event iff OpenTelemetry's `TraceIdRatioBased` sampler at the
    /// event's directive rate would sample its trace, whatever the sampled
    /// flag says: every process at the same rate keeps the same traces'
    /// logs, and a higher rate keeps a superset. This follows the SDK's
    /// legacy algorithm as of `opentelemetry_sdk` 0.33 (the low 64 bits of
    /// the trace id read big-endian, shifted right by one, kept iff below
    /// `(rate × 2^63) as u64` computed in `f64`), which the Rust SDK's
    /// `TraceIdRatioBased` still uses; the specification deprecated it for
    /// [`Probability`](Self::Probability), and the two keep unrelated sets of
    /// traces (disjoint ones at rates up to 1/257). `sample_rate` is the
    /// directive rate.
    TraceIdRatio,
    /// Keep the event iff the specification's `ProbabilitySampler` at the
    /// event's directive rate would sample its trace, whatever the sampled
    /// flag says: R ≥ T, where R is the trace's randomness
    /// ([`TraceKey::randomness`]: `rv` from the `tracestate`, else the trace
    /// id's rightmost 56 bits) and T the rate's threshold
    /// ([`Threshold::from_probability`], rounded as the specification
    /// rounds it). Every process, in every language whose SDK follows the
    /// specification (opentelemetry-go's `ProbabilitySampler`, Java's,
    /// C++'s), keeps the same traces' logs at the same rate, and a higher
    /// rate keeps a superset. `sample_rate` is the threshold's probability
    /// (the rate itself for powers of two; `0.1` is `th:e666`,
    /// 0.100006103515625).
    Probability,
}

type Extract = dyn Fn() -> Option<TraceKey> + Send + Sync;

/// A closure that reads the current trace, and the [`TracePolicy`] that
/// decides by it; set with
/// [`SamplingFilterBuilder::key_extractor`](crate::SamplingFilterBuilder::key_extractor).
///
/// The closure is called for every sampled-level event (not for WARN/ERROR,
/// which are never sampled), on the thread that logs it: in `enabled`, before
/// the event is built, for callsites that need no field; in `event_enabled`
/// for the others (a `sample_key` field, or the `Consistent` fallback). It
/// must be cheap, must not block (it may run under a key shard's lock) and
/// must not log. It returns `None` outside any trace; such events fall back to the sampler's [`Mode`](crate::Mode): the
/// consistent field's value if the mode is `Consistent` and the event (or a
/// span around it) has one, else an independent draw at the event's rate
/// (for `Deterministic` and `Probabilistic` alike). A kept event's
/// `sample_rate` annotation inside a trace is what its [`TracePolicy`] says
/// (with `FollowTrace`, it includes the head sampler's probability when the
/// trace's `tracestate` carries `th`); outside any trace, its rate.
///
/// Budgets cannot be combined with an extractor: a budget caps a target's
/// events per second, which would drop logs of kept traces and break the
/// promise that the two line up. A directive set with a budget is refused,
/// at build and by `set_directives`. For the same reason
/// [pressure](crate::Pressure) does not thin events inside a trace: they are
/// decided at their directive rate whatever the pressure scale, while events
/// outside any trace fall back at the rate under the scale (and their
/// `sample_rate` says so). [`TargetStats::effective_rate`](crate::stats::TargetStats::effective_rate)
/// is then the directive rate.
///
/// ```
/// use sampling_layer::{extract::{KeyExtractor, TraceKey, TracePolicy}, SamplingFilter};
/// use std::cell::Cell;
///
/// thread_local! {
///     // Whatever your tracing system keeps per thread.
///     static CURRENT: Cell<Option<([u8; 16], bool)>> = const { Cell::new(None) };
/// }
/// let extractor = KeyExtractor::new(TracePolicy::FollowTrace, || {
///     CURRENT.with(|c| c.get()).map(|(id, sampled)| TraceKey::new(id, sampled))
/// });
/// let sampler = SamplingFilter::builder()
///     .key_extractor(extractor)
///     .parse("")
///     .unwrap();
/// # drop(sampler);
/// ```
#[derive(Clone)]
pub struct KeyExtractor {
    policy: TracePolicy,
    extract: Arc<Extract>,
}

impl fmt::Debug for KeyExtractor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyExtractor")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl KeyExtractor {
    /// Decides by `policy` on what `extract` returns for the current context.
    pub fn new<F>(policy: TracePolicy, extract: F) -> Self
    where
        F: Fn() -> Option<TraceKey> + Send + Sync + 'static,
    {
        KeyExtractor {
            policy,
            extract: Arc::new(extract),
        }
    }

    /// The policy.
    pub fn policy(&self) -> TracePolicy {
        self.policy
    }

    /// `Some(keep)` for an event inside a trace at `rate`; `None` outside any
    /// trace (the caller falls back to its mode). Costs the closure's call;
    /// the specification's test adds the rate's threshold (a thread-local
    /// hit for the thread's last rate, else a division and a few float
    /// operations) and a compare; no allocation, no lock.
    #[inline]
    pub(crate) fn decide(&self, rate: Rate) -> Option<bool> {
        let key = (self.extract)()?;
        let legacy = || rate.is_one() || trace_id_ratio_keeps(&key.trace_id, rate.as_f64());
        let spec = || spec_threshold(rate).is_some_and(|t| t.keeps(key.randomness()));
        Some(match self.policy {
            TracePolicy::FollowTrace if key.head_threshold().is_some() => key.sampled && spec(),
            TracePolicy::FollowTrace => key.sampled && legacy(),
            TracePolicy::TraceIdRatio => legacy(),
            TracePolicy::Probability => spec(),
        })
    }

    /// The probability an event kept at `rate` inside a trace had of being
    /// kept (its `sample_rate`, see [`TracePolicy`]); `None` outside any
    /// trace. Calls the closure again: only kept events pay for it.
    #[inline]
    pub(crate) fn kept_probability(&self, rate: Rate) -> Option<f64> {
        let key = (self.extract)()?;
        let spec = spec_threshold(rate);
        Some(match (self.policy, key.head_threshold()) {
            (TracePolicy::FollowTrace, Some(head)) => {
                spec.map_or(0.0, |t| t.max(head).probability())
            }
            (TracePolicy::Probability, _) => spec.map_or(0.0, Threshold::probability),
            (TracePolicy::FollowTrace | TracePolicy::TraceIdRatio, _) => rate.as_f64(),
        })
    }
}

thread_local! {
    /// The last rate the specification's test ran at on this thread and its
    /// threshold: a thread logs mostly under a few rates, and a hit (a
    /// thread-local load and a compare) spares the rate's division and the
    /// threshold's rounding, about half the test's cost on a sampled-out event.
    static LAST_THRESHOLD: Cell<(u64, Option<Threshold>)> = const { Cell::new((u64::MAX, None)) };
}

/// The specification's threshold for a directive rate (`None`: keep nothing).
#[inline]
fn spec_threshold(rate: Rate) -> Option<Threshold> {
    if rate.is_one() {
        return Some(Threshold::ALWAYS);
    }
    let compute = || Threshold::from_probability(rate.as_f64());
    let key = rate.pack();
    LAST_THRESHOLD
        .try_with(|c| match c.get() {
            (k, t) if k == key => t,
            _ => {
                let t = compute();
                c.set((key, t));
                t
            }
        })
        .unwrap_or_else(|_| compute())
}

/// OpenTelemetry's `TraceIdRatioBased` decision below rate 1, reimplemented
/// (the SDK's function is crate-private): `opentelemetry_sdk` 0.33,
/// `sample_based_on_probability`. `tests/otel/ratio_prop.rs` pins it against
/// `Sampler::should_sample`.
#[inline]
pub(crate) fn trace_id_ratio_keeps(trace_id: &[u8; 16], p: f64) -> bool {
    // Computed in f64 and truncated as the SDK does, so the two agree at
    // every rate, also where `p × 2^63` is not an integer.
    let bound = (p.max(0.0) * (1u64 << 63) as f64) as u64;
    let mut low = [0; 8];
    low.copy_from_slice(&trace_id[8..]);
    (u64::from_be_bytes(low) >> 1) < bound
}

/// The one place where directives that contradict an extractor are refused
/// (`Sampler::install`, so at build and in `set_directives`). For
/// budgets: `has_budget` says whether the set `directives` has a budget.
pub(crate) fn check_settings(
    extractor: Option<&KeyExtractor>,
    has_budget: bool,
    directives: &str,
) -> Result<(), ParseError> {
    match extractor {
        Some(x) if has_budget => Err(ParseError::new(
            directives,
            ParseErrorKind::BudgetWithKeyExtractor(format!("{:?}", x.policy)),
        )),
        _ => Ok(()),
    }
}

#[cfg(all(test, not(sampling_layer_loom)))]
mod tests {
    use super::*;

    fn id(low: u64) -> [u8; 16] {
        let mut id = [0xAB; 16];
        id[8..].copy_from_slice(&low.to_be_bytes());
        id
    }

    #[test]
    fn ratio_reads_the_low_half_big_endian_shifted_by_one() {
        // rate 0.5: bound 2^62; low half >> 1 below it iff low half < 2^63.
        assert!(trace_id_ratio_keeps(&id((1 << 63) - 1), 0.5));
        assert!(!trace_id_ratio_keeps(&id(1 << 63), 0.5));
        // The high half is ignored.
        let mut high = id(0);
        high[..8].copy_from_slice(&[0xFF; 8]);
        assert!(trace_id_ratio_keeps(&high, 0.01));
        assert!(!trace_id_ratio_keeps(&id(0), 0.0));
    }

    #[test]
    fn follow_trace_needs_the_flag_and_thins_by_rate() {
        let sampled = KeyExtractor::new(TracePolicy::FollowTrace, || {
            Some(TraceKey::new(id(0), true))
        });
        let unsampled = KeyExtractor::new(TracePolicy::FollowTrace, || {
            Some(TraceKey::new(id(0), false))
        });
        let high = KeyExtractor::new(TracePolicy::FollowTrace, || {
            Some(TraceKey::new(id(u64::MAX), true))
        });
        let half = Rate::parse("0.5").unwrap();
        assert_eq!(sampled.decide(Rate::ONE), Some(true));
        assert_eq!(unsampled.decide(Rate::ONE), Some(false));
        assert_eq!(sampled.decide(half), Some(true));
        assert_eq!(high.decide(half), Some(false));
        assert_eq!(sampled.decide(Rate::ZERO), Some(false));
        let ratio = KeyExtractor::new(TracePolicy::TraceIdRatio, || {
            Some(TraceKey::new(id(0), false))
        });
        assert_eq!(ratio.decide(half), Some(true));
        let none = KeyExtractor::new(TracePolicy::TraceIdRatio, || None);
        assert_eq!(none.decide(half), None);
    }

    #[test]
    fn a_budget_with_an_extractor_is_refused_by_name() {
        let x = KeyExtractor::new(TracePolicy::FollowTrace, || None);
        assert!(check_settings(Some(&x), false, "app=0.5").is_ok());
        assert!(check_settings(None, true, "app=100/s").is_ok());
        let e = check_settings(Some(&x), true, "app=100/s")
            .unwrap_err()
            .to_string();
        assert!(e.contains("budget") && e.contains("FollowTrace"), "{e}");
    }
}
