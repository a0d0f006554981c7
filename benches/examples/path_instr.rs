//! Instructions per event on the sampler's main paths, for `callgrind`
//! (deterministic where criterion's nanoseconds are noisy on a shared
//! machine): run a case at two counts and divide the difference of the
//! totals by the difference of the counts (`docs/benchmarks.md`,
//! *The sampler regrouped*).
//!
//! ```text
//! valgrind --tool=callgrind ./path_instr <case> 100000
//! valgrind --tool=callgrind ./path_instr <case> 200000
//! ```
//!
//! Cases, as the criterion rows of the same names: `rate` (a sampled-out
//! callsite-keyed event at 1/1000), `budget` (the same under `1000/s`),
//! `key` (a sampled-out event keyed by one of 1 000 strings), `kept_key`
//! (the same keys under a budget they never reach: every event kept),
//! `formatted` (a kept event formatted by `fmt` in a `CaptureLayer`, through a `CaptureWriter`
//! to `io::sink`), `annotated` (a kept event at 1/2 formatted by `fmt`
//! inside `Annotated`, which writes its `sample_rate`, to `io::sink`; half
//! the events are sampled out, so divide by two for the kept line's cost
//! after subtracting a sampled-out event's), `captured` (events at rate 0 four
//! to a `request` span that captures, discarded when it closes) and `in_spans`
//! (the same with capture off: subtract it from `captured` for capture's cost);
//! both format with `backpressure_writer::format`'s `PlainFields` and `PlainFull`;
//! `captured_deferred` and `in_spans_deferred` are the same with
//! `backpressure_writer::deferred`'s layer, which records instead of formatting.
//! `span_floor` and `span_deferred` make, enter and close the request span
//! tower-http's `TraceLayer` makes (no event): under a registry with a layer
//! that does nothing, and with the deferred layer recording its values.

use axum::http::{Method, Uri, Version};
use backpressure_writer::deferred::DeferredLayer;
use backpressure_writer::format::{PlainFields, PlainFull};
use sampling_layer::capture::{Capture, CaptureLayer, CaptureWriter};
use sampling_layer::{Annotated, Breaker, SamplingFilter};
use tracing::{info, Dispatch, Subscriber};
use tracing_subscriber::{layer::Context, prelude::*, Layer};

/// The end of the stack: does nothing with what reaches it.
struct Sink;

impl<S: Subscriber> Layer<S> for Sink {
    fn on_event(&self, e: &tracing::Event<'_>, _: Context<'_, S>) {
        std::hint::black_box(e);
    }
}

fn sampler(directives: &str, capture: bool) -> SamplingFilter {
    let b = SamplingFilter::builder().breaker(Breaker::disabled());
    let b = if capture {
        b.capture(Capture::default().span("request"))
    } else {
        b
    };
    b.parse(directives).expect("valid directives")
}

fn main() {
    let mut args = std::env::args().skip(1);
    let usage =
        "usage: path_instr rate|budget|key|kept_key|formatted|annotated|captured|in_spans|captured_deferred|in_spans_deferred|span_floor|span_deferred <events>";
    let case = args.next().expect(usage);
    let n: u64 = args.next().and_then(|a| a.parse().ok()).expect(usage);
    let keys: Vec<String> = (0..1000).map(|i| format!("client-{i:04}")).collect();
    let plain = |d: &str| -> Dispatch {
        tracing_subscriber::registry()
            .with(Sink.with_filter(sampler(d, false)))
            .into()
    };
    // `captured` and `in_spans` log their events four to a `request` span, as a
    // service's request does: captured (and discarded at the span's close), or
    // sampled out with capture off; the difference is what capture costs.
    let in_spans = matches!(
        case.as_str(),
        "captured" | "in_spans" | "captured_deferred" | "in_spans_deferred"
    );
    let spans_only = matches!(case.as_str(), "span_floor" | "span_deferred");
    let (dispatch, keyed) = match case.as_str() {
        // A registry with no layer never frees a closed span: one layer that does
        // nothing is the floor a span's cost is measured from.
        "span_floor" => (
            tracing_subscriber::registry()
                .with(tracing_subscriber::layer::Identity::new())
                .into(),
            false,
        ),
        "span_deferred" => (
            tracing_subscriber::registry()
                .with(DeferredLayer::new(std::io::sink))
                .into(),
            false,
        ),
        "captured_deferred" | "in_spans_deferred" => {
            let s = sampler("app=0", case == "captured_deferred");
            let handle = s.handle();
            let writer = CaptureWriter::new(std::io::sink, &handle);
            let layer = CaptureLayer::new(DeferredLayer::new(writer), &handle).with_filter(s);
            (tracing_subscriber::registry().with(layer).into(), false)
        }
        "captured" | "in_spans" => {
            let s = sampler("app=0", case == "captured");
            let handle = s.handle();
            let writer = CaptureWriter::new(std::io::sink, &handle);
            let layer = tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(writer)
                .fmt_fields(PlainFields::new())
                .event_format(PlainFull::new());
            let layer = CaptureLayer::new(layer, &handle).with_filter(s);
            (tracing_subscriber::registry().with(layer).into(), false)
        }
        "rate" => (plain("app=0.001"), false),
        "budget" => (plain("app=1000/s"), false),
        "key" => (plain("app=0.001"), true),
        "kept_key" => (plain("app=1000000000/s"), true),
        "formatted" => {
            let s = sampler("app=1", true);
            let handle = s.handle();
            let writer = CaptureWriter::new(std::io::sink, &handle);
            let layer = tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(writer);
            let layer = CaptureLayer::new(layer, &handle).with_filter(s);
            (tracing_subscriber::registry().with(layer).into(), false)
        }
        "annotated" => {
            let layer = tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .event_format(Annotated::new(
                    tracing_subscriber::fmt::format().with_ansi(false),
                ))
                .with_writer(std::io::sink)
                .with_filter(sampler("app=1/2", false));
            (tracing_subscriber::registry().with(layer).into(), false)
        }
        _ => panic!("{usage}"),
    };
    tracing::dispatcher::with_default(&dispatch, || {
        if spans_only {
            let (method, uri) = (Method::GET, Uri::from_static("/work?page=2"));
            for _ in 0..n {
                // The span tower-http's `TraceLayer::new_for_http()` makes.
                let span = tracing::debug_span!(
                    target: "tower_http::trace::make_span",
                    "request",
                    method = %method,
                    uri = %uri,
                    version = ?Version::HTTP_11,
                );
                let _e = span.enter();
            }
            return;
        }
        if in_spans {
            for i in 0..n / 4 {
                let span = tracing::info_span!("request", id = i);
                let _e = span.enter();
                for step in 0..4u64 {
                    info!(target: "app", step, "event");
                }
            }
            return;
        }
        for i in 0..n {
            std::hint::black_box(i);
            if keyed {
                info!(target: "app", sample_key = keys[(i % 1000) as usize].as_str(), "event");
            } else {
                info!(target: "app", n = 1, "event");
            }
        }
    });
}
