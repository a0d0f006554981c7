//! Logs line up with traces: a sampler keyed on the OpenTelemetry trace keeps
//! the logs of exactly the traces the SDK exports, in one process and across
//! two that propagate W3C `traceparent`.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{SpanId, TraceId, TracerProvider as _};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{IdGenerator, InMemorySpanExporter, Sampler, SdkTracerProvider};
use sampling_layer::{
    clock::ManualClock, extract::KeyExtractor, otel, Mode, Pressure, SamplingFilter,
};
use tracing::{Dispatch, Level};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::{layer::Context, prelude::*, Layer};

type Id = [u8; 16];

/// Trace ids from a counter through splitmix64: the same ids in every run,
/// so runs at two rates see the same traces.
#[derive(Debug, Default)]
struct FixedIds(AtomicU64);

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl IdGenerator for FixedIds {
    fn new_trace_id(&self) -> TraceId {
        let n = self.0.fetch_add(1, Ordering::Relaxed);
        let mut id = [0; 16];
        id[..8].copy_from_slice(&splitmix(n ^ 0x5555).to_be_bytes());
        id[8..].copy_from_slice(&splitmix(n).to_be_bytes());
        TraceId::from_bytes(id)
    }

    fn new_span_id(&self) -> SpanId {
        let n = self.0.fetch_add(1, Ordering::Relaxed);
        SpanId::from_bytes((splitmix(n) | 1).to_be_bytes())
    }
}

/// An event a layer was given: the trace current at it, and its level.
type Seen = (Option<Id>, Level);

/// The events a layer was given.
#[derive(Clone, Default)]
struct Kept(Arc<Mutex<Vec<Seen>>>);

impl<S: tracing::Subscriber> Layer<S> for Kept {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        let trace = otel::current_trace().map(|k| k.trace_id());
        let level = *event.metadata().level();
        self.0.lock().unwrap().push((trace, level));
    }
}

impl Kept {
    fn traces(&self, level: Level) -> BTreeSet<Id> {
        let events = self.0.lock().unwrap();
        events
            .iter()
            .filter(|(_, l)| *l == level)
            .map(|(t, _)| t.expect("every logged event is inside a trace"))
            .collect()
    }

    fn count(&self, level: Level) -> usize {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, l)| *l == level)
            .count()
    }
}

struct Service {
    dispatch: Dispatch,
    exporter: InMemorySpanExporter,
    kept: Kept,
    provider: SdkTracerProvider,
}

impl Service {
    fn new(head: Sampler, sampler: SamplingFilter, activation: bool) -> Self {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_sampler(head)
            .with_id_generator(FixedIds::default())
            .with_simple_exporter(exporter.clone())
            .build();
        let kept = Kept::default();
        let subscriber = tracing_subscriber::registry()
            .with(
                tracing_opentelemetry::layer()
                    .with_tracer(provider.tracer("test"))
                    .with_context_activation(activation),
            )
            .with(kept.clone().with_filter(sampler));
        Service {
            dispatch: Dispatch::new(subscriber),
            exporter,
            kept,
            provider,
        }
    }

    fn exported(&self) -> BTreeSet<Id> {
        self.provider.force_flush().unwrap();
        let spans = self.exporter.get_finished_spans().unwrap();
        spans
            .iter()
            .map(|s| s.span_context.trace_id().to_bytes())
            .collect()
    }
}

fn sampler(extractor: KeyExtractor, directives: &str) -> SamplingFilter {
    SamplingFilter::builder()
        .key_extractor(extractor)
        .parse(directives)
        .unwrap()
}

const REQUESTS: u64 = 10_000;

/// Each request: a root span with three DEBUG events, and a WARN in every
/// thousandth.
fn serve(svc: &Service, requests: u64) {
    tracing::dispatcher::with_default(&svc.dispatch, || {
        for i in 0..requests {
            let span = tracing::info_span!("request", i);
            let _entered = span.enter();
            tracing::debug!(target: "app", "parsed");
            tracing::debug!(target: "app::db", rows = i, "queried");
            tracing::debug!(target: "app", "replied");
            if i % 1000 == 0 {
                tracing::warn!(target: "app", "slow");
            }
        }
    });
}

/// Serves 10 000 requests and checks that the logs kept are exactly those
/// of the exported traces; returns those traces.
fn lines_up(head_rate: f64, extractor: KeyExtractor, directives: &str) -> BTreeSet<Id> {
    let svc = Service::new(
        Sampler::TraceIdRatioBased(head_rate),
        sampler(extractor, directives),
        true,
    );
    serve(&svc, REQUESTS);
    let exported = svc.exported();
    assert!(!exported.is_empty() && exported.len() < REQUESTS as usize);
    assert_eq!(svc.kept.traces(Level::DEBUG), exported);
    // Every log of a kept trace, none of the others; every WARN.
    assert_eq!(svc.kept.count(Level::DEBUG), 3 * exported.len());
    assert_eq!(svc.kept.count(Level::WARN), (REQUESTS / 1000) as usize);
    exported
}

#[test]
fn follow_trace_keeps_exactly_the_logs_of_sampled_traces() {
    let low = lines_up(0.1, otel::follow_trace(), "");
    let high = lines_up(0.25, otel::follow_trace(), "");
    assert!(high.is_superset(&low) && high.len() > low.len());
}

#[test]
fn trace_id_ratio_agrees_with_the_sdk_at_the_same_rate() {
    let low = lines_up(0.1, otel::trace_id_ratio(), "0.1");
    let high = lines_up(0.25, otel::trace_id_ratio(), "25%");
    assert!(high.is_superset(&low) && high.len() > low.len());
    // Both policies keep the same traces when the head sampler is the ratio.
    assert_eq!(low, lines_up(0.1, otel::follow_trace(), ""));
}

#[test]
fn two_services_keep_the_same_traces_logs() {
    // A decides at the head; B only follows its parent (AlwaysOff for roots)
    // and keys its logs on the trace id alone, at A's rate.
    let a = Service::new(
        Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(0.25))),
        sampler(otel::follow_trace(), ""),
        true,
    );
    let b = Service::new(
        Sampler::ParentBased(Box::new(Sampler::AlwaysOff)),
        sampler(otel::trace_id_ratio(), "0.25"),
        true,
    );
    let propagator = TraceContextPropagator::new();
    for i in 0..2_000 {
        let mut headers = HashMap::new();
        tracing::dispatcher::with_default(&a.dispatch, || {
            let span = tracing::info_span!("call", i);
            let _entered = span.enter();
            tracing::debug!(target: "a", "calling b");
            propagator.inject_context(&span.context(), &mut headers);
        });
        assert!(headers.contains_key("traceparent"));
        tracing::dispatcher::with_default(&b.dispatch, || {
            let span = tracing::info_span!("handle", i);
            span.set_parent(propagator.extract(&headers)).unwrap();
            let _entered = span.enter();
            tracing::debug!(target: "b", "handling");
        });
    }
    let exported = a.exported();
    assert!(!exported.is_empty() && exported.len() < 2_000);
    assert_eq!(b.exported(), exported);
    assert_eq!(a.kept.traces(Level::DEBUG), exported);
    assert_eq!(b.kept.traces(Level::DEBUG), exported);
}

#[test]
fn without_context_activation_events_fall_back_to_their_rate() {
    // No trace is sampled; with activation on, FollowTrace drops every log.
    let on = Service::new(Sampler::AlwaysOff, sampler(otel::follow_trace(), ""), true);
    serve(&on, 100);
    assert_eq!(on.kept.count(Level::DEBUG), 0);
    // With activation off no trace is current: the fallback at rate 1 keeps all.
    let off = Service::new(Sampler::AlwaysOff, sampler(otel::follow_trace(), ""), false);
    serve(&off, 100);
    assert_eq!(off.kept.count(Level::DEBUG), 300);
    let none = Service::new(
        Sampler::AlwaysOff,
        sampler(otel::follow_trace(), "0"),
        false,
    );
    serve(&none, 100);
    assert_eq!(none.kept.count(Level::DEBUG), 0);
}

#[test]
fn an_explicit_parent_is_decided_by_the_current_trace() {
    let svc = Service::new(Sampler::AlwaysOff, sampler(otel::follow_trace(), ""), true);
    tracing::dispatcher::with_default(&svc.dispatch, || {
        let current = tracing::info_span!("current");
        let _entered = current.enter();
        // The current trace (not sampled) decides: dropped. Decided by its
        // explicit parent (none, so no trace) it would fall back to rate 1: kept.
        tracing::debug!(parent: None, "rootless");
    });
    assert_eq!(svc.kept.count(Level::DEBUG), 0);
    // The same event outside the span falls back and is kept.
    tracing::dispatcher::with_default(&svc.dispatch, || {
        tracing::debug!(parent: None, "rootless");
    });
    assert_eq!(svc.kept.count(Level::DEBUG), 1);
}

#[test]
fn outside_any_trace_the_consistent_field_decides() {
    // Same decisions as a plain consistent sampler on `request_id`.
    let keyed = |extractor: Option<KeyExtractor>| {
        let mut b = SamplingFilter::builder().mode(Mode::Consistent {
            field: "request_id".into(),
        });
        if let Some(x) = extractor {
            b = b.key_extractor(x);
        }
        let sampler = b.parse("0.3").unwrap();
        let hits = Counter::default();
        let subscriber = tracing_subscriber::registry().with(hits.clone().with_filter(sampler));
        tracing::subscriber::with_default(subscriber, || {
            for i in 0..2_000u64 {
                tracing::debug!(request_id = i, "outside any span");
            }
        });
        let kept = hits.0.lock().unwrap().clone();
        kept
    };
    let with = keyed(Some(otel::trace_id_ratio()));
    let without = keyed(None);
    assert!(!with.is_empty() && with.len() < 2_000);
    assert_eq!(with, without);
}

/// The `request_id` of each event a layer was given.
#[derive(Clone, Default)]
struct Counter(Arc<Mutex<Vec<u64>>>);

impl<S: tracing::Subscriber> Layer<S> for Counter {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        struct V(Option<u64>);
        impl tracing::field::Visit for V {
            fn record_u64(&mut self, f: &tracing::field::Field, v: u64) {
                if f.name() == "request_id" {
                    self.0 = Some(v);
                }
            }
            fn record_debug(&mut self, _: &tracing::field::Field, _: &dyn std::fmt::Debug) {}
        }
        let mut v = V(None);
        event.record(&mut v);
        self.0.lock().unwrap().push(v.0.unwrap());
    }
}

#[test]
fn outside_any_trace_without_a_field_each_event_is_a_draw() {
    // Deterministic mode would keep positions 0, 2, 4, ... exactly; outside a
    // trace the extractor's fallback is an independent draw instead (the
    // chance that 200 draws at 1/2 give exactly that pattern is 2^-200).
    let sampler = sampler(otel::follow_trace(), "1/2");
    let hits = Counter::default();
    let subscriber = tracing_subscriber::registry().with(hits.clone().with_filter(sampler));
    tracing::subscriber::with_default(subscriber, || {
        for i in 0..200u64 {
            tracing::debug!(request_id = i, "outside any span");
        }
    });
    let kept = hits.0.lock().unwrap().clone();
    let alternate: Vec<u64> = (0..200).step_by(2).collect();
    assert!(!kept.is_empty() && kept.len() < 200);
    assert_ne!(kept, alternate);
}

/// The trace current at each event a layer was given, and its `sample_rate`.
type Rated = (Option<Id>, Option<f64>);

#[derive(Clone, Default)]
struct Rates(Arc<Mutex<Vec<Rated>>>);

impl<S: tracing::Subscriber> Layer<S> for Rates {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        let trace = otel::current_trace().map(|k| k.trace_id());
        let rate = sampling_layer::sample_rate(event);
        self.0.lock().unwrap().push((trace, rate));
    }
}

/// Pressure does not thin the logs of a trace the policy keeps, as a budget
/// may not: under `follow_trace` at `app=0.5` with every trace sampled
/// (AlwaysOn) and the writer full (fill 1.0), each round of 2 000 traces
/// keeps the logs of exactly the traces kept without pressure (those
/// `TraceIdRatio` at 0.5 keeps), round after round, while the scale sits
/// at its floor. Events outside any trace are still thinned by it, and
/// carry the rate they were kept at.
#[test]
fn pressure_does_not_thin_the_logs_of_followed_traces() {
    const ROUNDS: usize = 5;
    const TRACES: u64 = 2_000;
    let run = |pressure: bool| {
        let clock = ManualClock::new();
        let mut b = SamplingFilter::builder().key_extractor(otel::follow_trace());
        if pressure {
            b = b
                .clock(clock.clone())
                .pressure(Pressure::new(|| 1.0).floor(1.0 / 64.0));
        }
        let sampler = b.parse("app=0.5").unwrap();
        let handle = sampler.handle();
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_sampler(Sampler::AlwaysOn)
            .with_id_generator(FixedIds::default())
            .with_simple_exporter(exporter.clone())
            .build();
        let rates = Rates::default();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")))
            .with(rates.clone().with_filter(sampler));
        let mut per_round = Vec::new();
        tracing::subscriber::with_default(subscriber, || {
            for _ in 0..ROUNDS {
                let before = rates.0.lock().unwrap().len();
                for i in 0..TRACES {
                    let span = tracing::info_span!("request", i);
                    let _entered = span.enter();
                    tracing::debug!(target: "app", "handled");
                    // Pressure is read at most every 50 ms of its clock.
                    clock.advance(Duration::from_millis(10));
                }
                per_round.push(rates.0.lock().unwrap().len() - before);
            }
            // Outside any trace: the fallback's draw, under the scale.
            for i in 0..4_000u64 {
                tracing::debug!(target: "app", i, "no trace");
            }
        });
        provider.force_flush().unwrap();
        let exported = exporter.get_finished_spans().unwrap().len();
        assert_eq!(
            exported,
            ROUNDS * TRACES as usize,
            "AlwaysOn exports every trace"
        );
        let events = rates.0.lock().unwrap().clone();
        (per_round, events, handle.stats().pressure_scale)
    };
    let (free, free_events, free_scale) = run(false);
    let (pressed, events, scale) = run(true);
    assert_eq!(free_scale, 1.0);
    assert_eq!(
        scale,
        1.0 / 64.0,
        "the writer is full: the scale sits at its floor"
    );
    // Each round keeps the traces `TraceIdRatio` at 0.5 keeps: about half.
    assert!(free.iter().all(|&n| n > 800 && n < 1_200), "{free:?}");
    assert_eq!(pressed, free, "logs of sampled traces kept per round");
    // The same traces, and inside a trace every kept event carries the
    // directive rate.
    let traces = |e: &[Rated]| e.iter().filter_map(|(t, _)| *t).collect::<BTreeSet<Id>>();
    assert_eq!(traces(&events), traces(&free_events));
    assert!(events
        .iter()
        .filter(|(t, _)| t.is_some())
        .all(|(_, r)| *r == Some(0.5)));
    // Outside any trace: 4 000 draws at 0.5 without pressure, at 0.5/64
    // with it (about 2 000 and 31 kept), each carrying the rate it was kept at.
    let outside = |e: &[Rated]| {
        e.iter()
            .filter(|(t, _)| t.is_none())
            .cloned()
            .collect::<Vec<_>>()
    };
    let (free_out, out) = (outside(&free_events), outside(&events));
    assert!(
        free_out.len() > 1_700 && free_out.len() < 2_300,
        "{}",
        free_out.len()
    );
    assert!(out.len() < 100, "{}", out.len());
    assert!(free_out.iter().all(|(_, r)| *r == Some(0.5)));
    assert!(out.iter().all(|(_, r)| *r == Some(0.5 / 64.0)), "{out:?}");
}
