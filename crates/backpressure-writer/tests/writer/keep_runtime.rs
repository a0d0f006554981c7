//! A keep line never stalls a runtime: with the default `keep_timeout`, a tokio runtime
//! whose every worker logs WARN lines into a dead or a slow sink keeps firing its timers
//! on time, up to that bound plus scheduling slack.
#![cfg(not(backpressure_writer_loom))]

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crate::support::{assert_accounting, Gate};
use backpressure_writer::NonBlockingBuilder;
use tracing::instrument::WithSubscriber;

/// The documented default `keep_timeout`.
const DEFAULT_KEEP_TIMEOUT: Duration = Duration::from_millis(5);

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
