//! Whole-run throughput (block mode, drain included) and the worker's drain rate alone.

use std::fs::File;
use std::io::Write;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use benches::{line, temp_file, LINE_LEN};

use crate::{flume_writer, load};

const LINES: u64 = 1_000_000;
const CAPACITY: usize = 128_000;

/// `LINES` writes over `n` producer threads, drain included.
fn producers<W: Write + Clone + Send + 'static>(
    n: u64,
    writer: W,
    finish: impl FnOnce(),
) -> Duration {
    benches::run_producers(n, LINES, writer, finish)
}

fn backpressure(n: u64) -> Duration {
    let (_dir, file) = temp_file();
    let (w, guard) = backpressure_writer::NonBlockingBuilder::default()
        .buffered_lines_limit(CAPACITY)
        .lossy(false)
        .finish(file);
    let stats = w.clone();
    let took = producers(n, w, move || drop(guard));
    assert_eq!(stats.stats().lines_written, LINES);
    took
}

fn appender(n: u64) -> Duration {
    let (_dir, file) = temp_file();
    let (w, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .buffered_lines_limit(CAPACITY)
        .lossy(false)
        .finish(file);
    producers(n, w, move || drop(guard))
}

fn flume(n: u64) -> Duration {
    let (_dir, file) = temp_file();
    let (w, worker) = flume_writer(file, CAPACITY, false);
    producers(n, w, move || worker.join().unwrap())
}

fn bufwriter() -> Duration {
    benches::bufwriter_run(LINES)
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort_unstable();
    v[v.len() / 2]
}

/// Goals 2 and 3: whole 1 M-line runs, rows interleaved round by round so that load from
/// elsewhere hits them alike; medians, and ratios to the `BufWriter` row.
pub(crate) fn whole_runs(rounds: usize) {
    type Row = (&'static str, fn() -> Duration);
    let rows: [Row; 7] = [
        ("bufwriter_1_thread", bufwriter),
        ("backpressure_writer 1 producer", || backpressure(1)),
        ("backpressure_writer 2 producers", || backpressure(2)),
        ("backpressure_writer 8 producers", || backpressure(8)),
        ("tracing_appender 2 producers", || appender(2)),
        ("flume 2 producers", || flume(2)),
        ("flume 8 producers", || flume(8)),
    ];
    println!(
        "\n## throughput: {LINES} lines of {LINE_LEN} B, block mode, drain included, median of {rounds} rounds; load {}",
        load()
    );
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); rows.len()];
    for _ in 0..rounds {
        for (i, (_, run)) in rows.iter().enumerate() {
            times[i].push(run());
        }
    }
    // Each round ran every row back to back, so a ratio within one round compares runs that
    // met the same machine state: the median of those is steadier than a ratio of medians.
    let paired = |a: usize, b: usize| {
        let mut r: Vec<f64> = (0..rounds)
            .map(|k| times[a][k].as_secs_f64() / times[b][k].as_secs_f64())
            .collect();
        r.sort_by(f64::total_cmp);
        r[r.len() / 2]
    };
    let (two_vs_bufwriter, eight_vs_two, flume_eight_vs_two) =
        (paired(2, 0), paired(3, 2), paired(6, 5));
    let medians: Vec<Duration> = times.iter_mut().map(|t| median(t)).collect();
    println!("| run | whole run | ns/line | vs BufWriter | min..max |");
    println!("|---|---|---|---|---|");
    for (i, (name, _)) in rows.iter().enumerate() {
        let m = medians[i];
        let (lo, hi) = (times[i][0], times[i][times[i].len() - 1]);
        println!(
            "| {name} | {:.1} ms | {:.1} | {:.2}x | {:.1}..{:.1} ms |",
            m.as_secs_f64() * 1e3,
            m.as_nanos() as f64 / LINES as f64,
            m.as_secs_f64() / medians[0].as_secs_f64(),
            lo.as_secs_f64() * 1e3,
            hi.as_secs_f64() * 1e3,
        );
    }
    println!(
        "8 producers / 2 producers, per line: backpressure_writer {:.2}x, flume {:.2}x; load {}",
        medians[3].as_secs_f64() / medians[2].as_secs_f64(),
        medians[6].as_secs_f64() / medians[5].as_secs_f64(),
        load()
    );
    println!(
        "paired within each round, median: backpressure_writer 2 producers / BufWriter {two_vs_bufwriter:.2}x; 8 / 2 producers {eight_vs_two:.2}x (flume {flume_eight_vs_two:.2}x)"
    );
}

/// A file that holds the worker at its first write until released, and records when the
/// last write returned.
struct GatedFile {
    file: File,
    gate: Option<mpsc::Receiver<()>>,
    last: Arc<Mutex<Option<Instant>>>,
}

impl Write for GatedFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Some(gate) = self.gate.take() {
            gate.recv().unwrap();
        }
        let n = self.file.write(buf)?;
        *self.last.lock().unwrap() = Some(Instant::now());
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

/// Goal 4: the worker alone drains a full queue of `LINES` lines to a file.
pub(crate) fn worker_drain(rounds: usize) {
    println!(
        "\n## worker drain: {LINES} queued lines of {LINE_LEN} B to a file, producers stopped, first write to last; load {}",
        load()
    );
    let mut rates = Vec::new();
    for _ in 0..rounds {
        let (_dir, file) = temp_file();
        let (open, gate) = mpsc::channel();
        let last = Arc::new(Mutex::new(None));
        let sink = GatedFile {
            file,
            gate: Some(gate),
            last: Arc::clone(&last),
        };
        let (mut w, guard) = backpressure_writer::NonBlockingBuilder::default()
            .buffered_lines_limit(LINES as usize + 16)
            // The whole run must fit while the worker is held: 120 MB of lines, past the
            // default 64 MiB byte bound, would block the producer for good.
            .buffered_bytes_limit(256 << 20)
            .lossy(false)
            .finish(sink);
        let l = line();
        for _ in 0..LINES {
            w.write_all(&l).unwrap();
        }
        let t0 = Instant::now();
        open.send(()).unwrap();
        while w.stats().lines_written < LINES {
            thread::sleep(Duration::from_millis(1));
        }
        let took = last.lock().unwrap().expect("written") - t0;
        drop(guard);
        let rate = LINES as f64 / took.as_secs_f64();
        println!(
            "{:.1} ms, {:.2} M lines/s ({:.0} MB/s)",
            took.as_secs_f64() * 1e3,
            rate / 1e6,
            rate * LINE_LEN as f64 / 1e6
        );
        rates.push(rate);
    }
    rates.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!(
        "worker drain, median: {:.2} M lines/s; load {}",
        rates[rates.len() / 2] / 1e6,
        load()
    );
}

/// CPU time (ns) the writer's worker thread has used, from `/proc/self/task/*/schedstat`
/// (the thread is found by its name); `None` where that is not available.
fn worker_cpu_ns(name: &str) -> Option<u64> {
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let dir = task.ok()?.path();
        let comm = std::fs::read_to_string(dir.join("comm")).ok()?;
        if comm.trim_end() == name {
            let stat = std::fs::read_to_string(dir.join("schedstat")).ok()?;
            return stat.split_whitespace().next()?.parse().ok();
        }
    }
    None
}

/// The worker's CPU while it polls (after a line, `park_after` far away) and once parked:
/// the cost of keeping the wake-up off the producer's path.
pub(crate) fn idle_cpu() {
    const SPAN: Duration = Duration::from_secs(2);
    println!("\n## idle worker CPU over {SPAN:?}; load {}", load());
    for (what, park_after) in [
        ("polling", Duration::from_secs(3600)),
        ("parked", Duration::from_millis(100)),
    ] {
        let name = format!("bw-idle-{what}");
        let (mut w, guard) = backpressure_writer::NonBlockingBuilder::default()
            .park_after(park_after)
            .thread_name(name.clone())
            .finish(std::io::sink());
        w.write_all(&line()).unwrap();
        guard.flush().unwrap();
        // Past `park_after` for the parked case.
        thread::sleep(Duration::from_millis(300));
        let (cpu0, wake0) = (worker_cpu_ns(&name), w.stats().worker_wakeups);
        thread::sleep(SPAN);
        let (cpu1, wake1) = (worker_cpu_ns(&name), w.stats().worker_wakeups);
        match (cpu0, cpu1) {
            (Some(a), Some(b)) => println!(
                "{what}: {:.3} ms CPU ({:.3}% of a core), {} wake-ups",
                (b - a) as f64 / 1e6,
                (b - a) as f64 / SPAN.as_nanos() as f64 * 100.0,
                wake1 - wake0
            ),
            _ => println!("{what}: no schedstat here; {} wake-ups", wake1 - wake0),
        }
        drop(guard);
    }
}
