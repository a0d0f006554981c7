//! `sample_rate=` on kept events, in text and JSON, and nowhere else.

use crate::support::{sampler, Output};
use sampling_layer::Annotated;
use tracing::{info, warn};
use tracing_subscriber::{fmt, prelude::*};

#[test]
fn text_lines_carry_the_rate() {
    let cap = Output::new();
    let layer = fmt::layer()
        .with_writer(cap.clone())
        .event_format(Annotated::new(
            fmt::format().without_time().with_ansi(false),
        ));
    let sub = tracing_subscriber::registry().with(layer.with_filter(sampler("0.05,full=1")));
    tracing::subscriber::with_default(sub, || {
        info!(target: "app", n = 1, "sampled");
        info!(target: "full", "unsampled");
        warn!(target: "app", "warned");
    });
    assert_eq!(
        cap.lines(),
        vec![
            " INFO app: sampled n=1 sample_rate=0.05",
            " INFO full: unsampled",
            " WARN app: warned",
        ]
    );
}

#[test]
fn json_records_carry_the_rate() {
    let cap = Output::new();
    let layer = fmt::layer()
        .with_writer(cap.clone())
        .event_format(Annotated::new(
            fmt::format().json().without_time().with_target(true),
        ));
    let sub = tracing_subscriber::registry().with(layer.with_filter(sampler("1/3")));
    tracing::subscriber::with_default(sub, || {
        info!(target: "app", n = 1, "sampled");
        warn!(target: "app", "warned");
    });
    assert_eq!(
        cap.lines(),
        vec![
            r#"{"sample_rate":0.3333333333333333,"level":"INFO","fields":{"message":"sampled","n":1},"target":"app"}"#,
            r#"{"level":"WARN","fields":{"message":"warned"},"target":"app"}"#,
        ]
    );
}

#[test]
fn annotation_works_with_the_sampler_as_a_global_layer() {
    let cap = Output::new();
    let layer = fmt::layer()
        .with_writer(cap.clone())
        .event_format(Annotated::new(
            fmt::format().compact().without_time().with_ansi(false),
        ));
    let sub = tracing_subscriber::registry()
        .with(sampler("1/2"))
        .with(layer);
    tracing::subscriber::with_default(sub, || {
        for _ in 0..2 {
            info!(target: "app", "x");
        }
    });
    assert_eq!(cap.lines(), vec![" INFO app: x sample_rate=0.5"]);
}

#[test]
fn no_annotation_while_sampling_is_suspended_or_for_keyed_rate_one() {
    let cap = Output::new();
    let layer = fmt::layer()
        .with_writer(cap.clone())
        .event_format(Annotated::new(
            fmt::format().without_time().with_ansi(false),
        ));
    let s = sampler("1/2,[vip]=1");
    let handle = s.handle();
    let sub = tracing_subscriber::registry().with(layer.with_filter(s));
    tracing::subscriber::with_default(sub, || {
        handle.set_enabled(false);
        info!(target: "app", "off");
        handle.set_enabled(true);
        info!(target: "app", sample_key = "vip", "vip");
        info!(target: "app", sample_key = "k", "keyed");
    });
    assert_eq!(
        cap.lines(),
        vec![
            " INFO app: off",
            " INFO app: vip sample_key=\"vip\"",
            " INFO app: keyed sample_key=\"k\" sample_rate=0.5",
        ]
    );
}

#[test]
fn two_sampled_layers_each_write_their_own_samplers_rate() {
    let (a_cap, b_cap) = (Output::new(), Output::new());
    let (a, b) = (sampler("1/2"), sampler("1/4"));
    let format = || fmt::format().without_time().with_ansi(false);
    let fa = Annotated::new(format()).for_sampler(&a.handle());
    let fb = Annotated::new(format()).for_sampler(&b.handle());
    let sub = tracing_subscriber::registry()
        .with(
            fmt::layer()
                .with_writer(a_cap.clone())
                .event_format(fa)
                .with_filter(a),
        )
        .with(
            fmt::layer()
                .with_writer(b_cap.clone())
                .event_format(fb)
                .with_filter(b),
        );
    tracing::subscriber::with_default(sub, || {
        for i in 0..8 {
            info!(target: "app", i, "x");
            info!(target: "app", sample_key = "k", i, "keyed");
        }
    });
    let a_lines = a_cap.lines();
    let b_lines = b_cap.lines();
    assert_eq!((a_lines.len(), b_lines.len()), (8, 4));
    assert!(
        a_lines.iter().all(|l| l.ends_with(" sample_rate=0.5")),
        "{a_lines:#?}"
    );
    assert!(
        b_lines.iter().all(|l| l.ends_with(" sample_rate=0.25")),
        "{b_lines:#?}"
    );
}

#[test]
fn an_unbound_formatter_takes_the_current_samplers_rate_after_another_subscriber() {
    // Same callsite, same thread, one subscriber after another: the first
    // sampler's decision must not annotate the second one's lines.
    let format = || Annotated::new(fmt::format().without_time().with_ansi(false));
    let emit = || {
        for _ in 0..2 {
            info!(target: "app", "x");
        }
    };
    let first = Output::new();
    let sub = tracing_subscriber::registry().with(
        fmt::layer()
            .with_writer(first.clone())
            .event_format(format())
            .with_filter(sampler("1/2")),
    );
    tracing::subscriber::with_default(sub, emit);
    let second = Output::new();
    let sub = tracing_subscriber::registry().with(
        fmt::layer()
            .with_writer(second.clone())
            .event_format(format())
            .with_filter(sampler("1")),
    );
    tracing::subscriber::with_default(sub, emit);
    assert_eq!(first.lines(), vec![" INFO app: x sample_rate=0.5"]);
    assert_eq!(second.lines(), vec![" INFO app: x", " INFO app: x"]);
}
