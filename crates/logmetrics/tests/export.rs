//! Exact values published through a `DebuggingRecorder` after known workloads.

mod support;

use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use backpressure_writer::stats::{LatencySnapshot, Stats};
use logmetrics::{latency_bucket_bounds, names, Exporter};
use metrics_util::debugging::DebuggingRecorder;
use sampling_layer::stats::{SamplingStats, TargetStats, OTHER_TARGET};

use support::{take, Value};

const APP: &[(&str, &str)] = &[("name", "app")];

fn writer_stats() -> Stats {
    let mut s = Stats::default();
    s.queue_depth = 5;
    s.capacity = 100;
    s.high_water = 40;
    s.submitted = 25;
    s.lines_written = 10;
    s.bytes_written = 1_234;
    s.dropped.newest = 3;
    s.dropped.keep_timeout = 1;
    s.dropped.write_failed = 6;
    s.write_errors = 2;
    s.sink_panics = 1;
    s.batches = 4;
    s.worker_alive = true;
    s.since_last_write = Some(Duration::from_millis(1_500));
    s.in_sink = 2;
    s.buffered_bytes = 640;
    s.byte_capacity = 4_096;
    s.keep_byte_capacity = 512;
    s.blocked_producers = 3;
    s
}

fn target(name: &str, rate: f64, seen: u64, kept: u64) -> TargetStats {
    let mut t = TargetStats::default();
    t.target = name.to_owned();
    t.rate = rate;
    t.seen = seen;
    t.kept = kept;
    t.dropped = seen - kept;
    t.effective_rate = rate;
    // Recent figures are not published (docs/metrics.md, "Not exported"): set, so that
    // `every_metric_is_described_with_its_unit` would see a stray series.
    t.recent_seen = seen / 2;
    t.recent_kept = kept / 2;
    t
}

fn sampler_stats() -> SamplingStats {
    let mut s = SamplingStats::default();
    s.active_keys = 12;
    s.callsite_keys = 4;
    s.max_keys = 10_000;
    s.evicted_keys = 3;
    s.breaker_open = true;
    s.breaker_trips = 2;
    s.enabled = true;
    s.pressure_scale = 0.5;
    s.fleet_size = Some(4);
    s.fleet_size_refused = 2;
    let mut db = target("app::db", 1.0, 4_000, 100);
    db.budget = Some(200.0);
    db.effective_budget = Some(100.0);
    db.effective_rate = 0.025;
    s.retired_targets = 9;
    s.forgotten_targets = 17;
    s.breaker_recoveries = 1;
    s.recent_interval = Duration::from_secs(10);
    s.targets = vec![
        target("", 0.5, 40, 20),
        target("app::router", 0.05, 1_000, 50),
        target(OTHER_TARGET, 1.0, 7, 7),
        db,
    ];
    let mut repeat = sampling_layer::repeat::RepeatTargetStats::default();
    repeat.target = "app::db".into();
    repeat.kept = 15;
    repeat.suppressed = 49_985;
    repeat.summaries = 3;
    repeat.live_keys = 2;
    s.repeats.targets = vec![repeat];
    s
}

/// A source the test can change between exports.
fn shared<T: Clone + Send + 'static>(v: T) -> (Arc<Mutex<T>>, impl Fn() -> T + Send + Sync) {
    let cell = Arc::new(Mutex::new(v));
    let c = cell.clone();
    (cell, move || c.lock().unwrap().clone())
}

#[test]
fn writer_figures_are_published_exactly() {
    let exporter = Exporter::builder()
        .writer("app", writer_stats)
        .build()
        .unwrap();
    let rec = DebuggingRecorder::new();
    let snapshotter = rec.snapshotter();
    metrics::with_local_recorder(&rec, || exporter.export_now());
    let snap = take(&snapshotter);

    assert_eq!(snap.gauge(names::WRITER_QUEUE_DEPTH, APP), 5.0);
    assert_eq!(snap.gauge(names::WRITER_QUEUE_CAPACITY, APP), 100.0);
    assert_eq!(snap.gauge(names::WRITER_QUEUE_HIGH_WATER, APP), 40.0);
    assert_eq!(snap.counter(names::WRITER_LINES_SUBMITTED, APP), 25);
    assert_eq!(snap.counter(names::WRITER_LINES_WRITTEN, APP), 10);
    assert_eq!(snap.counter(names::WRITER_BYTES_WRITTEN, APP), 1_234);
    assert_eq!(snap.counter(names::WRITER_WRITE_ERRORS, APP), 2);
    assert_eq!(snap.counter(names::WRITER_SINK_PANICS, APP), 1);
    assert_eq!(snap.counter(names::WRITER_BATCHES, APP), 4);
    assert_eq!(snap.gauge(names::WRITER_WORKER_ALIVE, APP), 1.0);
    assert_eq!(snap.gauge(names::WRITER_LAST_WRITE_AGE, APP), 1.5);
    assert_eq!(snap.gauge(names::WRITER_LINES_IN_SINK, APP), 2.0);
    assert_eq!(snap.gauge(names::WRITER_QUEUE_BYTES, APP), 640.0);
    // The bound of the buffered bytes: the overflow policy's room plus the keep room.
    assert_eq!(snap.gauge(names::WRITER_QUEUE_CAPACITY_BYTES, APP), 4_608.0);
    assert_eq!(snap.gauge(names::WRITER_BLOCKED_PRODUCERS, APP), 3.0);

    // Every reason has a series, zeros included, so alerts see `0` rather than nothing.
    let expected = [
        ("newest", 3),
        ("oldest", 0),
        ("timeout", 0),
        ("keep_timeout", 1),
        ("shutdown", 0),
        ("worker_gone", 0),
        ("write_failed", 6),
        ("context", 0),
    ];
    for (reason, n) in expected {
        let labels = [("name", "app"), ("reason", reason)];
        assert_eq!(
            snap.counter(names::WRITER_LINES_DROPPED, &labels),
            n,
            "{reason}"
        );
    }
    assert_eq!(snap.series(names::WRITER_LINES_DROPPED).len(), 8);
    // No observations yet: histograms are not even registered.
    assert!(snap.histogram(names::WRITER_QUEUE_WAIT, APP).is_empty());
}

#[test]
fn second_export_moves_counters_by_exactly_the_new_amounts() {
    let (cell, source) = shared(writer_stats());
    let exporter = Exporter::builder().writer("app", source).build().unwrap();
    let rec = DebuggingRecorder::new();
    let snapshotter = rec.snapshotter();

    metrics::with_local_recorder(&rec, || exporter.export_now());
    let first = take(&snapshotter);
    {
        let mut s = cell.lock().unwrap();
        s.submitted += 12;
        s.lines_written += 7;
        s.bytes_written += 700;
        s.dropped.newest += 5;
        s.queue_depth = 0;
    }
    metrics::with_local_recorder(&rec, || exporter.export_now());
    let second = take(&snapshotter);

    let diff = |name: &str, labels: &[(&str, &str)]| {
        second.counter(name, labels) - first.counter(name, labels)
    };
    assert_eq!(diff(names::WRITER_LINES_SUBMITTED, APP), 12);
    assert_eq!(diff(names::WRITER_LINES_WRITTEN, APP), 7);
    assert_eq!(diff(names::WRITER_BYTES_WRITTEN, APP), 700);
    let newest = [("name", "app"), ("reason", "newest")];
    assert_eq!(diff(names::WRITER_LINES_DROPPED, &newest), 5);
    let oldest = [("name", "app"), ("reason", "oldest")];
    assert_eq!(diff(names::WRITER_LINES_DROPPED, &oldest), 0);
    assert_eq!(diff(names::WRITER_WRITE_ERRORS, APP), 0);
    assert_eq!(second.gauge(names::WRITER_QUEUE_DEPTH, APP), 0.0);
    assert_eq!(exporter.exports(), 2);
}

#[test]
fn histograms_record_bucket_deltas_at_bucket_bounds() {
    let mut stats = writer_stats();
    stats
        .queue_wait
        .record_many(LatencySnapshot::bucket_upper_bound(0), 2);
    stats
        .queue_wait
        .record_many(LatencySnapshot::bucket_upper_bound(3), 1);
    stats
        .batch_write
        .record_many(LatencySnapshot::bucket_upper_bound(23), 1);
    let (cell, source) = shared(stats);
    let exporter = Exporter::builder().writer("app", source).build().unwrap();
    let rec = DebuggingRecorder::new();
    let snapshotter = rec.snapshotter();
    let bounds = latency_bucket_bounds();
    assert_eq!(bounds[0], 1e-6);
    assert_eq!(bounds[3], 8e-6);
    assert_eq!(
        bounds[23],
        LatencySnapshot::bucket_upper_bound(23).as_secs_f64()
    );

    metrics::with_local_recorder(&rec, || exporter.export_now());
    let first = take(&snapshotter);
    assert_eq!(
        first.histogram(names::WRITER_QUEUE_WAIT, APP),
        vec![1e-6, 1e-6, 8e-6]
    );
    assert_eq!(
        first.histogram(names::WRITER_BATCH_WRITE, APP),
        vec![bounds[23]]
    );

    cell.lock()
        .unwrap()
        .queue_wait
        .record_many(LatencySnapshot::bucket_upper_bound(3), 2);
    metrics::with_local_recorder(&rec, || exporter.export_now());
    let second = take(&snapshotter);
    // Only what was observed since the previous export.
    assert_eq!(
        second.histogram(names::WRITER_QUEUE_WAIT, APP),
        vec![8e-6, 8e-6]
    );
    assert!(second.histogram(names::WRITER_BATCH_WRITE, APP).is_empty());

    // A source whose buckets went backwards was replaced: its counts are all new.
    cell.lock().unwrap().queue_wait = LatencySnapshot::default();
    cell.lock()
        .unwrap()
        .queue_wait
        .record_many(LatencySnapshot::bucket_upper_bound(1), 1);
    metrics::with_local_recorder(&rec, || exporter.export_now());
    assert_eq!(
        take(&snapshotter).histogram(names::WRITER_QUEUE_WAIT, APP),
        vec![2e-6]
    );
}

#[test]
fn two_writers_keep_their_series_apart() {
    let mut audit = Stats::default();
    audit.lines_written = 3;
    audit.capacity = 8;
    audit.worker_alive = true;
    let exporter = Exporter::builder()
        .writer("app", writer_stats)
        .writer("audit", move || audit.clone())
        .build()
        .unwrap();
    let rec = DebuggingRecorder::new();
    let snapshotter = rec.snapshotter();
    metrics::with_local_recorder(&rec, || exporter.export_now());
    let snap = take(&snapshotter);

    let audit_l = [("name", "audit")];
    assert_eq!(snap.counter(names::WRITER_LINES_WRITTEN, APP), 10);
    assert_eq!(snap.counter(names::WRITER_LINES_WRITTEN, &audit_l), 3);
    assert_eq!(snap.gauge(names::WRITER_QUEUE_CAPACITY, &audit_l), 8.0);
    assert_eq!(
        snap.counter(
            names::WRITER_LINES_DROPPED,
            &[("name", "audit"), ("reason", "newest")]
        ),
        0
    );
    // The audit writer never wrote: no age series for it.
    assert!(snap.get(names::WRITER_LAST_WRITE_AGE, &audit_l).is_none());
    assert_eq!(snap.series(names::WRITER_LINES_WRITTEN).len(), 2);
}

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

#[test]
fn every_metric_is_described_with_its_unit() {
    let mut stats = writer_stats();
    stats
        .queue_wait
        .record_many(LatencySnapshot::bucket_upper_bound(2), 1);
    stats
        .batch_write
        .record_many(LatencySnapshot::bucket_upper_bound(2), 1);
    let dir = tempfile::tempdir().unwrap();
    let file = backpressure_writer::rolling::RollingFile::builder()
        .filename_prefix("app")
        .build(dir.path())
        .unwrap();
    let exporter = Exporter::builder()
        .writer("app", move || stats.clone())
        .sampler("main", sampler_stats)
        .rolling_file("app", &file.handle())
        .build()
        .unwrap();
    let rec = DebuggingRecorder::new();
    let snapshotter = rec.snapshotter();
    metrics::with_local_recorder(&rec, || exporter.export_now());
    let snap = take(&snapshotter);

    for m in names::METRICS {
        let (unit, help) = snap
            .meta
            .get(m.name)
            .unwrap_or_else(|| panic!("{} was not published", m.name));
        assert_eq!(*unit, m.unit, "{}", m.name);
        assert_eq!(help.as_deref(), Some(m.help), "{}", m.name);
        let kind_ok = snap
            .values
            .iter()
            .filter(|((n, _), _)| n == m.name)
            .all(|(_, v)| match m.kind {
                names::MetricKind::Counter => matches!(v, Value::Counter(_)),
                names::MetricKind::Gauge => matches!(v, Value::Gauge(_)),
                names::MetricKind::Histogram => matches!(v, Value::Histogram(_)),
            });
        assert!(kind_ok, "{} published as the wrong kind", m.name);
    }
    assert_eq!(snap.meta.len(), names::METRICS.len());
}

#[test]
fn spawned_thread_exports_at_start_and_on_drop() {
    let (cell, source) = shared(writer_stats());
    let (called, calls) = mpsc::channel::<Option<String>>();
    let rec = Arc::new(DebuggingRecorder::new());
    let snapshotter = rec.snapshotter();
    let guard = Exporter::builder()
        // Long enough that only the start-up and the final export happen in this test.
        .interval(Duration::from_secs(3_600))
        .thread_name("metrics-test-exporter")
        .writer("app", move || {
            let _ = called.send(std::thread::current().name().map(str::to_owned));
            source()
        })
        .recorder(rec)
        .spawn()
        .unwrap();
    // Gate: the first export has taken its snapshot on the named thread.
    assert_eq!(
        calls.recv().unwrap().as_deref(),
        Some("metrics-test-exporter")
    );

    cell.lock().unwrap().lines_written = 99;
    let exporter = guard.exporter().clone();
    drop(guard);
    // The guard joined the thread after a final export that saw the new figure.
    assert_eq!(calls.try_iter().count(), 1);
    assert_eq!(exporter.exports(), 2);
    assert_eq!(
        take(&snapshotter).counter(names::WRITER_LINES_WRITTEN, APP),
        99
    );
}

#[test]
fn spawned_thread_survives_a_panicking_source() {
    let (gate, calls) = mpsc::sync_channel::<u32>(0);
    let n = Arc::new(Mutex::new(0u32));
    let rec = Arc::new(DebuggingRecorder::new());
    let snapshotter = rec.snapshotter();
    let guard = Exporter::builder()
        .interval(Duration::from_millis(1))
        .writer("app", move || {
            let call = {
                let mut n = n.lock().unwrap();
                *n += 1;
                *n
            };
            // Rendezvous with the test for the first two calls only.
            if call <= 2 {
                gate.send(call).unwrap();
            }
            assert!(call != 1, "first snapshot fails");
            writer_stats()
        })
        .recorder(rec)
        .spawn()
        .unwrap();
    assert_eq!(calls.recv().unwrap(), 1);
    assert_eq!(calls.recv().unwrap(), 2);
    drop(guard);
    assert_eq!(
        take(&snapshotter).counter(names::WRITER_LINES_WRITTEN, APP),
        10
    );
}

#[test]
fn a_rolling_file_sinks_figures_are_published_under_its_name() {
    use backpressure_writer::rolling::RollingFile;
    use std::io::Write;

    let dir = tempfile::tempdir().unwrap();
    let mut sink = RollingFile::builder()
        .filename_prefix("app")
        .max_file_size(10)
        .build(dir.path())
        .unwrap();
    let handle = sink.handle();
    for _ in 0..3 {
        sink.write_all(b"12345678\n").unwrap(); // 9 bytes: one a file
    }
    let recorder = metrics_util::debugging::DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let exporter = logmetrics::Exporter::builder()
        .rolling_file("file", &handle)
        .recorder(recorder)
        .build()
        .unwrap();
    exporter.export_now();
    let values: std::collections::HashMap<String, String> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .filter(|(k, ..)| {
            k.key()
                .labels()
                .any(|l| l.key() == "name" && l.value() == "file")
        })
        .map(|(k, _, _, v)| (k.key().name().to_owned(), format!("{v:?}")))
        .collect();
    assert_eq!(values["log_writer_file_rotations_total"], "Counter(2)");
    assert_eq!(values["log_writer_file_current_bytes"], "Gauge(9.0)");
    assert_eq!(values["log_writer_file_open_failures_total"], "Counter(0)");
    assert_eq!(
        values["log_writer_file_torn_lines_ended_total"],
        "Counter(0)"
    );
    assert_eq!(values.len(), 8);
}

#[test]
fn a_torn_line_ended_at_a_restart_is_published() {
    use backpressure_writer::rolling::RollingFile;

    let dir = tempfile::tempdir().unwrap();
    // What a crash inside a write leaves behind.
    std::fs::write(dir.path().join("app.log"), "whole\ntorn-").unwrap();
    let sink = RollingFile::builder()
        .filename_prefix("app")
        .filename_suffix("log")
        .build(dir.path())
        .unwrap();
    let recorder = metrics_util::debugging::DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let exporter = logmetrics::Exporter::builder()
        .rolling_file("file", &sink.handle())
        .recorder(recorder)
        .build()
        .unwrap();
    exporter.export_now();
    let torn = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .find(|(k, ..)| k.key().name() == "log_writer_file_torn_lines_ended_total")
        .map(|(.., v)| format!("{v:?}"));
    assert_eq!(torn.as_deref(), Some("Counter(1)"));
}
