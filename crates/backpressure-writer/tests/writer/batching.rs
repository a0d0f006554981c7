//! Keep-level lines ride in the same large batches as the others: the number of sink
//! writes does not depend on how many lines are keep-level, and one thread's lines keep
//! their order across the two classes.

use std::io::{self, Write};
use std::sync::{Arc, Condvar, Mutex};

use crate::support::{assert_accounting, Gate};
use backpressure_writer::{NonBlocking, NonBlockingBuilder};

const LINES: usize = 200_000;
const LINE_LEN: usize = 100;
/// The worker's chunk size (1 MiB): whole lines only, so a chunk holds this many lines.
const PER_CHUNK: usize = (1024 * 1024) / LINE_LEN;

fn text(i: usize, keep: bool) -> Vec<u8> {
    let kind = if keep { "WARN" } else { "INFO" };
    let mut l = format!("{kind} {i:08} ").into_bytes();
    l.resize(LINE_LEN - 1, b'.');
    l.push(b'\n');
    l
}

/// Every `every`th line is keep-level (`every == 0`: none).
fn is_keep(i: usize, every: usize) -> bool {
    every != 0 && i % every == 0
}

fn writer(sink: impl Write + Send + 'static) -> (NonBlocking, backpressure_writer::WorkerGuard) {
    NonBlockingBuilder::default()
        .buffered_lines_limit(LINES)
        // Sized for the largest keep share (one line in two).
        .keep_capacity(LINES / 2 + 1)
        .drop_report(false)
        .finish(sink)
}

fn expected_output(every: usize) -> Vec<String> {
    (0..LINES)
        .map(|i| {
            let l = text(i, is_keep(i, every));
            String::from_utf8(l[..l.len() - 1].to_vec()).unwrap()
        })
        .collect()
}

/// The sink is held inside the write of line 0 until every other line is queued: the
/// worker then takes them as one batch, and writes it in 1 MiB chunks whatever the mix.
fn gated_writes(every: usize) -> u64 {
    let (gate, sink) = Gate::closed_on_write();
    let (mut w, guard) = writer(sink);
    let mut keep = w.keeping();
    w.write_all(&text(0, is_keep(0, every))).unwrap();
    gate.wait_arrivals(1);
    for i in 1..LINES {
        let line = text(i, is_keep(i, every));
        if is_keep(i, every) {
            keep.write_all(&line).unwrap();
        } else {
            w.write_all(&line).unwrap();
        }
    }
    gate.open();
    guard.flush().unwrap();
    assert!(
        gate.lines() == expected_output(every),
        "order broken (every {every})"
    );
    let s = w.stats();
    assert_eq!((s.lines_written, s.dropped.total()), (LINES as u64, 0));
    assert_accounting(&s);
    gate.writes()
}

#[test]
fn keep_lines_do_not_split_batches_against_a_gated_sink() {
    let all_info = gated_writes(0);
    // Line 0 alone, then the other 199 999 lines in whole-line chunks of at most 1 MiB.
    let expected = 1 + (LINES - 1).div_ceil(PER_CHUNK) as u64;
    assert_eq!(all_info, expected);
    assert_eq!(gated_writes(10), expected, "10% keep lines");
    assert_eq!(gated_writes(2), expected, "50% keep lines");
}

/// A sink that makes progress only as fast as the test lets it: each write needs a
/// credit, handed out by the producer (slowness by counting, not by sleeping).
#[derive(Clone, Default)]
struct Metered(Arc<(Mutex<MeterState>, Condvar)>);

#[derive(Default)]
struct MeterState {
    credits: u64,
    open: bool,
    writes: u64,
    data: Vec<u8>,
}

impl Metered {
    fn grant_and_wait(&self) {
        let (m, cv) = &*self.0;
        let mut st = m.lock().unwrap();
        st.credits += 1;
        cv.notify_all();
        while st.credits > 0 {
            st = cv.wait(st).unwrap();
        }
    }

    fn open(&self) {
        self.0 .0.lock().unwrap().open = true;
        self.0 .1.notify_all();
    }
}

impl Write for Metered {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let (m, cv) = &*self.0;
        let mut st = m.lock().unwrap();
        while !st.open && st.credits == 0 {
            st = cv.wait(st).unwrap();
        }
        if !st.open {
            st.credits -= 1;
        }
        st.writes += 1;
        st.data.extend_from_slice(buf);
        cv.notify_all();
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Lines per credit: about 2 MB, so the sink (at most one 1 MiB write per credit) falls
/// behind and the queue grows, as with a slow disk.
const PER_CREDIT: usize = 20_000;

fn metered_writes(every: usize) -> u64 {
    let sink = Metered::default();
    let (mut w, guard) = writer(sink.clone());
    let mut keep = w.keeping();
    for i in 0..LINES {
        let line = text(i, is_keep(i, every));
        if is_keep(i, every) {
            keep.write_all(&line).unwrap();
        } else {
            w.write_all(&line).unwrap();
        }
        if (i + 1) % PER_CREDIT == 0 {
            sink.grant_and_wait();
        }
    }
    sink.open();
    guard.flush().unwrap();
    let st = sink.0 .0.lock().unwrap();
    let out: Vec<String> = String::from_utf8(st.data.clone())
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert!(
        out == expected_output(every),
        "order broken (every {every})"
    );
    let s = w.stats();
    assert_eq!((s.lines_written, s.dropped.total()), (LINES as u64, 0));
    assert_accounting(&s);
    st.writes
}

#[test]
fn keep_lines_do_not_split_batches_against_a_slow_sink() {
    let all_info = metered_writes(0);
    // Whole 1 MiB chunks, plus at most one partial chunk per batch; a batch ends at most
    // once per credit while the producer runs, and twice after (measured: 21).
    let credits = (LINES / PER_CREDIT) as u64;
    let bound = LINES.div_ceil(PER_CHUNK) as u64 + credits + 2;
    assert!(
        all_info <= bound,
        "all INFO: {all_info} writes, bound {bound}"
    );
    for every in [10, 2] {
        let mixed = metered_writes(every);
        assert!(
            mixed <= 2 * all_info,
            "one line in {every} keep-level: {mixed} writes against {all_info} all-INFO"
        );
    }
}
