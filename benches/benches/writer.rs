//! backpressure-writer against tracing-appender, side by side on the same kind of sink (a
//! fresh temp file per sample), 120-byte pre-formatted lines.
//!
//! - `writer_block_2_producers`: sustained block mode (`lossy(false)`), 2 producer threads;
//!   the time per line includes draining (guard drop), so the queue can't hide work. The
//!   baseline is one thread writing the same lines through a 64 KiB `BufWriter`.
//! - `writer_burst_drop_newest`: one thread writes a burst of 2 M lines as fast as it can,
//!   both writers with a 128 000-line queue, drop-newest. One iteration is one burst; the
//!   time is the producer's. Kept lines and the drain rate
//!   `(kept - capacity) / burst duration` are printed after each benchmark.
//!
//! - `writer_mixed_keep_2_producers`: block mode as above, but every 10th (`keep_10pct`)
//!   or every 2nd (`keep_50pct`) line goes through the keep-level handle (`keeping()`, as
//!   a WARN line through `make_writer_for` would), against all-INFO lines and
//!   tracing-appender (which has no level classes) in the same run: keep-level lines must
//!   ride in the same large writes as the rest.
//!
//! - `writer_rotation_2_producers`: block mode as above into a plain file, and into a
//!   `backpressure_writer::rolling::RollingFile` that rotates every 10 MB (whole run,
//!   drain included): what rotation at batch boundaries costs.
//!
//! Run: `cargo bench -p benches --bench writer -- --warm-up-time 1 --measurement-time 3`

use std::io::Write;
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use benches::{bufwriter_run, line, run_producers, temp_file};
use criterion::{criterion_main, BenchmarkId, Criterion, Throughput};

const CAPACITY: usize = 128_000;
const BURST: u64 = 2_000_000;

/// `lines` writes over 2 producer threads, drain included.
fn two_producers<W: Write + Clone + Send + 'static>(
    lines: u64,
    writer: W,
    finish: impl FnOnce(),
) -> Duration {
    run_producers(2, lines, writer, finish)
}

fn block_mode(c: &mut Criterion) {
    let mut group = c.benchmark_group("writer_block_2_producers");
    group.throughput(Throughput::Elements(1));
    group.bench_function("backpressure_writer", |b| {
        b.iter_custom(|iters| {
            let (_dir, file) = temp_file();
            let (w, guard) = backpressure_writer::NonBlockingBuilder::default()
                .buffered_lines_limit(CAPACITY)
                .lossy(false)
                .finish(file);
            let stats = w.clone();
            let took = two_producers(iters, w, move || drop(guard));
            let s = stats.stats();
            assert_eq!(s.lines_written, iters.div_ceil(2) * 2);
            took
        })
    });
    group.bench_function("tracing_appender", |b| {
        b.iter_custom(|iters| {
            let (_dir, file) = temp_file();
            let (w, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
                .buffered_lines_limit(CAPACITY)
                .lossy(false)
                .finish(file);
            two_producers(iters, w, move || drop(guard))
        })
    });
    group.bench_function("bufwriter_1_thread", |b| {
        b.iter_custom(|iters| bufwriter_run(iters.div_ceil(2) * 2))
    });
    group.finish();
}

/// Like [`two_producers`], but every `keep_every`th line of each thread (0: none) goes
/// through the writer's keep-level handle.
fn two_producers_mixed(
    lines: u64,
    writer: backpressure_writer::NonBlocking,
    keep_every: u64,
    finish: impl FnOnce(),
) -> Duration {
    let start = Arc::new(Barrier::new(3));
    let per_thread = lines.div_ceil(2);
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let (mut info, mut warn) = (writer.clone(), writer.keeping());
            let start = Arc::clone(&start);
            thread::spawn(move || {
                let l = line();
                start.wait();
                for i in 0..per_thread {
                    if keep_every != 0 && i % keep_every == 0 {
                        warn.write_all(&l).unwrap();
                    } else {
                        info.write_all(&l).unwrap();
                    }
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

fn mixed_keep(c: &mut Criterion) {
    let mut group = c.benchmark_group("writer_mixed_keep_2_producers");
    group.throughput(Throughput::Elements(1));
    for (name, every) in [("all_info", 0), ("keep_10pct", 10), ("keep_50pct", 2)] {
        group.bench_function(BenchmarkId::new("backpressure_writer", name), |b| {
            b.iter_custom(|iters| {
                let (_dir, file) = temp_file();
                // Reserved room sized for the keep share, so that the rows compare batching,
                // not a keep queue of 1/8 the size filling up first.
                let (w, guard) = backpressure_writer::NonBlockingBuilder::default()
                    .buffered_lines_limit(CAPACITY)
                    .keep_capacity(CAPACITY)
                    .lossy(false)
                    .finish(file);
                let stats = w.clone();
                let took = two_producers_mixed(iters, w, every, move || drop(guard));
                let s = stats.stats();
                assert_eq!(s.lines_written, iters.div_ceil(2) * 2, "{s:?}");
                took
            })
        });
    }
    group.bench_function("tracing_appender", |b| {
        b.iter_custom(|iters| {
            let (_dir, file) = temp_file();
            let (w, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
                .buffered_lines_limit(CAPACITY)
                .lossy(false)
                .finish(file);
            two_producers(iters, w, move || drop(guard))
        })
    });
    group.finish();
}

#[derive(Default)]
struct BurstTally {
    bursts: u64,
    kept: u64,
    producer: Duration,
}

impl BurstTally {
    fn add(&mut self, kept: u64, producer: Duration) {
        self.bursts += 1;
        self.kept += kept;
        self.producer += producer;
    }

    fn print(&self, name: &str) {
        if self.bursts == 0 {
            return;
        }
        let kept = self.kept as f64 / self.bursts as f64;
        let secs = self.producer.as_secs_f64() / self.bursts as f64;
        println!(
            "burst {name}: {} bursts of {BURST} lines; kept {:.0} ({:.1}%); producer {:.1} ns/line; \
             drain rate (kept - capacity) / burst = {:.2} M lines/s",
            self.bursts,
            kept,
            100.0 * kept / BURST as f64,
            secs * 1e9 / BURST as f64,
            (kept - CAPACITY as f64).max(0.0) / secs / 1e6,
        );
    }
}

fn burst(c: &mut Criterion) {
    let mut group = c.benchmark_group("writer_burst_drop_newest");
    group.sample_size(10);
    group.throughput(Throughput::Elements(BURST));
    let ours = Mutex::new(BurstTally::default());
    let theirs = Mutex::new(BurstTally::default());
    group.bench_function(BenchmarkId::new("backpressure_writer", BURST), |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let l = line();
            for _ in 0..iters {
                let (_dir, file) = temp_file();
                let (mut w, guard) = backpressure_writer::NonBlockingBuilder::default()
                    .buffered_lines_limit(CAPACITY)
                    .lossy(true)
                    .finish(file);
                let t0 = Instant::now();
                for _ in 0..BURST {
                    w.write_all(&l).unwrap();
                }
                let took = t0.elapsed();
                drop(guard);
                let s = w.stats();
                assert_eq!(s.submitted, s.lines_written + s.dropped.total());
                ours.lock().unwrap().add(s.lines_written, took);
                total += took;
            }
            total
        })
    });
    group.bench_function(BenchmarkId::new("tracing_appender", BURST), |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let l = line();
            for _ in 0..iters {
                let (_dir, file) = temp_file();
                let (mut w, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
                    .buffered_lines_limit(CAPACITY)
                    .lossy(true)
                    .finish(file);
                let errors = w.error_counter();
                let t0 = Instant::now();
                for _ in 0..BURST {
                    w.write_all(&l).unwrap();
                }
                let took = t0.elapsed();
                drop(guard);
                let kept = BURST - errors.dropped_lines() as u64;
                theirs.lock().unwrap().add(kept, took);
                total += took;
            }
            total
        })
    });
    group.finish();
    ours.lock().unwrap().print("backpressure_writer");
    theirs.lock().unwrap().print("tracing_appender");
}

fn rotation(c: &mut Criterion) {
    use backpressure_writer::rolling::RollingFile;
    let mut group = c.benchmark_group("writer_rotation_2_producers");
    group.throughput(Throughput::Elements(1));
    for rotate in [false, true] {
        let name = if rotate {
            "rolling_10mb"
        } else {
            "no_rotation"
        };
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let dir = tempfile::tempdir().expect("temp dir");
                let builder = backpressure_writer::NonBlockingBuilder::default()
                    .buffered_lines_limit(CAPACITY)
                    .lossy(false);
                let (w, guard) = if rotate {
                    let sink = RollingFile::builder()
                        .filename_prefix("log")
                        .max_file_size(10_000_000)
                        .build(dir.path())
                        .expect("rolling file");
                    builder.finish(sink)
                } else {
                    builder.finish(std::fs::File::create(dir.path().join("log")).expect("file"))
                };
                let stats = w.clone();
                let took = two_producers(iters, w, move || drop(guard));
                assert_eq!(stats.stats().lines_written, iters.div_ceil(2) * 2);
                took
            })
        });
    }
    group.finish();
}

mod groups {
    #![allow(missing_docs)] // criterion_group! defines an undocumented pub fn.
    use super::{block_mode, burst, mixed_keep, rotation};
    criterion::criterion_group!(benches, block_mode, burst, mixed_keep, rotation);
}
use groups::benches;
criterion_main!(benches);
