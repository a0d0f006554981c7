//! Key extractors: decide by the trace an event belongs to, read from
//! the thread's current context by a user closure, instead of by a field or
//! the callsite.
//!
//! This module knows nothing of OpenTelemetry's types: a closure returns a
//! [`TraceKey`] (16 bytes of trace id and the sampled flag), so any
//! OpenTelemetry version, or any other tracing system, can plug in. The
//! `opentelemetry` feature's `otel` module is one such closure.

use std::fmt;
use std::sync::Arc;

use crate::error::{ParseError, ParseErrorKind};
use crate::rate::Rate;

/// The trace an event belongs to, as a [`KeyExtractor`]'s closure reads it
/// from the current context: its trace id (the W3C 16 bytes, big-endian, as
/// OpenTelemetry's `TraceId::to_bytes`) and whether the trace is sampled
/// (the `sampled` trace flag).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceKey {
    trace_id: [u8; 16],
    sampled: bool,
}

impl TraceKey {
    /// A trace id (16 bytes, big-endian) and its sampled flag.
    pub const fn new(trace_id: [u8; 16], sampled: bool) -> Self {
        TraceKey { trace_id, sampled }
    }

    /// The trace id's 16 bytes.
    pub const fn trace_id(&self) -> [u8; 16] {
        self.trace_id
    }

    /// Whether the trace's sampled flag is set.
    pub const fn is_sampled(&self) -> bool {
        self.sampled
    }
}

/// How an event inside a trace is decided (events outside any trace fall
/// back to the sampler's [`Mode`](crate::Mode); see [`KeyExtractor`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TracePolicy {
    /// Keep the event iff its trace is sampled (the sampled flag), so the
    /// logs kept are exactly those of the traces the tracing pipeline keeps,
    /// whatever head sampler decided it. The event's directive rate then
    /// thins further by whole traces: rate 1 (the default when nothing
    /// matches) keeps every log of every sampled trace, rate `r` keeps the
    /// logs of the sampled traces that [`TraceIdRatio`](Self::TraceIdRatio)
    /// at `r` keeps (the same traces in every process at the same rate), rate
    /// 0 none.
    FollowTrace,
    /// Keep the event iff OpenTelemetry's `TraceIdRatioBased` sampler at the
    /// event's directive rate would sample its trace, whatever the sampled
    /// flag says: every process at the same rate keeps the same traces'
    /// logs, and a higher rate keeps a superset. This follows the SDK's
    /// legacy algorithm as of `opentelemetry_sdk` 0.33 (the low 64 bits of
    /// the trace id read big-endian, shifted right by one, kept iff below
    /// `(rate × 2^63) as u64` computed in `f64`); the SDK does not implement
    /// the consistent-probability threshold (`th` in `tracestate`) yet.
    TraceIdRatio,
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
/// `sample_rate` annotation is its directive rate (none at rate 1): under
/// `FollowTrace` the rate the trace itself was sampled at is not known here.
///
/// Budgets cannot be combined with an extractor: a budget caps a target's
/// events per second, which would drop logs of kept traces and break the
/// promise that the two line up. A directive set with a budget is refused,
/// at build and by `set_directives`. For the same reason
/// [pressure](crate::Pressure) does not thin events inside a trace: they are
/// decided at their directive rate whatever the pressure scale, while events
/// outside any trace fall back at the rate under the scale (and their
/// `sample_rate` says so). [`TargetStats::effective_rate`](crate::TargetStats::effective_rate)
/// is then the directive rate.
///
/// ```
/// use sampling_layer::{KeyExtractor, SamplingFilter, TraceKey, TracePolicy};
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

    /// Whether the current context is inside a trace.
    #[inline]
    pub(crate) fn in_trace(&self) -> bool {
        (self.extract)().is_some()
    }

    /// `Some(keep)` for an event inside a trace at `rate`; `None` outside any
    /// trace (the caller falls back to its mode).
    #[inline]
    pub(crate) fn decide(&self, rate: Rate) -> Option<bool> {
        let key = (self.extract)()?;
        let by_id = || rate.is_one() || trace_id_ratio_keeps(&key.trace_id, rate.as_f64());
        Some(match self.policy {
            TracePolicy::FollowTrace => key.sampled && by_id(),
            TracePolicy::TraceIdRatio => by_id(),
        })
    }
}

/// OpenTelemetry's `TraceIdRatioBased` decision below rate 1, reimplemented
/// (the SDK's function is crate-private): `opentelemetry_sdk` 0.33,
/// `sample_based_on_probability`. `tests/otel_ratio_prop.rs` pins it against
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
