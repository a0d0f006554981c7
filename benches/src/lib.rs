//! Benchmarks live in `benches/`; this library holds what the writer benches share: the
//! line they write, a file to write it to, the whole-run producer driver and the
//! single-thread `BufWriter` baseline; and the statistics the service bench reports
//! ([`median`]).

pub mod median;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

/// Bytes per line, newline included (the size the published async-logger figures use).
pub const LINE_LEN: usize = 120;

/// One pre-formatted `fmt`-like line of [`LINE_LEN`] bytes.
pub fn line() -> Vec<u8> {
    let mut l = b"2026-11-27T10:00:00.123456Z  INFO http: request handled method=GET path=/api/v1/items status=200 took_us=1234 "
        .to_vec();
    l.resize(LINE_LEN - 1, b'x');
    l.push(b'\n');
    l
}

/// A fresh file in a directory removed when the returned guard drops.
pub fn temp_file() -> (tempfile::TempDir, File) {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = File::create(dir.path().join("log")).expect("temp file");
    (dir, file)
}

/// Runs `lines` writes split over `producers` threads, each with its own writer clone; the
/// clock starts when all are released and stops once `finish` (drain and join) returned,
/// so the figure is a whole run as a user sees it.
pub fn run_producers<W: Write + Clone + Send + 'static>(
    producers: u64,
    lines: u64,
    writer: W,
    finish: impl FnOnce(),
) -> Duration {
    let start = Arc::new(Barrier::new(producers as usize + 1));
    let per_thread = lines.div_ceil(producers);
    let threads: Vec<_> = (0..producers)
        .map(|_| {
            let mut w = writer.clone();
            let start = Arc::clone(&start);
            thread::spawn(move || {
                let l = line();
                start.wait();
                for _ in 0..per_thread {
                    w.write_all(&l).unwrap();
                }
            })
        })
        .collect();
    drop(writer);
    start.wait();
    let t0 = Instant::now();
    for t in threads {
        t.join().unwrap();
    }
    finish();
    t0.elapsed()
}

/// The baseline every writer is held against: one thread writing `lines` lines to a fresh
/// file through a 64 KiB `BufWriter`, flushed; timed from the first write to the flush.
pub fn bufwriter_run(lines: u64) -> Duration {
    let (_dir, file) = temp_file();
    let l = line();
    let t0 = Instant::now();
    let mut w = BufWriter::with_capacity(64 * 1024, file);
    for _ in 0..lines {
        w.write_all(&l).unwrap();
    }
    w.flush().unwrap();
    drop(w);
    t0.elapsed()
}
