//! Several producer threads: no torn or interleaved lines, each thread's order kept.

use std::io::Write;
use std::thread;

use crate::support::{assert_accounting, Gate};
use backpressure_writer::{NonBlockingBuilder, Overflow};

const THREADS: usize = 4;
const LINES: usize = 5_000;

fn payload(t: usize, i: usize) -> String {
    // Lines of varying length so a torn line can't line up by accident.
    format!("t{t} {i:05} {}|", "x".repeat((t * 7 + i) % 97))
}

fn run(overflow: Overflow, capacity: usize) -> (Vec<String>, backpressure_writer::stats::Stats) {
    let (gate, sink) = Gate::open_sink();
    let (w, guard) = NonBlockingBuilder::default()
        .buffered_lines_limit(capacity)
        .keep_capacity(16)
        .overflow(overflow)
        .drop_report(false)
        .finish(sink);
    let producers: Vec<_> = (0..THREADS)
        .map(|t| {
            let mut w = if t % 2 == 0 { w.clone() } else { w.keeping() };
            thread::spawn(move || {
                for i in 0..LINES {
                    w.write_all(format!("{}\n", payload(t, i)).as_bytes())
                        .unwrap();
                }
            })
        })
        .collect();
    for p in producers {
        p.join().unwrap();
    }
    drop(guard);
    (gate.lines(), w.stats())
}

/// Every line is exactly one whole payload, and each thread's surviving lines are in order.
fn check_lines(lines: &[String]) -> [usize; THREADS] {
    let mut next = [0usize; THREADS];
    let mut seen = [0usize; THREADS];
    for l in lines {
        let t: usize = l[1..l.find(' ').unwrap()].parse().unwrap();
        let i: usize = l[l.find(' ').unwrap() + 1..][..5].parse().unwrap();
        assert_eq!(*l, payload(t, i), "torn or interleaved line");
        assert!(
            i >= next[t],
            "thread {t}: line {i} after line {}",
            next[t] - 1
        );
        next[t] = i + 1;
        seen[t] += 1;
    }
    seen
}

#[test]
fn blocking_writers_lose_nothing_and_keep_order() {
    let (lines, s) = run(Overflow::Block { timeout: None }, 64);
    assert_eq!(check_lines(&lines), [LINES; THREADS]);
    assert_eq!(
        (s.lines_written, s.dropped.total()),
        ((THREADS * LINES) as u64, 0)
    );
    assert!(s.high_water <= 64 + 16);
    assert_accounting(&s);
}

#[test]
fn dropping_writers_never_tear_lines() {
    for overflow in [Overflow::DropNewest, Overflow::DropOldest] {
        let (lines, s) = run(overflow, 32);
        let seen = check_lines(&lines);
        assert_eq!(seen.iter().sum::<usize>() as u64, s.lines_written);
        assert_eq!(s.submitted, (THREADS * LINES) as u64);
        assert_accounting(&s);
    }
}

/// While producers run, every snapshot adds up exactly and `flush()` keeps succeeding.
#[test]
fn accounting_holds_in_every_snapshot_under_load() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    for overflow in [
        Overflow::DropNewest,
        Overflow::DropOldest,
        Overflow::Block { timeout: None },
    ] {
        let (gate, sink) = Gate::open_sink();
        let (w, guard) = NonBlockingBuilder::default()
            .buffered_lines_limit(16)
            .keep_capacity(4)
            .overflow(overflow)
            .finish(sink);
        let guard = Arc::new(guard);
        let done = Arc::new(AtomicBool::new(false));
        let poller = {
            let (w, done) = (w.clone(), Arc::clone(&done));
            thread::spawn(move || {
                let mut snapshots = 0u64;
                while !done.load(Ordering::Relaxed) {
                    let s = w.stats();
                    assert_accounting(&s);
                    assert!(s.queue_depth <= s.capacity + s.keep_capacity, "{s:?}");
                    snapshots += 1;
                }
                snapshots
            })
        };
        let flusher = {
            let (guard, done) = (Arc::clone(&guard), Arc::clone(&done));
            thread::spawn(move || {
                let mut flushes = 0u64;
                while !done.load(Ordering::Relaxed) {
                    guard.flush().unwrap();
                    flushes += 1;
                }
                flushes
            })
        };
        let producers: Vec<_> = (0..THREADS)
            .map(|t| {
                let mut w = if t % 2 == 0 { w.clone() } else { w.keeping() };
                thread::spawn(move || {
                    for i in 0..2_000 {
                        w.write_all(format!("{}\n", payload(t, i)).as_bytes())
                            .unwrap();
                    }
                })
            })
            .collect();
        for p in producers {
            p.join().unwrap();
        }
        done.store(true, Ordering::Relaxed);
        assert!(poller.join().unwrap() > 0);
        assert!(flusher.join().unwrap() > 0);
        guard.flush().unwrap();
        let lines = gate.lines();
        // The writer's own drop-report lines are not payloads.
        let payloads: Vec<String> = lines
            .into_iter()
            .filter(|l| !l.starts_with("backpressure-writer: "))
            .collect();
        let seen = check_lines(&payloads);
        let s = w.stats();
        assert_eq!(s.submitted, (THREADS * 2_000) as u64);
        assert_eq!(seen.iter().sum::<usize>() as u64, s.lines_written);
        assert_eq!(s.queue_depth, 0);
        assert_accounting(&s);
        drop(Arc::try_unwrap(guard).expect("the flusher is done"));
    }
}
