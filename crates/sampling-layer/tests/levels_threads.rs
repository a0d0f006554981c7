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

/// A callsite's first registration races a change: `tracing-core` stores the
/// interest it computed after `register_callsite` returned, so a change whose
/// rebuild ran in between could be overridden by a decision read off the older
/// table, until the next change. Deterministic here: a layer below `Levels`
/// holds the first registration until the change has returned.
#[test]
fn a_first_registration_that_overlaps_a_change_does_not_override_it() {
    use std::sync::mpsc;
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());

    fn cold() {
        debug!(target: "cold", "x");
    }

    /// Holds the registration of `cold` on the thread that first hits it.
    struct Hold(Mutex<Option<(mpsc::Sender<()>, mpsc::Receiver<()>)>>);
    impl<S: Subscriber> Layer<S> for Hold {
        fn register_callsite(
            &self,
            m: &'static tracing::Metadata<'static>,
        ) -> tracing::subscriber::Interest {
            if m.target() == "cold" {
                // Taken first: the change's rebuild asks this layer too.
                let taken = self.0.lock().unwrap().take();
                if let Some((held, go)) = taken {
                    held.send(()).unwrap();
                    go.recv().unwrap();
                }
            }
            tracing::subscriber::Interest::always()
        }
    }

    // `warm=debug` keeps the level hint at DEBUG: only the interest decides.
    let levels = Levels::try_new("info,cold=debug,warm=debug").unwrap();
    let handle = levels.handle();
    let (held_tx, held_rx) = mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel();
    let dispatch = tracing::Dispatch::new(
        tracing_subscriber::registry()
            .with(Hold(Mutex::new(Some((held_tx, go_rx)))))
            .with(levels)
            .with(Received),
    );
    let first = {
        let dispatch = dispatch.clone();
        std::thread::spawn(move || tracing::dispatcher::with_default(&dispatch, cold))
    };
    // `Levels` has decided `cold` on `cold=debug`; tracing-core has not stored it.
    held_rx.recv().unwrap();
    handle.set_target_level("cold", "info").unwrap();
    go_tx.send(()).unwrap();
    first.join().unwrap();
    tracing::dispatcher::with_default(&dispatch, || {
        received();
        cold();
        assert_eq!(received(), 0, "the change to `info` was overridden");
    });
}

thread_local! {
    static ASKED: Cell<u32> = const { Cell::new(0) };
}

/// Outermost layer: counts the events `enabled` is asked about, which is
/// none for a callsite whose interest is `always` or `never`.
struct Asked;

impl<S: Subscriber> Layer<S> for Asked {
    fn register_callsite(
        &self,
        _: &'static tracing::Metadata<'static>,
    ) -> tracing::subscriber::Interest {
        tracing::subscriber::Interest::always()
    }

    fn enabled(&self, _: &tracing::Metadata<'_>, _: Context<'_, S>) -> bool {
        ASKED.with(|a| a.set(a.get() + 1));
        true
    }
}

fn asked() -> u32 {
    ASKED.with(|a| a.replace(0))
}

/// A first registration answers `sometimes` (decided right, by `enabled`), and
/// the filter's own rebuild settles it to `always`/`never` with no change and
/// no handle call (the wait is bounded; nothing asserts how long it took).
#[test]
fn callsites_first_registered_are_settled_by_the_filters_own_rebuild() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    fn quiet() {
        debug!(target: "settle", "below");
    }
    fn loud() {
        info!(target: "settle", "at");
    }
    let levels = Levels::try_new("info,other=debug").unwrap();
    let handle = levels.handle();
    let settled = handle.stats().settles;
    let dispatch = tracing::Dispatch::new(
        tracing_subscriber::registry()
            .with(levels)
            .with(Asked)
            .with(Received),
    );
    tracing::dispatcher::with_default(&dispatch, || {
        received();
        asked();
        quiet();
        loud();
        assert_eq!(
            (received(), asked()),
            (1, 2),
            "decided per event until settled"
        );
        settle_after(&handle, settled);
        for _ in 0..3 {
            quiet();
            loud();
        }
        assert_eq!(
            (received(), asked()),
            (3, 0),
            "settled: nothing asked per event"
        );
    });
    assert_eq!(handle.stats().rebuilds, 0, "no change was made");
}

/// A per-layer `Levels` is never told its dispatcher; a handle call made
/// inside it finds it. From then on a change made on a thread with no
/// dispatcher rebuilds under it (with one dispatcher in the process,
/// `tracing-core` would otherwise rebuild through that thread's no-op default
/// and switch every callsite off), and new callsites settle by themselves.
#[test]
fn a_per_layer_levels_found_by_one_handle_call_is_changed_and_settled_from_anywhere() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    fn app() {
        debug!(target: "app", "x");
    }
    fn other() {
        info!(target: "other", "x");
    }
    fn late() {
        info!(target: "late", "x");
    }
    let levels = Levels::try_new("info").unwrap();
    let handle = levels.handle();
    let dispatch =
        tracing::Dispatch::new(tracing_subscriber::registry().with(Received.with_filter(levels)));
    tracing::dispatcher::with_default(&dispatch, || {
        assert_eq!(handle.directives(), "info");
        received();
        app();
        other();
        assert_eq!(received(), 1);
    });
    let h = handle.clone();
    std::thread::spawn(move || h.set_target_level("app", "debug").unwrap())
        .join()
        .unwrap();
    let settled = handle.stats().settles;
    tracing::dispatcher::with_default(&dispatch, || {
        app();
        other();
        late();
        assert_eq!(
            received(),
            3,
            "the change from outside switched callsites off"
        );
    });
    settle_after(&handle, settled);
    tracing::dispatcher::with_default(&dispatch, || {
        late();
        assert_eq!(received(), 1, "the settle switched `late` off");
    });
}

/// Waits for the filter's own rebuild that follows `settled` settles (a
/// bounded wait; nothing asserts how long it took).
fn settle_after(handle: &LevelHandle, settled: u64) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while handle.stats().settles == settled {
        assert!(std::time::Instant::now() < deadline, "never settled");
        std::thread::sleep(Duration::from_millis(5));
    }
}
