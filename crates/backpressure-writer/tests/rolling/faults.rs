//! The rolling sink on a full disk and with a file that cannot be created: every line
//! counted (written or `write_failed`), none torn, and writing resumes when the fault
//! clears.

use std::fs;
use std::io::Write;
use std::os::unix::fs::symlink;
use std::sync::Arc;

use crate::support::rolling::{all_lines, names, Fault, Faults};
use backpressure_writer::rolling::RollingFile;
use backpressure_writer::stats::Stats;
use backpressure_writer::{NonBlocking, NonBlockingBuilder};

fn write_lines(w: &mut NonBlocking, from: usize, n: usize) {
    for i in from..from + n {
        w.write_all(format!("line {i:05}\n").as_bytes()).unwrap(); // 11 bytes
    }
}

/// Every line in the files is whole and unique, and they are exactly the written ones.
fn assert_files_hold_the_written_lines(dir: &std::path::Path, s: &Stats) {
    let lines = all_lines(dir);
    for l in &lines {
        assert!(l.len() == 10 && l.starts_with("line "), "torn: {l:?}");
    }
    let unique: std::collections::HashSet<_> = lines.iter().collect();
    assert_eq!(unique.len(), lines.len());
    assert_eq!(lines.len() as u64, s.lines_written);
    assert_eq!(s.submitted, s.lines_written + s.dropped.total());
}

#[test]
fn a_full_disk_is_counted_and_writing_resumes_when_it_clears() {
    let dir = tempfile::tempdir().unwrap();
    let faults = Arc::new(Faults::new());
    let sink = RollingFile::builder()
        .filename_prefix("app")
        .filename_suffix("log")
        .max_file_size(1000)
        .io_hook(faults.clone())
        .build(dir.path())
        .unwrap();
    let (mut w, guard) = NonBlockingBuilder::default()
        .lossy(false)
        .drop_report(false)
        .finish(sink);
    write_lines(&mut w, 0, 100);
    guard.flush().unwrap();
    // A short write of 25 bytes (two whole lines and 3 bytes of a third), then ENOSPC.
    faults.set(Fault::Full { short: 25 });
    write_lines(&mut w, 100, 50);
    assert!(guard.flush().is_err());
    let s = w.stats();
    assert_eq!((s.lines_written, s.dropped.write_failed), (102, 48));
    faults.set(Fault::None);
    write_lines(&mut w, 150, 100);
    guard.flush().unwrap();
    let s = w.stats();
    assert_eq!((s.lines_written, s.dropped.write_failed), (202, 48));
    drop(guard);
    // The 3 bytes of the torn line were taken back: the next line starts clean.
    assert_files_hold_the_written_lines(dir.path(), &s);
}

#[test]
fn dev_full_is_counted_and_a_reopen_after_the_fix_resumes() {
    let dir = tempfile::tempdir().unwrap();
    // The current file is /dev/full: every write fails with ENOSPC.
    symlink("/dev/full", dir.path().join("app.log")).unwrap();
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
    write_lines(&mut w, 0, 50);
    assert!(guard.flush().is_err());
    let s = w.stats();
    assert_eq!((s.lines_written, s.dropped.write_failed), (0, 50));
    assert!(s.write_errors >= 1);
    // The operator frees the name and asks for a reopen.
    fs::remove_file(dir.path().join("app.log")).unwrap();
    handle.reopen();
    write_lines(&mut w, 50, 30);
    guard.flush().unwrap();
    drop(guard);
    let s = w.stats();
    assert_eq!((s.lines_written, s.dropped.write_failed), (30, 50));
    assert_files_hold_the_written_lines(dir.path(), &s);
    assert_eq!(handle.stats().reopens, 1);
}

#[test]
fn a_file_that_cannot_be_created_is_counted_and_retried() {
    let dir = tempfile::tempdir().unwrap();
    let faults = Arc::new(Faults::new());
    let sink = RollingFile::builder()
        .filename_prefix("app")
        .filename_suffix("log")
        .max_file_size(110) // 10 lines a file
        .io_hook(faults.clone())
        .build(dir.path())
        .unwrap();
    let handle = sink.handle();
    let (mut w, guard) = NonBlockingBuilder::default()
        .lossy(false)
        .drop_report(false)
        .finish(sink);
    // app.log fills up; the next file, app.1.log, cannot be created.
    faults.set(Fault::NoCreate("app.1.log"));
    write_lines(&mut w, 0, 10);
    guard.flush().unwrap();
    write_lines(&mut w, 10, 5);
    assert!(guard.flush().is_err());
    let s = w.stats();
    assert_eq!((s.lines_written, s.dropped.write_failed), (10, 5));
    assert!(handle.stats().open_failures >= 1);
    // Each batch tries again; once the fault clears, lines land in app.1.log.
    write_lines(&mut w, 15, 5);
    assert!(guard.flush().is_err());
    faults.set(Fault::None);
    write_lines(&mut w, 20, 5);
    guard.flush().unwrap();
    drop(guard);
    let s = w.stats();
    assert_eq!((s.lines_written, s.dropped.write_failed), (15, 10));
    assert_eq!(names(dir.path()), ["app.1.log", "app.log"]);
    assert_files_hold_the_written_lines(dir.path(), &s);
}
