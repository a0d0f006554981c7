//! `event_enabled!` / `enabled!` probes are not events: never counted, never
//! sampled, answered as they would be without the sampler.

use std::sync::{Arc, Mutex};

use crate::support::{sampler, text_layer, Output};
use tracing::{Level, Metadata, Subscriber};
use tracing_core::subscriber::Interest;
use tracing_subscriber::prelude::*;

fn seen(handle: &sampling_layer::SamplingHandle) -> u64 {
    handle.stats().targets.iter().map(|t| t.seen).sum()
}

#[test]
fn probes_under_a_global_sampler_all_answer_enabled_and_count_nothing() {
    let cap = Output::new();
    let s = sampler("1/2");
    let handle = s.handle();
    let sub = tracing_subscriber::registry()
        .with(s)
        .with(text_layer(&cap));
    tracing::subscriber::with_default(sub, || {
        let enabled = (0..100)
            .filter(|_| tracing::event_enabled!(target: "app", Level::DEBUG))
            .count();
        assert_eq!(enabled, 100);
        assert_eq!(seen(&handle), 0, "a probe is not an event");
        for _ in 0..10 {
            tracing::debug!(target: "app", "real");
        }
    });
    assert_eq!(
        cap.count("real"),
        5,
        "real events still sample exactly 1 in 2"
    );
    assert_eq!(seen(&handle), 10);
}

#[test]
fn probes_under_a_per_layer_sampler_all_answer_enabled_and_count_nothing() {
    let cap = Output::new();
    let s = sampler("1/2");
    let handle = s.handle();
    let sub = tracing_subscriber::registry().with(text_layer(&cap).with_filter(s));
    tracing::subscriber::with_default(sub, || {
        let enabled = (0..100)
            .filter(|_| tracing::event_enabled!(target: "app", Level::INFO))
            .count();
        assert_eq!(enabled, 100);
        assert_eq!(seen(&handle), 0, "a probe is not an event");
        for _ in 0..10 {
            tracing::info!(target: "app", "real");
        }
    });
    assert_eq!(cap.count("real"), 5);
    assert_eq!(seen(&handle), 10);
}

/// Keeps the metadata of every callsite registered.
#[derive(Clone, Default)]
struct Registered(Arc<Mutex<Vec<&'static Metadata<'static>>>>);
impl<S: Subscriber> tracing_subscriber::Layer<S> for Registered {
    fn register_callsite(&self, m: &'static Metadata<'static>) -> Interest {
        self.0.lock().unwrap().push(m);
        Interest::always()
    }
}

/// The sampler recognises a probe by the kind at the end of its metadata's
/// `Debug` form (`Metadata` has no accessor for it). Pins that form for the
/// tracing version in Cargo.lock: if this fails, probes would be counted.
#[test]
fn probe_metadata_debug_form_ends_with_its_hint_kind() {
    let reg = Registered::default();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(reg.clone()), || {
        let _ = tracing::event_enabled!(target: "probe_pin", Level::DEBUG);
        tracing::debug!(target: "probe_pin", "an event");
    });
    // Callsites of tests running in parallel register here too, and a
    // dispatcher built on another thread re-registers every callsite with
    // this one (interest is rebuilt): keep each callsite once, first seen first.
    let mut metas: Vec<&'static tracing::Metadata<'static>> = Vec::new();
    for m in reg.0.lock().unwrap().iter().copied() {
        if m.target() == "probe_pin" && !metas.iter().any(|seen| std::ptr::eq(*seen, m)) {
            metas.push(m);
        }
    }
    assert_eq!(metas.len(), 2);
    assert!(
        format!("{:?}", metas[0]).ends_with("kind: Kind(EVENT | HINT) }"),
        "{:?}",
        metas[0]
    );
    assert!(
        format!("{:?}", metas[1]).ends_with("kind: Kind(EVENT) }"),
        "{:?}",
        metas[1]
    );
}
