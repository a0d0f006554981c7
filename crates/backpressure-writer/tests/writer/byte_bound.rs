//! The byte bound (`buffered_bytes_limit`): enforced by the same overflow policies as the
//! bound in lines, counted under the same reasons, with the keep-level room reserved in
//! bytes too; a line that could never fit is dropped at once, never waited for.

use std::io::Write;
use std::thread;
use std::time::Duration;

use crate::support::{assert_accounting, wait_until, Gate};
use backpressure_writer::{NonBlocking, NonBlockingBuilder, Overflow, WorkerGuard};

/// A line of exactly `len` bytes that names itself: `"<name> ....\n"`.
fn sized(name: &str, len: usize) -> Vec<u8> {
    let mut l = format!("{name} ").into_bytes();
    l.resize(len - 1, b'.');
    l.push(b'\n');
    l
}

fn names(gate: &Gate) -> Vec<String> {
    let lines = gate.lines();
    lines
        .iter()
        .map(|l| l.split(' ').next().unwrap().to_owned())
        .collect()
}

/// A writer bounded at 1000 bytes (and 100 lines, never reached here) whose worker is
/// stuck writing the 100-byte line `l0`.
fn stalled(builder: NonBlockingBuilder) -> (Gate, NonBlocking, WorkerGuard) {
    let (gate, sink) = Gate::closed_on_write();
    let (mut w, guard) = builder
        .buffered_lines_limit(100)
        .buffered_bytes_limit(1000)
        .drop_report(false)
        .finish(sink);
    w.write_all(&sized("l0", 100)).unwrap();
    gate.wait_arrivals(1);
    (gate, w, guard)
}

#[test]
fn drop_newest_stops_at_the_byte_bound_before_the_line_bound() {
    let (gate, mut w, guard) = stalled(NonBlockingBuilder::default());
    for i in 1..20 {
        w.write_all(&sized(&format!("l{i}"), 100)).unwrap();
    }
    let s = w.stats();
    // l0 in the sink and l1..=l9 queued make 1000 bytes; l10..=l19 are refused.
    assert_eq!((s.queue_depth, s.buffered_bytes), (10, 1000));
    assert_eq!((s.dropped.newest, s.dropped.total()), (10, 10));
    assert_accounting(&s);

    gate.open();
    guard.flush().unwrap();
    let expected: Vec<String> = (0..10).map(|i| format!("l{i}")).collect();
    assert_eq!(names(&gate), expected);
    let s = w.stats();
    assert_eq!((s.lines_written, s.buffered_bytes), (10, 0));
    assert_accounting(&s);
}

#[test]
fn drop_oldest_evicts_as_many_lines_as_a_long_line_needs() {
    let (gate, mut w, guard) =
        stalled(NonBlockingBuilder::default().overflow(Overflow::DropOldest));
    for i in 1..10 {
        w.write_all(&sized(&format!("l{i}"), 100)).unwrap();
    }
    // 1000 bytes buffered: 450 more need five 100-byte lines gone (l1..=l5).
    w.write_all(&sized("long", 450)).unwrap();
    let s = w.stats();
    assert_eq!((s.dropped.oldest, s.dropped.newest), (5, 0));
    assert_eq!((s.queue_depth, s.buffered_bytes), (6, 950));
    // 950 bytes could only fit beside the 100 in the sink by evicting the sink's own
    // line: nothing is evicted for nothing, the new line is dropped.
    w.write_all(&sized("huge", 950)).unwrap();
    let s = w.stats();
    assert_eq!((s.dropped.oldest, s.dropped.newest), (5, 1));
    assert_eq!((s.queue_depth, s.buffered_bytes), (6, 950));
    assert_accounting(&s);

    gate.open();
    guard.flush().unwrap();
    assert_eq!(names(&gate), ["l0", "l6", "l7", "l8", "l9", "long"]);
    assert_accounting(&w.stats());
}

/// Under `lossy(false)` a line that fits the bound waits for room, and one longer than the
/// bound is dropped at once: waiting for it would be waiting forever.
#[test]
fn block_waits_for_bytes_but_never_for_a_line_longer_than_the_bound() {
    let (gate, mut w, guard) = stalled(NonBlockingBuilder::default().lossy(false));
    for i in 1..10 {
        w.write_all(&sized(&format!("l{i}"), 100)).unwrap();
    }
    let mut w2 = w.clone();
    let waiter = thread::spawn(move || w2.write_all(&sized("waits", 100)).unwrap());
    wait_until("the 100-byte line waits for room", || {
        w.stats().blocked_producers == 1
    });
    w.write_all(&sized("toolong", 1001)).unwrap();
    let s = w.stats();
    assert_eq!((s.dropped.newest, s.dropped.total()), (1, 1));
    assert_eq!(
        (s.blocked_producers, s.queue_depth, s.buffered_bytes),
        (1, 10, 1000)
    );
    assert_accounting(&s);

    gate.open();
    waiter.join().unwrap();
    guard.flush().unwrap();
    let mut expected: Vec<String> = (0..10).map(|i| format!("l{i}")).collect();
    expected.push("waits".into());
    assert_eq!(names(&gate), expected);
    let s = w.stats();
    assert_eq!((s.lines_written, s.dropped.total()), (11, 1));
    assert_accounting(&s);
}

/// INFO lines that fill the byte bound don't take the keep lines' room: WARN lines have
/// their share of the bound reserved (here 400 of 1600 bytes: `keep_capacity` is a
/// quarter of `buffered_lines_limit`).
#[test]
fn keep_lines_have_reserved_bytes_the_policy_cannot_take() {
    let (gate, sink) = Gate::closed_on_write();
    let (mut w, guard) = NonBlockingBuilder::default()
        .buffered_lines_limit(100)
        .keep_capacity(25)
        .buffered_bytes_limit(1600)
        .keep_timeout(Duration::ZERO)
        .drop_report(false)
        .finish(sink);
    assert_eq!(
        (w.stats().byte_capacity, w.stats().keep_byte_capacity),
        (1600, 400)
    );
    w.write_all(&sized("i0", 100)).unwrap();
    gate.wait_arrivals(1);
    for i in 1..20 {
        w.write_all(&sized(&format!("i{i}"), 100)).unwrap();
    }
    let mut warn = w.keeping();
    for k in 0..5 {
        warn.write_all(&sized(&format!("k{k}"), 100)).unwrap();
    }
    let s = w.stats();
    // i0..=i15 fill the 1600 bytes; k0..=k3 fill the 400 reserved; k4 finds no room.
    assert_eq!((s.dropped.newest, s.dropped.keep_timeout), (4, 1));
    assert_eq!((s.queue_depth, s.buffered_bytes), (20, 2000));
    assert_accounting(&s);

    gate.open();
    guard.flush().unwrap();
    let mut expected: Vec<String> = (0..16).map(|i| format!("i{i}")).collect();
    expected.extend((0..4).map(|k| format!("k{k}")));
    assert_eq!(names(&gate), expected);
    assert_accounting(&w.stats());
}

/// A keep line longer than the keep room could never fit: dropped at once as a keep
/// timeout, even with an hour's `keep_timeout` and an empty queue.
#[test]
fn a_keep_line_longer_than_its_room_is_dropped_without_waiting() {
    let (gate, sink) = Gate::closed_on_write();
    let (w, guard) = NonBlockingBuilder::default()
        .buffered_bytes_limit(8000)
        .keep_timeout(Duration::from_secs(3600))
        .drop_report(false)
        .finish(sink);
    assert_eq!(w.stats().keep_byte_capacity, 1000);
    let mut warn = w.keeping();
    let writer = thread::spawn(move || warn.write_all(&sized("big", 1001)).unwrap());
    wait_until("the oversized keep line is settled", || {
        w.stats().submitted == 1
    });
    writer.join().unwrap();
    let s = w.stats();
    assert_eq!((s.dropped.keep_timeout, s.dropped.total()), (1, 1));
    assert_eq!((s.blocked_producers, s.queue_depth), (0, 0));
    assert_accounting(&s);
    let mut warn = w.keeping();
    warn.write_all(&sized("fits", 1000)).unwrap();
    gate.open();
    guard.flush().unwrap();
    assert_eq!(names(&gate), ["fits"]);
}
