//! A rolling file sink's figures, and a torn line ended at a restart.

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
