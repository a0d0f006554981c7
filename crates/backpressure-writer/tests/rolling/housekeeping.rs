//! Retention and compression of the rolling sink's closed files, on its own thread.

use std::fs::{self, File};
use std::io::Write;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::support::rolling::{names, read_text, start_time, Fault, Faults};
use backpressure_writer::rolling::{Compression, ManualClock, RollingFile, Rotation};

const WAIT: Duration = Duration::from_secs(30);

fn touch(dir: &Path, name: &str, text: &str) {
    fs::write(dir.join(name), text).unwrap();
}

#[test]
fn retention_never_touches_a_file_that_is_not_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let foreign = [
        "app.2026-12-06.log.bak",
        "app.2026-12-06.01.log",
        "app.2026-12-06.1.log.gz.part",
        "app.2026-12-06",
        "app.log",
        "other.2026-12-06.log",
        "notes.txt",
    ];
    for n in foreign {
        touch(d, n, "not mine\n");
    }
    // Named like its own, but not regular files.
    fs::create_dir(d.join("app.2026-12-01.log")).unwrap();
    symlink(d.join("notes.txt"), d.join("app.2026-12-02.log")).unwrap();
    // An earlier run's own files: they are its own and go first.
    touch(d, "app.2026-11-30.log", "old\n");
    touch(d, "app.2026-11-30.1.log.gz", "old\n");
    // Another directory, same pattern: never looked at.
    let other = tempfile::tempdir().unwrap();
    touch(other.path(), "app.2026-11-29.log", "elsewhere\n");

    let clock = ManualClock::new(start_time());
    let mut sink = RollingFile::builder()
        .filename_prefix("app")
        .filename_suffix("log")
        .rotation(Rotation::Daily)
        .max_file_size(20)
        .max_files(3)
        .clock(Arc::new(clock.clone()))
        .build(d)
        .unwrap();
    let handle = sink.handle();
    for i in 0..20 {
        sink.write_all(format!("line {i:02}\n").as_bytes()).unwrap(); // 8 bytes: 2 a file
    }
    clock.advance(Duration::from_secs(86_400));
    sink.write_all(b"tomorrow\n").unwrap();
    assert!(handle.wait_housekeeping(WAIT));
    let mut left = names(d);
    for n in foreign {
        assert!(left.contains(&n.to_owned()), "{n} was deleted");
    }
    assert!(d.join("app.2026-12-01.log").is_dir());
    assert!(fs::symlink_metadata(d.join("app.2026-12-02.log")).is_ok());
    assert_eq!(names(other.path()), ["app.2026-11-29.log"]);
    left.retain(|n| !foreign.contains(&n.as_str()) && n != "notes.txt");
    // 2 old + 10 of today + 1 of tomorrow = 13 own files, 3 kept: the newest.
    assert_eq!(
        left,
        [
            "app.2026-12-06.8.log",
            "app.2026-12-06.9.log",
            "app.2026-12-07.log"
        ]
    );
    assert_eq!(handle.stats().files_deleted, 10);
}

#[test]
fn total_bytes_keeps_the_newest_files_within_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let mut sink = RollingFile::builder()
        .filename_prefix("app")
        .max_file_size(100)
        .max_total_bytes(250)
        .build(dir.path())
        .unwrap();
    let handle = sink.handle();
    let line = format!("{}\n", "y".repeat(49)); // 50 bytes: 2 a file
    for _ in 0..11 {
        sink.write_all(line.as_bytes()).unwrap();
        assert!(handle.wait_housekeeping(WAIT));
    }
    // Closed files of 100 bytes and the current one of 50: 2 closed + 50 = 250.
    assert_eq!(names(dir.path()), ["app.3", "app.4", "app.5"]);
    assert_eq!(handle.stats().files_deleted, 3);
}

#[test]
fn a_clock_jump_does_not_delete_recent_files_but_age_does() {
    let dir = tempfile::tempdir().unwrap();
    let day = Duration::from_secs(86_400);
    // An earlier run's file, last written 3 days ago.
    touch(dir.path(), "app.2026-12-03-10.log", "old\n");
    let old = File::options()
        .write(true)
        .open(dir.path().join("app.2026-12-03-10.log"))
        .unwrap();
    old.set_modified(start_time() - 3 * day).unwrap();
    drop(old);

    let clock = ManualClock::new(start_time());
    let mut sink = RollingFile::builder()
        .filename_prefix("app")
        .filename_suffix("log")
        .rotation(Rotation::Hourly)
        .max_age(day)
        .clock(Arc::new(clock.clone()))
        .build(dir.path())
        .unwrap();
    let handle = sink.handle();
    assert!(handle.wait_housekeeping(WAIT));
    // The earlier run's file is 3 days old: gone at start-up.
    assert_eq!(handle.stats().files_deleted, 1);
    sink.write_all(b"a\n").unwrap();
    clock.advance(Duration::from_secs(3600));
    sink.write_all(b"b\n").unwrap();
    assert!(handle.wait_housekeeping(WAIT));
    assert_eq!(
        names(dir.path()),
        ["app.2026-12-06-16.log", "app.2026-12-06-17.log"]
    );

    // The wall clock jumps a year ahead: the file closed an hour ago stays.
    clock.set_wall(start_time() + 365 * day);
    sink.write_all(b"c\n").unwrap();
    assert!(handle.wait_housekeeping(WAIT));
    assert_eq!(handle.stats().files_deleted, 1);
    assert_eq!(names(dir.path()).len(), 3);

    // Two days really pass: the two files of before the jump are old on both clocks now;
    // the one written after the jump was closed just now and stays.
    clock.advance(2 * day);
    sink.write_all(b"d\n").unwrap();
    assert!(handle.wait_housekeeping(WAIT));
    assert_eq!(handle.stats().files_deleted, 3);
    assert_eq!(
        names(dir.path()),
        ["app.2027-12-06-16.log", "app.2027-12-08-16.log"]
    );
}

#[test]
fn compression_replaces_closed_files_and_a_failure_keeps_the_original() {
    let dir = tempfile::tempdir().unwrap();
    let faults = Arc::new(Faults::new());
    let mut sink = RollingFile::builder()
        .filename_prefix("app")
        .filename_suffix("log")
        .max_file_size(1000)
        .compression(Compression::Gzip)
        .io_hook(faults.clone())
        .build(dir.path())
        .unwrap();
    let handle = sink.handle();
    let line = format!("{}\n", "z".repeat(99));
    for _ in 0..20 {
        sink.write_all(line.as_bytes()).unwrap();
    }
    assert!(handle.wait_housekeeping(WAIT));
    assert_eq!(names(dir.path()), ["app.1.log", "app.log.gz"]);
    let s = handle.stats();
    assert_eq!((s.files_compressed, s.bytes_compressed), (1, 1000));
    assert_eq!(read_text(&dir.path().join("app.log.gz")), line.repeat(10));

    // The compressed copy cannot be created: counted, original kept, nothing left behind.
    faults.set(Fault::NoCreate(".gz.part"));
    sink.write_all(line.as_bytes()).unwrap();
    assert!(handle.wait_housekeeping(WAIT));
    let s = handle.stats();
    assert_eq!((s.files_compressed, s.compression_failures), (1, 1));
    assert_eq!(names(dir.path()), ["app.1.log", "app.2.log", "app.log.gz"]);
    assert_eq!(
        fs::read_to_string(dir.path().join("app.1.log")).unwrap(),
        line.repeat(10)
    );
}

/// The housekeeping thread (compression, retention) runs below normal priority on Linux,
/// read back from the kernel's own view of the thread: its nice value in `/proc`.
#[cfg(target_os = "linux")]
#[test]
fn the_housekeeping_thread_runs_at_a_lower_priority() {
    let dir = tempfile::tempdir().unwrap();
    let sink = RollingFile::builder()
        .filename_prefix("app")
        .filename_suffix("log")
        .compression(Compression::Gzip)
        .build(dir.path())
        .unwrap();
    // The kernel keeps 15 bytes of a thread's name.
    let nice_of_housekeeper = || {
        fs::read_dir("/proc/self/task").unwrap().find_map(|t| {
            let t = t.unwrap().path();
            let comm = fs::read_to_string(t.join("comm")).ok()?;
            (comm.trim() == "rolling-houseke").then(|| {
                let stat = fs::read_to_string(t.join("stat")).unwrap();
                // Fields after the `(comm)`: state is field 3, nice field 19.
                let after = &stat[stat.rfind(')').unwrap() + 2..];
                after.split(' ').nth(16).unwrap().parse::<i32>().unwrap()
            })
        })
    };
    // The thread lowers itself as it starts: wait for it to have done so.
    let deadline = std::time::Instant::now() + WAIT;
    let nice = loop {
        match nice_of_housekeeper() {
            Some(n) if n != 0 => break n,
            _ if std::time::Instant::now() > deadline => break 0,
            _ => std::thread::sleep(Duration::from_millis(5)),
        }
    };
    assert_eq!(nice, 10);
    drop(sink);
}

/// A partial copy (`name.gz.part`) left by a process that stopped mid-compression is
/// removed at start: also one whose original is gone (deleted by hand, or compressed by
/// a run with another compression), which compressing the original again would never
/// overwrite. Names that are not a partial copy of the sink's own are left alone.
#[test]
fn a_partial_copy_left_by_a_stopped_compression_is_removed_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    touch(d, "app.log", "zero\n"); // closed by an earlier run, never compressed
    touch(d, "app.log.gz.part", "half a copy of app.log");
    touch(
        d,
        "app.2.log.gz.part",
        "half a copy of a file since deleted",
    );
    touch(d, "app.3.log", "three\n"); // the earlier run's current file
    for foreign in ["app.log.part", "other.log.gz.part", "app.03.log.gz.part"] {
        touch(d, foreign, "not mine\n");
    }
    let mut sink = RollingFile::builder()
        .filename_prefix("app")
        .filename_suffix("log")
        .compression(Compression::Gzip)
        .build(d)
        .unwrap();
    let handle = sink.handle();
    sink.write_all(b"more\n").unwrap();
    assert!(handle.wait_housekeeping(WAIT));
    assert_eq!(
        names(d),
        [
            "app.03.log.gz.part",
            "app.3.log",
            "app.log.gz",
            "app.log.part",
            "other.log.gz.part"
        ]
    );
    assert_eq!(read_text(&d.join("app.log.gz")), "zero\n");
    assert_eq!(read_text(&d.join("app.3.log")), "three\nmore\n");
    assert_eq!(handle.stats().files_compressed, 1);
}

/// The same without compression: a sink that never compresses claims no `.part`.
#[test]
fn without_compression_a_partial_copy_is_not_the_sinks() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    touch(d, "app.log.gz.part", "half a copy\n");
    let sink = RollingFile::builder()
        .filename_prefix("app")
        .filename_suffix("log")
        .max_files(1)
        .build(d)
        .unwrap();
    assert!(sink.handle().wait_housekeeping(WAIT));
    assert_eq!(names(d), ["app.log", "app.log.gz.part"]);
}

/// zstd: closed files become `name.zst`, a frame per 128 KiB block, which reads back to
/// exactly what was written; the original goes only once the copy is in place.
#[cfg(feature = "zstd")]
#[test]
fn zstd_replaces_closed_files_with_copies_that_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut sink = RollingFile::builder()
        .filename_prefix("app")
        .filename_suffix("log")
        .max_file_size(400_000)
        .compression(Compression::Zstd)
        .build(dir.path())
        .unwrap();
    let handle = sink.handle();
    let mut written = String::new();
    for i in 0..5_000 {
        let line = format!("{i:05} {}\n", "z".repeat(i % 150));
        sink.write_all(line.as_bytes()).unwrap();
        written.push_str(&line);
    }
    assert!(handle.wait_housekeeping(WAIT));
    assert_eq!(names(dir.path()), ["app.1.log", "app.log.zst"]);
    let first = read_text(&dir.path().join("app.log.zst"));
    assert!(
        first.len() > 3 * 128 * 1024,
        "{} bytes: several frames",
        first.len()
    );
    assert_eq!(first + &read_text(&dir.path().join("app.1.log")), written);
    let s = handle.stats();
    assert_eq!((s.files_compressed, s.compression_failures), (1, 0));
    // A restart counts the `.zst` copy as its own: retention to one file deletes it.
    drop(sink);
    let sink = RollingFile::builder()
        .filename_prefix("app")
        .filename_suffix("log")
        .max_file_size(400_000)
        .max_files(1)
        .compression(Compression::Zstd)
        .build(dir.path())
        .unwrap();
    assert!(sink.handle().wait_housekeeping(WAIT));
    assert_eq!(names(dir.path()), ["app.1.log"]);
}
