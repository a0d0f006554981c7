//! Run-time levels under concurrent changes, and as a global layer (whose
//! level hint is process-wide, so these tests run one at a time).

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sampling_layer::clock::ManualClock;
use sampling_layer::level::{LevelHandle, Levels};
use tracing::level_filters::LevelFilter;
use tracing::{debug, info, trace, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::prelude::*;

/// `LevelFilter::current()` and callsite interest are process-wide.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

thread_local! {
    static RECEIVED: Cell<u32> = const { Cell::new(0) };
}

/// Counts, per thread, the events that reached it.
struct Received;

impl<S: Subscriber> Layer<S> for Received {
    fn on_event(&self, _: &tracing::Event<'_>, _: Context<'_, S>) {
        RECEIVED.with(|r| r.set(r.get() + 1));
    }
}

fn received() -> u32 {
    RECEIVED.with(|r| r.replace(0))
}

#[test]
fn as_a_global_layer_a_lowered_level_stops_again_and_the_hint_follows() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let levels = Levels::try_new("info,lib=warn").unwrap();
    let handle = levels.handle();
    let dispatch =
        tracing::Dispatch::new(tracing_subscriber::registry().with(levels).with(Received));
    tracing::dispatcher::with_default(&dispatch, || {
        received();
        assert_eq!(LevelFilter::current(), LevelFilter::INFO);
        trace!(target: "app::db", "off");
        assert_eq!(received(), 0);
        handle.set_target_level("app::db", "trace").unwrap();
        assert_eq!(LevelFilter::current(), LevelFilter::TRACE);
        trace!(target: "app::db", "on");
        info!(target: "lib", "off");
        assert_eq!(received(), 1);
        handle.set_directives("info").unwrap();
        assert_eq!(LevelFilter::current(), LevelFilter::INFO);
        trace!(target: "app::db", "off again");
        info!(target: "lib", "on");
        assert_eq!(received(), 1);
    });
}

const TARGETS: usize = 4;
const LOGGERS: usize = 8;
const ROUNDS: u64 = 150;
const TIMED: u64 = 25;

fn emit(n: usize) {
    match n {
        0 => debug!(target: "c0", "x"),
        1 => debug!(target: "c1", "x"),
        2 => debug!(target: "c2", "x"),
        _ => debug!(target: "c3", "x"),
    }
}

/// 4 threads change levels (each its own target, as a seqlock: odd while a
/// change is under way) while 8 threads log. A logger that read the same
/// even sequence before and after its event must have seen the level that
/// the last completed change set: the change was in force for its next event.
fn concurrent(per_layer: bool) {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let clock = ManualClock::new();
    let levels = Levels::builder()
        .clock(clock.clone())
        .parse("info")
        .unwrap();
    let handle = levels.handle();
    let dispatch = if per_layer {
        tracing::Dispatch::new(tracing_subscriber::registry().with(Received.with_filter(levels)))
    } else {
        tracing::Dispatch::new(tracing_subscriber::registry().with(levels).with(Received))
    };
    let seq: Arc<[AtomicU64; TARGETS]> = Arc::new(Default::default());
    let done = Arc::new(AtomicBool::new(false));
    // Per target: events checked while enabled, while disabled, and mismatches.
    let checked: Arc<[[AtomicU64; 3]; TARGETS]> = Arc::new(Default::default());

    let loggers: Vec<_> = (0..LOGGERS)
        .map(|_| {
            let (dispatch, seq, done, checked) =
                (dispatch.clone(), seq.clone(), done.clone(), checked.clone());
            std::thread::spawn(move || {
                tracing::dispatcher::with_default(&dispatch, || {
                    while !done.load(SeqCst) {
                        for n in 0..TARGETS {
                            let s1 = seq[n].load(SeqCst);
                            if s1 % 2 == 1 {
                                continue;
                            }
                            received();
                            emit(n);
                            let got = received() == 1;
                            if seq[n].load(SeqCst) != s1 {
                                continue;
                            }
                            let expected = (s1 / 2) % 2 == 1;
                            let slot = if got != expected {
                                2
                            } else {
                                usize::from(!got)
                            };
                            checked[n][slot].fetch_add(1, SeqCst);
                        }
                    }
                })
            })
        })
        .collect();
    let changers: Vec<_> = (0..TARGETS)
        .map(|n| {
            let (handle, seq) = (handle.clone(), seq.clone());
            // With one dispatcher in the process, tracing-core rebuilds the
            // interest through the calling thread's default: a per-layer filter
            // is changed from inside it; a global one knows its dispatcher.
            let scope = if per_layer {
                dispatch.clone()
            } else {
                tracing::Dispatch::none()
            };
            std::thread::spawn(move || {
                tracing::dispatcher::with_default(&scope, || {
                    let target = format!("c{n}");
                    for round in 1..=ROUNDS {
                        seq[n].fetch_add(1, SeqCst);
                        let level = if round % 2 == 1 { "debug" } else { "info" };
                        handle.set_target_level(&target, level).unwrap();
                        seq[n].fetch_add(1, SeqCst);
                        // Let the loggers see this state for a while.
                        std::thread::yield_now();
                    }
                    for k in 0..TIMED {
                        let d = Duration::from_millis(k + 1);
                        handle
                            .set_target_level_for(&format!("x{n}_{k}"), "debug", d)
                            .unwrap();
                    }
                })
            })
        })
        .collect();
    for c in changers {
        c.join().unwrap();
    }
    done.store(true, SeqCst);
    for l in loggers {
        l.join().unwrap();
    }
    for (n, c) in checked.iter().enumerate() {
        let [on, off, wrong] = [0, 1, 2].map(|i| c[i].load(SeqCst));
        assert_eq!(
            wrong, 0,
            "c{n}: {wrong} events disobeyed a completed change"
        );
        assert!(
            on > 0 && off > 0,
            "c{n}: checked {on} enabled, {off} disabled"
        );
    }
    // ROUNDS is even: every `c` target ends at `info`.
    let after_changes = handle.stats();
    assert_eq!(after_changes.changes, TARGETS as u64 * (ROUNDS + TIMED));
    assert_eq!(after_changes.reverts, 0);
    assert_eq!(handle.pending().len(), TARGETS * TIMED as usize);

    // Expiry while 4 threads read (each read applies what is due) and the
    // filter's own thread may too: each return happens exactly once.
    for step in 1..=TIMED {
        clock.advance(Duration::from_millis(1));
        let readers: Vec<_> = (0..4)
            .map(|_| {
                let h: LevelHandle = handle.clone();
                std::thread::spawn(move || h.pending().len())
            })
            .collect();
        for r in readers {
            let left = r.join().unwrap();
            assert_eq!(left, TARGETS * (TIMED - step) as usize);
        }
        assert_eq!(handle.stats().reverts, TARGETS as u64 * step);
    }
    assert_eq!(handle.directives(), "info,c0=info,c1=info,c2=info,c3=info");
    // One rebuild per change and per due time (a due time's returns go together).
    let stats = handle.stats();
    assert_eq!(stats.reverts, TARGETS as u64 * TIMED);
    assert!(stats.rebuilds <= stats.changes + TIMED, "{stats:?}");
}

#[test]
fn concurrent_changes_per_layer_filter() {
    concurrent(true);
}

#[test]
fn concurrent_changes_global_layer() {
    concurrent(false);
}

/// A timed level returns on the filter's own thread, with no handle call and no event
/// to apply it (the wait is bounded; nothing asserts how long it took).
#[test]
fn the_filters_thread_returns_a_timed_level_by_itself() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let levels = Levels::try_new("info").unwrap();
    let handle = levels.handle();
    let dispatch =
        tracing::Dispatch::new(tracing_subscriber::registry().with(Received.with_filter(levels)));
    // A second dispatcher, so that tracing-core rebuilds every dispatcher's interest
    // rather than the rebuilding thread's default only (see the `level` module docs).
    let _other = tracing::Dispatch::new(tracing_subscriber::registry());
    tracing::dispatcher::with_default(&dispatch, || {
        handle
            .set_target_level_for("app", "debug", Duration::from_millis(20))
            .unwrap();
        received();
        debug!(target: "app", "raised");
        assert_eq!(received(), 1);
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            debug!(target: "app", "raised until the thread returns it");
            if received() == 0 {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "never returned");
            std::thread::sleep(Duration::from_millis(5));
        }
    });
    assert_eq!(handle.stats().reverts, 1);
    assert_eq!(handle.directives(), "info");
}
