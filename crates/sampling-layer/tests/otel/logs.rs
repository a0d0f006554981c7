//! The sample rate and the sampling reason on the `LogRecord`s the
//! OpenTelemetry log bridge (`opentelemetry-appender-tracing`) exports, end
//! to end through the SDK's in-memory log exporter: `otel::logs::bridge`.

use std::collections::HashMap;

use opentelemetry::logs::AnyValue;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge;
use opentelemetry_sdk::logs::{InMemoryLogExporter, SdkLoggerProvider};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use sampling_layer::otel::logs::{SAMPLE_RATE, SAMPLE_REASON};
use sampling_layer::{otel, SamplingFilter};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::{fmt, prelude::*};

/// What one exported record says: target, body, `sample_rate`,
/// `sample_reason`, and how many attributes it has in all.
#[derive(Debug, Clone, PartialEq)]
struct Record {
    target: String,
    body: String,
    rate: Option<f64>,
    reason: Option<String>,
    attributes: usize,
    traced: bool,
}

fn records(exporter: &InMemoryLogExporter) -> Vec<Record> {
    let logs = exporter.get_emitted_logs().unwrap();
    logs.iter()
        .map(|l| {
            let r = &l.record;
            let attr = |k: &str| r.attributes_iter().find(|(key, _)| key.as_str() == k);
            Record {
                target: r.target().map(|t| t.to_string()).unwrap_or_default(),
                body: match r.body() {
                    Some(AnyValue::String(s)) => s.to_string(),
                    other => format!("{other:?}"),
                },
                rate: attr(SAMPLE_RATE).map(|(_, v)| match v {
                    AnyValue::Double(d) => *d,
                    other => panic!("sample_rate is {other:?}"),
                }),
                reason: attr(SAMPLE_REASON).map(|(_, v)| match v {
                    AnyValue::String(s) => s.to_string(),
                    other => panic!("sample_reason is {other:?}"),
                }),
                attributes: r.attributes_iter().count(),
                traced: r.trace_context().is_some(),
            }
        })
        .collect()
}

fn logger() -> (SdkLoggerProvider, InMemoryLogExporter) {
    let exporter = InMemoryLogExporter::default();
    let provider = SdkLoggerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    (provider, exporter)
}

/// Sampled records carry the rate and `"rate"`, records of a rule at rate 1
/// `"whole"` and no rate, WARN (never sampled) neither; the event's own
/// fields are still there, and `sum(1 / sample_rate)` counts what was logged.
/// With sampling switched off at run time the reason is `"bypass"`.
#[test]
fn rates_and_reasons_reach_the_log_records() {
    let (provider, exporter) = logger();
    let sampler = SamplingFilter::try_new("app=1/4,app::whole=1").unwrap();
    let handle = sampler.handle();
    let layer = otel::logs::bridge(&provider, OpenTelemetryTracingBridge::new)
        .for_sampler(&handle)
        .with_filter(sampler);
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, || {
        for i in 0..8 {
            tracing::debug!(target: "app", i, "polled");
        }
        for _ in 0..3 {
            tracing::debug!(target: "app::whole", "counted");
        }
        tracing::warn!(target: "app", "slow");
        handle.set_enabled(false);
        tracing::debug!(target: "app", "bypassed");
    });
    let got = records(&exporter);
    let by = |t: &str, b: &str| {
        got.iter()
            .filter(|r| r.target == t && r.body == b)
            .cloned()
            .collect::<Vec<_>>()
    };
    let polled = by("app", "polled");
    assert_eq!(polled.len(), 2, "{got:?}");
    for r in &polled {
        assert_eq!((r.rate, r.reason.as_deref()), (Some(0.25), Some("rate")));
        assert_eq!(r.attributes, 3, "`i`, sample_rate, sample_reason: {r:?}");
    }
    let whole = by("app::whole", "counted");
    assert_eq!(whole.len(), 3);
    assert!(whole
        .iter()
        .all(|r| r.rate.is_none() && r.reason.as_deref() == Some("whole") && r.attributes == 1));
    let warn = by("app", "slow");
    assert_eq!(warn.len(), 1);
    assert_eq!(
        (warn[0].rate, warn[0].reason.as_deref(), warn[0].attributes),
        (None, None, 0)
    );
    let bypassed = by("app", "bypassed");
    assert_eq!(bypassed.len(), 1);
    assert_eq!(
        (bypassed[0].rate, bypassed[0].reason.as_deref()),
        (None, Some("bypass"))
    );
    assert_eq!(got.len(), 7);
    let estimate: f64 = got.iter().map(|r| 1.0 / r.rate.unwrap_or(1.0)).sum();
    assert_eq!(estimate, 8.0 + 3.0 + 1.0 + 1.0);
}

/// Under `follow_trace` behind a head sampler that wrote `th:c` upstream,
/// a record's rate is the head's 1/4 (rate 1 here) and its reason
/// `"trace"`; the bridge still fills in the trace context. A trace without
/// `th` keeps its records whole: reason `"trace"`, no rate.
#[test]
fn records_of_followed_traces_carry_the_head_probability() {
    let (provider, exporter) = logger();
    let tracer = SdkTracerProvider::builder()
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::AlwaysOff)))
        .build();
    let sampler = SamplingFilter::builder()
        .key_extractor(otel::follow_trace())
        .parse("")
        .unwrap();
    let layer = otel::logs::bridge(&provider, OpenTelemetryTracingBridge::new)
        .for_sampler(&sampler.handle())
        .with_filter(sampler);
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(tracer.tracer("svc")))
        .with(layer);
    let propagator = TraceContextPropagator::new();
    tracing::subscriber::with_default(subscriber, || {
        for (state, body) in [(Some("ot=th:c"), "headed"), (None, "bare")] {
            let mut h = HashMap::new();
            // R = 0xffffffffffffff: kept by any threshold.
            h.insert(
                "traceparent".to_string(),
                "00-0af7651916cd43dd84ffffffffffffff-b7ad6b7169203331-01".to_string(),
            );
            if let Some(s) = state {
                h.insert("tracestate".to_string(), s.to_string());
            }
            let span = tracing::info_span!("handle");
            span.set_parent(propagator.extract(&h)).unwrap();
            let _entered = span.enter();
            tracing::debug!(target: "app", "{body}");
        }
    });
    let got = records(&exporter);
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(
        (got[0].body.as_str(), got[0].rate, got[0].reason.as_deref()),
        ("headed", Some(0.25), Some("trace"))
    );
    assert_eq!(
        (got[1].body.as_str(), got[1].rate, got[1].reason.as_deref()),
        ("bare", None, Some("trace"))
    );
    assert!(got.iter().all(|r| r.traced));
}

/// Bound to its own sampler, the bridge writes that sampler's rate even when
/// another sampler in the subscriber decided the same event after it.
#[test]
fn a_bound_bridge_writes_its_own_sampler_s_rate() {
    let (provider, exporter) = logger();
    let logs_sampler = SamplingFilter::try_new("1/2").unwrap();
    let file_sampler = SamplingFilter::try_new("1").unwrap();
    let layer = otel::logs::bridge(&provider, OpenTelemetryTracingBridge::new)
        .for_sampler(&logs_sampler.handle())
        .with_filter(logs_sampler);
    let subscriber = tracing_subscriber::registry()
        .with(
            fmt::layer()
                .with_writer(std::io::sink)
                .with_filter(file_sampler),
        )
        .with(layer);
    tracing::subscriber::with_default(subscriber, || {
        for _ in 0..4 {
            tracing::debug!(target: "app", "x");
        }
    });
    let got = records(&exporter);
    assert_eq!(got.len(), 2);
    assert!(
        got.iter()
            .all(|r| r.rate == Some(0.5) && r.reason.as_deref() == Some("rate")),
        "{got:?}"
    );
}
