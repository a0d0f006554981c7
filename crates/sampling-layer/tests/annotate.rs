//! `sample_rate=` on kept events, in text and JSON, and nowhere else.

mod support;

use sampling_layer::Annotated;
use support::{sampler, Capture};
use tracing::{info, warn};
use tracing_subscriber::{fmt, prelude::*};

#[test]
fn text_lines_carry_the_rate() {
    let cap = Capture::new();
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
    let cap = Capture::new();
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
    let cap = Capture::new();
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
    let cap = Capture::new();
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
