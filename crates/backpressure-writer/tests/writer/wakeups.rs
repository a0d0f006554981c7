//! The worker's wake-up stays off the producer's path: while the worker polls after a
//! batch, `write` never pays a futex wake; once parked after a long idle, it stops waking
//! up at all. Everything here counts wake-ups and notifications; nothing is timed.

use std::io::{self, Write};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use backpressure_writer::stats::Stats;
use backpressure_writer::NonBlockingBuilder;

#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<u8>>>);

impl Write for Recorder {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn assert_accounting(s: &Stats) {
    assert_eq!(
        s.submitted,
        s.lines_written + s.dropped.total() + s.queue_depth as u64
    );
}

/// Waits, by counting checks rather than by a deadline on the clock, until `cond` holds.
fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..2_000 {
        if cond() {
            return;
        }
        thread::sleep(Duration::from_millis(5));
    }
    panic!("never happened: {what}");
}

/// Bursts of 20 lines with pauses between them, as a service logs: with the worker
/// polling (it never parks within the test), no line of any burst wakes it.
#[test]
fn bursts_never_wake_a_polling_worker() {
    let sink = Recorder::default();
    let (mut w, guard) = NonBlockingBuilder::default()
        .park_after(Duration::from_secs(3600))
        .finish(sink.clone());
    // The worker starts parked: the very first line wakes it, once.
    w.write_all(b"first\n").unwrap();
    guard.flush().unwrap();
    let before = w.stats().worker_notifies;
    let mut expected = b"first\n".to_vec();
    for burst in 0..20 {
        for i in 0..20 {
            let line = format!("burst {burst} line {i}\n");
            w.write_all(line.as_bytes()).unwrap();
            expected.extend_from_slice(line.as_bytes());
        }
        // Longer than a poll: the worker takes the burst and goes back to polling.
        thread::sleep(Duration::from_millis(3));
    }
    eventually("every line written", || w.stats().lines_written == 401);
    let s = w.stats();
    assert_eq!(
        s.worker_notifies, before,
        "a producer woke the polling worker"
    );
    assert!(!s.worker_parked);
    assert_accounting(&s);
    drop(guard);
    assert_eq!(sink.0.lock().unwrap().as_slice(), &expected[..]);
}

/// With `park_after(0)` the worker parks after a single poll, and a line that finds it
/// parked pays exactly one wake-up. (That is how every burst after a pause of more than
/// 1 ms started before the worker polled; the rest of a burst is covered above.)
#[test]
fn a_line_that_finds_the_worker_parked_wakes_it_once() {
    let sink = Recorder::default();
    let (mut w, guard) = NonBlockingBuilder::default()
        .park_after(Duration::ZERO)
        .finish(sink.clone());
    for i in 0..5u64 {
        eventually("worker parked", || w.stats().worker_parked);
        let before = w.stats().worker_notifies;
        w.write_all(format!("line {i}\n").as_bytes()).unwrap();
        eventually("line written", || w.stats().lines_written == i + 1);
        assert_eq!(w.stats().worker_notifies, before + 1, "line {i}");
    }
    assert_accounting(&w.stats());
    drop(guard);
    assert_eq!(
        sink.0.lock().unwrap().as_slice(),
        b"line 0\nline 1\nline 2\nline 3\nline 4\n"
    );
}

/// A writer left idle parks after `park_after` and then never wakes again: ~0% CPU.
#[test]
fn a_long_idle_writer_stops_waking_up() {
    let (mut w, guard) = NonBlockingBuilder::default()
        .park_after(Duration::from_millis(20))
        .finish(Recorder::default());
    w.write_all(b"one line\n").unwrap();
    guard.flush().unwrap();
    eventually("worker parked", || w.stats().worker_parked);
    let parked_at = w.stats().worker_wakeups;
    // At most 20 polls (fewer: they lengthen while nothing comes), plus the wake-ups by
    // the first line and the flush.
    assert!(parked_at <= 20 + 3, "{parked_at} wake-ups before parking");
    thread::sleep(Duration::from_millis(200));
    let s = w.stats();
    assert_eq!(s.worker_wakeups, parked_at, "a parked worker woke up");
    assert!(s.worker_parked);
    drop(guard);
}

/// A sparse stream (here one line at a time) lengthens the worker's polls: twice after
/// each batch or poll that finds few lines or none, up to 32 times the shortest (the
/// default `max_poll`). So a line costs fewer wake-ups before the worker parks: with
/// `park_after` of 64 polls, 64 wake-ups a line at the shortest poll; here the first
/// line's own wake-up, then polls of 2, 4, 8, 16 and 32 and the 2 left, and for every
/// later one its wake-up and polls of 32 and 32. Counted with `Stats::worker_wakeups`;
/// nothing is timed.
#[test]
fn a_sparse_stream_lengthens_the_polls_and_wakes_the_worker_less() {
    let builder = NonBlockingBuilder::default().park_after(Duration::from_millis(64));
    assert_wakeups_a_line(builder, &[7, 3, 3, 3]);
}

/// Writes lines one at a time, each once the worker has parked again, and checks the
/// wake-ups each cost against `expected` (a spurious wake-up of the condition variable
/// could add one), then the accounting.
fn assert_wakeups_a_line(builder: NonBlockingBuilder, expected: &[u64]) {
    let (mut w, guard) = builder.finish(Recorder::default());
    eventually("worker parked", || w.stats().worker_parked);
    let mut per_line = Vec::new();
    for i in 0..expected.len() as u64 {
        let before = w.stats().worker_wakeups;
        w.write_all(format!("line {i}\n").as_bytes()).unwrap();
        eventually("line written", || w.stats().lines_written == i + 1);
        eventually("worker parked", || w.stats().worker_parked);
        per_line.push(w.stats().worker_wakeups - before);
    }
    for (got, want) in per_line.iter().zip(expected) {
        assert!(
            (*want..=want + 1).contains(got),
            "wake-ups a line {per_line:?}, expected {expected:?}"
        );
    }
    assert_accounting(&w.stats());
    drop(guard);
}

/// `max_poll` bounds the polls: at 8 ms, the same stream's first line costs its own
/// wake-up, then polls of 2, 4, seven of 8 and the 2 left; every later one its wake-up and
/// eight polls of 8: nine wake-ups a line where the default's 32 ms takes three. Counted
/// with `Stats::worker_wakeups`; nothing is timed.
#[test]
fn a_shorter_max_poll_wakes_the_worker_more_for_a_sparse_stream() {
    let builder = NonBlockingBuilder::default()
        .park_after(Duration::from_millis(64))
        .max_poll(Duration::from_millis(8));
    assert_wakeups_a_line(builder, &[11, 9, 9, 9]);
}

/// On its longest poll (32 ms by default) the worker is still woken by the producer whose
/// line fills a queue half: with a 64-line queue, the 32nd line written since the worker
/// last took a batch, never an earlier one. Counted with `Stats::worker_notifies`; the
/// lines go on until that wake-up comes, so nothing is timed.
#[test]
fn a_half_full_queue_wakes_a_worker_on_its_longest_poll() {
    let sink = Recorder::default();
    let (mut w, guard) = NonBlockingBuilder::default()
        .buffered_lines_limit(64)
        .park_after(Duration::from_secs(3600))
        .finish(sink.clone());
    w.write_all(b"first\n").unwrap();
    guard.flush().unwrap();
    let before = w.stats().worker_notifies;
    let mut first_wake = None;
    for i in 0..100_000u64 {
        // Not yet taken by the worker: at most this many before the line goes in (the
        // worker may take some meanwhile, never add any).
        let waiting = w.stats().queued;
        w.write_all(format!("line {i}\n").as_bytes()).unwrap();
        if w.stats().worker_notifies > before {
            first_wake = Some(waiting + 1);
            break;
        }
    }
    let waiting = first_wake.expect("no producer ever woke the polling worker");
    assert!(
        waiting >= 32,
        "woken with at most {waiting} lines waiting in a 64-line queue"
    );
    guard.flush().unwrap();
    assert_accounting(&w.stats());
    drop(guard);
}

/// With the poll at its longest, `flush()` returns with its line written, in order, the
/// accounting exact, for at most one wake-up. (That it wakes the worker rather than
/// waiting out the poll is a matter of time, which this file does not measure.)
#[test]
fn a_flush_wakes_a_worker_on_its_longest_poll() {
    let sink = Recorder::default();
    let (mut w, guard) = NonBlockingBuilder::default()
        .park_after(Duration::from_secs(3600))
        .finish(sink.clone());
    // Single lines, each taken before the next: the poll grows to its longest and the
    // worker never parks within the test.
    for i in 0..4u64 {
        w.write_all(format!("line {i}\n").as_bytes()).unwrap();
        eventually("line written", || w.stats().lines_written == i + 1);
    }
    assert!(!w.stats().worker_parked);
    let before = w.stats().worker_notifies;
    w.write_all(b"flushed\n").unwrap();
    guard.flush().unwrap();
    let s = w.stats();
    assert_eq!(
        s.lines_written, 5,
        "flush returned before its line was written"
    );
    assert_eq!(
        s.worker_notifies,
        before + 1,
        "the flush woke the worker once"
    );
    assert_accounting(&s);
    drop(guard);
    assert_eq!(
        sink.0.lock().unwrap().as_slice(),
        b"line 0\nline 1\nline 2\nline 3\nflushed\n"
    );
}
