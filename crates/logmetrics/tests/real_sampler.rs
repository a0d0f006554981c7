//! The exporter against a real `SamplingFilter` in deterministic 1/N mode, so kept counts
//! are exact, composed with a real writer in one subscriber.

mod support;

use std::io;
use std::time::Duration;

use backpressure_writer::NonBlockingBuilder;
use logmetrics::{names, Exporter};
use metrics_util::debugging::DebuggingRecorder;
use sampling_layer::capture::Capture;
use sampling_layer::{Mode, SamplingFilter};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::Layer;

use support::take;

const APP: &[(&str, &str)] = &[("name", "app")];

fn target(t: &str) -> [(&str, &str); 2] {
    [("name", "main"), ("target", t)]
}

/// One callsite per target, so each target is one sampling key.
fn log(router: u64, db: u64, other: u64, warns: u64) {
    for i in 0..router {
        tracing::info!(target: "app::router", i, "routed");
    }
    for i in 0..db {
        tracing::debug!(target: "app::db", i, "query");
    }
    for i in 0..other {
        tracing::info!(target: "app::cache", i, "refreshed");
    }
    for i in 0..warns {
        // At WARN: never sampled, so kept and not counted as seen.
        tracing::warn!(target: "app::router", i, "slow");
    }
}

#[test]
fn kept_and_seen_per_target_are_exact_and_move_by_the_new_traffic() {
    let sampler = SamplingFilter::builder()
        .mode(Mode::Deterministic)
        .parse("app::router=1/10,app::db=0.5")
        .unwrap();
    let handle = sampler.handle();
    let (writer, guard) = NonBlockingBuilder::default()
        .buffered_lines_limit(100_000)
        .finish(io::sink());
    let exporter = Exporter::builder()
        .sampler("main", &handle)
        .writer("app", writer.clone())
        .build()
        .unwrap();
    let subscriber = tracing_subscriber::registry().with(
        tracing_subscriber::fmt::layer()
            .with_writer(writer.clone())
            .with_filter(sampler),
    );
    let _default = tracing::subscriber::set_default(subscriber);
    let rec = DebuggingRecorder::new();
    let snapshotter = rec.snapshotter();

    log(100, 30, 7, 3);
    guard.flush_timeout(Duration::from_secs(30)).unwrap();
    metrics::with_local_recorder(&rec, || exporter.export_now());
    let first = take(&snapshotter);
    let router = target("app::router");
    let db = target("app::db");
    assert_eq!(first.counter(names::SAMPLING_EVENTS_SEEN, &router), 100);
    assert_eq!(first.counter(names::SAMPLING_EVENTS_KEPT, &router), 10);
    assert_eq!(first.gauge(names::SAMPLING_RATE, &router), 0.1);
    assert_eq!(first.counter(names::SAMPLING_EVENTS_SEEN, &db), 30);
    assert_eq!(first.counter(names::SAMPLING_EVENTS_KEPT, &db), 15);
    assert_eq!(first.gauge(names::SAMPLING_RATE, &db), 0.5);
    let other = target(sampling_layer::stats::OTHER_TARGET);
    assert_eq!(first.counter(names::SAMPLING_EVENTS_SEEN, &other), 7);
    assert_eq!(first.counter(names::SAMPLING_EVENTS_KEPT, &other), 7);
    assert_eq!(first.gauge(names::SAMPLING_RATE, &other), 1.0);
    // Kept events (10 + 15), everything under no directive (7) and the warnings (3).
    assert_eq!(first.counter(names::WRITER_LINES_WRITTEN, APP), 35);
    assert_eq!(
        first.gauge(names::SAMPLING_BREAKER_OPEN, &[("name", "main")]),
        0.0
    );
    // Labels are the directives' targets (plus `other` / the default), never keys.
    for labels in first.series(names::SAMPLING_EVENTS_SEEN) {
        let t = labels
            .iter()
            .find_map(|l| l.strip_prefix("target="))
            .unwrap();
        assert!(
            [
                "app::router",
                "app::db",
                sampling_layer::stats::OTHER_TARGET,
                "(default)"
            ]
            .contains(&t),
            "unexpected target label {t:?}"
        );
    }

    // 25 more router events continue the same key's window: events 101, 111, 121 are kept.
    log(25, 0, 0, 0);
    guard.flush_timeout(Duration::from_secs(30)).unwrap();
    metrics::with_local_recorder(&rec, || exporter.export_now());
    let second = take(&snapshotter);
    assert_eq!(second.counter(names::SAMPLING_EVENTS_SEEN, &router), 125);
    assert_eq!(second.counter(names::SAMPLING_EVENTS_KEPT, &router), 13);
    assert_eq!(second.counter(names::SAMPLING_EVENTS_SEEN, &db), 30);
    assert_eq!(second.counter(names::WRITER_LINES_WRITTEN, APP), 38);

    // The exporter published exactly what the handle reports.
    let stats = handle.stats();
    let r = stats
        .targets
        .iter()
        .find(|t| t.target == "app::router")
        .unwrap();
    assert_eq!((r.seen, r.kept), (125, 13));
}

#[test]
fn context_capture_figures_are_published_exactly() {
    let sampler = SamplingFilter::builder()
        .capture(Capture::default().span("request"))
        .parse("app=0")
        .unwrap();
    let handle = sampler.handle();
    let exporter = Exporter::builder()
        .sampler("main", &handle)
        .build()
        .unwrap();
    let writer = sampling_layer::capture::CaptureWriter::new(io::sink, &handle);
    let subscriber = tracing_subscriber::registry().with(
        sampling_layer::capture::CaptureLayer::new(
            tracing_subscriber::fmt::layer().with_writer(writer),
            &handle,
        )
        .with_filter(sampler),
    );
    tracing::subscriber::with_default(subscriber, || {
        for failed in [true, false] {
            let span = tracing::info_span!("request");
            let _e = span.enter();
            for i in 0..5 {
                tracing::debug!(target: "app", i, "step");
            }
            if failed {
                tracing::error!(target: "app", "failed");
            }
        }
    });
    let rec = DebuggingRecorder::new();
    let snapshotter = rec.snapshotter();
    metrics::with_local_recorder(&rec, || exporter.export_now());
    let s = take(&snapshotter);
    let main: &[(&str, &str)] = &[("name", "main")];
    assert_eq!(s.counter(names::SAMPLING_CAPTURED, main), 10);
    assert_eq!(s.counter(names::SAMPLING_CAPTURE_FLUSHED, main), 5);
    assert_eq!(s.counter(names::SAMPLING_CAPTURE_DISCARDED, main), 5);
    for bound in ["span", "total"] {
        let labels = [("name", "main"), ("bound", bound)];
        assert_eq!(s.counter(names::SAMPLING_CAPTURE_EVICTED, &labels), 0);
    }
    assert_eq!(s.gauge(names::SAMPLING_CAPTURE_BUFFERED_BYTES, main), 0.0);
}

#[test]
fn retired_targets_are_published_from_a_real_sampler() {
    let sampler = SamplingFilter::builder()
        .mode(Mode::Deterministic)
        .parse("app::router=1/10,app::db=0.5,app::cache=0.2")
        .unwrap();
    let handle = sampler.handle();
    let exporter = Exporter::builder()
        .sampler("main", &handle)
        .build()
        .unwrap();
    let rec = DebuggingRecorder::new();
    let snapshotter = rec.snapshotter();
    let m = [("name", "main")];

    metrics::with_local_recorder(&rec, || exporter.export_now());
    let before = take(&snapshotter);
    assert_eq!(before.gauge(names::SAMPLING_RETIRED_TARGETS, &m), 0.0);
    assert_eq!(before.counter(names::SAMPLING_TARGETS_FORGOTTEN, &m), 0);

    assert!(handle.remove_target("app::db").unwrap());
    assert!(handle.remove_target("app::cache").unwrap());
    metrics::with_local_recorder(&rec, || exporter.export_now());
    let after = take(&snapshotter);
    assert_eq!(after.gauge(names::SAMPLING_RETIRED_TARGETS, &m), 2.0);
    // Two retired targets are far below the bound on remembered ones.
    assert_eq!(after.counter(names::SAMPLING_TARGETS_FORGOTTEN, &m), 0);
}

#[test]
fn repeat_series_per_target_are_exact() {
    let sampler = SamplingFilter::builder()
        .breaker(sampling_layer::Breaker::disabled())
        .parse("app::db=first 3/1min")
        .unwrap();
    let handle = sampler.handle();
    let exporter = Exporter::builder()
        .sampler("main", &handle)
        .build()
        .unwrap();
    let subscriber = tracing_subscriber::registry().with(
        tracing_subscriber::fmt::layer()
            .with_writer(io::sink)
            .with_filter(sampler),
    );
    let rec = DebuggingRecorder::new();
    let snapshotter = rec.snapshotter();
    tracing::subscriber::with_default(subscriber, || {
        for i in 0..50 {
            tracing::error!(target: "app::db", i, "connection refused");
            tracing::error!(target: "app::db", i, "pool exhausted");
        }
        handle.flush_repeats();
    });
    metrics::with_local_recorder(&rec, || exporter.export_now());
    let snap = take(&snapshotter);
    let db = target("app::db");
    assert_eq!(snap.counter(names::SAMPLING_REPEATS_KEPT, &db), 6);
    assert_eq!(snap.counter(names::SAMPLING_REPEATS_SUPPRESSED, &db), 94);
    assert_eq!(snap.counter(names::SAMPLING_REPEAT_SUMMARIES, &db), 2);
    assert_eq!(snap.gauge(names::SAMPLING_REPEAT_KEYS, &db), 2.0);
    assert_eq!(snap.counter(names::SAMPLING_REPEAT_KEYS_EVICTED, &db), 0);
    assert_eq!(
        snap.counter(names::SAMPLING_REPEAT_SUMMARIES_LOST, &[("name", "main")]),
        0
    );
}
