//! The writer's figures: exact values, deltas between exports, histogram buckets, two writers apart.

use super::*;

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
