//! Sampling benchmarks, raced side by side (see `docs/benchmarks.md`):
//!
//! - a sampled-out event with a callsite key vs the per-layer filter floor (a
//!   `DynFilterFn` that rejects everything) and vs `tracing-throttle` 0.4
//!   suppressing an event;
//! - a sampled-out event with a dynamic string key;
//! - both again under a budget (`app=1000/s`) instead of a rate;
//! - an event disabled by level, with and without the sampler in the stack;
//! - a sampled-out event keyed on the OpenTelemetry trace (`otel::follow_trace`,
//!   `otel::trace_id_ratio`, `otel::probability`) vs a callsite-keyed one, in the
//!   same stack and span;
//! - one key hammered from one thread vs from two threads at once;
//! - parsing (`set_directives`, `split_directives`) of the largest strings
//!   accepted, and refusing one with too many targets;
//! - repeat suppression (`first 5/1min`): a suppressed ERROR keyed on its
//!   callsite, on two named fields and on its formatted message, beside a
//!   sampled-out event and `tracing-throttle` suppressing the same ERROR;
//! - context capture: a sampled-out event with capture configured, outside
//!   any capturing span and inside a non-capturing one, beside the same event
//!   without capture; and a captured event (formatted into its span's buffer)
//!   beside a kept one formatted and written to `io::sink`.
//!
//! Every stack ends in a layer that does nothing, so the figures are the
//! filtering machinery's own cost.
//!
//! Run: `cargo bench -p benches --bench sampling -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use sampling_layer::capture::Capture;
use sampling_layer::{Breaker, Mode, SamplingFilter};
use tracing::{debug, error, info, Dispatch, Subscriber};
use tracing_subscriber::{
    filter::{filter_fn, DynFilterFn, LevelFilter},
    layer::Context,
    prelude::*,
    Layer,
};
use tracing_throttle::{Policy, TracingRateLimitLayer};

/// The end of every stack: does nothing with what reaches it.
struct Sink;

impl<S: Subscriber> Layer<S> for Sink {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        black_box(event);
    }
}

fn sampler(directives: &str) -> SamplingFilter {
    SamplingFilter::builder()
        .breaker(Breaker::disabled())
        .parse(directives)
        .unwrap()
}

/// The sampler as a per-layer filter in front of a layer that does nothing.
fn filtered<
    F: tracing_subscriber::layer::Filter<tracing_subscriber::Registry> + Send + Sync + 'static,
>(
    filter: F,
) -> Dispatch {
    tracing_subscriber::registry()
        .with(Sink.with_filter(filter))
        .into()
}

fn bench_with(c: &mut Criterion, name: &str, dispatch: Dispatch, mut f: impl FnMut(u64)) {
    tracing::dispatcher::with_default(&dispatch, || {
        let mut i = 0u64;
        c.bench_function(name, |b| {
            b.iter(|| {
                i = i.wrapping_add(1);
                f(i)
            })
        });
    });
}

fn sampled_out(c: &mut Criterion) {
    let floor: Dispatch = filtered(DynFilterFn::new(|_, _| false));
    bench_with(
        c,
        "sampled_out/floor_dyn_filter_fn_rejects_all",
        floor,
        |_| info!(target: "app", n = 1, "event"),
    );

    let s: Dispatch = filtered(sampler("app=0.001"));
    bench_with(
        c,
        "sampled_out/sampler_callsite_key_rate_0.001",
        s,
        |_| info!(target: "app", n = 1, "event"),
    );

    // The same event under a budget: after the first adjustment (1 s, in the
    // warm-up) its callsite's rate is 1/N, read from the same rule cache.
    let s: Dispatch = filtered(sampler("app=1000/s"));
    bench_with(
        c,
        "sampled_out/sampler_callsite_key_budget_1000_per_s",
        s,
        |_| info!(target: "app", n = 1, "event"),
    );

    let s: Dispatch = filtered(sampler("app=0"));
    bench_with(
        c,
        "sampled_out/sampler_callsite_key_rate_0",
        s,
        |_| info!(target: "app", n = 1, "event"),
    );

    // The probabilistic mode's cost is its generator's (a thread-local
    // draw) plus the same CAS as the deterministic mode's.
    let s: Dispatch = tracing_subscriber::registry()
        .with(
            Sink.with_filter(
                SamplingFilter::builder()
                    .mode(Mode::Probabilistic)
                    .seed(7)
                    .breaker(Breaker::disabled())
                    .parse("app=0.001")
                    .unwrap(),
            ),
        )
        .into();
    bench_with(
        c,
        "sampled_out/sampler_probabilistic_rate_0.001",
        s,
        |_| info!(target: "app", n = 1, "event"),
    );

    let throttle = TracingRateLimitLayer::builder()
        .with_policy(Policy::count_based(1).unwrap())
        .build()
        .unwrap();
    let t: Dispatch = filtered(throttle);
    bench_with(
        c,
        "sampled_out/tracing_throttle_suppressed",
        t,
        |_| info!(target: "app", n = 1, "event"),
    );

    let keys: Vec<String> = (0..1000).map(|i| format!("client-{i:04}")).collect();
    let s: Dispatch = filtered(sampler("app=0.001"));
    bench_with(
        c,
        "sampled_out/sampler_dynamic_string_key_1000_keys",
        s,
        |i| info!(target: "app", sample_key = keys[(i % 1000) as usize].as_str(), "event"),
    );

    let s: Dispatch = filtered(sampler("app=1000/s"));
    bench_with(
        c,
        "sampled_out/sampler_dynamic_string_key_1000_keys_budget_1000_per_s",
        s,
        |i| info!(target: "app", sample_key = keys[(i % 1000) as usize].as_str(), "event"),
    );

    // A kept keyed event under a budget it never reaches: the whole kept path
    // (key table, rule, count, the figures a kept event moves) with a rate of 1.
    let s: Dispatch = filtered(sampler("app=1000000000/s"));
    bench_with(
        c,
        "kept/sampler_dynamic_string_key_1000_keys_budget_unreached",
        s,
        |i| info!(target: "app", sample_key = keys[(i % 1000) as usize].as_str(), "event"),
    );
}

/// A sampled-out event keyed on the OpenTelemetry trace vs one keyed on its
/// callsite, side by side: the same stack (`tracing-opentelemetry` 0.34 over
/// an SDK 0.33 provider whose sampler drops every trace, given spans only) and
/// the same entered span, so the only difference is the key.
fn otel_keyed(c: &mut Criterion) {
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
    use sampling_layer::{extract::KeyExtractor, otel};

    let provider = SdkTracerProvider::builder()
        .with_sampler(Sampler::AlwaysOff)
        .build();
    let rows: [(&str, Option<KeyExtractor>); 4] = [
        ("otel/sampled_out_callsite_key_rate_0.001_in_span", None),
        (
            "otel/sampled_out_follow_trace_unsampled_trace",
            Some(otel::follow_trace()),
        ),
        (
            "otel/sampled_out_trace_id_ratio_0.001",
            Some(otel::trace_id_ratio()),
        ),
        (
            "otel/sampled_out_probability_0.001",
            Some(otel::probability()),
        ),
    ];
    for (name, extractor) in rows {
        let mut builder = SamplingFilter::builder().breaker(Breaker::disabled());
        if let Some(x) = extractor {
            builder = builder.key_extractor(x);
        }
        let filter = builder.parse("app=0.001").unwrap();
        // The OpenTelemetry layer takes spans only here: given events too, it
        // adds ~220 ns to every row alike (measured; `docs/benchmarks.md`),
        // which would hide the sampler's own cost.
        let otel_layer = tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("bench"))
            .with_filter(filter_fn(|meta| meta.is_span()));
        let dispatch: Dispatch = tracing_subscriber::registry()
            .with(otel_layer)
            .with(Sink.with_filter(filter))
            .into();
        tracing::dispatcher::with_default(&dispatch, || {
            let span = tracing::info_span!("request");
            let _entered = span.enter();
            // A trace either test keeps at 1/1000 keeps every event: check
            // that this one is dropped by both, as the rows' names say.
            let kept = otel::current_trace().map(|t| {
                let low = u64::from_be_bytes(t.trace_id()[8..].try_into().unwrap());
                let spec = sampling_layer::probability::Threshold::from_probability(0.001)
                    .is_some_and(|th| th.keeps(t.randomness()));
                (low >> 1) < (0.001 * (1u64 << 63) as f64) as u64 || spec
            });
            assert_eq!(kept, Some(false), "an unsampled, dropped trace");
            c.bench_function(name, |b| b.iter(|| info!(target: "app", n = 1, "event")));
        });
    }
}

/// Both stacks must leave the global max level at INFO (the sampler gives no
/// hint of its own), so DEBUG events are rejected before any dispatch.
fn assert_max_level_info(d: &Dispatch) {
    tracing::dispatcher::with_default(d, || {
        assert_eq!(
            tracing::level_filters::LevelFilter::current(),
            LevelFilter::INFO
        );
    });
}

fn disabled_by_level(c: &mut Criterion) {
    let without: Dispatch = tracing_subscriber::registry()
        .with(LevelFilter::INFO)
        .with(Sink)
        .into();
    assert_max_level_info(&without);
    bench_with(
        c,
        "disabled_by_level/without_sampler",
        without,
        |_| debug!(target: "app", n = 1, "event"),
    );
    let with: Dispatch = tracing_subscriber::registry()
        .with(LevelFilter::INFO)
        .with(Sink.with_filter(sampler("app=0.001")))
        .into();
    assert_max_level_info(&with);
    bench_with(
        c,
        "disabled_by_level/with_sampler",
        with,
        |_| debug!(target: "app", n = 1, "event"),
    );
    let without: Dispatch = tracing_subscriber::registry()
        .with(LevelFilter::INFO)
        .with(Sink)
        .into();
    // The same stack as the first, measured again: the spread between the two
    // shows how much of a sub-nanosecond difference is code placement.
    bench_with(
        c,
        "disabled_by_level/without_sampler_again",
        without,
        |_| debug!(target: "app", n = 1, "event"),
    );
}

/// Wall time per event per thread with `threads` threads logging on one key at once.
fn contended(dispatch: &Dispatch, threads: usize, iters: u64) -> Duration {
    let barrier = Arc::new(Barrier::new(threads + 1));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let d = dispatch.clone();
            let b = barrier.clone();
            std::thread::spawn(move || {
                tracing::dispatcher::with_default(&d, || {
                    b.wait();
                    for _ in 0..iters {
                        info!(target: "app", n = 1, "event");
                    }
                })
            })
        })
        .collect();
    barrier.wait();
    let start = Instant::now();
    for h in handles {
        h.join().unwrap();
    }
    start.elapsed()
}

fn one_key_threads(c: &mut Criterion) {
    let d: Dispatch = filtered(sampler("app=0.001"));
    for threads in [1, 2] {
        c.bench_function(&format!("one_key/{threads}_thread"), |b| {
            b.iter_custom(|iters| contended(&d, threads, iters))
        });
    }
}

/// `n` comma-separated items made by `item`.
fn items(n: usize, item: impl Fn(usize) -> String) -> String {
    (0..n).map(item).collect::<Vec<_>>().join(",")
}

/// Parsing is linear and bounded: the largest strings accepted, as an
/// admin endpoint calling `set_directives` would pass them.
fn parse(c: &mut Criterion) {
    let mut g = c.benchmark_group("parse");
    g.sample_size(20);
    // ~1 MB: 64 000 distinct keys under one target (keys need no stats row).
    let keys = items(64_000, |i| format!("app[k{i:05}]=0.5"));
    assert!(keys.len() > 1_000_000 && keys.len() <= sampling_layer::limits::MAX_DIRECTIVES_LEN);
    let handle = sampler(&keys).handle();
    g.bench_function("set_directives_1mb_64000_distinct_keys", |b| {
        b.iter(|| handle.set_directives(black_box(&keys)).unwrap())
    });
    // The most distinct targets a set may have.
    let targets = items(sampling_layer::limits::MAX_TARGETS, |i| {
        format!("app::module_{i:04}=0.5")
    });
    let handle = sampler(&targets).handle();
    g.bench_function("set_directives_4095_distinct_targets", |b| {
        b.iter(|| handle.set_directives(black_box(&targets)).unwrap())
    });
    // ~1 MB with 64 000 distinct targets: refused at the first target too many.
    let too_many = items(64_000, |i| format!("app::m{i:05}=0.5"));
    assert!(
        too_many.len() > 1_000_000 && too_many.len() <= sampling_layer::limits::MAX_DIRECTIVES_LEN
    );
    g.bench_function("set_directives_1mb_64000_distinct_targets_refused", |b| {
        b.iter(|| handle.set_directives(black_box(&too_many)).unwrap_err())
    });
    // ~1 MB through the splitter: 4 096 level items for EnvFilter plus keyed rates.
    let mixed = format!(
        "{},{}",
        items(4096, |i| format!("app::module_{i:04}=debug")),
        items(57_500, |i| format!("app[k{i:05}]=0.5"))
    );
    assert!(mixed.len() > 1_000_000 && mixed.len() <= sampling_layer::limits::MAX_DIRECTIVES_LEN);
    g.bench_function("split_directives_1mb_4096_levels_57500_keys", |b| {
        b.iter(|| sampling_layer::split_directives(black_box(&mixed)).unwrap())
    });
    g.finish();
}

fn capture(c: &mut Criterion) {
    let with_capture = |d: &str| {
        SamplingFilter::builder()
            .breaker(Breaker::disabled())
            .capture(Capture::default().span("request"))
            .parse(d)
            .unwrap()
    };
    // The sampled-out path, with nothing to format: capture off, then on
    // but outside a capturing span, then inside a span that does not capture.
    let s: Dispatch = filtered(sampler("app=0.001"));
    bench_with(
        c,
        "capture/sampled_out_capture_off",
        s,
        |_| info!(target: "app", n = 1, "event"),
    );
    let s: Dispatch = filtered(with_capture("app=0.001"));
    bench_with(
        c,
        "capture/sampled_out_outside_capturing_span",
        s.clone(),
        |_| info!(target: "app", n = 1, "event"),
    );
    tracing::dispatcher::with_default(&s, || {
        let span = tracing::info_span!("other");
        let _e = span.enter();
        let mut i = 0u64;
        c.bench_function("capture/sampled_out_inside_non_capturing_span", |b| {
            b.iter(|| {
                i = i.wrapping_add(1);
                info!(target: "app", n = 1, "event")
            })
        });
    });

    // Formatting: a kept event written to `io::sink`, and a captured one
    // (formatted, copied into the span's buffer; past 1 000 lines the oldest
    // is dropped, the steady state of a long request).
    let fmt_layer = |sampler: SamplingFilter| {
        let handle = sampler.handle();
        let writer = sampling_layer::capture::CaptureWriter::new(std::io::sink, &handle);
        let layer = tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .with_writer(writer);
        sampling_layer::capture::CaptureLayer::new(layer, &handle).with_filter(sampler)
    };
    for (name, directives) in [
        ("capture/kept_formatted_to_io_sink", "app=1"),
        ("capture/captured_formatted_into_span_buffer", "app=0"),
    ] {
        let d: Dispatch = tracing_subscriber::registry()
            .with(fmt_layer(with_capture(directives)))
            .into();
        tracing::dispatcher::with_default(&d, || {
            let span = tracing::info_span!("request", id = 7);
            let _e = span.enter();
            let mut i = 0u64;
            c.bench_function(name, |b| {
                b.iter(|| {
                    i = i.wrapping_add(1);
                    info!(target: "app", n = i, "event")
                })
            });
        });
    }
}

/// Repeat suppression: every row after its key's first 5 copies is a
/// suppressed copy (the window is a minute, so no summary in a run).
fn repeats(c: &mut Criterion) {
    let s: Dispatch = filtered(sampler("app=0.001"));
    bench_with(
        c,
        "repeats/reference_sampled_out_rate_0.001",
        s,
        |_| info!(target: "app", n = 1, "event"),
    );
    let s: Dispatch = filtered(sampler("app=first 5/1min"));
    bench_with(
        c,
        "repeats/suppressed_callsite_key",
        s,
        |_| error!(target: "app", n = 1, "event"),
    );
    let s: Dispatch = filtered(sampler("app=first 5/1min by peer+code"));
    bench_with(
        c,
        "repeats/suppressed_two_named_fields",
        s,
        |_| error!(target: "app", peer = "db-1", code = 503, "event"),
    );
    let s: Dispatch = filtered(sampler("app=first 5/1min by message"));
    bench_with(
        c,
        "repeats/suppressed_formatted_message",
        s,
        |_| error!(target: "app", "connection refused by {}", black_box(10)),
    );
    // What one read of the sampler's default clock costs here (a kept
    // copy reads it; a suppressed one once per `CLOCK_READ_EVERY` copies).
    let clock = sampling_layer::clock::SystemClock::default();
    c.bench_function("repeats/system_clock_read", |b| {
        b.iter(|| black_box(sampling_layer::clock::Clock::now(&clock)))
    });
    let throttle = TracingRateLimitLayer::builder()
        .with_policy(Policy::count_based(5).unwrap())
        .build()
        .unwrap();
    let t: Dispatch = filtered(throttle);
    bench_with(
        c,
        "repeats/tracing_throttle_suppressed",
        t,
        |_| error!(target: "app", n = 1, "event"),
    );
}

mod harness {
    #![allow(missing_docs)] // criterion_group! defines an undocumented pub fn.
    use super::*;
    criterion_group!(
        benches,
        sampled_out,
        otel_keyed,
        disabled_by_level,
        one_key_threads,
        parse,
        capture,
        repeats
    );
}
criterion_main!(harness::benches);
