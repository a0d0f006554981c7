//! The sampler's figures, per target.

use super::*;

#[test]
fn sampler_figures_are_published_per_target() {
    let (cell, source) = shared(sampler_stats());
    let exporter = Exporter::builder().sampler("main", source).build().unwrap();
    let rec = DebuggingRecorder::new();
    let snapshotter = rec.snapshotter();
    metrics::with_local_recorder(&rec, || exporter.export_now());
    let snap = take(&snapshotter);

    let m = [("name", "main")];
    assert_eq!(snap.gauge(names::SAMPLING_ACTIVE_KEYS, &m), 12.0);
    assert_eq!(snap.gauge(names::SAMPLING_CALLSITE_KEYS, &m), 4.0);
    assert_eq!(snap.gauge(names::SAMPLING_MAX_KEYS, &m), 10_000.0);
    assert_eq!(snap.counter(names::SAMPLING_KEYS_EVICTED, &m), 3);
    assert_eq!(snap.gauge(names::SAMPLING_BREAKER_OPEN, &m), 1.0);
    assert_eq!(snap.counter(names::SAMPLING_BREAKER_TRIPS, &m), 2);
    assert_eq!(snap.gauge(names::SAMPLING_ENABLED, &m), 1.0);
    assert_eq!(snap.gauge(names::SAMPLING_PRESSURE_SCALE, &m), 0.5);
    assert_eq!(snap.gauge(names::SAMPLING_FLEET_SIZE, &m), 4.0);
    assert_eq!(snap.counter(names::SAMPLING_FLEET_SIZE_REFUSED, &m), 2);
    assert_eq!(snap.gauge(names::SAMPLING_RETIRED_TARGETS, &m), 9.0);
    assert_eq!(snap.counter(names::SAMPLING_TARGETS_FORGOTTEN, &m), 17);
    assert_eq!(snap.counter(names::SAMPLING_BREAKER_RECOVERIES, &m), 1);

    let t = |target: &'static str| [("name", "main"), ("target", target)];
    // Budgets and effective rates: the budget series only for budget targets.
    assert_eq!(snap.gauge(names::SAMPLING_BUDGET, &t("app::db")), 100.0);
    assert_eq!(
        snap.gauge(names::SAMPLING_EFFECTIVE_RATE, &t("app::db")),
        0.025
    );
    assert_eq!(
        snap.gauge(names::SAMPLING_EFFECTIVE_RATE, &t("app::router")),
        0.05
    );
    assert_eq!(snap.series(names::SAMPLING_BUDGET).len(), 1);
    assert_eq!(
        snap.counter(names::SAMPLING_EVENTS_SEEN, &t("app::router")),
        1_000
    );
    assert_eq!(
        snap.counter(names::SAMPLING_EVENTS_KEPT, &t("app::router")),
        50
    );
    assert_eq!(snap.gauge(names::SAMPLING_RATE, &t("app::router")), 0.05);
    assert_eq!(
        snap.counter(names::SAMPLING_EVENTS_SEEN, &t("(default)")),
        40
    );
    assert_eq!(
        snap.counter(names::SAMPLING_EVENTS_KEPT, &t("(default)")),
        20
    );
    assert_eq!(
        snap.counter(names::SAMPLING_EVENTS_SEEN, &t(OTHER_TARGET)),
        7
    );
    assert_eq!(snap.gauge(names::SAMPLING_RATE, &t(OTHER_TARGET)), 1.0);
    // Exactly the configured targets: no per-key labels.
    assert_eq!(snap.series(names::SAMPLING_EVENTS_SEEN).len(), 4);

    {
        let mut s = cell.lock().unwrap();
        s.targets[1].seen += 200;
        s.targets[1].kept += 10;
        s.breaker_open = false;
        s.retired_targets = 8;
        s.forgotten_targets += 3;
    }
    metrics::with_local_recorder(&rec, || exporter.export_now());
    let second = take(&snapshotter);
    assert_eq!(
        second.counter(names::SAMPLING_EVENTS_SEEN, &t("app::router")),
        1_200
    );
    assert_eq!(
        second.counter(names::SAMPLING_EVENTS_KEPT, &t("app::router")),
        60
    );
    assert_eq!(
        second.counter(names::SAMPLING_EVENTS_SEEN, &t(OTHER_TARGET)),
        7
    );
    assert_eq!(second.gauge(names::SAMPLING_BREAKER_OPEN, &m), 0.0);
    assert_eq!(second.gauge(names::SAMPLING_RETIRED_TARGETS, &m), 8.0);
    assert_eq!(second.counter(names::SAMPLING_TARGETS_FORGOTTEN, &m), 20);
}
