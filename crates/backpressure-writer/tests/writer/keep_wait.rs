//! How long a keep-level line may hold its caller: a stall state that lets a slow sink cost
//! one wait per backlog rather than one per line (the backlog counts as drained once it is
//! down to half the keep room, in lines and in bytes), and `keep_timeout` zero for never
//! waiting. (The default bound against a tokio runtime: tests/keep_runtime.rs.)

use std::io::Write;
use std::thread;
use std::time::Duration;

use crate::support::{assert_accounting, wait_until, Gate};
use backpressure_writer::NonBlockingBuilder;

/// Lines whose size puts two in one 1 MiB chunk, so room frees up a chunk at a time.
fn big(name: &str) -> Vec<u8> {
    let mut l = format!("{name} ").into_bytes();
    l.resize(400 * 1024 - 1, b'.');
    l.push(b'\n');
    l
}

/// After a keep line timed out, progress that leaves the keep backlog more than half full
/// does not make the next keep line wait again: it is dropped at once, and waiting
/// resumes once the backlog has halved.
#[test]
fn a_slow_sink_costs_one_keep_wait_per_backlog_not_one_per_line() {
    let (gate, sink) = Gate::closed_on_write();
    let (w, guard) = NonBlockingBuilder::default()
        .keep_capacity(4)
        .keep_timeout(Duration::from_millis(200))
        .drop_report(false)
        .finish(sink);
    let mut warn = w.keeping();
    warn.write_all(&big("k0")).unwrap();
    gate.wait_arrivals(1);
    for k in ["k1", "k2", "k3"] {
        warn.write_all(&big(k)).unwrap();
    }
    // Full: this one waits its timeout and marks the sink stalled.
    warn.write_all(&big("k4")).unwrap();
    assert_eq!(w.stats().dropped.keep_timeout, 1);

    // One chunk of progress: k0 is written, k1..k3 are taken (k1 and k2 now in the sink).
    // Three of four reserved slots are still taken, more than half: still stalled.
    gate.permit(1);
    gate.wait_arrivals(2);
    warn.write_all(&big("k5")).unwrap(); // the free slot
    let mut late = w.keeping();
    let writer = thread::spawn(move || late.write_all(&big("k6")).unwrap());
    wait_until("k6 is settled without waiting", || {
        let s = w.stats();
        assert_eq!(s.blocked_producers, 0, "k6 waits again: {s:#?}");
        s.submitted == 7
    });
    writer.join().unwrap();
    let s = w.stats();
    assert_eq!(s.dropped.keep_timeout, 2);
    assert_accounting(&s);

    // The backlog drained: the next full queue gets its wait again.
    gate.open();
    guard.flush().unwrap();
    let lines: Vec<String> = gate.lines().iter().map(|l| l[..2].to_owned()).collect();
    assert_eq!(lines, ["k0", "k1", "k2", "k3", "k5"]);
    let s = w.stats();
    assert_eq!((s.lines_written, s.dropped.total()), (5, 2));
    assert_accounting(&s);
}

/// The same rule when the keep byte reserve binds (no `keep_capacity` set, so the line
/// bound is far away): the backlog counts as drained only once it is down to half the
/// reserve in bytes too. Here the reserve holds four lines' bytes; after one chunk of
/// progress three are still buffered, more than half: the next keep line that finds no
/// room is dropped at once instead of waiting again.
#[test]
fn the_backlog_rule_counts_bytes_when_the_byte_reserve_binds() {
    let (gate, sink) = Gate::closed_on_write();
    let (w, guard) = NonBlockingBuilder::default()
        .buffered_bytes_limit(8 * 4 * 400 * 1024)
        .keep_timeout(Duration::from_millis(200))
        .drop_report(false)
        .finish(sink);
    let s = w.stats();
    assert_eq!(s.keep_byte_capacity, 4 * big("k0").len());
    assert_eq!(s.keep_capacity, s.keep_byte_capacity / 64);
    let mut warn = w.keeping();
    warn.write_all(&big("k0")).unwrap();
    gate.wait_arrivals(1);
    for k in ["k1", "k2", "k3"] {
        warn.write_all(&big(k)).unwrap();
    }
    // The reserve's bytes are full: this one waits its timeout and marks the sink stalled.
    warn.write_all(&big("k4")).unwrap();
    assert_eq!(w.stats().dropped.keep_timeout, 1);

    // k0 written, k1 and k2 in the sink, k3 taken: 3 of 4 lines' bytes still buffered.
    gate.permit(1);
    gate.wait_arrivals(2);
    warn.write_all(&big("k5")).unwrap(); // the freed bytes
    let mut late = w.keeping();
    let writer = thread::spawn(move || late.write_all(&big("k6")).unwrap());
    wait_until("k6 is settled without waiting", || {
        let s = w.stats();
        assert_eq!(s.blocked_producers, 0, "k6 waits again: {s:#?}");
        s.submitted == 7
    });
    writer.join().unwrap();
    let s = w.stats();
    assert_eq!(s.dropped.keep_timeout, 2);
    assert_accounting(&s);

    gate.open();
    guard.flush().unwrap();
    let lines: Vec<String> = gate.lines().iter().map(|l| l[..2].to_owned()).collect();
    assert_eq!(lines, ["k0", "k1", "k2", "k3", "k5"]);
    let s = w.stats();
    assert_eq!((s.lines_written, s.dropped.total()), (5, 2));
    assert_accounting(&s);
}

/// `keep_timeout(Duration::ZERO)`: keep lines still have their reserved room, but never
/// wait for it.
#[test]
fn a_zero_keep_timeout_never_waits() {
    let (gate, sink) = Gate::closed_on_write();
    let (w, guard) = NonBlockingBuilder::default()
        .keep_capacity(1)
        .keep_timeout(Duration::ZERO)
        .drop_report(false)
        .finish(sink);
    let mut warn = w.keeping();
    warn.write_all(b"w0\n").unwrap();
    gate.wait_arrivals(1);
    for _ in 0..100 {
        warn.write_all(b"dropped\n").unwrap();
    }
    let s = w.stats();
    assert_eq!((s.dropped.keep_timeout, s.blocked_producers), (100, 0));
    assert_accounting(&s);
    gate.open();
    guard.flush().unwrap();
    warn.write_all(b"w1\n").unwrap();
    guard.flush().unwrap();
    assert_eq!(gate.lines(), ["w0", "w1"]);
}

/// Under `Overflow::Block`, a keep line waits as long as a line under the policy would
/// (here without end), never giving up sooner than an INFO line: the short `keep_timeout`
/// is for the lossy policies.
#[test]
fn under_block_a_keep_line_waits_as_long_as_the_policy() {
    let (gate, sink) = Gate::closed_on_write();
    let (w, guard) = NonBlockingBuilder::default()
        .lossy(false)
        .keep_capacity(1)
        .drop_report(false)
        .finish(sink);
    let mut warn = w.keeping();
    warn.write_all(b"w0\n").unwrap();
    gate.wait_arrivals(1);
    let mut late = w.keeping();
    let waiter = thread::spawn(move || late.write_all(b"w1\n").unwrap());
    wait_until("w1 waits for room", || w.stats().blocked_producers == 1);
    // Many times the default keep_timeout (5 ms): a pause, not a threshold; the assertion
    // is that w1 is still waiting, which holds however long the pause.
    thread::sleep(Duration::from_millis(100));
    let s = w.stats();
    assert_eq!((s.blocked_producers, s.dropped.keep_timeout), (1, 0));
    gate.open();
    waiter.join().unwrap();
    guard.flush().unwrap();
    assert_eq!(gate.lines(), ["w0", "w1"]);
    assert_accounting(&w.stats());
}
