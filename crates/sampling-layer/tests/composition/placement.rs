//! The sampler as a global layer, wherever it sits in the stack: it counts
//! only events the rest of the stack enables, and keeps the level hint.

use crate::support::compose::{counts, emit, seen};
use crate::support::{sampler, text_layer, Output};
use sampling_layer::SamplingFilter;
use tracing::{debug, info, Subscriber};
use tracing_subscriber::{filter::LevelFilter, prelude::*, reload, EnvFilter, Layer, Registry};

#[test]
fn on_top_of_fmt_with_env_filter_counts_only_what_the_env_filter_enables() {
    let cap = Output::new();
    let s = sampler("1/10");
    let h = s.handle();
    let sub = tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::new("info,vip=warn"))
        .with_writer(cap.clone())
        .without_time()
        .with_ansi(false)
        .finish()
        .with(s);
    assert_eq!(sub.max_level_hint(), Some(LevelFilter::INFO));
    tracing::subscriber::with_default(sub, emit);
    assert_eq!(counts(&cap), (10, 10, 0, 10));
    assert_eq!(
        seen(&h),
        200,
        "vip, below its EnvFilter level, is not counted"
    );
}

#[test]
fn above_a_global_env_filter_counts_only_what_it_enables() {
    let cap = Output::new();
    let s = sampler("1/10");
    let h = s.handle();
    let sub = tracing_subscriber::registry()
        .with(EnvFilter::new("info,vip=warn"))
        .with(s)
        .with(text_layer(&cap));
    assert_eq!(sub.max_level_hint(), Some(LevelFilter::INFO));
    tracing::subscriber::with_default(sub, emit);
    assert_eq!(counts(&cap), (10, 10, 0, 10));
    assert_eq!(seen(&h), 200);
}

#[test]
fn below_a_global_env_filter_counts_only_what_it_enables() {
    let cap = Output::new();
    let s = sampler("1/10");
    let h = s.handle();
    let sub = tracing_subscriber::registry()
        .with(s)
        .with(EnvFilter::new("info,vip=warn"))
        .with(text_layer(&cap));
    assert_eq!(sub.max_level_hint(), Some(LevelFilter::INFO));
    tracing::subscriber::with_default(sub, emit);
    assert_eq!(counts(&cap), (10, 10, 0, 10));
    assert_eq!(seen(&h), 200);
}

#[test]
fn a_global_sampler_sees_what_only_per_layer_filters_disable() {
    // tracing-subscriber's design: per-layer filters do not filter global
    // layers, so the sampler decides (and counts) every event the global
    // filters enable. Filter levels globally to keep it from counting them.
    let cap = Output::new();
    let s = sampler("1/10");
    let h = s.handle();
    let sub = tracing_subscriber::registry()
        .with(s)
        .with(text_layer(&cap).with_filter(LevelFilter::INFO));
    tracing::subscriber::with_default(sub, || {
        for _ in 0..100 {
            debug!(target: "app", "dbg");
            info!(target: "app", "plain");
        }
    });
    assert_eq!((cap.count("dbg"), cap.count("plain")), (0, 10));
    assert_eq!(seen(&h), 200);
}

#[test]
fn two_global_samplers_multiply() {
    let cap = Output::new();
    let (a, b) = (sampler("1/2"), sampler("1/3"));
    let (ha, hb) = (a.handle(), b.handle());
    let sub = tracing_subscriber::registry()
        .with(a)
        .with(b)
        .with(text_layer(&cap));
    tracing::subscriber::with_default(sub, || {
        for _ in 0..120 {
            info!(target: "app", "plain");
        }
    });
    // The outer one (b) decides in `event_enabled`, after the inner one (a)
    // kept an event in `enabled`: it sees a's 60 and keeps 20.
    assert_eq!((seen(&ha), seen(&hb)), (120, 60));
    assert_eq!(cap.count("plain"), 20);
}

/// Runs `emit` with `layer` as the global sampler under a text layer.
fn run_layer<L: Layer<Registry> + Send + Sync + 'static>(layer: L) -> (usize, usize, usize, usize) {
    let cap = Output::new();
    let sub = tracing_subscriber::registry()
        .with(layer)
        .with(text_layer(&cap));
    tracing::subscriber::with_default(sub, emit);
    counts(&cap)
}

#[test]
fn reload_as_a_layer_samples_exactly() {
    let (layer, _reload) = reload::Layer::new(sampler("1/10"));
    assert_eq!(run_layer(layer), (10, 10, 10, 10));
}

#[test]
fn option_of_a_sampler_as_a_layer() {
    assert_eq!(run_layer(Some(sampler("1/10"))), (10, 10, 10, 10));
    assert_eq!(run_layer(None::<SamplingFilter>), (100, 100, 100, 10));
}

#[test]
fn boxed_dyn_layer_samples_exactly() {
    let layer: Box<dyn Layer<Registry> + Send + Sync> = Box::new(sampler("1/10"));
    assert_eq!(run_layer(layer), (10, 10, 10, 10));
}
