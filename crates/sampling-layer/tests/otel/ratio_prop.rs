//! `TracePolicy::TraceIdRatio` decides exactly as the SDK's `TraceIdRatioBased`
//! sampler (`opentelemetry_sdk` 0.33) at the same rate, for every trace id,
//! including those next to the threshold.

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use opentelemetry::trace::{SpanKind, TraceId};
use opentelemetry_sdk::trace::{Sampler, SamplingDecision, ShouldSample};
use proptest::prelude::*;
use sampling_layer::{
    extract::{KeyExtractor, TraceKey, TracePolicy},
    SamplingFilter, SamplingHandle,
};
use tracing::Dispatch;
use tracing_subscriber::{layer::Context, prelude::*, Layer};

thread_local! {
    static CURRENT: Cell<[u8; 16]> = const { Cell::new([0; 16]) };
}

#[derive(Clone, Default)]
struct Count(Arc<AtomicUsize>);

impl<S: tracing::Subscriber> Layer<S> for Count {
    fn on_event(&self, _: &tracing::Event<'_>, _: Context<'_, S>) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

struct Setup {
    dispatch: Dispatch,
    handle: SamplingHandle,
    count: Count,
}

fn setup() -> Setup {
    // The flag says "not sampled": only the trace id may decide.
    let extractor = KeyExtractor::new(TracePolicy::TraceIdRatio, || {
        Some(TraceKey::new(CURRENT.with(Cell::get), false))
    });
    let sampler = SamplingFilter::builder()
        .key_extractor(extractor)
        .parse("1")
        .unwrap();
    let handle = sampler.handle();
    let count = Count::default();
    let dispatch =
        Dispatch::new(tracing_subscriber::registry().with(count.clone().with_filter(sampler)));
    Setup {
        dispatch,
        handle,
        count,
    }
}

/// Whether the sampler keeps a DEBUG event of trace `id` at rate `p/q`.
fn sampler_keeps(s: &Setup, p: u32, q: u32, id: [u8; 16]) -> bool {
    s.handle.set_directives(&format!("{p}/{q}")).unwrap();
    CURRENT.with(|c| c.set(id));
    let before = s.count.0.load(Ordering::Relaxed);
    tracing::dispatcher::with_default(&s.dispatch, || tracing::debug!("event"));
    s.count.0.load(Ordering::Relaxed) - before == 1
}

fn sdk_keeps(rate: f64, id: [u8; 16]) -> bool {
    let result = Sampler::TraceIdRatioBased(rate).should_sample(
        None,
        TraceId::from_bytes(id),
        "event",
        &SpanKind::Internal,
        &[],
        &[],
    );
    result.decision == SamplingDecision::RecordAndSample
}

/// A rate `p/q` as the sampler reads it (denominators up to 2^24 - 1).
fn rate() -> impl Strategy<Value = (u32, u32)> {
    (1u32..=16_777_215).prop_flat_map(|q| (0..=q, Just(q)))
}

/// A trace id: any, or one whose low half lands next to the SDK's bound at `p/q`.
fn trace_id(p: u32, q: u32) -> impl Strategy<Value = [u8; 16]> {
    let bound = (f64::from(p) / f64::from(q) * (1u64 << 63) as f64) as u64;
    let low = prop_oneof![
        any::<u64>(),
        (-2i64..=2, any::<bool>())
            .prop_map(move |(d, odd)| { (bound.wrapping_add_signed(d) << 1) | u64::from(odd) }),
    ];
    (any::<u64>(), low).prop_map(|(high, low)| {
        let mut id = [0; 16];
        id[..8].copy_from_slice(&high.to_be_bytes());
        id[8..].copy_from_slice(&low.to_be_bytes());
        id
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn trace_id_ratio_agrees_with_the_sdk(
        (p, q, id) in rate().prop_flat_map(|(p, q)| (Just(p), Just(q), trace_id(p, q)))
    ) {
        thread_local!(static SETUP: Setup = setup());
        let rate = f64::from(p) / f64::from(q);
        SETUP.with(|s| {
            prop_assert_eq!(sampler_keeps(s, p, q, id), sdk_keeps(rate, id));
            Ok(())
        })?;
    }
}

#[test]
fn decimal_rates_agree_at_the_boundary() {
    // The rates users write, where `rate × 2^63` is not an integer.
    let s = setup();
    for (text, p, q) in [
        ("0.1", 1, 10),
        ("0.25", 1, 4),
        ("0.3333333", 3_333_333, 10_000_000),
    ] {
        let rate: f64 = text.parse().unwrap();
        assert_eq!(rate, f64::from(p) / f64::from(q));
        let bound = (rate * (1u64 << 63) as f64) as u64;
        for low in [
            (bound - 1) << 1,
            ((bound - 1) << 1) | 1,
            bound << 1,
            (bound << 1) | 1,
        ] {
            let mut id = [7; 16];
            id[8..].copy_from_slice(&low.to_be_bytes());
            assert_eq!(
                sampler_keeps(&s, p, q, id),
                sdk_keeps(rate, id),
                "{text} {low:#x}"
            );
        }
        let mut below = [7; 16];
        below[8..].copy_from_slice(&((bound - 1) << 1).to_be_bytes());
        assert!(sdk_keeps(rate, below));
    }
}
