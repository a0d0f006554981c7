//! Deterministic mode: exact counts per key, keys, levels, precedence.

use std::sync::{Arc, Barrier};

use crate::support::{sampler, text_layer, Output};
use sampling_layer::{stats::OTHER_TARGET, Breaker, SamplingFilter};
use tracing::{debug, error, info, warn};
use tracing_subscriber::prelude::*;

#[test]
fn one_in_n_per_callsite_keeps_first_and_every_nth() {
    let cap = Output::new();
    let s = sampler("1/10");
    let handle = s.handle();
    let sub = tracing_subscriber::registry().with(text_layer(&cap).with_filter(s));
    tracing::subscriber::with_default(sub, || {
        for i in 0..100 {
            info!(i, "first callsite");
            info!(i, "second callsite");
        }
    });
    let kept: Vec<String> = cap
        .lines()
        .into_iter()
        .filter(|l| l.contains("first callsite"))
        .collect();
    assert_eq!(kept.len(), 10);
    for (n, line) in kept.iter().enumerate() {
        assert!(line.contains(&format!("i={}", n * 10)), "{line}");
    }
    // Each callsite has its own counter.
    assert_eq!(cap.count("second callsite"), 10);
    let st = handle.stats();
    let t = &st.targets[0];
    assert_eq!(
        (t.target.as_str(), t.seen, t.kept, t.dropped),
        ("", 200, 20, 180)
    );
    assert_eq!(st.callsite_keys, 2);
    assert_eq!(st.active_keys, 0);
}

#[test]
fn key_field_overrides_the_callsite_and_counts_per_key() {
    let cap = Output::new();
    let s = sampler("0.3");
    let handle = s.handle();
    let sub = tracing_subscriber::registry().with(text_layer(&cap).with_filter(s));
    tracing::subscriber::with_default(sub, || {
        for i in 0..100 {
            // One callsite, three keys; a dynamic value (Display) for one of them.
            let key = ["tool_call", "ping", "client-7"][i % 3];
            if i % 3 == 2 {
                debug!(sample_key = %key, i, "event");
            } else {
                debug!(sample_key = key, i, "event");
            }
        }
    });
    // 34, 33, 33 events per key; 3 in every 10 kept, first kept: ceil(n * 3/10).
    assert_eq!(cap.count("sample_key=\"tool_call\""), 11);
    assert_eq!(cap.count("sample_key=\"ping\""), 10);
    assert_eq!(cap.count("sample_key=client-7"), 10);
    assert_eq!(handle.stats().active_keys, 3);
}

#[test]
fn configurable_key_field() {
    let cap = Output::new();
    let s = SamplingFilter::builder()
        .key_field("tenant")
        .breaker(Breaker::disabled())
        .parse("1/2")
        .unwrap();
    let sub = tracing_subscriber::registry().with(text_layer(&cap).with_filter(s));
    tracing::subscriber::with_default(sub, || {
        for _ in 0..4 {
            info!(tenant = "a", "x");
            info!(tenant = "b", "x");
        }
    });
    assert_eq!(cap.count("tenant=\"a\""), 2);
    assert_eq!(cap.count("tenant=\"b\""), 2);
}

#[test]
fn counters_are_per_target_and_key() {
    let cap = Output::new();
    let sub = tracing_subscriber::registry().with(text_layer(&cap).with_filter(sampler("1/2")));
    tracing::subscriber::with_default(sub, || {
        for _ in 0..4 {
            info!(target: "a", sample_key = "k", "x");
            info!(target: "b", sample_key = "k", "x");
        }
    });
    // Same key under two targets: two counters, 2 of 4 kept each.
    assert_eq!(cap.lines().iter().filter(|l| l.contains(" a: ")).count(), 2);
    assert_eq!(cap.lines().iter().filter(|l| l.contains(" b: ")).count(), 2);
}

#[test]
fn warn_and_error_are_never_sampled_and_spans_pass() {
    let cap = Output::new();
    let s = sampler("0");
    let handle = s.handle();
    let sub = tracing_subscriber::registry().with(text_layer(&cap).with_filter(s));
    tracing::subscriber::with_default(sub, || {
        let span = tracing::info_span!("req", id = 7);
        let _g = span.enter();
        for _ in 0..50 {
            info!("dropped");
            warn!("kept warn");
            error!("kept error");
        }
    });
    assert_eq!(cap.count("dropped"), 0);
    assert_eq!(cap.count("kept warn"), 50);
    assert_eq!(cap.count("kept error"), 50);
    // The span's context is on every kept line: spans are not filtered.
    assert!(cap.lines().iter().all(|l| l.contains("req{id=7}")));
    let t = &handle.stats().targets[0];
    assert_eq!(
        (t.seen, t.kept, t.dropped),
        (50, 0, 50),
        "WARN/ERROR are not counted as sampled"
    );
}

#[test]
fn keep_level_is_configurable() {
    let cap = Output::new();
    let s = SamplingFilter::builder()
        .keep_level(tracing::Level::INFO)
        .breaker(Breaker::disabled())
        .parse("0")
        .unwrap();
    let sub = tracing_subscriber::registry().with(text_layer(&cap).with_filter(s));
    tracing::subscriber::with_default(sub, || {
        info!("info kept");
        debug!("debug dropped");
    });
    assert_eq!(cap.count("info kept"), 1);
    assert_eq!(cap.count("debug dropped"), 0);
}

#[test]
fn directive_precedence_end_to_end() {
    let cap = Output::new();
    let s = sampler("1/2,app=1/4,app::router=1/5,app::ws[heartbeat]=0,app::ws[keep]=1");
    let handle = s.handle();
    let sub = tracing_subscriber::registry().with(text_layer(&cap).with_filter(s));
    tracing::subscriber::with_default(sub, || {
        for _ in 0..20 {
            info!(target: "lib", "m");
            info!(target: "app::db", "m");
            info!(target: "app::router::inner", "m");
            info!(target: "app::ws", sample_key = "heartbeat", "m");
            info!(target: "app::ws", sample_key = "keep", "m");
            info!(target: "app::ws", sample_key = "other", "m");
        }
    });
    let n = |t: &str| {
        cap.lines()
            .iter()
            .filter(|l| l.contains(&format!(" {t}: ")))
            .count()
    };
    assert_eq!(n("lib"), 10);
    assert_eq!(n("app::db"), 5);
    assert_eq!(n("app::router::inner"), 4);
    assert_eq!(cap.count("heartbeat"), 0);
    assert_eq!(cap.count("sample_key=\"keep\""), 20);
    assert_eq!(cap.count("sample_key=\"other\""), 5);
    let st = handle.stats();
    let get = |t: &str| st.targets.iter().find(|x| x.target == t).unwrap().clone();
    assert_eq!((get("").seen, get("").kept), (20, 10));
    // `app::ws` with a key no directive names resolves to `app` (1/4): counted there.
    assert_eq!(
        (get("app").seen, get("app").kept, get("app").rate),
        (40, 10, 0.25)
    );
    assert_eq!((get("app::router").seen, get("app::router").kept), (20, 4));
    // Key directives count under their target; its target-wide rate is `app`'s.
    assert_eq!(
        (
            get("app::ws").seen,
            get("app::ws").kept,
            get("app::ws").rate
        ),
        (40, 20, 0.25)
    );
    assert!(st.targets.iter().all(|t| t.target != OTHER_TARGET));
}

#[test]
fn unmatched_events_count_as_other_when_there_is_no_default() {
    let s = sampler("app=0");
    let handle = s.handle();
    let sub = tracing_subscriber::registry().with(s);
    tracing::subscriber::with_default(sub, || {
        for _ in 0..7 {
            info!(target: "lib", "x");
            info!(target: "app", "x");
        }
    });
    let st = handle.stats();
    let other = st
        .targets
        .iter()
        .find(|t| t.target == OTHER_TARGET)
        .unwrap();
    assert_eq!((other.seen, other.kept, other.rate), (7, 7, 1.0));
    let app = st.targets.iter().find(|t| t.target == "app").unwrap();
    assert_eq!((app.seen, app.kept, app.dropped), (7, 0, 7));
}

#[test]
fn exact_under_concurrent_threads() {
    for keyed in [false, true] {
        let cap = Output::new();
        let s = sampler("3/10");
        let handle = s.handle();
        let dispatch: tracing::Dispatch = tracing_subscriber::registry()
            .with(text_layer(&cap).with_filter(s))
            .into();
        let threads = 4;
        let per_thread = 2_500;
        let barrier = Arc::new(Barrier::new(threads));
        let joins: Vec<_> = (0..threads)
            .map(|_| {
                let d = dispatch.clone();
                let b = barrier.clone();
                std::thread::spawn(move || {
                    tracing::dispatcher::with_default(&d, || {
                        b.wait();
                        for _ in 0..per_thread {
                            if keyed {
                                info!(sample_key = "shared", "hot");
                            } else {
                                info!("hot");
                            }
                        }
                    })
                })
            })
            .collect();
        for j in joins {
            j.join().unwrap();
        }
        // 10 000 events through one counter: exactly 3 000 kept.
        assert_eq!(cap.count("hot"), 3_000, "keyed: {keyed}");
        let t = &handle.stats().targets[0];
        assert_eq!((t.seen, t.kept, t.dropped), (10_000, 3_000, 7_000));
    }
}

#[test]
fn works_as_a_global_layer() {
    let cap = Output::new();
    let s = sampler("1/4");
    let sub = tracing_subscriber::registry()
        .with(s)
        .with(text_layer(&cap));
    tracing::subscriber::with_default(sub, || {
        for _ in 0..40 {
            debug!("global");
            warn!("w");
        }
    });
    assert_eq!(cap.count("global"), 10);
    assert_eq!(cap.count(" w"), 40);
}

#[test]
fn figures_stay_exact_past_the_per_word_flush() {
    // More events on one callsite than a counts word holds before it moves
    // its figures to the stats bucket (2^19).
    let s = sampler("1/8");
    let handle = s.handle();
    let sub = tracing_subscriber::registry().with(s);
    let n = 600_000u64;
    tracing::subscriber::with_default(sub, || {
        for _ in 0..n {
            info!("x");
        }
    });
    let t = &handle.stats().targets[0];
    assert_eq!((t.seen, t.kept, t.dropped), (n, n / 8, n - n / 8));
}

#[test]
fn rates_one_and_zero_keep_no_per_key_state() {
    let cap = Output::new();
    let s = sampler("keep=1,drop=0");
    let handle = s.handle();
    let sub = tracing_subscriber::registry().with(text_layer(&cap).with_filter(s));
    tracing::subscriber::with_default(sub, || {
        for i in 0..100 {
            info!(target: "keep", sample_key = i, "k");
            info!(target: "drop", sample_key = i, "d");
        }
    });
    assert_eq!(cap.count("keep: k"), 100);
    assert_eq!(cap.count("drop: d"), 0);
    let st = handle.stats();
    assert_eq!(st.active_keys, 0);
    let get = |t: &str| st.targets.iter().find(|x| x.target == t).unwrap().clone();
    assert_eq!((get("keep").seen, get("keep").kept), (100, 100));
    assert_eq!((get("drop").seen, get("drop").dropped), (100, 100));
}

/// `[k]` names a key by its text, the text the `sample_key` field's value
/// is recorded as: a string's own text (`sample_key = "k"`), `Display`
/// (`%k`), a number's decimal text (`42` for `[42]`), and for `?v` the
/// `Debug` text, which for a string has quotes: `?"k"` matches `["k"]`, not
/// `[k]`.
#[test]
fn a_key_directive_matches_the_text_the_key_is_recorded_as() {
    let cap = Output::new();
    let s = sampler(r#"app[k]=0,app[42]=0,app["q"]=0"#);
    let sub = tracing_subscriber::registry().with(text_layer(&cap).with_filter(s));
    tracing::subscriber::with_default(sub, || {
        debug!(target: "app", sample_key = "k", "str k");
        debug!(target: "app", sample_key = %"k", "display k");
        debug!(target: "app", sample_key = 42u64, "number 42");
        debug!(target: "app", sample_key = ?"k", "debug k");
        debug!(target: "app", sample_key = ?"q", "debug q");
        debug!(target: "app", sample_key = "q", "str q");
    });
    // Matched (rate 0): dropped. Not matched: `app` has no rate of its own (1).
    for dropped in ["str k", "display k", "number 42", "debug q"] {
        assert_eq!(cap.count(dropped), 0, "{dropped}");
    }
    for kept in ["debug k", "str q"] {
        assert_eq!(cap.count(kept), 1, "{kept}");
    }
}
