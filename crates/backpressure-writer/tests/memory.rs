//! What a writer holds in memory: little when fresh (nothing is allocated to the bound up
//! front), at most the byte bound when saturated by long lines, and little again once idle
//! after the burst.
//!
//! Measured with the counting global allocator (live heap bytes, process-wide), which is
//! exact and deterministic, and checked from the kernel's side by the RSS from
//! `/proc/self/statm` (Linux), with a few MiB of slack for the allocator's caching. One
//! test in this binary, so nothing else allocates meanwhile.

mod support;

use std::io::Write;

use backpressure_writer::{NonBlockingBuilder, DEFAULT_BUFFERED_BYTES_LIMIT};
use support::counting::{live_bytes, Counting};
use support::{assert_accounting, wait_until, Gate};

#[global_allocator]
static GLOBAL: Counting = Counting;

const MIB: usize = 1024 * 1024;
const KIB: usize = 1024;

/// Resident set size in bytes, where `/proc` says (Linux); `None` elsewhere.
fn rss_bytes() -> Option<usize> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: usize = statm.split_whitespace().nth(1)?.parse().ok()?;
    // statm counts pages; every Linux target this crate's CI runs on uses 4 KiB pages.
    Some(pages * 4096)
}

/// The RSS now is at most `more` bytes above the fresh writer's (where `/proc` tells both).
fn assert_rss_within(fresh: Option<usize>, more: usize, what: &str) {
    if let (Some(fresh), Some(now)) = (fresh, rss_bytes()) {
        assert!(
            now <= fresh + more,
            "{what} RSS {} MiB from {} MiB",
            now / MIB,
            fresh / MIB
        );
    }
}

fn rss() -> String {
    match rss_bytes() {
        Some(b) => format!("{} MiB", b / MIB),
        None => "n/a".into(),
    }
}

/// 2 000 lines of 1 MiB into a stalled sink with the default settings: before the byte
/// bound the 128 000-line queue took them all, 2 GB.
#[test]
fn long_lines_are_held_within_the_byte_bound_and_given_back_when_idle() {
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
    gate.wait_arrivals(1); // the worker holds one 6-byte line in the sink
    let fresh = (live_bytes() - before) as usize;
    let fresh_rss = rss_bytes();
    eprintln!("fresh writer: {} KiB allocated, RSS {}", fresh / KIB, rss());
    assert!(fresh < 64 * KIB, "a fresh writer holds {fresh} bytes");

    for _ in 0..2_000 {
        w.write_all(&line).unwrap();
    }
    let saturated = (live_bytes() - before) as usize;
    eprintln!(
        "saturated: {} MiB allocated, RSS {}",
        saturated / MIB,
        rss()
    );
    let s = w.stats();
    // 63 lines of 1 MiB and the 6 bytes in the sink are within 64 MiB; one more is not.
    let held = (DEFAULT_BUFFERED_BYTES_LIMIT - 6) / MIB;
    assert_eq!(held, 63);
    assert_eq!(
        (s.queue_depth, s.buffered_bytes),
        (1 + held, 6 + held * MIB)
    );
    assert_eq!(s.dropped.newest, 2_000 - held as u64);
    assert_accounting(&s);
    // The queue's buffer grows by doubling but never past the bound: the bound, plus the
    // line records and the writer's fixed parts.
    assert!(
        saturated <= DEFAULT_BUFFERED_BYTES_LIMIT + MIB,
        "a saturated writer holds {saturated} bytes"
    );
    // The RSS says the same from the kernel's side (3 MiB, then 66 MiB here): the bound plus
    // the allocator's and the test's own slack, where before the byte bound it was 2 GB.
    assert_rss_within(
        fresh_rss,
        DEFAULT_BUFFERED_BYTES_LIMIT + 8 * MIB,
        "saturated",
    );

    gate.open();
    guard.flush().unwrap();
    assert_eq!(w.stats().lines_written, 1 + held as u64);
    // The worker gives the buffers back when it goes idle (after its 1 ms nap). At most
    // 256 KiB each of five buffers may stay (`IDLE_RETAIN`); here they go entirely.
    wait_until("the worker gives the burst's memory back", || {
        (live_bytes() - before) as usize <= fresh + 1280 * KIB
    });
    let idle = (live_bytes() - before) as usize;
    eprintln!(
        "idle after the burst: {} KiB allocated, RSS {}",
        idle / KIB,
        rss()
    );
    // Freed buffers this large go back to the kernel (`munmap`), so the RSS falls back near
    // the fresh writer's (3 MiB, then 3 MiB again here), far below the burst's 64 MiB.
    assert_rss_within(fresh_rss, 8 * MIB, "idle");
    assert_accounting(&w.stats());
    drop(guard);
}
