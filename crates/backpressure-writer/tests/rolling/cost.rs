//! The cost of rotation, measured (not asserted: no wall-clock threshold in a test).
//!
//! 2 producers write 1 M lines of 120 bytes flat out (`lossy(false)`), whole run with the
//! drain: into a plain `File`, a `RollingFile` that never rotates, one rotating every
//! 10 MB, and the same with gzip beside it (and zstd, with the feature); 15 rounds
//! (`COST_ROUNDS`), the variants interleaved in each, each taking each place in the round
//! in turn. Prints each variant's median and spread, the ratios of the medians and the
//! median of the ratios paired within a round, the process's CPU time and context
//! switches per run (counted by the kernel), and the load average. With `COST_APPEND`
//! set, a plain `File` opened as the sink opens its files (`O_APPEND`) runs too.
//!
//! Fair by construction: every run in a fresh directory on the same file system, the same
//! lines and bytes (checked), no retention, the sink's housekeeping (its spare files)
//! settled before the clock starts and after the run (as the `File`'s `create` and close
//! are), and the clock started by the producers themselves (a main thread that took it
//! after the start barrier could be preempted meanwhile: one run then measured 0.2 ms).
//! And every run in one malloc arena (`MALLOC_ARENA_MAX=1`; the test runs itself again
//! in a child process with it set): glibc gives each new thread the arena a finished
//! thread left, warm with the last run's queue memory, so a run whose sink starts a
//! thread of its own before the producers (the housekeeper) left them a cold arena, and
//! paid for first touching its queue memory in the kernel: 5 000–6 400 page faults and
//! 7–13 ms more system time a run than the `File` run's 500–2 500, with no difference in
//! the writing itself (`COST_ARENAS=any` runs in the arenas as they come, to see it).
//!
//! Run: `cargo test --release -p backpressure-writer --test rolling -- cost --ignored --nocapture`

use std::fs::File;
use std::io::Write;
use std::process::Command;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use backpressure_writer::rolling::{Compression, RollingFile};
use backpressure_writer::NonBlockingBuilder;

const LINES: u64 = 1_000_000;
const ROUNDS: usize = 15;

/// One whole run: its time, and the work the process did meanwhile (counted by the
/// kernel, which the machine's noise moves far less than the time).
#[derive(Debug, Clone, Copy, Default)]
struct Run {
    took: Duration,
    /// User and system CPU time of the whole process (all threads, exited ones included).
    user: Duration,
    sys: Duration,
    /// Page faults that needed no I/O (a page mapped on first touch).
    faults: u64,
    /// Context switches: a thread waited (a futex, I/O), or gave its CPU up while still
    /// runnable: preempted, or a `sched_yield` (the writer's lock yields when contended,
    /// so this counts the producers' collisions on it).
    voluntary: u64,
    involuntary: u64,
}

#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn usage() -> Run {
    // SAFETY: `getrusage` writes one `rusage` we own; zeroed is a valid one.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    Run {
        took: Duration::ZERO,
        user: tv(u.ru_utime),
        sys: tv(u.ru_stime),
        faults: u.ru_minflt as u64,
        voluntary: u.ru_nvcsw as u64,
        involuntary: u.ru_nivcsw as u64,
    }
}

#[cfg(not(target_os = "linux"))]
fn usage() -> Run {
    Run::default()
}

fn whole_run<W: Write + Send + 'static>(sink: W) -> (Run, u64) {
    let (w, guard) = NonBlockingBuilder::default().lossy(false).finish(sink);
    let mut line = vec![b'x'; 119];
    line.push(b'\n');
    let start = Arc::new(Barrier::new(3));
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let (mut w, start, line) = (w.clone(), Arc::clone(&start), line.clone());
            thread::spawn(move || {
                start.wait();
                let began = Instant::now();
                for _ in 0..LINES / 2 {
                    w.write_all(&line).unwrap();
                }
                began
            })
        })
        .collect();
    let before = usage();
    start.wait();
    // The run starts when the first producer does.
    let t0 = threads
        .into_iter()
        .map(|t| t.join().unwrap())
        .min()
        .unwrap();
    drop(guard);
    let took = t0.elapsed();
    let after = usage();
    let run = Run {
        took,
        user: after.user.saturating_sub(before.user),
        sys: after.sys.saturating_sub(before.sys),
        faults: after.faults - before.faults,
        voluntary: after.voluntary - before.voluntary,
        involuntary: after.involuntary - before.involuntary,
    };
    (run, w.stats().lines_written)
}

/// Prints the median and spread of the runs' times, and the median of the work counted
/// during them; returns the median time.
fn summary(name: &str, runs: &mut [Run]) -> Duration {
    let median = |v: &mut Vec<u64>| {
        v.sort();
        v[v.len() / 2]
    };
    let mut user: Vec<u64> = runs.iter().map(|r| r.user.as_micros() as u64).collect();
    let mut sys: Vec<u64> = runs.iter().map(|r| r.sys.as_micros() as u64).collect();
    let mut faults: Vec<u64> = runs.iter().map(|r| r.faults).collect();
    let mut vol: Vec<u64> = runs.iter().map(|r| r.voluntary).collect();
    let mut invol: Vec<u64> = runs.iter().map(|r| r.involuntary).collect();
    runs.sort_by_key(|r| r.took);
    let med = runs[runs.len() / 2].took;
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "{name:<10} median {:>6.1} ms  min {:>6.1}  max {:>6.1} | CPU user {:>5.1} + sys \
         {:>5.1} ms, {} page faults, switches {} waited + {} yielded (medians)",
        ms(med),
        ms(runs[0].took),
        ms(runs[runs.len() - 1].took),
        median(&mut user) as f64 / 1e3,
        median(&mut sys) as f64 / 1e3,
        median(&mut faults),
        median(&mut vol),
        median(&mut invol),
    );
    med
}

/// The variants measured, in the order the summary prints them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Variant {
    /// A plain `File` (created fresh, in a fresh directory): the baseline.
    File,
    /// A `RollingFile` with no size limit and no time rotation: the sink's own cost with
    /// no rotation at all.
    Never,
    /// A `RollingFile` rotating every 10 MB (12 rotations).
    Rotating,
    /// The same with gzip beside it.
    Gzip,
    /// The same with zstd beside it (the `zstd` feature).
    #[cfg_attr(not(feature = "zstd"), allow(dead_code))]
    Zstd,
    /// A plain `File` opened as the sink opens its files (`O_APPEND`, created), with
    /// `COST_APPEND` set.
    Append,
}

#[cfg(feature = "zstd")]
const VARIANTS: &[Variant] = &[
    Variant::File,
    Variant::Never,
    Variant::Rotating,
    Variant::Gzip,
    Variant::Zstd,
];
#[cfg(not(feature = "zstd"))]
const VARIANTS: &[Variant] = &[
    Variant::File,
    Variant::Never,
    Variant::Rotating,
    Variant::Gzip,
];

/// One whole run of `variant` in a fresh directory, which is removed (and its
/// compressions finished) before the next run, so no run pays for another's leftovers.
/// Returns the run, its rotations and how many of its new files were spares the
/// housekeeper had created ahead (the rest were created on the worker), and for a
/// compressing run the compressor's time on a CPU and the bytes it had compressed when
/// the run ended.
fn one_run(variant: Variant) -> (Run, (u64, u64), Option<(Duration, u64)>) {
    let dir = tempfile::tempdir().unwrap();
    if matches!(variant, Variant::File | Variant::Append) {
        let path = dir.path().join("plain.log");
        let file = match variant {
            Variant::File => File::create(path),
            _ => File::options().create(true).append(true).open(path),
        };
        let (t, n) = whole_run(file.unwrap());
        assert_eq!(n, LINES);
        assert_eq!(bytes_in(dir.path()), LINES * 120);
        return (t, (0, 0), None);
    }
    let compression = match variant {
        Variant::Gzip => Compression::Gzip,
        #[cfg(feature = "zstd")]
        Variant::Zstd => Compression::Zstd,
        _ => Compression::None,
    };
    let mut builder = RollingFile::builder()
        .filename_prefix("app")
        .compression(compression);
    if variant != Variant::Never {
        builder = builder.max_file_size(10_000_000);
    }
    let sink = builder.build(dir.path()).unwrap();
    let h = sink.handle();
    // The housekeeper's start (creating its spare files) done before the clock starts,
    // as the `File` run's `create` is.
    assert!(h.wait_housekeeping(Duration::from_secs(120)));
    let (t, n) = whole_run(sink);
    assert_eq!(n, LINES);
    if compression == Compression::None {
        assert_eq!(bytes_in(dir.path()), LINES * 120);
    }
    let stats = h.stats();
    if variant == Variant::Never {
        assert_eq!(stats.rotations, 0);
    }
    let beside =
        (compression != Compression::None).then(|| (housekeeper_cpu(), stats.bytes_compressed));
    // The sink is gone: this also waits for its spare files to be closed, so that no
    // run pays for the one before.
    assert!(h.wait_housekeeping(Duration::from_secs(120)));
    (t, (stats.rotations, stats.spare_files_named), beside)
}

fn bytes_in(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum()
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

/// Runs the test `name` again in a child process with `MALLOC_ARENA_MAX=1` (see the
/// module docs), unless this is that child, `COST_ARENAS=any` asks for the arenas as
/// they come, or the C library is not glibc. Returns whether it did: then the child has
/// measured and printed, and the caller returns.
fn rerun_in_one_arena(name: &str) -> bool {
    let as_is = std::env::var_os("MALLOC_ARENA_MAX").is_some()
        || std::env::var("COST_ARENAS").is_ok_and(|a| a == "any");
    if as_is || !cfg!(all(target_os = "linux", target_env = "gnu")) {
        return false;
    }
    let status = Command::new(std::env::current_exe().unwrap())
        .env("MALLOC_ARENA_MAX", "1")
        .args([
            name,
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .status()
        .unwrap();
    assert!(status.success(), "the measuring child failed: {status}");
    true
}

#[test]
#[ignore = "a measurement: run by hand in release"]
fn rotation_every_10_mb_costs_little() {
    if rerun_in_one_arena("cost::rotation_every_10_mb_costs_little") {
        return;
    }
    let rounds = std::env::var("COST_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(ROUNDS);
    let mut variants = VARIANTS.to_vec();
    if std::env::var("COST_APPEND").is_ok() {
        variants.push(Variant::Append);
    }
    let variants = &variants[..];
    let mut runs: Vec<Vec<Run>> = vec![Vec::new(); variants.len()];
    let (mut rotations, mut fewest_spares) = (0, u64::MAX);
    let mut beside = Vec::new();
    let load_before = load_average();
    for round in 0..rounds {
        // Each variant takes each place in the round in turn: a run that follows
        // another's file deletion or compression is not always the same variant.
        for k in 0..variants.len() {
            let i = (round + k) % variants.len();
            let (t, r, b) = one_run(variants[i]);
            runs[i].push(t);
            if variants[i] == Variant::Rotating {
                (rotations, fewest_spares) = (r.0, fewest_spares.min(r.1));
            }
            beside.extend(b);
        }
    }
    let arenas = std::env::var("MALLOC_ARENA_MAX").unwrap_or_else(|_| "as they come".into());
    println!("malloc arenas: {arenas}");
    println!(
        "{rounds} rounds of interleaved whole runs, 2 producers, {LINES} lines of 120 bytes, \
         {rotations} rotations ({fewest_spares} or more of them named a spare); load average \
         {load_before} before, {} after:",
        load_average()
    );
    // Paired within each round (the runs of a round are seconds apart, so they share the
    // machine's load): the median and spread of the per-round ratios.
    let paired = |a: usize, b: usize| {
        let mut r: Vec<f64> = runs[a]
            .iter()
            .zip(&runs[b])
            .map(|(x, y)| x.took.as_secs_f64() / y.took.as_secs_f64())
            .collect();
        r.sort_by(f64::total_cmp);
        format!("{:.3} ({:.2}–{:.2})", r[r.len() / 2], r[0], r[r.len() - 1])
    };
    let pairs = format!(
        "paired per round: never/plain {}, rotating/plain {}, rotating/never {}, \
         gzip/rotating {}",
        paired(1, 0),
        paired(2, 0),
        paired(2, 1),
        paired(3, 2)
    );
    let at = |v: Variant| variants.iter().position(|x| *x == v);
    let zstd_pair = at(Variant::Zstd).map(|z| paired(z, 2));
    let append_pair = at(Variant::Append).map(|a| (paired(1, a), paired(a, 0)));
    let med: Vec<f64> = variants
        .iter()
        .zip(&mut runs)
        .map(|(v, r)| summary(&format!("{v:?}"), r).as_secs_f64())
        .collect();
    let (p, never, r, g) = (med[0], med[1], med[2], med[3]);
    println!(
        "ratio never/plain {:.3}, rotating/plain {:.3}, rotating/never {:.3}, \
         gzip/plain {:.3}, gzip/rotating {:.3}",
        never / p,
        r / p,
        r / never,
        g / p,
        g / r
    );
    if let Some(z) = at(Variant::Zstd).map(|z| med[z]) {
        println!("ratio zstd/plain {:.3}, zstd/rotating {:.3}", z / p, z / r);
    }
    println!("{pairs}");
    if let Some(z) = zstd_pair {
        println!("paired per round: zstd/rotating {z}");
    }
    if let Some((never, append)) = append_pair {
        println!("paired per round: never/append {never}, append/plain {append}");
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

/// One variant alone, `COST_RUNS` whole runs (default 5) of `COST_VARIANT` (`File`,
/// `Never`, `Rotating`, `Gzip`): for counting a variant's work from outside, under
/// `strace -f -c` or `perf stat`, with no other variant in the process.
#[test]
#[ignore = "a measurement: run by hand in release"]
fn one_variant_for_counting() {
    if rerun_in_one_arena("cost::one_variant_for_counting") {
        return;
    }
    let name = std::env::var("COST_VARIANT").unwrap_or_else(|_| "File".into());
    let variant = *VARIANTS
        .iter()
        .chain(&[Variant::Append])
        .find(|v| format!("{v:?}") == name)
        .unwrap_or_else(|| panic!("COST_VARIANT {name:?}: not one of {VARIANTS:?}"));
    let n: usize = std::env::var("COST_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(5);
    let mut runs: Vec<Run> = (0..n).map(|_| one_run(variant).0).collect();
    summary(&name, &mut runs);
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
