//! What keep-level lines hold in memory now that, without an explicit `keep_capacity`,
//! their byte reserve bounds them: at most the reserve's bytes plus one 24-byte record per
//! line, the lines capped at one per 64 bytes of the reserve, so that a flood of very
//! short ERROR lines into a stalled sink cannot grow the records without end; and with
//! long lines, the two byte bounds together (`buffered_bytes_limit` plus its keep reserve).
//!
//! Measured with the counting global allocator (live heap bytes, process-wide). One test
//! in this binary, so nothing else allocates meanwhile.

mod support;

use std::io::Write;

use backpressure_writer::{NonBlockingBuilder, DEFAULT_BUFFERED_BYTES_LIMIT};
use support::counting::{live_bytes, Counting};
use support::{assert_accounting, Gate};

#[global_allocator]
static GLOBAL: Counting = Counting;

const MIB: usize = 1024 * 1024;
const KIB: usize = 1024;
/// A queued line's record (`LineMeta`: three `u64`).
const RECORD: usize = 24;

#[test]
fn keep_lines_stay_within_their_reserve_short_or_long() {
    // Very short ERROR lines: the line cap binds, 8 MiB / 64 = 131 072 of them.
    let (gate, sink) = Gate::closed_on_write();
    gate.forget_data();
    let before = live_bytes();
    let (mut w, guard) = NonBlockingBuilder::default()
        .drop_report(false)
        .finish(sink);
    let s = w.stats();
    assert_eq!(s.keep_byte_capacity, DEFAULT_BUFFERED_BYTES_LIMIT / 8);
    assert_eq!(s.keep_capacity, 131_072);
    w.write_all(b"first\n").unwrap();
    gate.wait_arrivals(1);
    let fresh = (live_bytes() - before) as usize;
    assert!(fresh < 64 * KIB, "a fresh writer holds {fresh} bytes");
    let mut err = w.keeping();
    for _ in 0..200_000 {
        err.write_all(b"e\n").unwrap();
    }
    let s = w.stats();
    assert_eq!(s.queue_depth, 1 + 131_072);
    assert_eq!(s.dropped.keep_timeout, 200_000 - 131_072);
    assert_accounting(&s);
    let saturated = (live_bytes() - before) as usize;
    eprintln!("131 072 short keep lines: {} KiB", saturated / KIB);
    // Their bytes (2 each) and records: 3.25 MiB, not the 8 MiB reserve's worth of records.
    assert!(
        saturated <= 131_072 * (2 + RECORD) + fresh + 64 * KIB,
        "short keep lines hold {saturated} bytes"
    );
    drop(err);
    gate.open();
    guard.flush().unwrap();
    drop(guard);
    drop(w);
    drop(gate);

    // Lines of 1 MiB, INFO and ERROR alike: 63 INFO beside the 6-byte line in the sink fill
    // the 64 MiB bound, 8 ERROR the 8 MiB reserve; the rest are counted.
    let line = {
        let mut l = vec![b'x'; MIB - 1];
        l.push(b'\n');
        l
    };
    let (gate, sink) = Gate::closed_on_write();
    gate.forget_data();
    let before = live_bytes();
    let (mut w, guard) = NonBlockingBuilder::default()
        .drop_report(false)
        .finish(sink);
    w.write_all(b"first\n").unwrap();
    gate.wait_arrivals(1);
    let mut err = w.keeping();
    for _ in 0..100 {
        w.write_all(&line).unwrap();
        err.write_all(&line).unwrap();
    }
    let s = w.stats();
    assert_eq!(
        (s.queue_depth, s.buffered_bytes),
        (1 + 63 + 8, 6 + (63 + 8) * MIB)
    );
    assert_eq!(
        (s.dropped.newest, s.dropped.keep_timeout),
        (100 - 63, 100 - 8)
    );
    assert_accounting(&s);
    let saturated = (live_bytes() - before) as usize;
    eprintln!("long lines: {} MiB", saturated / MIB);
    let bound = s.byte_capacity + s.keep_byte_capacity;
    assert_eq!(bound, 72 * MIB);
    assert!(
        saturated <= bound + MIB,
        "long lines hold {saturated} bytes"
    );
    gate.open();
    guard.flush().unwrap();
    assert_eq!(w.stats().lines_written, 1 + 63 + 8);
}
