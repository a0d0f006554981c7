//! tracing-appender's own `non_blocking` unit tests, ported: the same scenarios through the
//! same module path and constructors, with the sleeps replaced by a gated sink.
//!
//! Two documented differences show in the assertions, each marked `DIFFERENCE`:
//! - **batching**: lines queued while the sink is busy reach it in one `write` call, where
//!   tracing-appender makes one call per line;
//! - **the line in flight counts against capacity**: `buffered_lines_limit(n)` bounds the
//!   lines queued *plus* those the worker is writing, where tracing-appender's bound is its
//!   channel's and the line in the worker's hands comes on top.

use std::io::Write;
use std::thread;

// The import a tracing-appender user already has, with only the crate name changed.
use crate::support::{assert_accounting, wait_until, Gate};
use backpressure_writer::non_blocking::{
    ErrorCounter, NonBlocking, NonBlockingBuilder, WorkerGuard, DEFAULT_BUFFERED_LINES_LIMIT,
};

fn report(newest: u64) -> String {
    format!(
        "backpressure-writer: dropped {newest} lines since last report (newest={newest} \
         oldest=0 timeout=0 keep_timeout=0 shutdown=0 worker_gone=0 write_failed=0)"
    )
}

#[test]
fn the_tracing_appender_paths_and_constructor_exist() {
    let (gate, sink) = Gate::open_sink();
    let (mut writer, guard): (NonBlocking, WorkerGuard) = NonBlocking::new(sink);
    let counter: ErrorCounter = writer.error_counter();
    writer.write_all(b"Hello\n").unwrap();
    guard.flush().unwrap();
    assert_eq!(gate.lines(), ["Hello"]);
    assert_eq!(counter.dropped_lines(), 0);
    assert_eq!(DEFAULT_BUFFERED_LINES_LIMIT, 128_000);
    // The module re-exports the crate-root items, not look-alikes.
    let _: backpressure_writer::NonBlockingBuilder = NonBlockingBuilder::default();
    let _: fn(
        std::io::Sink,
    ) -> (
        backpressure_writer::NonBlocking,
        backpressure_writer::WorkerGuard,
    ) = backpressure_writer::non_blocking;
}

#[test]
fn backpressure_exerted() {
    let (gate, sink) = Gate::closed_on_write();
    let (mut writer, guard) = NonBlockingBuilder::default()
        .lossy(false)
        .buffered_lines_limit(1)
        .finish(sink);
    let errors = writer.error_counter();
    let stats = writer.clone();

    writer.write_all(b"Hello\n").unwrap();
    // The worker took "Hello" and is stuck writing it.
    gate.wait_arrivals(1);
    assert_eq!(errors.dropped_lines(), 0);

    let producer = thread::spawn(move || writer.write_all(b", World\n").unwrap());
    // DIFFERENCE (the line in flight counts against capacity): with a limit of 1,
    // tracing-appender would queue ", World" in its channel beside the line being written;
    // here "Hello" fills the limit, so the second producer blocks.
    wait_until("the second producer blocks", || {
        stats.stats().blocked_producers == 1
    });
    assert_eq!(errors.dropped_lines(), 0, "a blocked line is not dropped");
    assert_eq!(stats.stats().submitted, 1, "it is not even queued yet");

    gate.open();
    producer.join().expect("the producer does not panic");
    guard.flush().unwrap();
    assert_eq!(gate.lines(), ["Hello", ", World"]);
    assert_eq!(errors.dropped_lines(), 0);
    assert_accounting(&stats.stats());
}

// tracing-appender marks its version `#[ignore]` as flaky (it bets on sleeps); with the
// sink held at a gate it is deterministic.
#[test]
fn logs_dropped_if_lossy() {
    let (gate, sink) = Gate::closed_on_write();
    let (mut writer, guard) = NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(1)
        .finish(sink);
    let errors = writer.error_counter();

    writer.write_all(b"Hello\n").unwrap();
    gate.wait_arrivals(1);
    assert_eq!(errors.dropped_lines(), 0);

    // DIFFERENCE (the line in flight counts against capacity): tracing-appender, with a
    // limit of 1, holds "Hello" in the sink, ", World" in the worker and "Test" in its
    // channel, and drops only "Universe". Here "Hello", being written, is the one line
    // the limit allows: every other line is dropped at once.
    for (i, line) in [&b", World\n"[..], b"Test\n", b"Universe\n"]
        .into_iter()
        .enumerate()
    {
        writer.write_all(line).unwrap();
        assert_eq!(errors.dropped_lines(), i + 1);
    }

    gate.open();
    // The drops came after "Hello" was taken, so their report is due after that batch;
    // the shutdown writes it at the latest.
    drop(guard);
    assert_eq!(gate.lines(), ["Hello".to_owned(), report(3)]);
    let s = writer.stats();
    assert_eq!((s.lines_written, s.dropped.newest), (1, 3));
    assert_accounting(&s);
}

#[test]
fn multi_threaded_writes() {
    let (gate, sink) = Gate::open_sink();
    let (writer, guard) = NonBlockingBuilder::default().lossy(true).finish(sink);
    let errors = writer.error_counter();

    let threads: Vec<_> = (0..10)
        .map(|_| {
            let writer = writer.clone();
            thread::spawn(move || {
                let subscriber = tracing_subscriber::fmt().with_writer(writer).finish();
                tracing::subscriber::with_default(subscriber, || {
                    tracing::event!(tracing::Level::INFO, "Hello");
                });
            })
        })
        .collect();
    for t in threads {
        t.join().expect("a logging thread does not panic");
    }

    // tracing-appender's version reads its channel until 5 s pass without a line; the
    // guard's flush says exactly when everything is in the sink.
    guard.flush().unwrap();
    let lines = gate.lines();
    assert_eq!(lines.len(), 10, "{lines:?}");
    assert!(lines.iter().all(|l| l.ends_with("Hello")), "{lines:?}");
    assert_eq!(errors.dropped_lines(), 0);
    // DIFFERENCE (batching): lines that meet in the queue share one sink write, so the
    // sink may see fewer calls than lines, never more.
    assert!(gate.writes() <= 10, "{} writes", gate.writes());
}

#[test]
fn lines_queued_while_the_sink_is_busy_reach_it_in_one_write() {
    let (gate, sink) = Gate::closed_on_write();
    let (mut writer, guard) = NonBlocking::new(sink);
    writer.write_all(b"Hello\n").unwrap();
    gate.wait_arrivals(1);
    for line in [&b", World\n"[..], b"Test\n", b"Universe\n"] {
        writer.write_all(line).unwrap();
    }
    gate.open();
    guard.flush().unwrap();
    assert_eq!(gate.lines(), ["Hello", ", World", "Test", "Universe"]);
    // DIFFERENCE (batching): tracing-appender makes four sink writes here, one per line;
    // the three lines that queued up behind "Hello" go in one.
    assert_eq!(gate.writes(), 2);
}
