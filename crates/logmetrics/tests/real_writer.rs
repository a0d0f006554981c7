//! The exporter, health report and self-check against a real `backpressure-writer`, with a
//! gated sink so that what is written and what is dropped is exact.

mod support;

use std::io::{self, Write};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use backpressure_writer::{FlushError, NonBlocking, NonBlockingBuilder, Overflow, WorkerGuard};
use logmetrics::health::Problem;
use logmetrics::{names, Exporter, SelfCheckError, SELF_CHECK_LINE};
use metrics_util::debugging::DebuggingRecorder;

use support::{take, ManualClock};

const APP: &[(&str, &str)] = &[("name", "app")];
const NEWEST: &[(&str, &str)] = &[("name", "app"), ("reason", "newest")];
/// Generous: only reached if the writer is broken.
const FLUSH: Duration = Duration::from_secs(30);

/// A sink whose first write announces itself and then waits for the test to open the
/// gate; everything after passes straight through.
struct GatedSink {
    entered: Option<SyncSender<()>>,
    gate: Option<Receiver<()>>,
    out: Arc<Mutex<Vec<u8>>>,
}

impl Write for GatedSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some(entered) = self.entered.take() {
            let _ = entered.send(());
        }
        if let Some(gate) = self.gate.take() {
            // Returns when the test sends or drops its end.
            let _ = gate.recv();
        }
        self.out.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

struct Gated {
    writer: NonBlocking,
    guard: WorkerGuard,
    entered: Receiver<()>,
    open: SyncSender<()>,
    out: Arc<Mutex<Vec<u8>>>,
}

fn gated_writer(capacity: usize) -> Gated {
    let (entered_tx, entered) = mpsc::sync_channel(1);
    let (open, gate) = mpsc::sync_channel(1);
    let out = Arc::new(Mutex::new(Vec::new()));
    let sink = GatedSink {
        entered: Some(entered_tx),
        gate: Some(gate),
        out: out.clone(),
    };
    let (writer, guard) = NonBlockingBuilder::default()
        .buffered_lines_limit(capacity)
        .overflow(Overflow::DropNewest)
        .drop_report(false)
        .finish(sink);
    Gated {
        writer,
        guard,
        entered,
        open,
        out,
    }
}

fn write_lines(writer: &NonBlocking, from: usize, n: usize) {
    let mut w = writer.clone();
    for i in from..from + n {
        // One `write` call per line: that is how the writer delimits lines.
        w.write_all(format!("line {i}\n").as_bytes()).unwrap();
    }
}

#[test]
fn exact_written_and_dropped_from_a_stalled_writer() {
    let g = gated_writer(4);
    let clock = ManualClock::new();
    let exporter = Exporter::builder()
        .writer("app", &g.writer)
        .clock(clock.source())
        .build()
        .unwrap();
    let rec = DebuggingRecorder::new();
    let snapshotter = rec.snapshotter();

    // Line 0 is taken by the worker, which then stalls in the sink. In-flight lines count
    // against the capacity of 4, so 3 more are queued and the other 7 are dropped.
    write_lines(&g.writer, 0, 1);
    g.entered.recv().unwrap();
    write_lines(&g.writer, 1, 10);
    metrics::with_local_recorder(&rec, || exporter.export_now());
    let stalled = take(&snapshotter);
    assert_eq!(stalled.counter(names::WRITER_LINES_SUBMITTED, APP), 11);
    assert_eq!(stalled.counter(names::WRITER_LINES_WRITTEN, APP), 0);
    assert_eq!(stalled.counter(names::WRITER_LINES_DROPPED, NEWEST), 7);
    // The overflow policy's line bound: a queue full of INFO lines reads depth/capacity 1.
    assert_eq!(stalled.gauge(names::WRITER_QUEUE_CAPACITY, APP), 4.0);
    assert_eq!(stalled.gauge(names::WRITER_QUEUE_DEPTH, APP), 4.0);
    assert_eq!(exporter.health().writers[0].queue_saturation, 1.0);
    assert_eq!(stalled.gauge(names::WRITER_WORKER_ALIVE, APP), 1.0);
    // Line 0 is inside the sink's write; lines 0 to 3 ("line N\n", 7 bytes each) are
    // buffered.
    assert_eq!(stalled.gauge(names::WRITER_LINES_IN_SINK, APP), 1.0);
    assert_eq!(stalled.gauge(names::WRITER_QUEUE_BYTES, APP), 28.0);
    let s = g.writer.stats();
    assert_eq!(
        stalled.gauge(names::WRITER_QUEUE_CAPACITY_BYTES, APP),
        (s.byte_capacity + s.keep_byte_capacity) as f64
    );
    let stalled_health = exporter.health();
    assert_eq!(
        stalled_health.writers[0].dropped_by_reason,
        vec![("newest", 7)]
    );
    assert!(stalled_health.writers[0]
        .problems
        .contains(&Problem::LinesDropped {
            lines: 7,
            window: Duration::from_secs(30)
        }));

    g.open.send(()).unwrap();
    g.guard.flush_timeout(FLUSH).unwrap();
    metrics::with_local_recorder(&rec, || exporter.export_now());
    let first = take(&snapshotter);
    assert_eq!(first.counter(names::WRITER_LINES_WRITTEN, APP), 4);
    assert_eq!(first.counter(names::WRITER_LINES_DROPPED, NEWEST), 7);
    assert_eq!(first.gauge(names::WRITER_QUEUE_DEPTH, APP), 0.0);
    let text = String::from_utf8(g.out.lock().unwrap().clone()).unwrap();
    assert_eq!(text, "line 0\nline 1\nline 2\nline 3\n");
    let bytes = first.counter(names::WRITER_BYTES_WRITTEN, APP);
    assert_eq!(bytes, text.len() as u64);

    // More traffic, all written: counters move by exactly that much.
    write_lines(&g.writer, 11, 3);
    g.guard.flush_timeout(FLUSH).unwrap();
    metrics::with_local_recorder(&rec, || exporter.export_now());
    let second = take(&snapshotter);
    assert_eq!(second.counter(names::WRITER_LINES_WRITTEN, APP), 4 + 3);
    assert_eq!(second.counter(names::WRITER_LINES_SUBMITTED, APP), 11 + 3);
    assert_eq!(second.counter(names::WRITER_LINES_DROPPED, NEWEST), 7);
    assert_eq!(
        second.counter(names::WRITER_BYTES_WRITTEN, APP) - bytes,
        3 * "line 11\n".len() as u64
    );

    // Histogram observations exported over both rounds equal the writer's own counts.
    let stats = g.writer.stats();
    let exported = |name| {
        (stalled.histogram(name, APP).len()
            + first.histogram(name, APP).len()
            + second.histogram(name, APP).len()) as u64
    };
    assert_eq!(
        exported(names::WRITER_BATCH_WRITE),
        stats.batch_write.count()
    );
    assert_eq!(exported(names::WRITER_QUEUE_WAIT), stats.queue_wait.count());
    assert!(stats.batch_write.count() >= 2, "{stats:?}");

    // The drops stay in the report for the health window (30 s by default)...
    clock.advance(Duration::from_secs(29));
    assert_eq!(exporter.health().writers[0].dropped_in_window, 7);
    // ...and then it heals by itself: nothing was lost since.
    clock.advance(Duration::from_secs(1));
    let report = exporter.health();
    assert!(report.is_healthy(), "{report}");
    assert_eq!(report.writers[0].dropped_in_window, 0);
    assert_eq!(
        stats.submitted,
        stats.lines_written + stats.dropped.total() + stats.queue_depth as u64
    );
}

#[test]
fn self_check_writes_one_line_and_confirms_it() {
    let out = Arc::new(Mutex::new(Vec::new()));
    let sink = SharedSink(out.clone());
    let (writer, guard) = NonBlockingBuilder::default().finish(sink);
    let report = logmetrics::self_check(&writer, &guard, FLUSH).unwrap();
    assert_eq!(report.lines_written, 1);
    assert_eq!(out.lock().unwrap().as_slice(), SELF_CHECK_LINE.as_bytes());
    assert_eq!(writer.stats().lines_written, 1);
}

struct SharedSink(Arc<Mutex<Vec<u8>>>);

impl Write for SharedSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

struct FailingSink;

impl Write for FailingSink {
    fn write(&mut self, _: &[u8]) -> io::Result<usize> {
        Err(io::Error::other("disk on fire"))
    }
    fn flush(&mut self) -> io::Result<()> {
        Err(io::Error::other("disk on fire"))
    }
}

#[test]
fn self_check_fails_on_a_failing_sink_and_health_shows_it() {
    let (writer, guard) = NonBlockingBuilder::default().finish(FailingSink);
    let err = logmetrics::self_check(&writer, &guard, FLUSH).unwrap_err();
    assert!(
        matches!(err, SelfCheckError::Flush(FlushError::SinkFailed { .. })),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .starts_with("log self-check: flushing failed"),
        "{err}"
    );

    let exporter = Exporter::builder()
        .writer("app", writer.clone())
        .build()
        .unwrap();
    let report = exporter.health();
    let w = &report.writers[0];
    assert_eq!(w.dropped_by_reason, vec![("write_failed", 1)]);
    assert!(w.write_errors_in_window >= 1);
    assert!(!report.is_healthy());
}
