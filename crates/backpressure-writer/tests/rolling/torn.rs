//! A file a crash left ending mid-line: appending to it (at a restart, or at a reopen
//! onto such a file) first ends the torn line with a `\n`, counted, so the next line is
//! never glued to it; a full disk then fails the open (counted) rather than glue.

use std::fs;
use std::io::Write;
use std::sync::Arc;

use crate::support::rolling::{all_lines, names, start_time, Fault, Faults};
use backpressure_writer::rolling::{BuildError, ManualClock, RollingFile, Rotation};
use backpressure_writer::NonBlockingBuilder;

fn text(dir: &std::path::Path, name: &str) -> String {
    fs::read_to_string(dir.join(name)).unwrap()
}

#[test]
fn a_restart_onto_a_file_ending_mid_line_starts_the_next_line_on_its_own() {
    let dir = tempfile::tempdir().unwrap();
    // What a crash inside a write leaves: two whole lines and the start of a third.
    fs::write(dir.path().join("app.log"), "run1 a\nrun1 b\nrun1 c-sta").unwrap();
    let sink = RollingFile::builder()
        .filename_prefix("app")
        .filename_suffix("log")
        .build(dir.path())
        .unwrap();
    let handle = sink.handle();
    let (mut w, guard) = NonBlockingBuilder::default()
        .lossy(false)
        .drop_report(false)
        .finish(sink);
    for i in 0..3 {
        w.write_all(format!("run2 {i}\n").as_bytes()).unwrap();
    }
    drop(guard);
    assert_eq!(
        text(dir.path(), "app.log"),
        "run1 a\nrun1 b\nrun1 c-sta\nrun2 0\nrun2 1\nrun2 2\n"
    );
    let s = w.stats();
    let r = handle.stats();
    assert_eq!(r.torn_lines_ended, 1);
    // The `\n` is the sink's own byte, not one of the writer's.
    assert_eq!(s.bytes_written, 21);
    assert_eq!(r.current_file_size, 24 + 1 + 21);
    assert_eq!(all_lines(dir.path()).len() as u64, 3 + s.lines_written);
}

#[test]
fn a_restart_continuing_the_index_ends_the_torn_line_and_keeps_the_size_bound() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(start_time());
    let build = || {
        RollingFile::builder()
            .filename_prefix("app")
            .filename_suffix("log")
            .rotation(Rotation::Daily)
            .max_file_size(20)
            .clock(Arc::new(clock.clone()))
            .build(dir.path())
            .unwrap()
    };
    fs::write(dir.path().join("app.2026-12-06.log"), "run1 0\nrun1 1\n").unwrap();
    fs::write(dir.path().join("app.2026-12-06.1.log"), "run1 2\nru").unwrap();
    let mut sink = build();
    let handle = sink.handle();
    assert!(handle.current_path().ends_with("app.2026-12-06.1.log"));
    // 9 bytes + the `\n` = 10: one 7-byte line fits (17 <= 20), the next opens .2.
    for i in 0..3 {
        sink.write_all(format!("run2 {i}\n").as_bytes()).unwrap();
    }
    drop(sink);
    assert_eq!(
        text(dir.path(), "app.2026-12-06.1.log"),
        "run1 2\nru\nrun2 0\n"
    );
    assert_eq!(text(dir.path(), "app.2026-12-06.2.log"), "run2 1\nrun2 2\n");
    assert_eq!(handle.stats().torn_lines_ended, 1);

    // A file that ends with its line end gets nothing more.
    let mut again = build();
    again.write_all(b"run3 0\n").unwrap();
    assert_eq!(again.handle().stats().torn_lines_ended, 0);
    drop(again);
    assert_eq!(text(dir.path(), "app.2026-12-06.3.log"), "run3 0\n");
    assert_eq!(text(dir.path(), "app.2026-12-06.2.log"), "run2 1\nrun2 2\n");
}

#[test]
fn a_torn_file_on_a_full_disk_fails_the_build_naming_it_and_is_left_unglued() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("app.log"), "whole\ntor").unwrap();
    let faults = Arc::new(Faults::new());
    faults.set(Fault::Full { short: 0 });
    let build = || {
        RollingFile::builder()
            .filename_prefix("app")
            .filename_suffix("log")
            .io_hook(faults.clone())
            .build(dir.path())
    };
    match build() {
        Err(e @ BuildError::Io { .. }) => {
            let msg = e.to_string();
            assert!(msg.contains("app.log"), "{msg}");
            assert!(msg.contains("No space left"), "{msg}");
        }
        other => panic!("expected an I/O error, got {other:?}"),
    }
    assert_eq!(text(dir.path(), "app.log"), "whole\ntor");
    faults.set(Fault::None);
    let mut sink = build().unwrap();
    sink.write_all(b"next\n").unwrap();
    assert_eq!(sink.handle().stats().torn_lines_ended, 1);
    drop(sink);
    assert_eq!(text(dir.path(), "app.log"), "whole\ntor\nnext\n");
}

#[test]
fn a_reopen_onto_a_torn_file_ends_its_line_and_a_full_disk_is_an_open_failure() {
    let dir = tempfile::tempdir().unwrap();
    let faults = Arc::new(Faults::new());
    let mut sink = RollingFile::builder()
        .filename_prefix("app")
        .filename_suffix("log")
        .io_hook(faults.clone())
        .build(dir.path())
        .unwrap();
    let handle = sink.handle();
    sink.write_all(b"ours 0\n").unwrap();
    // logrotate-style: the file moved away, another writer left a torn one in its place.
    fs::rename(dir.path().join("app.log"), dir.path().join("old.txt")).unwrap();
    fs::write(dir.path().join("app.log"), "theirs 0\ntheirs 1-sta").unwrap();
    handle.reopen();
    faults.set(Fault::Full { short: 0 });
    assert!(sink.write(b"ours 1\n").is_err());
    assert_eq!(handle.stats().open_failures, 1);
    assert_eq!(text(dir.path(), "app.log"), "theirs 0\ntheirs 1-sta");
    faults.set(Fault::None);
    sink.write_all(b"ours 2\n").unwrap();
    drop(sink);
    assert_eq!(
        text(dir.path(), "app.log"),
        "theirs 0\ntheirs 1-sta\nours 2\n"
    );
    assert_eq!(handle.stats().torn_lines_ended, 1);
    assert_eq!(handle.stats().reopens, 1);
    assert_eq!(names(dir.path()), ["app.log", "old.txt"]);
}
