//! Keep-level lines neither wait nor vanish while the keep byte reserve has room: without
//! an explicit `keep_capacity` they are bounded by the reserve's bytes, so a burst of
//! ERRORs into a stalled sink is held, without waiting, and lost (counted) only once the
//! reserve is full. An explicit `keep_capacity(n)` still bounds them in lines.
//!
//! The sink is a gate the test opens: the stall lasts as long as the test wants, far
//! longer than `keep_timeout` (5 ms by default) while every line is submitted.

use std::io::Write;

use crate::support::{assert_accounting, Gate};
use backpressure_writer::stats::Stats;
use backpressure_writer::{NonBlocking, NonBlockingBuilder, Overflow};

const INFO: usize = 20_000;
const ERROR: usize = 200;

/// Logs `INFO` INFO events with an ERROR after every hundredth, through `fmt`, so the
/// writer learns each line's level from `make_writer_for`.
fn log_burst(w: &NonBlocking) {
    let subscriber = tracing_subscriber::fmt()
        .with_writer(w.clone())
        .with_ansi(false)
        .without_time()
        .with_target(false)
        .with_level(false)
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        for i in 0..INFO {
            tracing::info!("i{i}");
            if i % (INFO / ERROR) == INFO / ERROR - 1 {
                tracing::error!("e{}", i / (INFO / ERROR));
            }
        }
    });
}

/// A 64-line queue whose sink is stuck on its first line while 20 000 INFO and 200 ERROR
/// arrive: all 200 ERROR are held and written once the sink recovers, in order, beside
/// the 63 INFO lines the policy kept.
fn errors_survive_a_stall(overflow: Overflow) -> (Stats, Vec<String>) {
    let (gate, sink) = Gate::closed_on_write();
    let (mut w, guard) = NonBlockingBuilder::default()
        .buffered_lines_limit(64)
        .overflow(overflow)
        .drop_report(false)
        .finish(sink);
    w.write_all(b"first\n").unwrap();
    gate.wait_arrivals(1); // the worker is inside the sink with "first"
    log_burst(&w);

    // Still stalled: every ERROR is buffered, none waited in vain.
    let s = w.stats();
    assert_eq!(s.dropped.keep_timeout, 0, "{s:#?}");
    assert_eq!(s.blocked_producers, 0);
    assert_eq!(s.queue_depth, 1 + 63 + ERROR, "{s:#?}");
    assert!(s.queue_depth <= s.capacity + s.keep_capacity);
    assert_eq!(s.submitted, (1 + INFO + ERROR) as u64);
    assert_accounting(&s);

    gate.open();
    guard.flush().unwrap();
    let s = w.stats();
    assert_eq!(s.lines_written, (1 + 63 + ERROR) as u64);
    assert_eq!(s.queue_depth, 0);
    assert_accounting(&s);
    (s, gate.lines())
}

fn errors(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .map(|l| l.trim().to_owned())
        .filter(|l| l.starts_with('e'))
        .collect()
}

fn all_errors() -> Vec<String> {
    (0..ERROR).map(|e| format!("e{e}")).collect()
}

#[test]
fn drop_newest_holds_every_error_of_a_burst_during_a_stall() {
    let (s, lines) = errors_survive_a_stall(Overflow::DropNewest);
    let dropped = (INFO - 63) as u64;
    assert_eq!((s.dropped.newest, s.dropped.total()), (dropped, dropped));
    assert_eq!(errors(&lines), all_errors());
    // The policy kept the oldest INFO lines: i0..=i62, each followed by its ERROR in order.
    let infos: Vec<String> = lines[1..]
        .iter()
        .map(|l| l.trim().to_owned())
        .filter(|l| l.starts_with('i'))
        .collect();
    assert_eq!(infos, (0..63).map(|i| format!("i{i}")).collect::<Vec<_>>());
    assert_eq!(lines[0], "first");
    assert_eq!(lines.len(), 1 + 63 + ERROR);
}

#[test]
fn drop_oldest_holds_every_error_of_a_burst_during_a_stall() {
    let (s, lines) = errors_survive_a_stall(Overflow::DropOldest);
    let dropped = (INFO - 63) as u64;
    assert_eq!((s.dropped.oldest, s.dropped.total()), (dropped, dropped));
    assert_eq!(errors(&lines), all_errors());
    // The policy kept the newest INFO lines.
    let infos: Vec<String> = lines[1..]
        .iter()
        .map(|l| l.trim().to_owned())
        .filter(|l| l.starts_with('i'))
        .collect();
    let newest: Vec<String> = (INFO - 63..INFO).map(|i| format!("i{i}")).collect();
    assert_eq!(infos, newest);
}

/// A line of `len` bytes that starts with `name`, padded with dots.
fn sized(name: &str, len: usize) -> Vec<u8> {
    let mut l = name.as_bytes().to_vec();
    l.resize(len - 1, b'.');
    l.push(b'\n');
    l
}

/// A reserve small enough to fill: `buffered_bytes_limit(8000)` reserves 1000 bytes for
/// keep lines. Ten 100-byte ERROR lines fill it (not the eight an eighth of the 64-line
/// queue would allow); the rest are lost, each counted under `keep_timeout` (the first
/// after its wait, the others at once while the sink stays stalled).
#[test]
fn keep_lines_are_lost_and_counted_only_once_the_byte_reserve_is_full() {
    let (gate, sink) = Gate::closed_on_write();
    let (mut w, guard) = NonBlockingBuilder::default()
        .buffered_lines_limit(64)
        .buffered_bytes_limit(8000)
        .drop_report(false)
        .finish(sink);
    let s = w.stats();
    assert_eq!(s.keep_byte_capacity, 1000);
    // No `keep_capacity` set: one line per 64 bytes of the reserve bounds the line records.
    assert_eq!(s.keep_capacity, 1000 / 64);
    w.write_all(b"first\n").unwrap();
    gate.wait_arrivals(1);
    let mut err = w.keeping();
    for e in 0..ERROR {
        err.write_all(&sized(&format!("e{e}"), 100)).unwrap();
    }
    let s = w.stats();
    assert_eq!(s.dropped.keep_timeout, (ERROR - 10) as u64, "{s:#?}");
    assert_eq!(s.dropped.total(), (ERROR - 10) as u64);
    assert_eq!((s.queue_depth, s.buffered_bytes), (11, 6 + 1000));
    assert_accounting(&s);

    gate.open();
    guard.flush().unwrap();
    let names: Vec<String> = gate
        .lines()
        .iter()
        .map(|l| l.trim_end_matches('.').to_owned())
        .collect();
    let mut expected = vec!["first".to_owned()];
    expected.extend((0..10).map(|e| format!("e{e}")));
    assert_eq!(names, expected);
    let s = w.stats();
    assert_eq!(s.lines_written, 11);
    assert_accounting(&s);
}

/// An explicit `keep_capacity(n)` still bounds keep lines in lines, however much of the
/// byte reserve is free.
#[test]
fn an_explicit_keep_capacity_still_bounds_lines() {
    let (gate, sink) = Gate::closed_on_write();
    let (mut w, guard) = NonBlockingBuilder::default()
        .buffered_lines_limit(64)
        .keep_capacity(4)
        .drop_report(false)
        .finish(sink);
    assert_eq!(w.stats().keep_capacity, 4);
    w.write_all(b"first\n").unwrap();
    gate.wait_arrivals(1);
    let mut err = w.keeping();
    for e in 0..ERROR {
        err.write_all(format!("e{e}\n").as_bytes()).unwrap();
    }
    let s = w.stats();
    assert_eq!(
        (s.dropped.keep_timeout, s.dropped.total()),
        ((ERROR - 4) as u64, (ERROR - 4) as u64)
    );
    assert_eq!(s.queue_depth, 5);
    assert_accounting(&s);
    gate.open();
    guard.flush().unwrap();
    assert_eq!(gate.lines(), ["first", "e0", "e1", "e2", "e3"]);
    assert_accounting(&w.stats());
}
