//! What a kept line would still cost its caller if its formatting moved to the
//! writer's thread: the same event (`info!` with a literal message and three
//! fields, `u64`, `&str`, `bool`, in no span) through four layers into
//! `backpressure-writer` (sink `io::sink`):
//!
//! - `floor`: a layer that writes one constant line per event: dispatch and the
//!   writer's queue, nothing else;
//! - `record`: a layer that reads the time, visits the fields into a
//!   thread-local buffer as a compact binary record (the message through its
//!   `Debug`), and queues that: what deferred formatting would do on the caller;
//! - `deferred`: `backpressure_writer::deferred`'s layer, its records laid out as
//!   lines by `Decoded` on the writer's thread (the `record` case, built);
//! - `plain`: `fmt` with `backpressure_writer::format`'s `PlainFields` +
//!   `PlainFull` (formatted on the caller, today's cheapest);
//! - `fmt`: `fmt`'s own formatters.
//!
//! ```text
//! cargo run --release -p benches --example caller_floor -- record 1000000
//! valgrind --tool=callgrind --separate-threads=yes target/release/examples/caller_floor record 100000
//! ```
//!
//! It prints nanoseconds per event on the caller (after 10 000 to warm up), and how
//! long the worker took after the last event and how many lines it dropped; with
//! `BLOCK=1` the writer blocks instead of dropping, so the caller's figure is the whole
//! run's; with `BURSTS=1` the events come in bursts the worker keeps up with, each timed
//! alone, and the caller's percentiles are printed; with `THREADS=1` the `deferred`
//! lines show the thread's name and id; under callgrind, the caller thread's instructions (`-01` file) are the
//! deterministic figure. `record` is not decoded: it measures the caller only.

use std::cell::RefCell;
use std::io::Write;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use backpressure_writer::deferred::{Decoded, DeferredLayer};
use backpressure_writer::format::{PlainFields, PlainFull};
use backpressure_writer::NonBlocking;
use tracing::field::{Field, Visit};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::{layer::Context, prelude::*, Layer};

/// Writes one constant line per event.
struct Floor(NonBlocking);

impl<S: tracing::Subscriber> Layer<S> for Floor {
    fn on_event(&self, e: &tracing::Event<'_>, _: Context<'_, S>) {
        let line = b"2026-12-06T21:00:00.000000Z  INFO app: event n=1 s=abc b=true\n";
        let _ = self.0.make_writer_for(e.metadata()).write_all(line);
    }
}

thread_local! {
    static RECORD: RefCell<Vec<u8>> = RefCell::new(Vec::with_capacity(256));
}

/// Field values as tag, field index, bytes.
struct Fields<'a>(&'a mut Vec<u8>);

impl Fields<'_> {
    fn head(&mut self, tag: u8, f: &Field) {
        self.0.extend_from_slice(&[tag, f.index() as u8]);
    }
}

impl Visit for Fields<'_> {
    fn record_u64(&mut self, f: &Field, v: u64) {
        self.head(1, f);
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn record_bool(&mut self, f: &Field, v: bool) {
        self.head(2, f);
        self.0.push(u8::from(v));
    }
    fn record_str(&mut self, f: &Field, v: &str) {
        self.head(3, f);
        self.0.extend_from_slice(&(v.len() as u32).to_le_bytes());
        self.0.extend_from_slice(v.as_bytes());
    }
    fn record_debug(&mut self, f: &Field, v: &dyn std::fmt::Debug) {
        self.head(4, f);
        let at = self.0.len();
        self.0.extend_from_slice(&[0; 4]);
        let _ = write!(self.0, "{v:?}");
        let len = (self.0.len() - at - 4) as u32;
        self.0[at..at + 4].copy_from_slice(&len.to_le_bytes());
    }
}

/// Queues a compact record: time, metadata address, fields.
struct Record(NonBlocking);

impl<S: tracing::Subscriber> Layer<S> for Record {
    fn on_event(&self, e: &tracing::Event<'_>, _: Context<'_, S>) {
        RECORD.with(|r| {
            let mut r = r.borrow_mut();
            r.clear();
            r.push(0x1e);
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default();
            r.extend_from_slice(&(now.as_nanos() as u64).to_le_bytes());
            let meta = e.metadata() as *const tracing::Metadata<'static> as usize;
            r.extend_from_slice(&meta.to_le_bytes());
            e.record(&mut Fields(&mut r));
            let _ = self.0.make_writer_for(e.metadata()).write_all(&r);
        });
    }
}

fn main() {
    let usage = "usage: caller_floor floor|record|deferred|plain|fmt [events]";
    let mut args = std::env::args().skip(1);
    let case = args.next().expect(usage);
    let n: u64 = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    // `BLOCK=1`: lossless (`Overflow::Block`), so the run lasts as long as the writer's
    // worker takes to write every line: the figure is then the whole run's, per line.
    let builder = || {
        let b = backpressure_writer::NonBlockingBuilder::default();
        if std::env::var_os("BLOCK").is_some() {
            b.overflow(backpressure_writer::Overflow::Block { timeout: None })
        } else {
            b
        }
    };
    // `SINK_FILE=path`: lines go to that file (truncated) instead of `io::sink`, as the
    // report's side-by-side runs wrote them.
    let sink = || -> Box<dyn Write + Send> {
        match std::env::var_os("SINK_FILE") {
            Some(path) => Box::new(std::fs::File::create(path).expect("sink file")),
            None => Box::new(std::io::sink()),
        }
    };
    let (w, _guard) = builder().try_finish(sink()).expect("writer");
    let fmt = || {
        tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .with_writer(w.clone())
    };
    let mut decoded_guard = None;
    let dispatch: tracing::Dispatch = match case.as_str() {
        "floor" => tracing_subscriber::registry().with(Floor(w.clone())).into(),
        "record" => tracing_subscriber::registry()
            .with(Record(w.clone()))
            .into(),
        "plain" => tracing_subscriber::registry()
            .with(
                fmt()
                    .fmt_fields(PlainFields::new())
                    .event_format(PlainFull::new()),
            )
            .into(),
        "fmt" => tracing_subscriber::registry().with(fmt()).into(),
        "deferred" => {
            // The sink is decoded: this run's writer lays the records out as lines.
            let (dw, dguard) = builder().try_finish(Decoded::new(sink())).expect("writer");
            decoded_guard = Some((dguard, dw.clone()));
            let shown = std::env::var_os("THREADS").is_some();
            tracing_subscriber::registry()
                .with(
                    DeferredLayer::new(dw)
                        .with_thread_names(shown)
                        .with_thread_ids(shown),
                )
                .into()
        }
        _ => panic!("{usage}"),
    };
    tracing::dispatcher::with_default(&dispatch, || {
        for i in 0..10_000u64 {
            tracing::info!(target: "app", n = i, s = "abc", b = true, "event");
        }
        if std::env::var_os("BURSTS").is_some() {
            bursts(&case, n);
            return;
        }
        let started = Instant::now();
        for i in 0..n {
            tracing::info!(target: "app", n = i, s = "abc", b = true, "event");
        }
        let per = started.elapsed().as_nanos() as f64 / n as f64;
        println!("{case:<8} {per:>7.1} ns per event on the caller");
    });
    // The whole run: until the worker has written (or laid out) the last line.
    let drained = Instant::now();
    let lost = match decoded_guard {
        Some((guard, writer)) => {
            drop(guard);
            writer.stats().dropped.total()
        }
        None => {
            drop(_guard);
            w.stats().dropped.total()
        }
    };
    println!(
        "         drained in {:.1} ms after the last event; {lost} lines dropped",
        drained.elapsed().as_secs_f64() * 1e3
    );
}

/// `BURSTS=1`: the events in bursts of 100 with a 500 µs pause after each (a service's
/// pace, which the worker keeps up with), each event timed alone; prints percentiles of
/// the caller's time per event, the timer's own cost (an empty timed call) subtracted.
fn bursts(case: &str, n: u64) {
    let timer = {
        let mut t: Vec<u64> = (0..100_000)
            .map(|_| {
                let s = Instant::now();
                std::hint::black_box(());
                s.elapsed().as_nanos() as u64
            })
            .collect();
        t.sort_unstable();
        t[t.len() / 2]
    };
    let mut times = Vec::with_capacity(n as usize);
    for i in 0..n {
        let s = Instant::now();
        tracing::info!(target: "app", n = i, s = "abc", b = true, "event");
        times.push((s.elapsed().as_nanos() as u64).saturating_sub(timer));
        if i % 100 == 99 {
            std::thread::sleep(std::time::Duration::from_micros(500));
        }
    }
    times.sort_unstable();
    let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
    println!(
        "{case:<8} bursts: p50 {} ns, p99 {} ns, p99.9 {} ns (timer {timer} ns subtracted)",
        at(0.5),
        at(0.99),
        at(0.999)
    );
}
