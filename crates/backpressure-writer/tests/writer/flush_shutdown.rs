//! `WorkerGuard::flush()` and the guard's drop write everything, and flush the sink.

use std::io::Write;
use std::time::Duration;

use crate::support::{assert_accounting, line, wait_until, Gate};
use backpressure_writer::{non_blocking, FlushError, NonBlockingBuilder};

#[test]
fn flush_returns_once_everything_before_it_is_written_and_flushed() {
    let (gate, sink) = Gate::open_sink();
    let (mut w, guard) = NonBlockingBuilder::default().lossy(false).finish(sink);
    for i in 0..10_000 {
        w.write_all(line(i).as_bytes()).unwrap();
    }
    guard.flush().unwrap();
    let lines = gate.lines();
    assert_eq!(lines.len(), 10_000);
    assert!(lines
        .iter()
        .enumerate()
        .all(|(i, l)| *l == format!("line {i}")));
    assert!(gate.flushes() >= 1);
    let s = w.stats();
    assert_eq!(
        (s.lines_written, s.queue_depth, s.dropped.total()),
        (10_000, 0, 0)
    );
    assert!(s.batches >= 1 && s.batches <= 10_000);
    assert_eq!(
        s.bytes_written,
        lines.iter().map(|l| l.len() as u64 + 1).sum::<u64>()
    );
    assert!(s.since_last_write.is_some());
    assert_eq!(
        s.queue_wait.count(),
        10_000 / 64 + 1,
        "one line in 64 is timed"
    );
    assert_eq!(s.batch_write.count(), s.batches);
    assert_accounting(&s);
}

#[test]
fn flush_waits_for_the_sink_flush_itself() {
    let (gate, sink) = Gate::closed_on_flush();
    let (mut w, guard) = non_blocking(sink);
    w.write_all(b"a\n").unwrap();
    gate.wait_arrivals(1); // written, stuck in the sink's flush
    let err = guard.flush_timeout(Duration::from_millis(50)).unwrap_err();
    assert!(
        matches!(err, FlushError::TimedOut { pending: 0, .. }),
        "{err:?}"
    );
    gate.open();
    guard.flush().unwrap();
    assert_eq!(gate.flushes(), 1);
}

#[test]
fn flush_with_nothing_written_returns_at_once() {
    let (_gate, sink) = Gate::closed_on_write();
    let (_w, guard) = non_blocking(sink);
    guard.flush().unwrap();
}

#[test]
fn flush_times_out_against_a_stuck_write_then_succeeds() {
    let (gate, sink) = Gate::closed_on_write();
    let (mut w, guard) = NonBlockingBuilder::default()
        .shutdown_timeout(Duration::from_millis(100))
        .finish(sink);
    w.write_all(b"stuck\n").unwrap();
    gate.wait_arrivals(1);
    let err = guard.flush_timeout(Duration::from_millis(10)).unwrap_err();
    assert!(
        matches!(err, FlushError::TimedOut { pending: 1, .. }),
        "{err:?}"
    );
    gate.open();
    guard.flush().unwrap();
    assert_eq!(gate.lines(), ["stuck"]);
}

#[test]
fn guard_drop_drains_everything_and_flushes() {
    let (gate, sink) = Gate::open_sink();
    let (mut w, guard) = NonBlockingBuilder::default()
        .buffered_lines_limit(1000)
        .lossy(false)
        .finish(sink);
    for i in 0..5_000 {
        w.write_all(line(i).as_bytes()).unwrap();
    }
    drop(guard);
    assert_eq!(gate.lines().len(), 5_000);
    assert!(gate.flushes() >= 1);
    let s = w.stats();
    assert_eq!((s.lines_written, s.dropped.total()), (5_000, 0));
    assert!(!s.worker_alive);
    assert_accounting(&s);
}

/// The line stuck inside the sink's write is not `shutdown` (it may yet reach the output):
/// it stays buffered (`in_sink`) until its write returns, then counts as written. The
/// queued rest is `shutdown` and never written. (Counting the stuck line as `shutdown` too
/// would be wrong: the abandoned worker may later write it.)
#[test]
fn guard_drop_against_a_stuck_sink_counts_the_queue_as_shutdown_and_the_stuck_line_when_it_lands() {
    let (gate, sink) = Gate::closed_on_write();
    let (mut w, guard) = NonBlockingBuilder::default()
        .buffered_lines_limit(10)
        .shutdown_timeout(Duration::from_millis(100))
        .finish(sink);
    for i in 0..4 {
        w.write_all(line(i).as_bytes()).unwrap();
        if i == 0 {
            gate.wait_arrivals(1);
        }
    }
    drop(guard);
    let s = w.stats();
    assert_eq!(
        (
            s.dropped.shutdown,
            s.lines_written,
            s.queue_depth,
            s.in_sink
        ),
        (3, 0, 1, 1)
    );
    assert_accounting(&s);
    gate.open();
    wait_until("the abandoned worker exits", || !w.stats().worker_alive);
    let s = w.stats();
    assert_eq!(
        (
            s.dropped.shutdown,
            s.lines_written,
            s.queue_depth,
            s.in_sink
        ),
        (3, 1, 0, 0)
    );
    assert_accounting(&s);
    assert_eq!(gate.lines(), ["line 0"]);
}

/// A worker that never sees an empty queue still flushes every `flush_interval`.
#[test]
fn flush_interval_flushes_a_busy_sink() {
    for (interval, expected_flushes) in [(Duration::ZERO, 2), (Duration::from_secs(3600), 1)] {
        let (gate, sink) = Gate::closed_on_write();
        let (mut w, guard) = NonBlockingBuilder::default()
            .flush_interval(interval)
            .finish(sink);
        w.write_all(line(0).as_bytes()).unwrap();
        gate.wait_arrivals(1);
        w.write_all(line(1).as_bytes()).unwrap();
        w.write_all(line(2).as_bytes()).unwrap();
        // After line 0 the queue still holds lines 1 and 2: only the interval can ask for a
        // flush there; after them the queue is empty, which always flushes.
        gate.open();
        guard.flush().unwrap();
        assert_eq!(gate.lines(), ["line 0", "line 1", "line 2"]);
        assert_eq!(gate.flushes(), expected_flushes, "interval {interval:?}");
    }
}
