//! The drop-report line the worker writes into the output.

use std::io::Write;
use std::time::Duration;

use crate::support::{assert_accounting, line, Gate};
use backpressure_writer::{NonBlockingBuilder, Overflow};

fn report(newest: u64, oldest: u64) -> String {
    format!(
        "backpressure-writer: dropped {} lines since last report (newest={newest} oldest={oldest} \
         timeout=0 keep_timeout=0 shutdown=0 worker_gone=0 write_failed=0)",
        newest + oldest
    )
}

#[test]
fn report_follows_the_gap_with_the_exact_count() {
    let (gate, sink) = Gate::closed_on_write();
    let (mut w, guard) = NonBlockingBuilder::default()
        .buffered_lines_limit(4)
        .overflow(Overflow::DropNewest)
        .finish(sink);
    w.write_all(line(0).as_bytes()).unwrap();
    gate.wait_arrivals(1);
    for i in 1..10 {
        w.write_all(line(i).as_bytes()).unwrap();
    }
    gate.open();
    guard.flush().unwrap();
    // Lines 4..=9 were refused while 1..=3 waited: the report comes right after line 3.
    assert_eq!(
        gate.lines(),
        ["line 0", "line 1", "line 2", "line 3", &report(6, 0)]
    );
    let s = w.stats();
    assert_eq!(s.lines_written, 4, "the report is not a submitted line");
    // So the output holds one line more than `lines_written` per report written.
    assert_eq!(gate.lines().len() as u64, s.lines_written + 1);
    assert_eq!(
        s.bytes_written,
        (0..4).map(|i| line(i).len() as u64).sum::<u64>() + report(6, 0).len() as u64 + 1
    );
    assert_accounting(&s);
}

#[test]
fn at_most_one_report_per_interval_and_a_last_one_at_shutdown() {
    let (gate, sink) = Gate::closed_on_write();
    let (mut w, guard) = NonBlockingBuilder::default()
        .buffered_lines_limit(2)
        .overflow(Overflow::DropOldest)
        .drop_report_interval(Duration::from_secs(3600))
        .finish(sink);
    let mut round = |first: usize| {
        gate.close();
        w.write_all(line(first).as_bytes()).unwrap();
        gate.wait_arrivals(1 + first as u64 / 10);
        for i in first + 1..first + 5 {
            w.write_all(line(i).as_bytes()).unwrap();
        }
        gate.open();
        guard.flush().unwrap();
    };
    round(0); // line 0 in flight, 1 queued, then 2, 3, 4 each evict the queued one
    assert_eq!(gate.lines(), ["line 0", "line 4", &report(0, 3)]);
    round(10); // the same drops again, but the interval has not passed: no second report
    assert_eq!(
        gate.lines(),
        ["line 0", "line 4", &report(0, 3), "line 10", "line 14"]
    );
    drop(guard); // pending drops are reported at shutdown whatever the interval
    assert_eq!(
        gate.lines(),
        [
            "line 0",
            "line 4",
            &report(0, 3),
            "line 10",
            "line 14",
            &report(0, 3)
        ]
    );
}

#[test]
fn reports_can_be_switched_off() {
    let (gate, sink) = Gate::closed_on_write();
    let (mut w, guard) = NonBlockingBuilder::default()
        .buffered_lines_limit(1)
        .drop_report(false)
        .finish(sink);
    w.write_all(line(0).as_bytes()).unwrap();
    gate.wait_arrivals(1);
    w.write_all(line(1).as_bytes()).unwrap();
    gate.open();
    drop(guard);
    assert_eq!(gate.lines(), ["line 0"]);
    assert_eq!(w.stats().dropped.newest, 1);
}
