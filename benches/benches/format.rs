//! What formatting costs the caller, `fmt`'s formatters raced side by side against the
//! `backpressure_writer::format` drop-ins (see `docs/benchmarks.md`):
//!
//! - `kept_event/*`: one kept event with a literal message and three fields (`u64`, `&str`,
//!   `bool`) inside a request span, formatted by `fmt::layer()` (ANSI off) into `io::sink`
//!   and into this crate's writer: `fmt`'s own formatters; `fmt`'s with the cached timer
//!   only; the `format` module's three together; both behind a sampler keeping 999 in
//!   1000 with `sampling-layer`'s `Annotated` (the service benchmark's formatter); and
//!   recorded by `backpressure_writer::deferred`'s layer, laid out on the writer's thread;
//! - `timer/*`: `fmt::time::SystemTime` and `CachedSystemTime` writing a timestamp;
//! - `request_span/*`: the request span tower-http's `TraceLayer` opens (`%method`, `%uri`,
//!   `?version`), entered, exited and closed with no event: under a bare `registry()`
//!   (which never frees the closed span, so its memory only grows), under `registry()`
//!   with a layer that does nothing (the floor: the span is freed), with a `fmt` layer formatting its fields with `DefaultFields`, with `PlainFields`,
//!   with `PlainFields` behind the service benchmark's sampler, and the deferred layer's
//!   recording of its values, alone and behind the sampler.
//!
//! Run: `cargo bench -p benches --bench format -- --warm-up-time 1 --measurement-time 3`

use axum::http::{Method, Uri, Version};
use backpressure_writer::deferred::{Decoded, DeferredLayer};
use backpressure_writer::format::{CachedSystemTime, PlainFields, PlainFull};
use criterion::{criterion_group, criterion_main, Criterion};
use sampling_layer::Annotated;
use tracing::Dispatch;
use tracing_subscriber::fmt::{format::Writer, time::FormatTime};
use tracing_subscriber::{fmt, prelude::*};

/// The service benchmark's directives.
const DIRECTIVES: &str = "app::router=0.05,app::conn=0.01,tower_http=0.01";

/// The span `TraceLayer::new_for_http()` makes for a request.
fn request_span(method: &Method, uri: &Uri) -> tracing::Span {
    tracing::debug_span!(
        target: "tower_http::trace::make_span",
        "request",
        method = %method,
        uri = %uri,
        version = ?Version::HTTP_11,
    )
}

fn bench(c: &mut Criterion, name: &str, dispatch: Dispatch, mut f: impl FnMut()) {
    tracing::dispatcher::with_default(&dispatch, || c.bench_function(name, |b| b.iter(&mut f)));
}

fn kept_event(c: &mut Criterion) {
    let (method, uri) = (Method::GET, Uri::from_static("/work?page=2"));
    let event = || {
        tracing::info!(target: "app::router", pool = 3u64, route = "/work", cached = true, "connection checked out");
    };
    let in_span = |dispatch: Dispatch| {
        // The span is opened once, outside the timed loop: the event's cost alone.
        let span = tracing::dispatcher::with_default(&dispatch, || request_span(&method, &uri));
        (dispatch, span)
    };
    let stacks: [(&str, Dispatch); 3] = [
        (
            "kept_event/fmt_stock",
            tracing_subscriber::registry()
                .with(fmt::layer().with_ansi(false).with_writer(std::io::sink))
                .into(),
        ),
        (
            "kept_event/fmt_stock_cached_timer",
            tracing_subscriber::registry()
                .with(
                    fmt::layer()
                        .with_ansi(false)
                        .with_writer(std::io::sink)
                        .with_timer(CachedSystemTime::new()),
                )
                .into(),
        ),
        (
            "kept_event/plain",
            tracing_subscriber::registry()
                .with(
                    fmt::layer()
                        .with_ansi(false)
                        .with_writer(std::io::sink)
                        .fmt_fields(PlainFields::new())
                        .event_format(PlainFull::new()),
                )
                .into(),
        ),
    ];
    for (name, dispatch) in stacks {
        let (dispatch, span) = in_span(dispatch);
        bench(c, name, dispatch, || span.in_scope(event));
    }
    // Behind a sampler keeping 999 in 1000, each kept line annotated with its rate by
    // `sampling-layer`'s `Annotated`, as the service benchmark's lines are.
    for plain in [false, true] {
        let sampler =
            || sampling_layer::SamplingFilter::try_new("app::router=0.999").expect("directives");
        let layer = fmt::layer().with_ansi(false).with_writer(std::io::sink);
        let (name, dispatch): (&str, Dispatch) = if plain {
            let layer = layer
                .fmt_fields(PlainFields::new())
                .event_format(Annotated::new(PlainFull::new()))
                .with_filter(sampler());
            (
                "kept_event/plain_annotated",
                tracing_subscriber::registry().with(layer).into(),
            )
        } else {
            let layer = layer
                .event_format(Annotated::new(fmt::format()))
                .with_filter(sampler());
            (
                "kept_event/fmt_stock_annotated",
                tracing_subscriber::registry().with(layer).into(),
            )
        };
        let (dispatch, span) = in_span(dispatch);
        bench(c, name, dispatch, || span.in_scope(event));
    }
    // Into this crate's writer (to `io::sink`): what the service's caller pays.
    for plain in [false, true] {
        let (writer, guard) = backpressure_writer::non_blocking(std::io::sink());
        let layer = fmt::layer().with_ansi(false).with_writer(writer);
        let (name, dispatch): (&str, Dispatch) = if plain {
            let layer = layer
                .fmt_fields(PlainFields::new())
                .event_format(PlainFull::new());
            (
                "kept_event/plain_into_writer",
                tracing_subscriber::registry().with(layer).into(),
            )
        } else {
            (
                "kept_event/fmt_stock_into_writer",
                tracing_subscriber::registry().with(layer).into(),
            )
        };
        let (dispatch, span) = in_span(dispatch);
        bench(c, name, dispatch, || span.in_scope(event));
        drop(guard);
    }
    // Recorded on the caller, laid out on the writer's thread (`Decoded` around the sink).
    let (writer, guard) = backpressure_writer::non_blocking(Decoded::new(std::io::sink()));
    let (dispatch, span) = in_span(
        tracing_subscriber::registry()
            .with(DeferredLayer::new(writer))
            .into(),
    );
    bench(c, "kept_event/deferred_into_writer", dispatch, || {
        span.in_scope(event)
    });
    drop(guard);
}

fn timers(c: &mut Criterion) {
    let mut line = String::with_capacity(64);
    let mut time = |name: &str, timer: &dyn FormatTime| {
        c.bench_function(name, |b| {
            b.iter(|| {
                line.clear();
                timer.format_time(&mut Writer::new(&mut line)).unwrap();
            })
        });
    };
    time("timer/fmt_system_time", &fmt::time::SystemTime);
    time("timer/cached_system_time", &CachedSystemTime::new());
}

fn request_spans(c: &mut Criterion) {
    let (method, uri) = (Method::GET, Uri::from_static("/work?page=2"));
    let sink_layer = || fmt::layer().with_ansi(false).with_writer(std::io::sink);
    let deferred = || {
        let (writer, guard) = backpressure_writer::non_blocking(Decoded::new(std::io::sink()));
        // The writer's worker lives as long as the benchmark process; nothing reaches it.
        std::mem::forget(guard);
        DeferredLayer::new(writer)
    };
    let stacks: [(&str, Dispatch); 7] = [
        // A registry with no layer never frees a closed span (its slab only grows, see
        // `tests/baselines.rs`); one with a layer that does nothing is the floor.
        (
            "request_span/bare_registry",
            tracing_subscriber::registry().into(),
        ),
        (
            "request_span/bare_layer",
            tracing_subscriber::registry()
                .with(tracing_subscriber::layer::Identity::new())
                .into(),
        ),
        (
            "request_span/fmt_stock",
            tracing_subscriber::registry().with(sink_layer()).into(),
        ),
        (
            "request_span/plain_fields",
            tracing_subscriber::registry()
                .with(sink_layer().fmt_fields(PlainFields::new()))
                .into(),
        ),
        (
            "request_span/plain_fields_sampled",
            tracing_subscriber::registry()
                .with(
                    sink_layer()
                        .fmt_fields(PlainFields::new())
                        .event_format(PlainFull::new())
                        .with_filter(
                            sampling_layer::SamplingFilter::try_new(DIRECTIVES)
                                .expect("directives"),
                        ),
                )
                .into(),
        ),
        (
            "request_span/deferred",
            tracing_subscriber::registry().with(deferred()).into(),
        ),
        (
            "request_span/deferred_sampled",
            tracing_subscriber::registry()
                .with(deferred().with_filter(
                    sampling_layer::SamplingFilter::try_new(DIRECTIVES).expect("directives"),
                ))
                .into(),
        ),
    ];
    for (name, dispatch) in stacks {
        bench(c, name, dispatch, || {
            let span = request_span(&method, &uri);
            let _entered = span.enter();
        });
    }
}

mod harness {
    #![allow(missing_docs)] // criterion_group! defines an undocumented pub fn.
    use super::*;
    criterion_group!(benches, timers, kept_event, request_spans);
}

criterion_main!(harness::benches);
