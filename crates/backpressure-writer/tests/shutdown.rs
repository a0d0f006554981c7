//! Shutdown accounting is exact: a line counted dropped never reaches the output, every
//! line wholly in the output is counted written (also when a stalled sink recovers after
//! the guard gave up), the drain stops at what was queued when the drop began, and a sink
//! that keeps failing with `Interrupted` cannot keep the worker alive.

mod support;

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use backpressure_writer::{NonBlocking, NonBlockingBuilder};
use support::{assert_accounting, line, wait_until, Gate};

/// Lines whose number of bytes puts two of them in one 1 MiB chunk.
fn big(i: usize) -> Vec<u8> {
    let mut l = format!("big {i} ").into_bytes();
    l.resize(400 * 1024 - 1, b'.');
    l.push(b'\n');
    l
}

fn big_text(i: usize) -> String {
    let l = big(i);
    String::from_utf8(l[..l.len() - 1].to_vec()).unwrap()
}

/// The guard gives up while a two-line chunk is inside the sink and four more lines of the
/// same batch wait behind it: those four are `shutdown` and never written; the two in the
/// sink stay buffered until their write returns, and then count as written.
#[test]
fn a_chunk_inside_a_stalled_sink_is_settled_when_its_write_returns() {
    let (gate, sink) = Gate::closed_on_write();
    let (mut w, guard) = NonBlockingBuilder::default()
        .shutdown_timeout(Duration::from_millis(100))
        .drop_report(false)
        .finish(sink);
    w.write_all(b"first\n").unwrap();
    gate.wait_arrivals(1);
    for i in 0..6 {
        w.write_all(&big(i)).unwrap();
    }
    // "first" passes; the worker takes the six big lines as one batch and its first chunk
    // (two lines) reaches the gate.
    gate.permit(1);
    gate.wait_arrivals(2);
    let s = w.stats();
    assert_eq!(
        (s.lines_written, s.in_flight, s.in_sink, s.queued),
        (1, 6, 2, 0)
    );
    assert_accounting(&s);

    drop(guard);
    let s = w.stats();
    assert_eq!(s.dropped.shutdown, 4, "{s:#?}");
    assert_eq!((s.lines_written, s.queue_depth, s.in_sink), (1, 2, 2));
    assert!(s.worker_alive);
    assert_accounting(&s);

    // Submitted after the drop: never queued.
    w.write_all(b"late\n").unwrap();
    assert_eq!(w.stats().dropped.worker_gone, 1);
    assert_accounting(&w.stats());

    gate.open();
    wait_until("the abandoned worker exits", || !w.stats().worker_alive);
    let s = w.stats();
    assert_eq!(
        (
            s.lines_written,
            s.queue_depth,
            s.in_sink,
            s.dropped.shutdown
        ),
        (3, 0, 0, 4)
    );
    assert_accounting(&s);
    assert_eq!(gate.lines(), ["first".to_owned(), big_text(0), big_text(1)]);
}

/// Continuous logging from other threads: the drop drains what was queued when it began,
/// counts what comes later as `worker_gone` and returns, long before `shutdown_timeout`.
/// The sink lets each write return only after the producers submitted more lines, so a
/// drain that kept taking new lines could never find the queue empty.
#[test]
fn the_drain_stops_at_what_was_queued_when_the_drop_began() {
    struct Coupled {
        produced: Arc<AtomicU64>,
        inner: support::GatedSink,
    }
    impl Write for Coupled {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            // Each producer counts a line after its `write_all` returned, so it may still
            // count one line queued before this batch was taken; its second count after
            // this point is a line submitted after the take. Three counts from two
            // producers include such a line.
            let entry = self.produced.load(SeqCst);
            while self.produced.load(SeqCst) < entry + 3 {
                thread::yield_now();
            }
            self.inner.write(buf)
        }
        fn flush(&mut self) -> io::Result<()> {
            self.inner.flush()
        }
    }
    let produced = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let (gate, inner) = Gate::open_sink();
    let (w, guard) = NonBlockingBuilder::default()
        .buffered_lines_limit(1_000_000)
        // Long enough that reaching it would show as `shutdown` drops.
        .shutdown_timeout(Duration::from_secs(3))
        .finish(Coupled {
            produced: Arc::clone(&produced),
            inner,
        });
    let producers: Vec<_> = (0..2)
        .map(|t| {
            let (mut w, produced, stop) = (w.clone(), Arc::clone(&produced), Arc::clone(&stop));
            thread::spawn(move || {
                let mut i = 0;
                while !stop.load(SeqCst) {
                    w.write_all(format!("t{t} {i}\n").as_bytes()).unwrap();
                    produced.fetch_add(1, SeqCst);
                    i += 1;
                }
            })
        })
        .collect();
    wait_until("the producers got going", || {
        w.stats().lines_written >= 10_000
    });
    drop(guard);
    let s = w.stats();
    stop.store(true, SeqCst);
    for p in producers {
        p.join().unwrap();
    }
    assert!(!s.worker_alive, "{s:#?}");
    assert_eq!((s.dropped.shutdown, s.queue_depth), (0, 0), "{s:#?}");
    assert!(s.dropped.worker_gone > 0, "{s:#?}");
    assert_accounting(&s);
    let written: Vec<String> = gate
        .lines()
        .into_iter()
        .filter(|l| !l.starts_with("backpressure-writer:"))
        .collect();
    assert_eq!(written.len() as u64, s.lines_written);
    let s = w.stats();
    assert_accounting(&s);
    assert_eq!(s.lines_written, written.len() as u64);
}

/// A sink that fails every call with `Interrupted`: std's `write_all` would retry it
/// forever. The worker retries a bounded number of times per chunk, fails the batch, and
/// so finishes its drain and exits; after the guard's drop the sink is never called again.
#[test]
fn a_sink_interrupted_forever_does_not_keep_the_worker_busy() {
    #[derive(Clone, Default)]
    struct Interrupted(Arc<AtomicU64>);
    impl Write for Interrupted {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            self.0.fetch_add(1, SeqCst);
            Err(io::ErrorKind::Interrupted.into())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let sink = Interrupted::default();
    let (mut w, guard) = NonBlockingBuilder::default()
        .shutdown_timeout(Duration::from_millis(500))
        .finish(sink.clone());
    for i in 0..10 {
        w.write_all(line(i).as_bytes()).unwrap();
    }
    drop(guard);
    let calls = sink.0.load(SeqCst);
    let s = w.stats();
    assert!(!s.worker_alive, "the worker is still running: {s:#?}");
    assert_eq!(
        (s.dropped.write_failed, s.dropped.shutdown),
        (10, 0),
        "{s:#?}"
    );
    assert_accounting(&s);
    assert!(calls > 0);
    // A worker that is gone calls nobody; this pause only gives a live one a chance to.
    thread::sleep(Duration::from_millis(20));
    assert_eq!(sink.0.load(SeqCst), calls);
}

/// Lines whose writer lives on after the guard are `worker_gone`, never queued, and never
/// in the output.
#[test]
fn lines_after_the_drop_are_worker_gone() {
    let (gate, sink) = Gate::open_sink();
    let (mut w, guard): (NonBlocking, _) = NonBlockingBuilder::default()
        .drop_report(false)
        .finish(sink);
    w.write_all(b"before\n").unwrap();
    drop(guard);
    w.write_all(b"after\n").unwrap();
    let s = w.stats();
    assert_eq!((s.lines_written, s.dropped.worker_gone), (1, 1));
    assert_accounting(&s);
    assert_eq!(gate.lines(), ["before"]);
}

/// Selects the child's part of the stderr test below.
const CHILD: &str = "BACKPRESSURE_WRITER_SHUTDOWN_CHILD";

/// A shutdown that times out against a stuck sink says on stderr how many lines it gave up
/// and how many are inside the sink's `write`: first a whole batch of 100 lines in the
/// sink and nothing else left, then a chunk of two in the sink and four given up behind
/// it. Run in a child process, whose stderr the parent reads line for line.
#[test]
fn a_timed_out_shutdown_says_what_is_inside_the_sink() {
    const NAME: &str = "a_timed_out_shutdown_says_what_is_inside_the_sink";
    if std::env::var(CHILD).is_ok() {
        let (gate, sink) = Gate::closed_on_write();
        let (mut w, guard) = NonBlockingBuilder::default()
            .shutdown_timeout(Duration::from_millis(100))
            .drop_report(false)
            .finish(sink);
        w.write_all(b"first\n").unwrap();
        gate.wait_arrivals(1);
        for i in 0..100 {
            w.write_all(line(i).as_bytes()).unwrap();
        }
        // "first" passes; the 100 lines go to the sink in one chunk, and stick there.
        gate.permit(1);
        gate.wait_arrivals(2);
        assert_eq!(w.stats().in_sink, 100);
        drop(guard);
        let s = w.stats();
        assert_eq!((s.dropped.shutdown, s.in_sink), (0, 100));
        gate.open();
        wait_until("the abandoned worker exits", || !w.stats().worker_alive);
        assert_eq!(w.stats().lines_written, 101);

        let (gate, sink) = Gate::closed_on_write();
        let (mut w, guard) = NonBlockingBuilder::default()
            .shutdown_timeout(Duration::from_millis(100))
            .drop_report(false)
            .finish(sink);
        w.write_all(b"first\n").unwrap();
        gate.wait_arrivals(1);
        for i in 0..6 {
            w.write_all(&big(i)).unwrap();
        }
        gate.permit(1);
        gate.wait_arrivals(2);
        drop(guard);
        assert_eq!(w.stats().dropped.shutdown, 4);
        gate.open();
        wait_until("the abandoned worker exits", || !w.stats().worker_alive);
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([NAME, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .output()
        .expect("the test binary runs again");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let messages: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("backpressure-writer: "))
        .collect();
    assert_eq!(
        messages,
        [
            "backpressure-writer: shutdown timed out after 100ms: 0 lines were not written \
             (counted as shutdown); 100 lines are still inside the sink's write, counted as \
             written or write_failed if it returns",
            "backpressure-writer: shutdown timed out after 100ms: 4 lines were not written \
             (counted as shutdown); 2 lines are still inside the sink's write, counted as \
             written or write_failed if it returns",
        ],
        "{stderr}"
    );
}
