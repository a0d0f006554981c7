//! Each overflow policy against a sink the test holds shut: exact contents and exact
//! accounting after every scenario.

use std::io::Write;
use std::thread;
use std::time::{Duration, Instant};

use crate::support::{assert_accounting, line, wait_until, Gate};
use backpressure_writer::{NonBlocking, NonBlockingBuilder, Overflow, WorkerGuard};

/// A writer with a 4-line capacity whose worker is stuck writing `line 0`.
fn stalled(overflow: Overflow) -> (Gate, NonBlocking, WorkerGuard) {
    let (gate, sink) = Gate::closed_on_write();
    let (mut w, guard) = NonBlockingBuilder::default()
        .buffered_lines_limit(4)
        .keep_capacity(2)
        .overflow(overflow)
        .drop_report(false)
        .finish(sink);
    w.write_all(line(0).as_bytes()).unwrap();
    gate.wait_arrivals(1);
    (gate, w, guard)
}

fn write_lines(w: &mut NonBlocking, range: std::ops::Range<usize>) {
    for i in range {
        // Even a dropped line reports success: a logger must not fail its caller.
        assert_eq!(w.write(line(i).as_bytes()).unwrap(), line(i).len());
    }
}

#[test]
fn drop_newest_keeps_the_oldest_lines() {
    let (gate, mut w, guard) = stalled(Overflow::DropNewest);
    write_lines(&mut w, 1..10);
    let s = w.stats();
    // line 0 is being written, 1..=3 fill the rest of the capacity, 4..=9 are refused.
    assert_eq!(
        (s.submitted, s.queue_depth, s.in_flight, s.queued),
        (10, 4, 1, 3)
    );
    assert_eq!(s.dropped.newest, 6);
    assert_eq!(s.dropped.total(), 6);
    assert_eq!(s.lines_written, 0);
    assert_eq!(s.high_water, 4);
    assert_accounting(&s);
    assert_eq!(w.error_counter().dropped_lines(), 6);

    gate.open();
    guard.flush().unwrap();
    assert_eq!(gate.lines(), ["line 0", "line 1", "line 2", "line 3"]);
    let s = w.stats();
    assert_eq!(
        (s.lines_written, s.queue_depth, s.dropped.total()),
        (4, 0, 6)
    );
    assert_accounting(&s);
}

#[test]
fn drop_oldest_keeps_the_newest_lines() {
    let (gate, mut w, guard) = stalled(Overflow::DropOldest);
    write_lines(&mut w, 1..10);
    let s = w.stats();
    // 1..=3 fill the queue, then each new line evicts the oldest queued one: 1..=6 go.
    assert_eq!((s.submitted, s.queue_depth), (10, 4));
    assert_eq!(s.dropped.oldest, 6);
    assert_eq!(s.dropped.total(), 6);
    assert_accounting(&s);

    gate.open();
    guard.flush().unwrap();
    assert_eq!(gate.lines(), ["line 0", "line 7", "line 8", "line 9"]);
    let s = w.stats();
    assert_eq!((s.lines_written, s.dropped.oldest), (4, 6));
    assert_accounting(&s);
}

#[test]
fn drop_oldest_with_everything_in_flight_drops_the_new_line() {
    let (gate, sink) = Gate::closed_on_write();
    let (mut w, guard) = NonBlockingBuilder::default()
        .buffered_lines_limit(1)
        .overflow(Overflow::DropOldest)
        .drop_report(false)
        .finish(sink);
    write_lines(&mut w, 0..1);
    gate.wait_arrivals(1);
    write_lines(&mut w, 1..3);
    let s = w.stats();
    assert_eq!(
        (s.dropped.newest, s.dropped.oldest, s.queue_depth),
        (2, 0, 1)
    );
    assert_accounting(&s);
    gate.open();
    guard.flush().unwrap();
    assert_eq!(gate.lines(), ["line 0"]);
}

#[test]
fn block_with_timeout_returns_within_its_bound() {
    let timeout = Duration::from_millis(100);
    let (gate, mut w, guard) = stalled(Overflow::Block {
        timeout: Some(timeout),
    });
    write_lines(&mut w, 1..4); // fills the capacity without waiting
    let started = Instant::now();
    write_lines(&mut w, 4..5);
    let waited = started.elapsed();
    assert!(waited >= timeout, "gave up early: {waited:?}");
    // The bound is what is under test; 10x leaves room for a loaded machine.
    assert!(waited < timeout * 10, "waited {waited:?}");
    let s = w.stats();
    assert_eq!(
        (s.dropped.timeout, s.dropped.total(), s.queue_depth),
        (1, 1, 4)
    );
    assert_accounting(&s);

    gate.open();
    guard.flush().unwrap();
    assert_eq!(gate.lines(), ["line 0", "line 1", "line 2", "line 3"]);
    assert_accounting(&w.stats());
}

#[test]
fn block_without_timeout_waits_for_room_and_loses_nothing() {
    let (gate, mut w, guard) = stalled(Overflow::Block { timeout: None });
    write_lines(&mut w, 1..4);
    let mut w2 = w.clone();
    let producer = thread::spawn(move || write_lines(&mut w2, 4..8));
    wait_until("the producer blocks", || w.stats().blocked_producers == 1);
    let s = w.stats();
    assert_eq!((s.submitted, s.dropped.total(), s.queue_depth), (4, 0, 4));
    assert_accounting(&s);

    gate.open();
    producer.join().unwrap();
    guard.flush().unwrap();
    let expected: Vec<String> = (0..8).map(|i| format!("line {i}")).collect();
    assert_eq!(gate.lines(), expected);
    let s = w.stats();
    assert_eq!((s.lines_written, s.dropped.total()), (8, 0));
    assert_accounting(&s);
}

#[test]
fn block_mode_producer_never_hangs_when_the_guard_gives_up() {
    let (gate, sink) = Gate::closed_on_write();
    let (mut w, guard) = NonBlockingBuilder::default()
        .buffered_lines_limit(1)
        .lossy(false)
        .shutdown_timeout(Duration::from_millis(200))
        .drop_report(false)
        .finish(sink);
    write_lines(&mut w, 0..1);
    gate.wait_arrivals(1);
    let mut w2 = w.clone();
    let producer = thread::spawn(move || write_lines(&mut w2, 1..2));
    wait_until("the producer blocks", || w.stats().blocked_producers == 1);

    // The sink stays stuck. The blocked producer gives up as the drop begins (its line was
    // never submitted before it: `worker_gone`); line 0, inside the sink's write, is
    // neither written nor lost yet. (Counting it as `shutdown` here would be wrong: it is
    // written anyway once the sink moves.)
    drop(guard);
    producer.join().unwrap();
    write_lines(&mut w, 2..3);
    let s = w.stats();
    assert_eq!(s.dropped.shutdown, 0);
    assert_eq!(s.dropped.worker_gone, 2);
    assert_eq!(
        (s.submitted, s.lines_written, s.queue_depth, s.in_sink),
        (3, 0, 1, 1)
    );
    assert_accounting(&s);
    gate.open(); // the abandoned worker settles line 0 and exits
    wait_until("the worker exits", || !w.stats().worker_alive);
    let s = w.stats();
    assert_eq!(
        (s.submitted, s.lines_written, s.queue_depth, s.in_sink),
        (3, 1, 0, 0)
    );
    assert_eq!((s.dropped.shutdown, s.dropped.worker_gone), (0, 2));
    assert_accounting(&s);
    assert_eq!(gate.lines(), ["line 0"]);
}

#[test]
fn lines_after_the_guard_is_dropped_count_as_worker_gone() {
    let (gate, sink) = Gate::open_sink();
    let (mut w, guard) = backpressure_writer::non_blocking(sink);
    write_lines(&mut w, 0..3);
    drop(guard);
    assert_eq!(gate.lines(), ["line 0", "line 1", "line 2"]);
    write_lines(&mut w, 3..5);
    let s = w.stats();
    assert!(!s.worker_alive);
    assert_eq!((s.lines_written, s.dropped.worker_gone), (3, 2));
    assert_accounting(&s);
}

/// `fill()`: the share of `buffered_lines_limit` in use (the line in flight
/// counts, as against the capacity), a pressure signal for a sampler; 0 again
/// once drained.
#[test]
fn fill_is_the_share_of_the_capacity_in_use() {
    let (gate, mut w, guard) = stalled(Overflow::DropNewest);
    assert_eq!(w.fill(), 0.25, "line 0 in flight: 1 of 4");
    write_lines(&mut w, 1..3);
    assert_eq!(w.fill(), 0.75);
    write_lines(&mut w, 3..10);
    assert_eq!(w.fill(), 1.0, "full; the refused lines do not count");
    gate.open();
    guard.flush().unwrap();
    assert_eq!(w.fill(), 0.0);
}
