//! `Duration::MAX` as a wait ("as long as it takes"), wherever the writer takes one: the
//! flush and shutdown bounds, a blocked producer's timeout, the keep room's. Each waits
//! until the work is done, as a shorter bound that is never reached would.

use std::io::Write;
use std::thread;
use std::time::Duration;

use crate::support::{assert_accounting, line, wait_until, Gate};
use backpressure_writer::{NonBlocking, NonBlockingBuilder, Overflow};

#[test]
fn flush_and_shutdown_bounded_by_duration_max_finish_their_work() {
    let (gate, sink) = Gate::open_sink();
    let (mut w, guard) = NonBlockingBuilder::default()
        .shutdown_timeout(Duration::MAX)
        .drop_report(false)
        .finish(sink);
    w.write_all(line(0).as_bytes()).unwrap();
    guard.flush().expect("flushed");
    w.write_all(line(1).as_bytes()).unwrap();
    guard.flush_timeout(Duration::MAX).expect("flushed");
    assert_eq!(gate.lines().len(), 2);
    w.write_all(line(2).as_bytes()).unwrap();
    drop(guard);
    all_three_written(&gate, &w);
}

/// Fills a two-line bound with a line the closed sink holds and one queued behind it,
/// then writes one more from another thread: it must wait for room, not give up or
/// panic.
fn a_full_queue_waits_for_room(builder: NonBlockingBuilder, keep: bool) {
    let (gate, sink) = Gate::closed_on_write();
    let (w, guard) = builder.drop_report(false).finish(sink);
    let mut first = if keep { w.keeping() } else { w.clone() };
    first.write_all(line(0).as_bytes()).unwrap();
    gate.wait_arrivals(1);
    first.write_all(line(1).as_bytes()).unwrap();
    let mut late = first.clone();
    let producer = thread::spawn(move || late.write_all(line(2).as_bytes()));
    wait_until("the third line waits for room", || {
        w.stats().blocked_producers == 1
    });
    gate.open();
    producer.join().expect("no panic").expect("written");
    guard.flush().expect("flushed");
    all_three_written(&gate, &w);
}

#[test]
fn a_producer_blocked_for_duration_max_waits_for_room() {
    let builder = NonBlockingBuilder::default()
        .buffered_lines_limit(2)
        .overflow(Overflow::Block {
            timeout: Some(Duration::MAX),
        });
    a_full_queue_waits_for_room(builder, false);
}

#[test]
fn a_keep_line_with_a_duration_max_keep_timeout_waits_for_room() {
    let builder = NonBlockingBuilder::default()
        .keep_capacity(2)
        .keep_timeout(Duration::MAX);
    a_full_queue_waits_for_room(builder, true);
}

/// Lines 0, 1 and 2, each written once, in order, and the accounting exact.
fn all_three_written(gate: &Gate, w: &NonBlocking) {
    let s = w.stats();
    assert_eq!((s.submitted, s.lines_written), (3, 3), "{s:#?}");
    assert_accounting(&s);
    assert_eq!(
        gate.lines(),
        [0, 1, 2].map(|i| line(i).trim_end().to_owned())
    );
}
