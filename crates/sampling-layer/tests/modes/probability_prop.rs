//! The specification's probability sampling, pinned by its rules rather
//! than by a reimplementation: R is `rv` or the trace id's rightmost 56 bits,
//! T = (1 − p) · 2^56 (exact for powers of two, rounded to the
//! specification's precision otherwise), keep iff R ≥ T, `th` is T in hex
//! without trailing zeros, a higher rate keeps a superset, and a kept line's
//! `sample_rate` is the probability it had of being kept. Decisions go
//! through a real `SamplingFilter` with a key extractor.

use std::cell::Cell;
use std::sync::{Arc, Mutex};

use proptest::prelude::*;
use sampling_layer::probability::{Threshold, MAX_ADJUSTED_COUNT, MAX_OT_LEN};
use sampling_layer::{
    extract::{KeyExtractor, TraceKey, TracePolicy},
    SamplingFilter,
};
use tracing::Dispatch;
use tracing_subscriber::{layer::Context, prelude::*, Layer};

thread_local! {
    static CURRENT: Cell<Option<TraceKey>> = const { Cell::new(None) };
}

/// The `sample_rate` of each kept event (`None`: kept whole).
#[derive(Clone, Default)]
struct Kept(Arc<Mutex<Vec<Option<f64>>>>);

impl<S: tracing::Subscriber> Layer<S> for Kept {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        self.0
            .lock()
            .unwrap()
            .push(sampling_layer::sample_rate(event));
    }
}

/// A subscriber whose sampler decides by `CURRENT` under `policy`.
fn service(policy: TracePolicy, directives: &str) -> (Dispatch, Kept) {
    let sampler = SamplingFilter::builder()
        .key_extractor(KeyExtractor::new(policy, || CURRENT.with(Cell::get)))
        .parse(directives)
        .unwrap();
    let kept = Kept::default();
    let subscriber = tracing_subscriber::registry().with(kept.clone().with_filter(sampler));
    (Dispatch::new(subscriber), kept)
}

/// Logs one DEBUG event under `key`: `Some(sample_rate)` if kept.
fn log(svc: &(Dispatch, Kept), key: TraceKey) -> Option<Option<f64>> {
    CURRENT.with(|c| c.set(Some(key)));
    let before = svc.1 .0.lock().unwrap().len();
    tracing::dispatcher::with_default(&svc.0, || tracing::debug!(target: "app", "x"));
    CURRENT.with(|c| c.set(None));
    let kept = svc.1 .0.lock().unwrap();
    (kept.len() > before).then(|| kept[before])
}

/// A trace id whose rightmost 56 bits are `r` (the byte before them `hi`).
fn id(hi: [u8; 9], r: u64) -> [u8; 16] {
    let mut id = [0; 16];
    id[..9].copy_from_slice(&hi);
    id[9..].copy_from_slice(&r.to_be_bytes()[1..]);
    id
}

fn hex14(r: u64) -> String {
    format!("{r:014x}")
}

/// Rates as the directive grammar writes them: powers of two and fractions.
fn rate() -> impl Strategy<Value = (String, f64)> {
    prop_oneof![
        (0u32..=23).prop_map(|k| (format!("1/{}", 1u32 << k), 0.5f64.powi(k as i32))),
        (1u32..=1000, 1u32..=1000).prop_map(|(a, b)| {
            let (a, b) = (a.min(b), a.max(b));
            (format!("{a}/{b}"), a as f64 / b as f64)
        }),
    ]
}

const R: std::ops::Range<u64> = 0..MAX_ADJUSTED_COUNT;

/// |T − (1 − p) · 2^56| within half a unit of the last hex digit kept (at
/// least 4 digits), so the probability is within 2^-12 of p, relatively.
fn close_to(t: Threshold, p: f64) -> bool {
    let exact = (1.0 - p) * MAX_ADJUSTED_COUNT as f64;
    let p_t = t.probability();
    (t.value() as f64 - exact).abs() <= (1u64 << 39) as f64 && ((p_t - p) / p).abs() <= 1.0 / 4096.0
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// keep iff R ≥ T, R the trace id's rightmost 56 bits; the byte before
    /// them (which the legacy test reads) plays no part.
    #[test]
    fn keeps_iff_randomness_reaches_the_threshold((text, p) in rate(), r in R, hi in any::<[u8; 9]>(), sampled in any::<bool>()) {
        let t = Threshold::from_probability(p).unwrap();
        prop_assert!(close_to(t, p), "{p}: {t}");
        let svc = service(TracePolicy::Probability, &format!("app={text}"));
        let kept = log(&svc, TraceKey::new(id(hi, r), sampled));
        prop_assert_eq!(kept.is_some(), r >= t.value());
        if let Some(rate) = kept {
            // The flag is not read; the weight is the threshold's.
            prop_assert_eq!(rate, (p < 1.0).then(|| t.probability()));
        }
    }

    /// `rv` (exactly 14 lowercase hex digits) replaces the trace id's bits;
    /// anything else in its place is ignored.
    #[test]
    fn rv_overrides_the_trace_id(r in R, rv in R, junk in "[0-9a-fA-Z;:]{0,20}") {
        let key = TraceKey::new(id([0; 9], r), true);
        prop_assert_eq!(key.with_ot(&format!("rv:{}", hex14(rv))).randomness(), rv);
        prop_assert_eq!(key.with_ot(&format!("th:8;rv:{};x:1", hex14(rv))).randomness(), rv);
        let bad = format!("rv:{junk}");
        // `;` ends a sub-key: the value is what comes before the first one.
        let value = junk.split(';').next().unwrap_or("");
        let expected = if value.len() == 14 && value.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            u64::from_str_radix(value, 16).unwrap()
        } else {
            r
        };
        prop_assert_eq!(key.with_ot(&bad).randomness(), expected);
    }

    /// Any string is read without a panic, and longer than the W3C limit it
    /// is ignored whole.
    #[test]
    fn hostile_ot_values_are_harmless(s in ".{0,300}", r in R) {
        let key = TraceKey::new(id([7; 9], r), true).with_ot(&s);
        if s.len() > MAX_OT_LEN {
            prop_assert_eq!(key.randomness(), r);
            prop_assert_eq!(key.head_threshold(), None);
        }
        let _ = s.parse::<Threshold>();
    }

    /// `th` round trip: every threshold prints without trailing zeros and
    /// reads back; every 1–14 digit value without a trailing zero prints back.
    #[test]
    fn th_round_trips(t in R, digits in "[0-9a-f]{0,13}[1-9a-f]") {
        let th = Threshold::from_value(t).unwrap();
        let text = th.to_string();
        prop_assert!(text == "0" || !text.ends_with('0'));
        prop_assert!(text.len() <= 14);
        prop_assert_eq!(text.parse::<Threshold>().unwrap(), th);
        let read: Threshold = digits.parse().unwrap();
        prop_assert_eq!(read.to_string(), digits.clone());
        prop_assert_eq!(read.value(), u64::from_str_radix(&digits, 16).unwrap() << (4 * (14 - digits.len())));
    }

    /// Nesting: a higher rate has a lower threshold, so keeps a superset.
    #[test]
    fn a_higher_rate_keeps_a_superset((_, a) in rate(), (_, b) in rate(), r in R) {
        let (lo, hi) = (a.min(b), a.max(b));
        let (t_lo, t_hi) = (Threshold::from_probability(lo).unwrap(), Threshold::from_probability(hi).unwrap());
        prop_assert!(t_lo >= t_hi);
        prop_assert!(!t_lo.keeps(r) || t_hi.keeps(r));
    }

    /// FollowTrace under a head sampler that wrote `th`: the flag, then the
    /// specification's test at the log rate; the weight is the probability
    /// of both, min(p_head, p_log), since the two tests share R.
    #[test]
    fn follow_trace_weighs_by_the_head_threshold(k in 0u32..=12, (text, p) in rate(), r in R) {
        let head = Threshold::from_value(MAX_ADJUSTED_COUNT - (MAX_ADJUSTED_COUNT >> k)).unwrap();
        let svc = service(TracePolicy::FollowTrace, &format!("app={text}"));
        let sampled = head.keeps(r);
        let key = TraceKey::new(id([0; 9], r), sampled).with_ot(&format!("th:{head}"));
        let log_t = Threshold::from_probability(p).unwrap();
        let kept = log(&svc, key);
        prop_assert_eq!(kept.is_some(), sampled && log_t.keeps(r));
        if let Some(rate) = kept {
            let both = log_t.max(head).probability();
            prop_assert_eq!(rate, (both < 1.0).then_some(both));
            prop_assert_eq!(both, log_t.probability().min(0.5f64.powi(k as i32)));
        }
    }
}

#[test]
fn the_specification_examples_and_opentelemetry_go_s_thresholds() {
    // th for p = 1, 1/2, 1/4 as the specification writes them.
    for (p, th) in [(1.0, "0"), (0.5, "8"), (0.25, "c")] {
        assert_eq!(Threshold::from_probability(p).unwrap().to_string(), th);
    }
    // The thresholds opentelemetry-go's ProbabilitySampler computes (its
    // tests' table), so a Go head sampler and these logs agree exactly.
    for (p, t) in [
        (0.5, 0x80000000000000u64),
        (1.0 / 3.0, 0xaaab0000000000),
        (2.0 / 3.0, 0x55550000000000),
        (0.1, 0xe6660000000000),
        (1.0 / 256.0, 0xff000000000000),
        (1.0 / 65536.0, 0xffff0000000000),
        (1.0 / 1048576.0, 0xfffff000000000),
    ] {
        assert_eq!(
            Threshold::from_probability(p).unwrap().value(),
            t,
            "p = {p}"
        );
    }
    assert_eq!(Threshold::from_probability(1.5), Some(Threshold::ALWAYS));
    assert_eq!(
        Threshold::from_probability(1.0 - 0.5f64.powi(54)),
        Some(Threshold::ALWAYS)
    );
    assert_eq!(
        Threshold::from_probability(1.0 - 0.5f64.powi(53))
            .unwrap()
            .value(),
        8
    );
    assert_eq!(Threshold::from_probability(0.0), None);
    assert_eq!(Threshold::from_probability(f64::NAN), None);
    assert_eq!(Threshold::from_probability(0.5f64.powi(57)), None);
    assert_eq!(
        Threshold::from_probability(0.5f64.powi(56))
            .unwrap()
            .value(),
        MAX_ADJUSTED_COUNT - 1
    );
    let e = "e66G".parse::<Threshold>().unwrap_err().to_string();
    assert!(e.contains("e66G") && e.contains("hex"), "{e}");
    let e = "123456789abcdef"
        .parse::<Threshold>()
        .unwrap_err()
        .to_string();
    assert!(e.contains("15 digits"), "{e}");
}

#[test]
fn an_inconsistent_head_threshold_is_not_used() {
    // th:8 (p = 1/2) on a trace whose R is below it, or that is not sampled:
    // the head's probability is unknown, so the weight is the log rate's.
    let low = TraceKey::new(id([0; 9], 1), true).with_ot("th:8");
    assert_eq!(low.head_threshold(), None);
    let unsampled = TraceKey::new(id([0; 9], u64::MAX >> 8), false).with_ot("th:8");
    assert_eq!(unsampled.head_threshold(), None);
    let ok = TraceKey::new(id([0; 9], u64::MAX >> 8), true).with_ot("th:8");
    assert_eq!(ok.head_threshold(), Threshold::from_value(1 << 55));
    let svc = service(TracePolicy::FollowTrace, "");
    assert_eq!(log(&svc, ok), Some(Some(0.5)));
    // Without a usable th, FollowTrace at rate 1 keeps the sampled trace whole.
    assert_eq!(log(&svc, low), Some(None));
    assert_eq!(log(&svc, unsampled), None);
}
