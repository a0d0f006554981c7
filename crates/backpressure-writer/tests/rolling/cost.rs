//! The cost of rotation, measured (not asserted: no wall-clock threshold in a test).
//!
//! 2 producers write 1 M lines of 120 bytes flat out (`lossy(false)`), whole run with the
//! drain: into a plain `File`, a `RollingFile` rotating every 10 MB, and the same with
//! gzip beside it; 9 rounds, the three interleaved in each. Prints median and spread.
//!
//! Run: `cargo test --release -p backpressure-writer --test rolling -- cost --ignored --nocapture`

use std::fs::File;
use std::io::Write;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use backpressure_writer::rolling::{Compression, RollingFile};
use backpressure_writer::NonBlockingBuilder;

const LINES: u64 = 1_000_000;
const ROUNDS: usize = 9;

fn whole_run<W: Write + Send + 'static>(sink: W) -> (Duration, u64) {
    let (w, guard) = NonBlockingBuilder::default().lossy(false).finish(sink);
    let mut line = vec![b'x'; 119];
    line.push(b'\n');
    let start = Arc::new(Barrier::new(3));
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let (mut w, start, line) = (w.clone(), Arc::clone(&start), line.clone());
            thread::spawn(move || {
                start.wait();
                for _ in 0..LINES / 2 {
                    w.write_all(&line).unwrap();
                }
            })
        })
        .collect();
    start.wait();
    let t0 = Instant::now();
    for t in threads {
        t.join().unwrap();
    }
    drop(guard);
    let took = t0.elapsed();
    (took, w.stats().lines_written)
}

fn summary(name: &str, runs: &mut [Duration]) -> Duration {
    runs.sort();
    let med = runs[runs.len() / 2];
    println!(
        "{name:<28} median {:>7.1} ms  min {:>7.1}  max {:>7.1}",
        med.as_secs_f64() * 1e3,
        runs[0].as_secs_f64() * 1e3,
        runs[runs.len() - 1].as_secs_f64() * 1e3
    );
    med
}

#[test]
#[ignore = "a measurement: run by hand in release"]
fn rotation_every_10_mb_costs_little() {
    let (mut plain, mut rolling, mut gzip) = (Vec::new(), Vec::new(), Vec::new());
    let mut rotations = 0;
    for _ in 0..ROUNDS {
        let dir = tempfile::tempdir().unwrap();
        let (t, n) = whole_run(File::create(dir.path().join("plain.log")).unwrap());
        assert_eq!(n, LINES);
        plain.push(t);

        let dir = tempfile::tempdir().unwrap();
        let sink = RollingFile::builder()
            .filename_prefix("app")
            .max_file_size(10_000_000)
            .build(dir.path())
            .unwrap();
        let h = sink.handle();
        let (t, n) = whole_run(sink);
        assert_eq!(n, LINES);
        rolling.push(t);
        rotations = h.stats().rotations;

        let dir = tempfile::tempdir().unwrap();
        let sink = RollingFile::builder()
            .filename_prefix("app")
            .max_file_size(10_000_000)
            .compression(Compression::Gzip)
            .build(dir.path())
            .unwrap();
        let h = sink.handle();
        let (t, n) = whole_run(sink);
        assert_eq!(n, LINES);
        gzip.push(t);
        // The compressions finish before the next round, so they never overlap a run
        // other than their own.
        assert!(h.wait_housekeeping(Duration::from_secs(120)));
    }
    println!("{ROUNDS} interleaved whole runs, 2 producers, {LINES} lines of 120 bytes, {rotations} rotations:");
    let p = summary("File", &mut plain);
    let r = summary("RollingFile every 10 MB", &mut rolling);
    let g = summary("  + gzip beside it", &mut gzip);
    println!(
        "ratio rolling/plain {:.3}, gzip/plain {:.3}",
        r.as_secs_f64() / p.as_secs_f64(),
        g.as_secs_f64() / p.as_secs_f64()
    );
}
