//! The cost of rotation, measured (not asserted: no wall-clock threshold in a test).
//!
//! 2 producers write 1 M lines of 120 bytes flat out (`lossy(false)`), whole run with the
//! drain: into a plain `File`, a `RollingFile` rotating every 10 MB, and the same with
//! gzip beside it; 15 rounds, the three interleaved in each, each taking each place in
//! the round in turn. Prints median and spread, and the load average.
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
const ROUNDS: usize = 15;

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

/// Variants measured: `File`, rotating, rotating + gzip, and with the `zstd` feature
/// rotating + zstd.
const VARIANTS: usize = if cfg!(feature = "zstd") { 4 } else { 3 };

/// One whole run of `variant` (0: `File`, 1: rotating, 2: rotating + gzip, 3: rotating +
/// zstd) in a fresh directory, which is removed (and its compressions finished) before
/// the next run, so no run pays for another's leftovers.
fn one_run(variant: usize, rotations: &mut u64, beside: &mut Vec<(Duration, u64)>) -> Duration {
    let dir = tempfile::tempdir().unwrap();
    if variant == 0 {
        let (t, n) = whole_run(File::create(dir.path().join("plain.log")).unwrap());
        assert_eq!(n, LINES);
        return t;
    }
    let compression = match variant {
        2 => Compression::Gzip,
        #[cfg(feature = "zstd")]
        3 => Compression::Zstd,
        _ => Compression::None,
    };
    let sink = RollingFile::builder()
        .filename_prefix("app")
        .max_file_size(10_000_000)
        .compression(compression)
        .build(dir.path())
        .unwrap();
    let h = sink.handle();
    let (t, n) = whole_run(sink);
    assert_eq!(n, LINES);
    *rotations = h.stats().rotations;
    if variant >= 2 {
        beside.push((housekeeper_cpu(), h.stats().bytes_compressed));
    }
    assert!(h.wait_housekeeping(Duration::from_secs(120)));
    t
}

/// The time the (one live) housekeeping thread has been on a CPU, from the kernel's
/// scheduler statistics: its cost counted, not timed against the clock.
fn housekeeper_cpu() -> Duration {
    let ns = std::fs::read_dir("/proc/self/task")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|t| {
            std::fs::read_to_string(t.path().join("comm"))
                .is_ok_and(|c| c.trim() == "rolling-houseke")
        })
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum();
    Duration::from_nanos(ns)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

#[test]
#[ignore = "a measurement: run by hand in release"]
fn rotation_every_10_mb_costs_little() {
    let mut runs: [Vec<Duration>; 4] = Default::default();
    let mut rotations = 0;
    let mut beside = Vec::new();
    let load_before = load_average();
    for round in 0..ROUNDS {
        // Each variant takes each place in the round in turn: a run that follows
        // another's file deletion or compression is not always the same variant.
        for k in 0..VARIANTS {
            let variant = (round + k) % VARIANTS;
            runs[variant].push(one_run(variant, &mut rotations, &mut beside));
        }
    }
    println!(
        "{ROUNDS} rounds of interleaved whole runs, 2 producers, {LINES} lines of 120 bytes, \
         {rotations} rotations; load average {load_before} before, {} after:",
        load_average()
    );
    let [plain, rolling, gzip, zstd] = &mut runs;
    let p = summary("File", plain);
    let r = summary("RollingFile every 10 MB", rolling);
    let g = summary("  + gzip beside it", gzip);
    println!(
        "ratio rolling/plain {:.3}, gzip/plain {:.3}, gzip/rolling {:.3}",
        r.as_secs_f64() / p.as_secs_f64(),
        g.as_secs_f64() / p.as_secs_f64(),
        g.as_secs_f64() / r.as_secs_f64()
    );
    if !zstd.is_empty() {
        let z = summary("  + zstd beside it", zstd);
        println!(
            "ratio zstd/plain {:.3}, zstd/rolling {:.3}",
            z.as_secs_f64() / p.as_secs_f64(),
            z.as_secs_f64() / r.as_secs_f64()
        );
    }
    // What the compressor did while the run lasted (its thread's CPU time since it
    // started, and the bytes it had finished compressing when the run ended), gzip and
    // zstd runs together.
    let mut cpu: Vec<Duration> = beside.iter().map(|b| b.0).collect();
    cpu.sort();
    let mut bytes: Vec<u64> = beside.iter().map(|b| b.1).collect();
    bytes.sort();
    println!(
        "compressor during a run: median {:.1} ms on a CPU (max {:.1}), {:.1} MB compressed \
         (max {:.1})",
        cpu[cpu.len() / 2].as_secs_f64() * 1e3,
        cpu[cpu.len() - 1].as_secs_f64() * 1e3,
        bytes[bytes.len() / 2] as f64 / 1e6,
        bytes[bytes.len() - 1] as f64 / 1e6
    );
}

/// Where a rotation's time goes, on the writer's side alone: the worker's `write` calls
/// (1 MiB batches of 120-byte lines) timed one by one, those that rotate apart from the
/// rest, and a rotating call's time beyond its bytes' share at the ordinary calls' rate
/// (what the rotation itself adds: creating the next file, the channel send). Printed,
/// not asserted.
#[test]
#[ignore = "a measurement: run by hand in release"]
fn rotation_write_calls_timed() {
    let mut batch = Vec::with_capacity(1 << 20);
    while batch.len() + 120 <= 1 << 20 {
        batch.extend_from_slice(&[b'x'; 119]);
        batch.push(b'\n');
    }
    // The same writes into one plain file, for the per-write baseline.
    let dir = tempfile::tempdir().unwrap();
    let mut file = File::create(dir.path().join("plain.log")).unwrap();
    let mut plain = Vec::new();
    for _ in 0..120 {
        let t0 = Instant::now();
        file.write_all(&batch).unwrap();
        plain.push(t0.elapsed());
    }
    let total: Duration = plain.iter().sum();
    println!("File: total {:.1} ms", total.as_secs_f64() * 1e3);
    micros("  ordinary 1 MiB write", &mut plain);
    drop((file, dir));
    for compression in [Compression::None, Compression::Gzip] {
        let dir = tempfile::tempdir().unwrap();
        let mut sink = RollingFile::builder()
            .filename_prefix("app")
            .max_file_size(10_000_000)
            .compression(compression)
            .build(dir.path())
            .unwrap();
        let h = sink.handle();
        let (mut plain, mut rotating) = (Vec::new(), Vec::new());
        for _ in 0..120 {
            let mut rest = &batch[..];
            while !rest.is_empty() {
                let before = h.stats().rotations;
                let t0 = Instant::now();
                let n = sink.write(rest).unwrap();
                let took = t0.elapsed();
                rest = &rest[n..];
                if h.stats().rotations != before {
                    rotating.push((took, n));
                } else if n == batch.len() {
                    plain.push(took);
                }
            }
        }
        drop(sink);
        assert!(h.wait_housekeeping(Duration::from_secs(120)));
        let total: Duration = plain.iter().sum::<Duration>() + rotating.iter().map(|r| r.0).sum();
        println!(
            "{compression:?}: total {:.1} ms (the split writes before a rotation left out)",
            total.as_secs_f64() * 1e3
        );
        micros("  ordinary 1 MiB write", &mut plain);
        let per_byte = plain[plain.len() / 2].as_secs_f64() / batch.len() as f64;
        let mut extra: Vec<Duration> = rotating
            .iter()
            .map(|(t, n)| t.saturating_sub(Duration::from_secs_f64(per_byte * *n as f64)))
            .collect();
        let mut took: Vec<Duration> = rotating.iter().map(|r| r.0).collect();
        micros("  write that rotates", &mut took);
        micros("  ... beyond its bytes", &mut extra);
    }
}

fn micros(name: &str, runs: &mut [Duration]) {
    runs.sort();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    println!(
        "{name:<28} median {:>7.1} µs  min {:>7.1}  max {:>7.1}  ({} calls)",
        us(runs[runs.len() / 2]),
        us(runs[0]),
        us(runs[runs.len() - 1]),
        runs.len()
    );
}
