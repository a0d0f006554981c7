//! The rolling file sink: lines never split or lost across rotations, size bound, time
//! boundaries, restart, reopen.

use std::collections::HashSet;
use std::fs;
use std::io::Write;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use crate::support::rolling::{all_lines, files, names, read_text, start_time};
use backpressure_writer::rolling::{Compression, ManualClock, RollingFile, Rotation};
use backpressure_writer::NonBlockingBuilder;

const REPORT: &str = "backpressure-writer: dropped";

#[test]
fn eight_producers_every_line_in_exactly_one_file() {
    const THREADS: usize = 8;
    const PER_THREAD: usize = 12_000;
    const LIMIT: u64 = 100 * 1024;
    let dir = tempfile::tempdir().unwrap();
    let sink = RollingFile::builder()
        .filename_prefix("app")
        .filename_suffix("log")
        .rotation(Rotation::Daily)
        .max_file_size(LIMIT)
        .compression(Compression::Gzip)
        .build(dir.path())
        .unwrap();
    let handle = sink.handle();
    // A small queue: lines are dropped and drop reports written, which must be counted too.
    let (writer, guard) = NonBlockingBuilder::default()
        .buffered_lines_limit(10_000)
        .finish(sink);
    let producers: Vec<_> = (0..THREADS)
        .map(|t| {
            let mut w = writer.clone();
            thread::spawn(move || {
                for i in 0..PER_THREAD {
                    // Lines of different lengths, so batches end anywhere.
                    let pad = "x".repeat(i % 97);
                    w.write_all(format!("t{t} n{i} {pad}\n").as_bytes())
                        .unwrap();
                }
            })
        })
        .collect();
    for p in producers {
        p.join().unwrap();
    }
    drop(guard);
    assert!(handle.wait_housekeeping(Duration::from_secs(60)));
    let s = writer.stats();
    let r = handle.stats();
    assert_eq!(s.submitted, (THREADS * PER_THREAD) as u64);
    assert_eq!(s.submitted, s.lines_written + s.dropped.total());

    let lines = all_lines(dir.path());
    let reports = lines.iter().filter(|l| l.starts_with(REPORT)).count();
    let mut seen = HashSet::new();
    for l in lines.iter().filter(|l| !l.starts_with(REPORT)) {
        let mut parts = l.split(' ');
        let (t, n) = (parts.next().unwrap(), parts.next().unwrap());
        let i: usize = n[1..].parse().unwrap();
        // A whole line: its padding is exactly as written.
        assert_eq!(parts.next().unwrap_or(""), "x".repeat(i % 97), "{l}");
        assert!(seen.insert((t.to_owned(), i)), "twice: {l}");
    }
    assert_eq!(seen.len() as u64, s.lines_written);
    assert_eq!(lines.len(), seen.len() + reports);
    assert!(reports > 0 || s.dropped.total() == 0);

    // Rotation every 100 KiB: every file within the bound, one more file than rotations.
    let all = files(dir.path());
    assert_eq!(all.len() as u64, r.rotations + 1, "{:?}", names(dir.path()));
    // How many bytes got through depends on the drops; files hold exactly those bytes.
    let mut total = 0;
    for f in &all {
        let len = read_text(f).len() as u64;
        assert!(len > 0 && len <= LIMIT, "{f:?}: {len}");
        total += len;
    }
    assert_eq!(total, s.bytes_written);
    assert!(r.rotations >= 3, "{r:?}");
    assert!(r.rotations + 1 >= total.div_ceil(LIMIT), "{r:?}");
    // Every closed file compressed, the current one not.
    assert_eq!(r.files_compressed, r.rotations);
    assert_eq!(r.compression_failures, 0);
    let gz = all
        .iter()
        .filter(|p| p.to_str().unwrap().ends_with(".gz"))
        .count();
    assert_eq!(gz as u64, r.rotations);
}

fn sized(dir: &std::path::Path, limit: u64) -> RollingFile {
    RollingFile::builder()
        .filename_prefix("app")
        .filename_suffix("log")
        .max_file_size(limit)
        .build(dir)
        .unwrap()
}

#[test]
fn a_batch_past_the_limit_splits_at_a_line_end() {
    let dir = tempfile::tempdir().unwrap();
    let mut sink = sized(dir.path(), 35);
    let handle = sink.handle();
    let batch: String = (0..10).map(|i| format!("line {i:03}\n")).collect(); // 9 bytes each
                                                                             // One call writes the lines that fit (3 × 9 = 27 <= 35) and returns there.
    assert_eq!(sink.write(batch.as_bytes()).unwrap(), 27);
    sink.write_all(&batch.as_bytes()[27..]).unwrap();
    // A line longer than the limit goes whole into a file of its own.
    let long = format!("{}\n", "L".repeat(49));
    sink.write_all(long.as_bytes()).unwrap();
    sink.write_all(b"after\n").unwrap();
    assert_eq!(
        names(dir.path()),
        [
            "app.1.log",
            "app.2.log",
            "app.3.log",
            "app.4.log",
            "app.5.log",
            "app.log"
        ]
    );
    let sizes: Vec<usize> = files(dir.path())
        .iter()
        .map(|f| read_text(f).len())
        .collect();
    // app.1..3: 3 lines each; app.4: line 9 alone (the 50-byte line does not fit beside it);
    // app.5: the long line; app.log (index 0): the first 3 lines.
    assert_eq!(sizes, [27, 27, 9, 50, 6, 27]);
    assert_eq!(handle.stats().rotations, 5);
    assert_eq!(handle.stats().current_file_size, 6);
    assert_eq!(all_lines(dir.path()).len(), 12);
}

#[test]
fn a_boundary_crossed_while_stalled_rotates_once() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(start_time());
    let mut sink = RollingFile::builder()
        .filename_prefix("app")
        .rotation(Rotation::Minutely)
        .clock(Arc::new(clock.clone()))
        .build(dir.path())
        .unwrap();
    let handle = sink.handle();
    sink.write_all(b"a\n").unwrap();
    // Ten boundaries pass with nothing written.
    clock.advance(Duration::from_secs(600));
    sink.write_all(b"b\n").unwrap();
    sink.write_all(b"c\n").unwrap();
    assert_eq!(handle.stats().rotations, 1);
    assert_eq!(
        names(dir.path()),
        ["app.2026-12-06-16-15", "app.2026-12-06-16-25"]
    );
    assert_eq!(all_lines(dir.path()), ["a", "b", "c"]);
    // A line begun before the boundary is finished in its file before the switch.
    sink.write_all(b"d-start ").unwrap();
    clock.advance(Duration::from_secs(60));
    sink.write_all(b"d-end\ne\n").unwrap();
    assert_eq!(handle.stats().rotations, 1);
    sink.write_all(b"f\n").unwrap();
    assert_eq!(handle.stats().rotations, 2);
    assert_eq!(
        all_lines(dir.path()),
        ["a", "b", "c", "d-start d-end", "e", "f"]
    );
}

#[test]
fn a_restart_appends_to_the_current_file_and_continues_the_index() {
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
    let mut first = build();
    for i in 0..5 {
        first.write_all(format!("run1 {i}\n").as_bytes()).unwrap(); // 7 bytes: 2 a file
    }
    drop(first);
    assert_eq!(
        names(dir.path()),
        [
            "app.2026-12-06.1.log",
            "app.2026-12-06.2.log",
            "app.2026-12-06.log"
        ]
    );
    let mut second = build();
    assert!(second
        .handle()
        .current_path()
        .ends_with("app.2026-12-06.2.log"));
    for i in 0..3 {
        second.write_all(format!("run2 {i}\n").as_bytes()).unwrap();
    }
    drop(second);
    let text = |n: &str| fs::read_to_string(dir.path().join(n)).unwrap();
    assert_eq!(text("app.2026-12-06.2.log"), "run1 4\nrun2 0\n");
    assert_eq!(text("app.2026-12-06.3.log"), "run2 1\nrun2 2\n");
    assert_eq!(all_lines(dir.path()).len(), 8);
}

#[test]
fn reopen_follows_a_logrotate_rename() {
    let dir = tempfile::tempdir().unwrap();
    let sink = RollingFile::builder()
        .filename_prefix("app")
        .filename_suffix("log")
        .build(dir.path())
        .unwrap();
    let handle = sink.handle();
    let (mut w, guard) = NonBlockingBuilder::default().finish(sink);
    w.write_all(b"before\n").unwrap();
    guard.flush().unwrap();
    // logrotate's `create` mode: rename, then signal the program.
    fs::rename(dir.path().join("app.log"), dir.path().join("app.log.1")).unwrap();
    handle.reopen();
    w.write_all(b"after\n").unwrap();
    guard.flush().unwrap();
    let text = |n: &str| fs::read_to_string(dir.path().join(n)).unwrap();
    assert_eq!(text("app.log.1"), "before\n");
    assert_eq!(text("app.log"), "after\n");
    assert_eq!((handle.stats().reopens, handle.stats().rotations), (1, 0));
}

#[test]
fn a_reopen_at_a_period_change_still_hands_the_closed_file_on() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(start_time());
    let mut sink = RollingFile::builder()
        .filename_prefix("app")
        .rotation(Rotation::Hourly)
        .compression(Compression::Gzip)
        .clock(Arc::new(clock.clone()))
        .build(dir.path())
        .unwrap();
    let handle = sink.handle();
    sink.write_all(b"a\n").unwrap();
    handle.reopen();
    clock.advance(Duration::from_secs(3600));
    sink.write_all(b"b\n").unwrap();
    assert!(handle.wait_housekeeping(Duration::from_secs(30)));
    let s = handle.stats();
    assert_eq!((s.rotations, s.reopens, s.files_compressed), (1, 0, 1));
    assert_eq!(
        names(dir.path()),
        ["app.2026-12-06-16.gz", "app.2026-12-06-17"]
    );
    // The request was answered by the new file: the next write does not reopen.
    sink.write_all(b"c\n").unwrap();
    assert_eq!(handle.stats().reopens, 0);
}

#[test]
fn the_current_link_follows_the_newest_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut sink = RollingFile::builder()
        .filename_prefix("app")
        .filename_suffix("log")
        .max_file_size(10)
        .max_files(2)
        .current_link("current.log")
        .build(dir.path())
        .unwrap();
    let handle = sink.handle();
    let link = dir.path().join("current.log");
    assert_eq!(
        fs::read_link(&link).unwrap(),
        std::path::Path::new("app.log")
    );
    for i in 0..3 {
        sink.write_all(format!("line {i}\n").as_bytes()).unwrap(); // 7 bytes: one a file
    }
    assert!(handle.wait_housekeeping(Duration::from_secs(30)));
    assert_eq!(
        fs::read_link(&link).unwrap(),
        std::path::Path::new("app.2.log")
    );
    assert_eq!(fs::read_to_string(&link).unwrap(), "line 2\n");
    // Retention kept 2 files and left the link alone.
    assert_eq!(names(dir.path()), ["app.1.log", "app.2.log"]);
}

#[test]
fn bad_settings_are_refused_with_the_setting_named() {
    let dir = tempfile::tempdir().unwrap();
    let err = |b: backpressure_writer::rolling::RollingFileBuilder| {
        b.build(dir.path()).unwrap_err().to_string()
    };
    let base = || {
        RollingFile::builder()
            .filename_prefix("app")
            .filename_suffix("log")
    };
    assert_eq!(
        err(RollingFile::builder()),
        "rolling file: bad file name part \"\": filename_prefix must not be empty"
    );
    assert!(err(base().filename_prefix("a/b")).contains("\"a/b\""));
    assert_eq!(
        err(base().max_file_size(0)),
        "rolling file: max_file_size must be greater than zero (got 0)"
    );
    assert!(err(base().max_files(0)).contains("max_files"));
    assert!(err(base().max_total_bytes(0)).contains("max_total_bytes"));
    assert!(err(base().max_age(Duration::ZERO)).contains("max_age"));
    assert_eq!(
        err(base().utc_offset_seconds(86_400)),
        "rolling file: utc_offset_seconds must be within ±86399 (got 86400)"
    );
    assert!(err(base().current_link("app.3.log")).contains("the sink's own files"));
    // A directory that cannot be created: a path under a regular file.
    let file = dir.path().join("plain");
    fs::write(&file, "x").unwrap();
    let e = base().build(file.join("sub")).unwrap_err().to_string();
    assert!(
        e.starts_with("rolling file: ") && e.contains("plain/sub"),
        "{e}"
    );
}
