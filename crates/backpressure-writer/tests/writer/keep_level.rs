//! Keep-level lines (WARN and more severe by default) against a flood of lower-level lines
//! into a stalled sink, in every policy.

use std::io::Write;
use std::thread;
use std::time::{Duration, Instant};

use crate::support::{assert_accounting, wait_until, Gate};
use backpressure_writer::{NonBlocking, NonBlockingBuilder, Overflow};

fn write_each(w: &mut NonBlocking, prefix: &str, range: std::ops::Range<usize>) {
    for i in range {
        w.write_all(format!("{prefix} {i}\n").as_bytes()).unwrap();
    }
}

/// Stalls the sink on the first INFO line, floods INFO, writes 5 WARN lines from another
/// thread (more than the 2 reserved slots, so some wait), then releases the sink.
fn keep_lines_survive_a_flood(overflow: Overflow) {
    let (gate, sink) = Gate::closed_on_write();
    let (mut info, guard) = NonBlockingBuilder::default()
        .buffered_lines_limit(4)
        .keep_capacity(2)
        .keep_timeout(Duration::from_secs(60))
        .overflow(overflow)
        .drop_report(false)
        .finish(sink);
    write_each(&mut info, "info", 0..1);
    gate.wait_arrivals(1);

    let blocks = matches!(overflow, Overflow::Block { timeout: None });
    let mut flood_writer = info.clone();
    let mut flood = Some(thread::spawn(move || {
        write_each(&mut flood_writer, "info", 1..50)
    }));
    if blocks {
        wait_until("the flood blocks", || info.stats().blocked_producers == 1);
    } else {
        flood.take().unwrap().join().unwrap();
    }

    let mut warn = info.keeping();
    let warns = thread::spawn(move || write_each(&mut warn, "warn", 0..5));
    let blocked = 1 + usize::from(blocks);
    wait_until("a WARN line waits for room", || {
        info.stats().blocked_producers == blocked
    });
    let s = info.stats();
    assert_eq!(s.dropped.keep_timeout, 0);
    assert_accounting(&s);

    gate.open();
    warns.join().unwrap();
    if let Some(flood) = flood {
        flood.join().unwrap();
    }
    guard.flush().unwrap();

    let lines = gate.lines();
    let warn_lines: Vec<&String> = lines.iter().filter(|l| l.starts_with("warn")).collect();
    assert_eq!(
        warn_lines,
        ["warn 0", "warn 1", "warn 2", "warn 3", "warn 4"]
    );
    let s = info.stats();
    assert_eq!(s.dropped.keep_timeout, 0);
    assert_eq!(s.lines_written, lines.len() as u64);
    assert_eq!(s.submitted, 50 + 5);
    if blocks {
        assert_eq!(s.dropped.total(), 0);
    } else {
        assert!(
            s.dropped.total() > 0,
            "the flood should have overflowed: {s:?}"
        );
    }
    assert_accounting(&s);
}

#[test]
fn keep_lines_survive_a_flood_with_drop_newest() {
    keep_lines_survive_a_flood(Overflow::DropNewest);
}

#[test]
fn keep_lines_survive_a_flood_with_drop_oldest() {
    keep_lines_survive_a_flood(Overflow::DropOldest);
}

#[test]
fn keep_lines_survive_a_flood_with_block_timeout() {
    keep_lines_survive_a_flood(Overflow::Block {
        timeout: Some(Duration::from_millis(1)),
    });
}

#[test]
fn keep_lines_survive_a_flood_with_block_forever() {
    keep_lines_survive_a_flood(Overflow::Block { timeout: None });
}

#[test]
fn keep_and_policy_lines_of_one_thread_keep_their_order() {
    let (gate, sink) = Gate::closed_on_write();
    let (mut info, guard) = NonBlockingBuilder::default()
        .buffered_lines_limit(100)
        .keep_capacity(100)
        .drop_report(false)
        .finish(sink);
    let mut warn = info.keeping();
    info.write_all(b"first\n").unwrap();
    gate.wait_arrivals(1);
    // Queued in two queues; the worker must merge them back into submission order.
    for i in 0..20 {
        if i % 3 == 0 {
            warn.write_all(format!("warn {i}\n").as_bytes()).unwrap();
        } else {
            info.write_all(format!("info {i}\n").as_bytes()).unwrap();
        }
    }
    gate.open();
    guard.flush().unwrap();
    let mut expected = vec!["first".to_owned()];
    expected.extend((0..20).map(|i| {
        let kind = if i % 3 == 0 { "warn" } else { "info" };
        format!("{kind} {i}")
    }));
    assert_eq!(gate.lines(), expected);
}

#[test]
fn a_dead_sink_costs_one_keep_timeout_then_drops_at_once() {
    let keep_timeout = Duration::from_secs(1);
    let (gate, sink) = Gate::closed_on_write();
    let (info, guard) = NonBlockingBuilder::default()
        .buffered_lines_limit(4)
        .keep_capacity(1)
        .keep_timeout(keep_timeout)
        .drop_report(false)
        .finish(sink);
    let mut warn = info.keeping();
    write_each(&mut warn, "warn", 0..1);
    gate.wait_arrivals(1); // warn 0 is being written, the reserved slot is taken

    let started = Instant::now();
    write_each(&mut warn, "warn", 1..2);
    let first_wait = started.elapsed();
    assert!(first_wait >= keep_timeout, "gave up early: {first_wait:?}");
    assert_eq!(info.stats().dropped.keep_timeout, 1);

    // The sink made no progress since: the next ones must not wait the full timeout again.
    let started = Instant::now();
    write_each(&mut warn, "warn", 2..4);
    let later_wait = started.elapsed();
    assert!(
        later_wait < keep_timeout / 2,
        "later keep lines waited again: {later_wait:?}"
    );
    let s = info.stats();
    assert_eq!((s.dropped.keep_timeout, s.dropped.total()), (3, 3));
    assert_accounting(&s);

    // Once the sink moves again, keep lines wait for room as before.
    gate.open();
    guard.flush().unwrap();
    write_each(&mut warn, "warn", 4..5);
    guard.flush().unwrap();
    assert_eq!(gate.lines(), ["warn 0", "warn 4"]);
    let s = info.stats();
    assert_eq!((s.lines_written, s.dropped.keep_timeout), (2, 3));
    assert_accounting(&s);
}

#[test]
fn keep_lines_already_waiting_give_up_with_the_first_timeout() {
    let keep_timeout = Duration::from_secs(1);
    let (gate, sink) = Gate::closed_on_write();
    let (info, guard) = NonBlockingBuilder::default()
        .keep_capacity(1)
        .keep_timeout(keep_timeout)
        .drop_report(false)
        .finish(sink);
    let mut warn = info.keeping();
    write_each(&mut warn, "warn", 0..1);
    gate.wait_arrivals(1);

    let mut first = info.keeping();
    let first = thread::spawn(move || write_each(&mut first, "warn", 1..2));
    wait_until("the first keep line waits", || {
        info.stats().blocked_producers == 1
    });
    // Start the second one well into the first one's wait.
    thread::sleep(keep_timeout / 2);
    let mut second = info.keeping();
    let second = thread::spawn(move || {
        let started = Instant::now();
        write_each(&mut second, "warn", 2..3);
        started.elapsed()
    });
    first.join().unwrap();
    let second_waited = second.join().unwrap();
    // Without the shared stall flag it would wait its own full second.
    assert!(
        second_waited < keep_timeout * 9 / 10,
        "the second keep line waited {second_waited:?}"
    );
    let s = info.stats();
    assert_eq!(s.dropped.keep_timeout, 2);
    assert_accounting(&s);
    gate.open();
    guard.flush().unwrap();
    assert_eq!(gate.lines(), ["warn 0"]);
}
