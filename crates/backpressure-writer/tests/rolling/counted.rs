//! The sink's work per write call, counted through its injection points (the clock and
//! the I/O hook), never timed: a batch of many lines is one file `write`, and the clock is
//! read once per call with time rotation and never without it. Also: once the sink is
//! gone, `wait_housekeeping` returns only after its spare files are closed.

use std::io::{self, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use crate::support::rolling::{names, read_text, start_time};
use backpressure_writer::rolling::{Clock, IoHook, ManualClock, RollingFile, Rotation};

/// A manual clock that counts its wall-clock reads.
#[derive(Debug)]
struct CountingClock {
    inner: ManualClock,
    reads: AtomicU64,
}

impl Clock for CountingClock {
    fn now(&self) -> SystemTime {
        self.reads.fetch_add(1, SeqCst);
        self.inner.now()
    }
    fn monotonic(&self) -> Duration {
        self.inner.monotonic()
    }
}

/// Records the length of every file write the sink makes (the hook is called once before
/// each).
#[derive(Debug, Default)]
struct WriteLog(Mutex<Vec<usize>>);

impl IoHook for WriteLog {
    fn write(&self, _path: &Path, len: usize) -> io::Result<usize> {
        self.0.lock().unwrap().push(len);
        Ok(len)
    }
}

/// `lines` lines of 120 bytes, the cost harness's lines.
fn batch(lines: usize) -> Vec<u8> {
    let mut line = vec![b'x'; 119];
    line.push(b'\n');
    line.repeat(lines)
}

fn clock_reads_per_call(rotation: Rotation) -> (u64, u64) {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(CountingClock {
        inner: ManualClock::new(start_time()),
        reads: AtomicU64::new(0),
    });
    let mut sink = RollingFile::builder()
        .filename_prefix("app")
        .rotation(rotation)
        .max_file_size(1 << 30)
        .clock(clock.clone())
        .build(dir.path())
        .unwrap();
    let at_build = clock.reads.load(SeqCst);
    let b = batch(1000);
    for _ in 0..50 {
        assert_eq!(sink.write(&b).unwrap(), b.len());
    }
    drop(sink);
    (at_build, clock.reads.load(SeqCst) - at_build)
}

#[test]
fn with_time_rotation_a_batch_reads_the_clock_once_without_it_never() {
    // 50 calls of 1000 lines each: one read per call, not per line.
    let (_, daily) = clock_reads_per_call(Rotation::Daily);
    assert_eq!(daily, 50);
    // No time rotation: the period cannot change, so no call reads the clock (the build
    // reads it once, for the name's period).
    assert_eq!(clock_reads_per_call(Rotation::Never), (1, 0));
}

#[test]
fn a_batch_of_many_lines_is_one_file_write_and_two_across_a_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(WriteLog::default());
    const LIMIT: u64 = 10_000_000;
    let mut sink = RollingFile::builder()
        .filename_prefix("app")
        .filename_suffix("log")
        .max_file_size(LIMIT)
        .io_hook(log.clone())
        .build(dir.path())
        .unwrap();
    let handle = sink.handle();
    // The worker's chunk: 1 MiB of whole lines (8738 lines of 120 bytes).
    let b = batch((1 << 20) / 120);
    for _ in 0..9 {
        assert_eq!(sink.write(&b).unwrap(), b.len());
    }
    assert_eq!(*log.0.lock().unwrap(), vec![b.len(); 9]);
    // The tenth passes 10 MB: the lines that fit, then the rest in the next file, one
    // write each; exactly as many bytes as the batch.
    log.0.lock().unwrap().clear();
    sink.write_all(&b).unwrap();
    let fits = (LIMIT as usize - 9 * b.len()) / 120 * 120;
    assert_eq!(*log.0.lock().unwrap(), [fits, b.len() - fits]);
    assert_eq!(handle.stats().rotations, 1);
    drop(sink);
    assert_eq!(names(dir.path()), ["app.1.log", "app.log"]);
    let first = read_text(&dir.path().join("app.log")).len();
    assert_eq!(first, 9 * b.len() + fits);
}

/// The sink's unnamed spare files still open in `dir` (Linux shows an `O_TMPFILE` file
/// as `dir/#inode (deleted)` under `/proc/self/fd`).
#[cfg(target_os = "linux")]
fn spares_open_in(dir: &Path) -> usize {
    let prefix = format!("{}/#", dir.display());
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .filter(|t| t.to_string_lossy().starts_with(&prefix))
        .count()
}

#[cfg(target_os = "linux")]
#[test]
fn once_the_sink_is_gone_waiting_for_housekeeping_covers_its_spare_files() {
    for _ in 0..20 {
        let dir = tempfile::tempdir().unwrap();
        let sink = RollingFile::builder()
            .filename_prefix("app")
            .build(dir.path())
            .unwrap();
        let handle = sink.handle();
        assert!(handle.wait_housekeeping(Duration::from_secs(10)));
        // The first file took one if it was there in time; the rest wait for rotations.
        assert!(spares_open_in(dir.path()) >= 3);
        drop(sink);
        assert!(handle.wait_housekeeping(Duration::from_secs(10)));
        assert_eq!(spares_open_in(dir.path()), 0);
    }
}

/// A rotation names a spare file the housekeeper created ahead of need, also when
/// rotations come back to back (the housekeeper, woken by the first to close the old
/// file and refill, is then at work beside the next): counted, every new file was a
/// spare, none was created on the writer's path.
#[cfg(target_os = "linux")]
#[test]
fn back_to_back_rotations_each_name_a_spare_file() {
    for _ in 0..20 {
        let dir = tempfile::tempdir().unwrap();
        let mut sink = RollingFile::builder()
            .filename_prefix("app")
            .filename_suffix("log")
            .max_file_size(1000)
            .build(dir.path())
            .unwrap();
        let handle = sink.handle();
        let mut line = vec![b'x'; 99];
        line.push(b'\n');
        let ten = line.repeat(10);
        sink.write_all(&ten).unwrap(); // fills app.log exactly
        assert!(handle.wait_housekeeping(Duration::from_secs(10)));
        assert!(spares_open_in(dir.path()) >= 3);
        let before = handle.stats().spare_files_named;
        for _ in 0..3 {
            sink.write_all(&ten).unwrap(); // one rotation each
        }
        let s = handle.stats();
        assert_eq!(s.rotations, 3);
        assert_eq!(s.spare_files_named - before, 3, "{s:?}");
        drop(sink);
        assert_eq!(names(dir.path()).len(), 4);
    }
}

/// Lines written through `write_all` in pieces (as `write!` does) still land whole.
#[test]
fn a_line_written_in_pieces_without_a_size_limit_lands_whole() {
    let dir = tempfile::tempdir().unwrap();
    let mut sink = RollingFile::builder()
        .filename_prefix("app")
        .build(dir.path())
        .unwrap();
    sink.write_all(b"one ").unwrap();
    sink.write_all(b"line\ntwo\n").unwrap();
    let n = 3;
    writeln!(sink, "three {n}").unwrap();
    drop(sink);
    assert_eq!(
        read_text(&dir.path().join("app")),
        "one line\ntwo\nthree 3\n"
    );
}
