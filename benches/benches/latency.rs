//! Tail latency of one `write` call, whole-run throughput and the worker's own drain rate:
//! backpressure-writer side by side with tracing-appender and a plain `flume` bounded
//! channel of `Vec<u8>` lines (and, for throughput, one thread through a 64 KiB
//! `BufWriter`), 120-byte pre-formatted lines to a temp file. Not criterion: every call is
//! recorded, and a whole run (drain included) is one figure.
//!
//! - Latency: at 1, 2, 4 and 8 producers, each writes bursts of 20 lines with a ~1 ms pause
//!   after each burst (the method of published async-logger figures, as in
//!   <https://github.com/tokio-rs/tracing/issues/3446>),
//!   timing every `write` with a pair of `Instant::now()` calls (their own cost, measured
//!   and printed first, is included in every sample). All samples of a run are sorted;
//!   p50/p99/p99.9/max are printed.
//! - Throughput: 1 M lines, block mode, the clock runs from the producers' release until
//!   the guard's drop returned (drain, flush and join included); rounds interleave the rows.
//! - Worker drain: 1 M lines queued while the sink holds the worker at its first write, then
//!   released: lines per second from the release to the end of the last write.
//! - Idle CPU: the worker thread's CPU time (`/proc/self/task/*/schedstat`) and wake-ups
//!   over 2 s while it polls, and once parked.
//!
//! Run: `cargo bench -p benches --bench latency` (about a minute);
//! `cargo bench -p benches --bench latency -- --svg docs/writer-latency.svg` also
//! rewrites the percentile chart. `--quick` runs a tenth of the samples; `--drain-only` only
//! the worker-drain and idle-CPU sections.

#[path = "latency/svg.rs"]
mod svg;
#[path = "latency/throughput.rs"]
mod throughput;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use benches::{line, temp_file};

const BURST: usize = 20;
const PAUSE: Duration = Duration::from_millis(1);
const PRODUCERS: [usize; 4] = [1, 2, 4, 8];
/// Rounds of the whole-run rows (interleaved); the median is reported.
const WHOLE_ROUNDS: usize = 9;

pub(crate) fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".to_owned())
}

/// The design this crate is measured against: a bounded channel of owned lines, one
/// allocation and one channel operation per line, a thread writing them through a
/// `BufWriter` and flushing whenever the channel runs dry.
#[derive(Clone)]
pub(crate) struct FlumeWriter {
    tx: flume::Sender<Vec<u8>>,
    lossy: bool,
}

impl Write for FlumeWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.lossy {
            let _ = self.tx.try_send(buf.to_vec());
        } else {
            let _ = self.tx.send(buf.to_vec());
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Starts a flume writer; dropping every sender and joining the handle drains it.
pub(crate) fn flume_writer(
    file: File,
    capacity: usize,
    lossy: bool,
) -> (FlumeWriter, thread::JoinHandle<()>) {
    let (tx, rx) = flume::bounded::<Vec<u8>>(capacity);
    let worker = thread::spawn(move || {
        let mut out = BufWriter::with_capacity(64 * 1024, file);
        while let Ok(l) = rx.recv() {
            out.write_all(&l).unwrap();
            while let Ok(l) = rx.try_recv() {
                out.write_all(&l).unwrap();
            }
            out.flush().unwrap();
        }
    });
    (FlumeWriter { tx, lossy }, worker)
}

/// Sorted per-call latencies of one run, in nanoseconds.
pub(crate) struct Run {
    pub(crate) writer: &'static str,
    pub(crate) producers: usize,
    pub(crate) sorted: Vec<u32>,
}

impl Run {
    pub(crate) fn quantile(&self, q: f64) -> u32 {
        let n = self.sorted.len();
        self.sorted[((q * n as f64) as usize).min(n - 1)]
    }
}

/// Each of `producers` threads writes `bursts` bursts of [`BURST`] lines, pausing [`PAUSE`]
/// after each, timing every call. The first tenth of the bursts warms up and is not kept.
fn bursts<W: Write + Clone + Send + 'static>(
    writer: W,
    producers: usize,
    bursts: usize,
) -> Vec<u32> {
    let start = Arc::new(Barrier::new(producers));
    let threads: Vec<_> = (0..producers)
        .map(|_| {
            let mut w = writer.clone();
            let start = Arc::clone(&start);
            thread::spawn(move || {
                let l = line();
                let warm = bursts / 10;
                let mut samples = Vec::with_capacity(bursts * BURST);
                start.wait();
                for b in 0..warm + bursts {
                    for _ in 0..BURST {
                        let t0 = Instant::now();
                        w.write_all(&l).unwrap();
                        let took = t0.elapsed().as_nanos().min(u32::MAX as u128) as u32;
                        if b >= warm {
                            samples.push(took);
                        }
                    }
                    thread::sleep(PAUSE);
                }
                samples
            })
        })
        .collect();
    drop(writer);
    let mut all: Vec<u32> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    all.sort_unstable();
    all
}

fn latency_run(writer: &'static str, producers: usize, n_bursts: usize) -> Run {
    let (_dir, file) = temp_file();
    let sorted = match writer {
        "backpressure_writer" | "backpressure_writer_no_poll" => {
            // `_no_poll`: the design before the worker polled, one 1 ms nap after a batch
            // and then parked, side by side in the same run.
            let park_after = if writer == "backpressure_writer" {
                Duration::from_millis(100)
            } else {
                Duration::ZERO
            };
            let (w, guard) = backpressure_writer::NonBlockingBuilder::default()
                .park_after(park_after)
                .finish(file);
            let s = bursts(w.clone(), producers, n_bursts);
            let st = w.stats();
            drop(guard);
            let lost = st.dropped.total();
            assert_eq!(lost, 0, "no line may be dropped in bursts");
            s
        }
        "tracing_appender" => {
            let (w, guard) = tracing_appender::non_blocking(file);
            let s = bursts(w, producers, n_bursts);
            drop(guard);
            s
        }
        "flume" => {
            let (w, worker) = flume_writer(file, 128_000, true);
            let s = bursts(w, producers, n_bursts);
            worker.join().unwrap();
            s
        }
        other => unreachable!("{other}"),
    };
    Run {
        writer,
        producers,
        sorted,
    }
}

/// What one `Instant::now()` pair costs, i.e. the floor under every latency sample.
fn timer_overhead() -> u32 {
    let mut v: Vec<u32> = (0..100_000)
        .map(|_| {
            let t0 = Instant::now();
            t0.elapsed().as_nanos() as u32
        })
        .collect();
    v.sort_unstable();
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let svg_path = args
        .iter()
        .position(|a| a == "--svg")
        .and_then(|i| args.get(i + 1).cloned());
    let n_bursts = if quick { 100 } else { 1_000 };
    if args.iter().any(|a| a == "--whole-only") {
        throughput::whole_runs(if quick { 1 } else { WHOLE_ROUNDS });
        return;
    }
    if args.iter().any(|a| a == "--drain-only") {
        throughput::worker_drain(3);
        throughput::idle_cpu();
        return;
    }

    println!(
        "## latency: bursts of {BURST}, {PAUSE:?} pauses, {n_bursts} bursts per producer; load {}",
        load()
    );
    println!(
        "Instant::now() pair, p50: {} ns (included in every sample)",
        timer_overhead()
    );
    println!("| producers | writer | samples | p50 | p99 | p99.9 | max |");
    println!("|---|---|---|---|---|---|---|");
    let mut runs = Vec::new();
    for &p in &PRODUCERS {
        for writer in [
            "backpressure_writer",
            "backpressure_writer_no_poll",
            "tracing_appender",
            "flume",
        ] {
            let r = latency_run(writer, p, n_bursts);
            println!(
                "| {p} | {writer} | {} | {} | {} | {} | {} |",
                r.sorted.len(),
                fmt_ns(r.quantile(0.5)),
                fmt_ns(r.quantile(0.99)),
                fmt_ns(r.quantile(0.999)),
                fmt_ns(*r.sorted.last().unwrap()),
            );
            runs.push(r);
        }
    }
    println!("load after latency: {}", load());
    if let Some(path) = svg_path {
        // Cargo runs benches in the package's directory: a relative path is taken from the
        // workspace root, where the command is typed.
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let path = root.join(path);
        std::fs::write(&path, svg::chart(&runs, &load())).expect("write the chart");
        println!("chart written to {}", path.display());
    }

    throughput::whole_runs(if quick { 1 } else { WHOLE_ROUNDS });
    throughput::worker_drain(if quick { 1 } else { 3 });
    throughput::idle_cpu();
}

pub(crate) fn fmt_ns(ns: u32) -> String {
    if ns < 1_000 {
        format!("{ns} ns")
    } else if ns < 1_000_000 {
        format!("{:.2} µs", ns as f64 / 1e3)
    } else {
        format!("{:.2} ms", ns as f64 / 1e6)
    }
}
