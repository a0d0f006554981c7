//! Run-time levels (`sampling_layer::level::Levels`) beside `EnvFilter` and
//! `reload::Layer<EnvFilter>`, side by side in one run (see `docs/benchmarks.md`,
//! *Run-time levels*):
//!
//! - an event below its target's level (`debug!` under `app::db=info`, while
//!   another target is at DEBUG so the global level hint lets it through to
//!   the callsite's interest);
//! - an enabled event (`info!`), reaching a layer that does nothing;
//!
//! each with the levels as a global layer and as a per-layer filter, and as a
//! per-layer filter beside a second layer whose filter answers `sometimes`
//! (`..._asked`: as `sampler.and(levels)` does for sampled callsites), so
//! that `enabled` runs on every event. Where the callsite's interest is
//! `always` or `never`, no filter is asked per event and the rows measure
//! tracing's own path.
//!
//! A `Levels` answers `sometimes` to a callsite's first registration and
//! settles it by a rebuild of its own soon after (see the `level` module
//! docs). A global one does so by itself within the warm-up; a per-layer one
//! once it knows its dispatcher (a handle call made inside it) or through a
//! global default, neither of which a fresh scoped dispatcher gives, so the
//! `levels_per_layer*` rows make one change inside their dispatcher first
//! (its rebuild settles them), and `levels_per_layer_unsettled` shows the
//! cost until then.
//!
//! Run: `cargo bench -p benches --bench levels -- --warm-up-time 1 --measurement-time 2`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use sampling_layer::level::{LevelHandle, Levels};
use tracing::{debug, info, Dispatch, Subscriber};
use tracing_subscriber::{layer::Context, prelude::*, reload, EnvFilter, Layer};

/// The end of every stack: does nothing with what reaches it.
struct Sink;

impl<S: Subscriber> Layer<S> for Sink {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        black_box(event);
    }
}

const DIRECTIVES: &str = "info,app::db=info,other=debug";

fn below(i: u64) {
    debug!(target: "app::db", i, "below the level");
}

fn enabled(i: u64) {
    info!(target: "app::db", i, "enabled");
}

/// Builds one stack's dispatcher, with the handle of a per-layer `Levels`
/// to settle it by a change made inside it.
type MakeDispatch = Box<dyn Fn() -> (Dispatch, Option<LevelHandle>)>;

/// A per-layer `Levels` and the handle that settles its callsites.
fn per_layer() -> (Levels, Option<LevelHandle>) {
    let levels = Levels::try_new(DIRECTIVES).unwrap();
    let handle = levels.handle();
    (levels, Some(handle))
}

/// The stacks compared, built fresh for each row (each `Dispatch::new`
/// rebuilds the callsites' interest for the dispatchers alive).
fn stacks() -> Vec<(&'static str, MakeDispatch)> {
    vec![
        // The floor: the same stack with no level filter at all, so every event is
        // enabled (in the `below_level` row too). An `enabled` row at this figure means
        // the filter itself costs nothing per event.
        (
            "no_filter_global",
            Box::new(|| {
                (
                    Dispatch::new(tracing_subscriber::registry().with(Sink)),
                    None,
                )
            }),
        ),
        (
            "env_filter_global",
            Box::new(|| {
                let env = EnvFilter::new(DIRECTIVES);
                (
                    Dispatch::new(tracing_subscriber::registry().with(env).with(Sink)),
                    None,
                )
            }),
        ),
        (
            "reload_env_filter_global",
            Box::new(|| {
                let (layer, handle) = reload::Layer::new(EnvFilter::new(DIRECTIVES));
                std::mem::forget(handle);
                (
                    Dispatch::new(tracing_subscriber::registry().with(layer).with(Sink)),
                    None,
                )
            }),
        ),
        (
            "levels_global",
            Box::new(|| {
                let levels = Levels::try_new(DIRECTIVES).unwrap();
                (
                    Dispatch::new(tracing_subscriber::registry().with(levels).with(Sink)),
                    None,
                )
            }),
        ),
        (
            "env_filter_per_layer",
            Box::new(|| {
                let env = EnvFilter::new(DIRECTIVES);
                (
                    Dispatch::new(tracing_subscriber::registry().with(Sink.with_filter(env))),
                    None,
                )
            }),
        ),
        (
            "levels_per_layer",
            Box::new(|| {
                let (levels, settle) = per_layer();
                let d =
                    Dispatch::new(tracing_subscriber::registry().with(Sink.with_filter(levels)));
                (d, settle)
            }),
        ),
        (
            "levels_per_layer_unsettled",
            Box::new(|| {
                let (levels, _) = per_layer();
                let d =
                    Dispatch::new(tracing_subscriber::registry().with(Sink.with_filter(levels)));
                (d, None)
            }),
        ),
        (
            "env_filter_per_layer_asked",
            Box::new(|| {
                let env = EnvFilter::new(DIRECTIVES);
                let sub = tracing_subscriber::registry()
                    .with(Sink.with_filter(env))
                    .with(asked());
                (Dispatch::new(sub), None)
            }),
        ),
        (
            "levels_per_layer_asked",
            Box::new(|| {
                let (levels, settle) = per_layer();
                let sub = tracing_subscriber::registry()
                    .with(Sink.with_filter(levels))
                    .with(asked());
                (Dispatch::new(sub), settle)
            }),
        ),
    ]
}

/// A second layer whose filter is asked per event (`filter_fn` answers
/// `sometimes`) and enables nothing.
fn asked<S>() -> impl Layer<S>
where
    S: Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    Sink.with_filter(tracing_subscriber::filter::filter_fn(|_| false))
}

fn bench(c: &mut Criterion) {
    for (what, event) in [("below_level", below as fn(u64)), ("enabled", enabled)] {
        for (name, make) in stacks() {
            let (dispatch, settle) = make();
            tracing::dispatcher::with_default(&dispatch, || {
                if let Some(handle) = settle {
                    // A change made inside the dispatcher: its rebuild settles.
                    handle.set_target_level("bench::settle", "info").unwrap();
                }
                let mut i = 0u64;
                c.bench_function(&format!("levels/{what}/{name}"), |b| {
                    b.iter(|| {
                        i = i.wrapping_add(1);
                        event(black_box(i));
                    })
                });
            });
        }
    }
}

mod harness {
    #![allow(missing_docs)] // criterion_group! defines an undocumented pub fn.
    use super::*;
    criterion_group!(benches, bench);
}

criterion_main!(harness::benches);
