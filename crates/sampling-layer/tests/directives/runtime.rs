//! Run-time control through the handle: directives, on/off, figures.

use crate::support::{sampler, text_layer, Output};
use sampling_layer::{ParseErrorKind, SamplingHandle};
use tracing::info;
use tracing_subscriber::prelude::*;

fn assert_send_sync_clone<T: Send + Sync + Clone>() {}

#[test]
fn handle_is_clone_send_sync() {
    assert_send_sync_clone::<SamplingHandle>();
}

#[test]
fn set_directives_takes_effect_from_the_next_event() {
    let cap = Output::new();
    let s = sampler("app=0");
    let handle = s.handle();
    let sub = tracing_subscriber::registry().with(text_layer(&cap).with_filter(s));
    tracing::subscriber::with_default(sub, || {
        for _ in 0..10 {
            info!(target: "app", "phase1");
        }
        handle.set_directives("app=1/2").unwrap();
        for _ in 0..10 {
            info!(target: "app", "phase2");
        }
        // A bad string changes nothing.
        let e = handle.set_directives("app=1.5").unwrap_err();
        assert!(matches!(e.kind(), ParseErrorKind::OutOfRange(_)));
        assert_eq!(handle.directives(), "app=1/2");
        for _ in 0..10 {
            info!(target: "app", "phase3");
        }
        handle.set_directives("app=1").unwrap();
        for _ in 0..10 {
            info!(target: "app", "phase4");
        }
    });
    assert_eq!(cap.count("phase1"), 0);
    assert_eq!(cap.count("phase2"), 5);
    assert_eq!(cap.count("phase3"), 5);
    assert_eq!(cap.count("phase4"), 10);
    // The `app` figures carry on across the changes.
    let st = handle.stats();
    let app = st.targets.iter().find(|t| t.target == "app").unwrap();
    assert_eq!(
        (app.seen, app.kept, app.dropped, app.rate),
        (40, 20, 20, 1.0)
    );
}

#[test]
fn set_directives_applies_to_keyed_events_too() {
    let cap = Output::new();
    let s = sampler("0");
    let handle = s.handle();
    let sub = tracing_subscriber::registry().with(text_layer(&cap).with_filter(s));
    tracing::subscriber::with_default(sub, || {
        for _ in 0..10 {
            info!(sample_key = "k", "before");
        }
        handle.set_directives("[k]=1/5").unwrap();
        for _ in 0..10 {
            info!(sample_key = "k", "after");
        }
    });
    assert_eq!(cap.count("before"), 0);
    assert_eq!(cap.count("after"), 2);
    let st = handle.stats();
    // `[k]=` has the empty target: its label is "" like the default; the old
    // "" bucket (rate 0) carries on.
    let t = st.targets.iter().find(|t| t.target.is_empty()).unwrap();
    assert_eq!((t.seen, t.kept), (20, 2));
}

#[test]
fn set_enabled_false_keeps_everything_without_annotation() {
    let cap = Output::new();
    let s = sampler("0");
    let handle = s.handle();
    let sub = tracing_subscriber::registry().with(text_layer(&cap).with_filter(s));
    tracing::subscriber::with_default(sub, || {
        info!("a");
        handle.set_enabled(false);
        assert!(!handle.stats().enabled);
        for _ in 0..5 {
            info!("b");
        }
        handle.set_enabled(true);
        info!("c");
    });
    assert_eq!(cap.count(" a"), 0);
    assert_eq!(cap.count(" b"), 5);
    assert_eq!(cap.count(" c"), 0);
    assert!(handle.stats().enabled);
}

#[test]
fn stats_from_another_thread_while_logging() {
    let s = sampler("1/2");
    let handle = s.handle();
    let dispatch: tracing::Dispatch = tracing_subscriber::registry().with(s).into();
    let (tx, rx) = std::sync::mpsc::channel();
    let h2 = handle.clone();
    let reader = std::thread::spawn(move || {
        let mut last = 0;
        while rx.try_recv().is_err() {
            let t = h2.stats().targets[0].clone();
            // Invariant at every instant: seen = kept + dropped, never decreasing.
            assert_eq!(t.seen, t.kept + t.dropped);
            assert!(t.seen >= last);
            last = t.seen;
        }
    });
    tracing::dispatcher::with_default(&dispatch, || {
        for _ in 0..20_000 {
            info!("x");
        }
    });
    tx.send(()).unwrap();
    reader.join().unwrap();
    let t = &handle.stats().targets[0];
    assert_eq!((t.seen, t.kept), (20_000, 10_000));
    assert_eq!(t.actual_rate(), Some(0.5));
}
