//! Sampling benchmarks, raced side by side (see `docs/benchmarks.md`):
//!
//! - a sampled-out event with a callsite key vs the per-layer filter floor (a
//!   `DynFilterFn` that rejects everything) and vs `tracing-throttle` 0.4
//!   suppressing an event;
//! - a sampled-out event with a dynamic string key;
//! - an event disabled by level, with and without the sampler in the stack;
//! - one key hammered from one thread vs from two threads at once.
//!
//! Every stack ends in a layer that does nothing, so the figures are the
//! filtering machinery's own cost.
//!
//! Run: `cargo bench -p benches --bench sampling -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use sampling_layer::{Breaker, SamplingFilter};
use tracing::{debug, info, Dispatch, Subscriber};
use tracing_subscriber::{
    filter::{DynFilterFn, LevelFilter},
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
    let floor: Dispatch = tracing_subscriber::registry()
        .with(Sink.with_filter(DynFilterFn::new(|_, _| false)))
        .into();
    bench_with(
        c,
        "sampled_out/floor_dyn_filter_fn_rejects_all",
        floor,
        |_| info!(target: "app", n = 1, "event"),
    );

    let s: Dispatch = tracing_subscriber::registry()
        .with(Sink.with_filter(sampler("app=0.001")))
        .into();
    bench_with(
        c,
        "sampled_out/sampler_callsite_key_rate_0.001",
        s,
        |_| info!(target: "app", n = 1, "event"),
    );

    let s: Dispatch = tracing_subscriber::registry()
        .with(Sink.with_filter(sampler("app=0")))
        .into();
    bench_with(
        c,
        "sampled_out/sampler_callsite_key_rate_0",
        s,
        |_| info!(target: "app", n = 1, "event"),
    );

    let throttle = TracingRateLimitLayer::builder()
        .with_policy(Policy::count_based(1).unwrap())
        .build()
        .unwrap();
    let t: Dispatch = tracing_subscriber::registry()
        .with(Sink.with_filter(throttle))
        .into();
    bench_with(
        c,
        "sampled_out/tracing_throttle_suppressed",
        t,
        |_| info!(target: "app", n = 1, "event"),
    );

    let keys: Vec<String> = (0..1000).map(|i| format!("client-{i:04}")).collect();
    let s: Dispatch = tracing_subscriber::registry()
        .with(Sink.with_filter(sampler("app=0.001")))
        .into();
    bench_with(
        c,
        "sampled_out/sampler_dynamic_string_key_1000_keys",
        s,
        |i| info!(target: "app", sample_key = keys[(i % 1000) as usize].as_str(), "event"),
    );
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
    let d: Dispatch = tracing_subscriber::registry()
        .with(Sink.with_filter(sampler("app=0.001")))
        .into();
    for threads in [1, 2] {
        c.bench_function(&format!("one_key/{threads}_thread"), |b| {
            b.iter_custom(|iters| contended(&d, threads, iters))
        });
    }
}

mod harness {
    #![allow(missing_docs)] // criterion_group! defines an undocumented pub fn.
    use super::*;
    criterion_group!(benches, sampled_out, disabled_by_level, one_key_threads);
}
criterion_main!(harness::benches);
