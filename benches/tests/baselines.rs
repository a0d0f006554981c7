//! What the service bench's baselines are (`benches/service.rs`): a `registry()` with no
//! layer never frees a closed span, one with a layer that does nothing does. The bench's
//! `bare` and `bare_layer` modes, and what `docs/benchmarks.md` says of them, rest on it.

use tracing::{Dispatch, Id};
use tracing_subscriber::layer::Identity;
use tracing_subscriber::prelude::*;
use tracing_subscriber::registry::{LookupSpan, Registry};

/// Makes and closes a span under `dispatch`: its id.
fn close_a_span(dispatch: &Dispatch) -> Id {
    tracing::dispatcher::with_default(dispatch, || {
        let span = tracing::info_span!("request", method = "GET");
        span.id().expect("the span is enabled")
        // `span` drops here: its last handle, so the span closes.
    })
}

/// How many of `ids` the dispatch's registry still holds.
fn held(dispatch: &Dispatch, ids: &[Id]) -> usize {
    let registry = dispatch.downcast_ref::<Registry>().expect("a registry");
    ids.iter()
        .filter(|id| registry.span_data(id).is_some())
        .count()
}

#[test]
fn a_registry_without_a_layer_keeps_every_closed_span() {
    let dispatch = Dispatch::new(tracing_subscriber::registry());
    let ids: Vec<Id> = (0..100).map(|_| close_a_span(&dispatch)).collect();
    assert_eq!(
        held(&dispatch, &ids),
        100,
        "every closed span is still held"
    );
    // So no slot is reused: every span takes a new one.
    let distinct: std::collections::HashSet<u64> = ids.iter().map(Id::into_u64).collect();
    assert_eq!(distinct.len(), 100);
}

#[test]
fn a_registry_with_a_layer_that_does_nothing_frees_a_closed_span() {
    let dispatch = Dispatch::new(tracing_subscriber::registry().with(Identity::new()));
    let ids: Vec<Id> = (0..100).map(|_| close_a_span(&dispatch)).collect();
    assert_eq!(held(&dispatch, &ids), 0, "no closed span is held");
}
