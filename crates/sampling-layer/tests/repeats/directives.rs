//! Repeat directives: errors that name the problem, split, edits and additions at run time.

use super::*;

#[test]
fn bad_repeat_directives_name_the_problem() {
    let _serial = serial();
    let err = |d: &str| SamplingFilter::try_new(d).unwrap_err().to_string();
    assert!(
        err("app=first 0/1s").contains("N `0`"),
        "{}",
        err("app=first 0/1s")
    );
    assert!(err("app=first 5/1h").contains("unit `h`"));
    assert!(err("first 5/1s").contains("needs a target"));
    assert!(err("app[k]=first 5/1s").contains("not to a `[key]`"));
    assert!(err("app=first 5/1s by a b").contains("without spaces"));
    assert!(err("a pp=first 5/1s").contains("not a valid target"));
    // A rate, a budget and a repeat directive for one target coexist.
    let f = SamplingFilter::try_new("app=0.5,app=200/s,app=first 5/1s").unwrap();
    assert_eq!(f.directives(), "app=0.5,app=200/s,app=first 5/1s");
    assert_eq!(
        f.stats().repeats.targets[0].configured.as_deref(),
        Some("first 5/1s")
    );
}

#[cfg(feature = "env-filter")]
#[test]
fn split_hands_repeat_directives_to_the_sampler() {
    let _serial = serial();
    let (env, s) = sampling_layer::split_directives("info,app::db=first 5/1s,app=0.1").unwrap();
    assert_eq!(env.to_string(), "info");
    assert_eq!(s.directives(), "app::db=first 5/1s,app=0.1");
}

#[test]
fn a_directive_change_summarises_open_windows_and_figures_carry_on() {
    let _serial = serial();
    let clock = ManualClock::new();
    let s = sampler(&clock, Breaker::disabled(), "app::db=first 1/1s");
    let (lines, handle) = json_run(s, |h| {
        for _ in 0..10 {
            error!(target: "app::db", "refused");
        }
        h.set_directives("app::db=first 2/1s").unwrap();
        for _ in 0..10 {
            error!(target: "app::db", "refused");
        }
        h.set_directives("").unwrap();
        for _ in 0..10 {
            error!(target: "app::db", "refused");
        }
        h.flush_repeats();
    });
    let refused = lines.iter().filter(|v| message(v) == "refused").count();
    assert_eq!(refused, 1 + 2 + 10);
    let st = handle.stats().repeats;
    let db = &st.targets[0];
    assert_eq!((db.kept, db.suppressed, db.summaries), (3, 17, 2));
    assert_eq!(db.configured, None);
}

#[test]
fn a_repeat_directive_added_at_run_time_reaches_error_callsites_already_registered() {
    let _serial = serial();
    let clock = ManualClock::new();
    let s = sampler(&clock, Breaker::disabled(), "0");
    let (lines, handle) = json_run(s, |h| {
        let failed = || error!(target: "app", "upstream failed");
        // Registered with no repeat directive: `Interest::always()`.
        (0..10).for_each(|_| failed());
        h.set_directives("0,app=first 1/1s").unwrap();
        (0..10).for_each(|_| failed());
        h.set_directives("0").unwrap();
        (0..10).for_each(|_| failed());
        h.flush_repeats();
    });
    let written = lines
        .iter()
        .filter(|v| message(v) == "upstream failed")
        .count();
    assert_eq!(written, 10 + 1 + 10);
    assert_eq!(summaries(&lines).len(), 1);
    assert_eq!(handle.stats().repeats.targets[0].suppressed, 9);
}

/// The first handle call can come from any thread (a progress thread, an
/// admin handler): with the sampler's dispatcher the only one in the process,
/// an interest rebuild from a thread that does not have it as its default
/// would ask a no-op subscriber and switch every callsite off. A sampler
/// built with repeat directives needs no rebuild, and a later change rebuilds
/// under the sampler's own dispatcher.
#[test]
fn handle_calls_from_another_thread_do_not_switch_callsites_off() {
    let _serial = serial();
    let clock = ManualClock::new();
    let s = sampler(&clock, Breaker::disabled(), "app=1,app::db=first 2/1s");
    let handle = s.handle();
    let cap = Output::new();
    let layer = fmt::layer().json().with_writer(cap.clone()).with_filter(s);
    let dispatch = Dispatch::new(tracing_subscriber::registry().with(layer));
    let emit = |n: u64| {
        tracing::dispatcher::with_default(&dispatch, || {
            for i in 0..n {
                error!(target: "app::db", i, "refused");
                info!(target: "app::http", i, "served");
            }
        })
    };
    // Before any event: the first call, from a thread with no dispatcher.
    let h = handle.clone();
    std::thread::spawn(move || h.directives()).join().unwrap();
    emit(3);
    // A run-time change of the repeat targets, again from a thread without
    // the dispatcher (not named, so not known): the rebuild waits; the
    // callsites keep working, and the new targets apply.
    clock.advance(Duration::from_secs(1));
    let h = handle.clone();
    std::thread::spawn(move || {
        h.set_directives("app=1,app::db=first 1/1s,app::http=first 1/1s")
            .unwrap()
    })
    .join()
    .unwrap();
    emit(3);
    let lines: Vec<Value> = cap
        .lines()
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let count = |target: &str| lines.iter().filter(|v| v["target"] == target).count();
    // First run: 2 of 3 errors (the third suppressed), all 3 infos; second
    // run, in a new window: the first of each kept, 2 of each suppressed.
    assert_eq!((count("app::db"), count("app::http")), (3, 4), "{lines:#?}");
    assert_eq!(suppressed(&handle), 1 + 2 + 2);
    // Under the dispatcher the due rebuild runs (it switches nothing off).
    tracing::dispatcher::with_default(&dispatch, || handle.directives());
    emit(1);
    assert_eq!(
        cap.lines().len(),
        lines.len(),
        "both suppressed in the same window"
    );
}

/// A callsite's first registration races a change of the repeat targets:
/// `tracing-core` stores the interest it computed after `register_callsite`
/// returned, so an `always` decided before the change (no repeat target then)
/// could be stored after the change's rebuild and skip every repeat judgement
/// until the next change (as a per-layer filter, tracing-subscriber's debug
/// check of its filter state panicked; as a global layer `event_enabled`
/// judged the event anyway). Deterministic here: a second dispatcher, asked
/// after the sampler's, holds the first registration until the change has
/// returned.
fn first_registration_overlapping_a_repeat_change(
    per_layer: bool,
    target: &'static str,
    refused: fn(u64),
) {
    use std::sync::{mpsc, Mutex};
    use tracing::subscriber::Interest;
    let _serial = serial();

    /// Holds the first registration of `refused` on the thread that hits it.
    struct Hold(
        &'static str,
        Mutex<Option<(mpsc::Sender<()>, mpsc::Receiver<()>)>>,
    );
    impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Hold {
        fn register_callsite(&self, m: &'static tracing::Metadata<'static>) -> Interest {
            if m.target() == self.0 {
                // Taken first: the change's rebuild asks this layer too.
                let taken = self.1.lock().unwrap().take();
                if let Some((held, go)) = taken {
                    held.send(()).unwrap();
                    go.recv().unwrap();
                }
            }
            Interest::always()
        }
    }

    let clock = ManualClock::new();
    let s = sampler(&clock, Breaker::disabled(), "app=1");
    let handle = s.handle();
    let cap = Output::new();
    let dispatch = if per_layer {
        let json = fmt::layer().json().with_writer(cap.clone());
        Dispatch::new(tracing_subscriber::registry().with(json.with_filter(s)))
    } else {
        let json = fmt::layer().json().with_writer(cap.clone());
        Dispatch::new(tracing_subscriber::registry().with(s).with(json))
    };
    // Registered second, so asked second at every registration.
    let (held_tx, held_rx) = mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel();
    let hold = Hold(target, Mutex::new(Some((held_tx, go_rx))));
    let _holder = Dispatch::new(tracing_subscriber::registry().with(hold));
    handle.set_notice_dispatch(&dispatch);
    let first = {
        let dispatch = dispatch.clone();
        std::thread::spawn(move || tracing::dispatcher::with_default(&dispatch, || refused(0)))
    };
    held_rx.recv().unwrap();
    handle.set_directives("app=1,app::held=first 1/1s").unwrap();
    go_tx.send(()).unwrap();
    first.join().unwrap();
    tracing::dispatcher::with_default(&dispatch, || (1..=3).for_each(refused));
    let written = cap
        .lines()
        .iter()
        .filter(|l| l.contains("\"message\":\"refused\""))
        .count();
    // The held event itself is dispatched after the change: the first of
    // the window, written; the three after it suppressed.
    assert_eq!(written, 1, "{:#?}", cap.lines());
    assert_eq!(suppressed(&handle), 3);
}

#[test]
fn a_first_registration_overlapping_a_repeat_change_does_not_escape_it_per_layer() {
    first_registration_overlapping_a_repeat_change(
        true,
        "app::held::a",
        |i| warn!(target: "app::held::a", i, "refused"),
    );
}

#[test]
fn a_first_registration_overlapping_a_repeat_change_does_not_escape_it_globally() {
    first_registration_overlapping_a_repeat_change(
        false,
        "app::held::b",
        |i| warn!(target: "app::held::b", i, "refused"),
    );
}

/// Copies suppressed over every repeat target.
fn suppressed(handle: &SamplingHandle) -> u64 {
    handle
        .stats()
        .repeats
        .targets
        .iter()
        .map(|t| t.suppressed)
        .sum()
}
