//! A Rust service behind a head sampler that follows the specification (as
//! opentelemetry-go's `ProbabilitySampler` does): the upstream decision
//! arrives in W3C `traceparent` (the sampled flag) and `tracestate`
//! (`ot=th:...`, and `rv` where the caller set one). The Rust SDK only
//! follows its parent here (`ParentBased(AlwaysOff)`), as a service in a
//! mixed-language fleet would.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{InMemorySpanExporter, Sampler, SdkTracerProvider};
use sampling_layer::{extract::KeyExtractor, otel, SamplingFilter};
use tracing::Dispatch;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::{layer::Context, prelude::*, Layer};

type Id = [u8; 16];

const MAX: u64 = 1 << 56;

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The n-th upstream trace id: the same in every run.
fn trace_id(n: u64) -> Id {
    let mut id = [0; 16];
    id[..8].copy_from_slice(&splitmix(n ^ 0x5555).to_be_bytes());
    id[8..].copy_from_slice(&splitmix(n).to_be_bytes());
    id
}

/// The specification's randomness: the rightmost 56 bits.
fn randomness(id: &Id) -> u64 {
    u64::from_be_bytes(id[8..].try_into().unwrap()) & (MAX - 1)
}

/// What the upstream head sampler sends: kept iff R ≥ `t`, and then
/// `ot=th:<th>` in `tracestate` when `with_th`, beside another vendor's entry.
fn headers(id: &Id, t: u64, th: &str, with_th: bool) -> HashMap<String, String> {
    let sampled = randomness(id) >= t;
    let mut h = HashMap::new();
    h.insert(
        "traceparent".into(),
        format!(
            "00-{}-00f067aa0ba902b7-0{}",
            id.iter().map(|b| format!("{b:02x}")).collect::<String>(),
            u8::from(sampled)
        ),
    );
    if sampled && with_th {
        h.insert("tracestate".into(), format!("congo=t61rcWkgMzE,ot=th:{th}"));
    }
    h
}

/// A kept event: its trace, target and `sample_rate`.
type Line = (Id, &'static str, Option<f64>);

#[derive(Clone, Default)]
struct Kept(Arc<Mutex<Vec<Line>>>);

impl<S: tracing::Subscriber> Layer<S> for Kept {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        let trace = otel::current_trace().expect("inside a trace").trace_id();
        let line = (
            trace,
            event.metadata().target(),
            sampling_layer::sample_rate(event),
        );
        self.0.lock().unwrap().push(line);
    }
}

struct Service {
    dispatch: Dispatch,
    exporter: InMemorySpanExporter,
    provider: SdkTracerProvider,
    kept: Kept,
}

impl Service {
    fn new(extractor: KeyExtractor, directives: &str) -> Self {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_sampler(Sampler::ParentBased(Box::new(Sampler::AlwaysOff)))
            .with_simple_exporter(exporter.clone())
            .build();
        let sampler = SamplingFilter::builder()
            .key_extractor(extractor)
            .parse(directives)
            .unwrap();
        let kept = Kept::default();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("b")))
            .with(kept.clone().with_filter(sampler));
        Service {
            dispatch: Dispatch::new(subscriber),
            exporter,
            provider,
            kept,
        }
    }

    /// Handles `n` upstream requests: one `app` and one `app::db` line each.
    fn serve(&self, n: u64, t: u64, th: &str, with_th: bool) {
        let propagator = TraceContextPropagator::new();
        tracing::dispatcher::with_default(&self.dispatch, || {
            for i in 0..n {
                let h = headers(&trace_id(i), t, th, with_th);
                let span = tracing::info_span!("handle", i);
                span.set_parent(propagator.extract(&h)).unwrap();
                let _entered = span.enter();
                tracing::debug!(target: "app", "handled");
                tracing::debug!(target: "app::db", "queried");
            }
        });
    }

    fn exported(&self) -> BTreeSet<Id> {
        self.provider.force_flush().unwrap();
        let spans = self.exporter.get_finished_spans().unwrap();
        spans
            .iter()
            .map(|s| s.span_context.trace_id().to_bytes())
            .collect()
    }

    fn lines(&self, target: &str) -> Vec<Line> {
        let kept = self.kept.0.lock().unwrap();
        kept.iter().filter(|l| l.1 == target).cloned().collect()
    }

    fn traces(&self, target: &str) -> BTreeSet<Id> {
        self.lines(target).iter().map(|l| l.0).collect()
    }
}

/// The traces among the first `n` whose R is at least `t`.
fn at_or_above(n: u64, t: u64) -> BTreeSet<Id> {
    (0..n)
        .map(trace_id)
        .filter(|id| randomness(id) >= t)
        .collect()
}

/// `sum(1 / sample_rate)`: what the kept lines say was emitted.
fn estimate(lines: &[Line]) -> f64 {
    lines.iter().map(|l| 1.0 / l.2.unwrap_or(1.0)).sum()
}

const N: u64 = 20_000;

/// With `th:c` (p_head = 1/4) upstream, `follow_trace`'s lines weigh
/// 1/min(p_head, p_log): `app` (rate 1) keeps every sampled trace's line at
/// `sample_rate=0.25`, `app::db=1/16` thins further to R ≥ T(1/16) at
/// 1/16; both sums estimate the 20 000 lines emitted. Without `th` the head
/// rate is unknown: `app`'s lines carry no rate and the sum undercounts by 1/4.
#[test]
fn follow_trace_weights_include_the_head_probability() {
    let quarter = MAX - MAX / 4;
    let svc = Service::new(otel::follow_trace(), "app::db=1/16");
    svc.serve(N, quarter, "c", true);
    let exported = svc.exported();
    assert_eq!(exported, at_or_above(N, quarter));
    let app = svc.lines("app");
    assert_eq!(svc.traces("app"), exported);
    assert!(app.iter().all(|l| l.2 == Some(0.25)), "{:?}", &app[..3]);
    let db = svc.lines("app::db");
    assert_eq!(svc.traces("app::db"), at_or_above(N, MAX - MAX / 16));
    assert!(db.iter().all(|l| l.2 == Some(1.0 / 16.0)));
    for (lines, name) in [(&app, "app"), (&db, "app::db")] {
        let e = estimate(lines);
        assert!((e - N as f64).abs() < 0.05 * N as f64, "{name}: {e}");
    }
    println!(
        "estimates of {N}: app {}, app::db {}",
        estimate(&app),
        estimate(&db)
    );

    let bare = Service::new(otel::follow_trace(), "");
    bare.serve(N, quarter, "c", false);
    let app = bare.lines("app");
    assert_eq!(bare.traces("app"), at_or_above(N, quarter));
    assert!(app.iter().all(|l| l.2.is_none()));
    let e = estimate(&app);
    println!("without th: estimate {e}");
    assert!(e > 0.2 * N as f64 && e < 0.3 * N as f64, "{e}");
}

/// Under a spec head sampler, `follow_trace` thins with the head's own test,
/// so a log rate below 1/257 keeps the traces a sampler at that rate keeps.
/// With the legacy test it kept none at all here: that test keeps small
/// values of the trace id's low bits, the head large ones.
#[test]
fn follow_trace_thins_a_spec_head_s_traces_with_its_test() {
    let half = MAX / 2;
    let svc = Service::new(otel::follow_trace(), "app=1/512");
    svc.serve(N, half, "8", true);
    let expected = at_or_above(N, MAX - MAX / 512);
    assert!(!expected.is_empty());
    println!("kept at 1/512: {}", expected.len());
    assert_eq!(svc.traces("app"), expected);
    assert!(svc.lines("app").iter().all(|l| l.2 == Some(1.0 / 512.0)));
}

/// `otel::probability()` at the head's rate keeps the logs of exactly the
/// traces the head kept, at 1/4 and at 0.1 (the head's `th:e666`, as
/// opentelemetry-go rounds it); a lower rate keeps a subset. The legacy
/// policy at the same rates keeps other traces (none of the same at 1/512).
#[test]
fn probability_keeps_the_traces_a_spec_head_keeps() {
    for (rate, t, th) in [
        ("0.25", MAX - MAX / 4, "c"),
        ("0.1", 0xe6660000000000, "e666"),
    ] {
        let svc = Service::new(otel::probability(), rate);
        svc.serve(N, t, th, true);
        let exported = svc.exported();
        assert_eq!(exported, at_or_above(N, t));
        assert_eq!(svc.traces("app"), exported, "rate {rate}");
        let legacy = Service::new(otel::trace_id_ratio(), rate);
        legacy.serve(N, t, th, true);
        assert_ne!(legacy.traces("app"), exported, "rate {rate}");
    }
    let eighth = Service::new(otel::probability(), "app=1/8");
    eighth.serve(N, MAX - MAX / 4, "c", true);
    let kept = eighth.traces("app");
    assert!(kept.is_subset(&eighth.exported()));
    assert_eq!(kept, at_or_above(N, MAX - MAX / 8));
    assert!(eighth.lines("app").iter().all(|l| l.2 == Some(0.125)));

    // At 1/512 the two algorithms keep disjoint sets (legacy: R < 2^56/2;
    // the specification: R ≥ (1 − 1/512) · 2^56).
    let spec = Service::new(otel::probability(), "1/512");
    let legacy = Service::new(otel::trace_id_ratio(), "1/512");
    for svc in [&spec, &legacy] {
        svc.serve(N, 0, "0", true);
    }
    let (s, l) = (spec.traces("app"), legacy.traces("app"));
    assert!(!s.is_empty() && !l.is_empty());
    assert!(s.is_disjoint(&l));
}

/// `rv` in `tracestate` is the randomness when well-formed; a malformed one
/// is ignored and the trace id's bits decide.
#[test]
fn rv_from_tracestate_decides_when_well_formed() {
    let propagator = TraceContextPropagator::new();
    let low = [0xAB, 0xCD, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1]; // R = 1
    let run = |ot: &str| {
        let svc = Service::new(otel::probability(), "0.5");
        let mut h = headers(&low, 0, "0", false);
        h.insert("tracestate".into(), format!("ot={ot}"));
        tracing::dispatcher::with_default(&svc.dispatch, || {
            let span = tracing::info_span!("handle");
            span.set_parent(propagator.extract(&h)).unwrap();
            let _entered = span.enter();
            tracing::debug!(target: "app", "handled");
        });
        svc.lines("app").len()
    };
    assert_eq!(run("rv:ffffffffffffff"), 1);
    assert_eq!(run("th:0;rv:80000000000000"), 1);
    assert_eq!(run("rv:7fffffffffffff"), 0);
    // 13 digits, upper case: ignored, so R = 1 decides (dropped at 1/2).
    assert_eq!(run("rv:fffffffffffff"), 0);
    assert_eq!(run("rv:FFFFFFFFFFFFFF"), 0);
}
