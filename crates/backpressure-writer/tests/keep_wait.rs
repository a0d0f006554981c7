//! How long a keep-level line may hold its caller: a short default bound, a stall state
//! that lets a slow sink cost one wait per backlog rather than one per line, `keep_timeout`
//! zero for never waiting, and a tokio runtime whose timers keep firing while every worker
//! logs WARN lines into a dead or a slow sink.

mod common;

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use backpressure_writer::NonBlockingBuilder;
use common::{assert_accounting, wait_until, Gate};
use tracing::instrument::WithSubscriber;

/// The documented default `keep_timeout`.
const DEFAULT_KEEP_TIMEOUT: Duration = Duration::from_millis(5);

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

const WORKERS: usize = 2;
const TICK: Duration = Duration::from_millis(20);
const TICKS: u32 = 40;
/// Scheduling noise on a shared machine; the property is that no keep wait longer than
/// the bound holds a runtime worker, which the old 1 s default broke by seconds.
const SLACK: Duration = Duration::from_millis(500);

/// Every runtime worker runs a task that logs WARN lines through `fmt` and yields, with
/// two reserved keep slots; a timer task measures how late its sleeps end.
fn timer_lateness_while_every_worker_logs_warn(sink: impl Write + Send + 'static) -> Duration {
    let (writer, guard) = NonBlockingBuilder::default()
        .buffered_lines_limit(2)
        .keep_capacity(2)
        .shutdown_timeout(Duration::from_millis(100))
        .drop_report(false)
        .finish(sink);
    let stats = writer.clone();
    let dispatch = tracing::Dispatch::new(
        tracing_subscriber::fmt()
            .with_writer(writer)
            .with_ansi(false)
            .finish(),
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKERS)
        .enable_time()
        .build()
        .unwrap();
    let worst = rt.block_on(async {
        let stop = Arc::new(AtomicBool::new(false));
        let loggers: Vec<_> = (0..WORKERS)
            .map(|t| {
                let stop = Arc::clone(&stop);
                tokio::spawn(
                    async move {
                        let mut i = 0u64;
                        while !stop.load(SeqCst) {
                            tracing::warn!(task = t, i, "busy");
                            i += 1;
                            tokio::task::yield_now().await;
                        }
                    }
                    .with_subscriber(dispatch.clone()),
                )
            })
            .collect();
        let timer = tokio::spawn(async {
            let mut worst = Duration::ZERO;
            for _ in 0..TICKS {
                let t0 = Instant::now();
                tokio::time::sleep(TICK).await;
                worst = worst.max(t0.elapsed().saturating_sub(TICK));
            }
            worst
        });
        let worst = timer.await.unwrap();
        stop.store(true, SeqCst);
        for l in loggers {
            l.await.unwrap();
        }
        worst
    });
    drop(guard);
    let s = stats.stats();
    assert!(
        s.dropped.keep_timeout > 0,
        "the keep room never ran out: {s:#?}"
    );
    assert_accounting(&s);
    worst
}

#[test]
fn a_dead_sink_does_not_stall_the_runtime() {
    let (gate, sink) = Gate::closed_on_write();
    let worst = timer_lateness_while_every_worker_logs_warn(sink);
    gate.open();
    assert!(
        worst <= DEFAULT_KEEP_TIMEOUT + SLACK,
        "a timer fired {worst:?} late"
    );
}

#[test]
fn a_slow_sink_does_not_stall_the_runtime() {
    /// Progresses, but each write takes longer than the slack: a keep line waiting for
    /// it would show as a late timer.
    struct Slow;
    impl Write for Slow {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            thread::sleep(Duration::from_millis(600));
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let worst = timer_lateness_while_every_worker_logs_warn(Slow);
    assert!(
        worst <= DEFAULT_KEEP_TIMEOUT + SLACK,
        "a timer fired {worst:?} late"
    );
}
