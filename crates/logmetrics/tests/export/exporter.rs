//! What the exporter does besides values: descriptions and units, its thread's start, drop and a panicking source.

use super::*;

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
