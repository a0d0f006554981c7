//! Repeat suppression from the outside: exact counts on the builder's
//! manual clock, summaries through the layer, JSON that parses.

mod support;

use std::time::Duration;

use sampling_layer::capture::Capture;
use sampling_layer::repeat::CLOCK_READ_EVERY;
use sampling_layer::{clock::ManualClock, Breaker, SamplingFilter, SamplingHandle};
use serde_json::Value;
use support::Output;
use tracing::{error, info, warn, Dispatch};
use tracing_subscriber::{fmt, prelude::*};

const PER_SEC: u64 = 50_000;
const STEP: Duration = Duration::from_micros(1_000_000 / PER_SEC);

/// One test at a time in this binary: the tests share helper callsites (`storm`,
/// `refused`), and tracing keeps one cached interest per callsite for the whole process,
/// rebuilt whenever a test's dispatcher comes or goes; a rebuild racing another test's
/// events could let an event of a repeat target skip the sampler's judgement.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn sampler(clock: &ManualClock, breaker: Breaker, directives: &str) -> SamplingFilter {
    SamplingFilter::builder()
        .clock(clock.clone())
        .breaker(breaker)
        .parse(directives)
        .unwrap()
}

/// Runs `f` under a JSON layer filtered by `s`, whose notices (and repeat
/// summaries) go to the same dispatcher; returns the parsed lines.
fn json_run(s: SamplingFilter, f: impl FnOnce(&SamplingHandle)) -> (Vec<Value>, SamplingHandle) {
    let cap = Output::new();
    let handle = s.handle();
    let layer = fmt::layer().json().with_writer(cap.clone()).with_filter(s);
    let dispatch = Dispatch::new(tracing_subscriber::registry().with(layer));
    handle.set_notice_dispatch(&dispatch);
    tracing::dispatcher::with_default(&dispatch, || f(&handle));
    let lines = cap
        .lines()
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    (lines, handle)
}

fn message(v: &Value) -> &str {
    v["fields"]["message"].as_str().unwrap_or("")
}

fn summaries(lines: &[Value]) -> Vec<&Value> {
    lines
        .iter()
        .filter(|v| message(v) == "repeated event suppressed")
        .collect()
}

fn field_u64(v: &Value, name: &str) -> u64 {
    v["fields"][name]
        .as_u64()
        .unwrap_or_else(|| panic!("no {name} in {v}"))
}

/// `secs` simulated seconds of `PER_SEC` copies of one ERROR, with the
/// distinct errors `extra` (second, index) mixed in.
fn storm(clock: &ManualClock, secs: u64, extra: &[(u64, u64)]) {
    for sec in 0..secs {
        for i in 0..PER_SEC {
            if extra.contains(&(sec, i)) {
                error!(target: "app::db", sec, "pool exhausted, giving up");
            }
            refused(i);
            clock.advance(STEP);
        }
    }
}

/// The storm's one callsite.
fn refused(i: u64) {
    error!(target: "app::db", attempt = i, "connection refused (attempt {i})");
}

#[test]
fn a_storm_of_one_error_keeps_five_per_window_and_every_distinct_error() {
    let _serial = serial();
    let clock = ManualClock::new();
    let s = sampler(&clock, Breaker::disabled(), "app::db=first 5/1s");
    let distinct = [(1, 100), (2, 25_000), (3, 49_999)];
    let (lines, handle) = json_run(s, |h| {
        storm(&clock, 5, &distinct);
        h.flush_repeats();
    });
    let storm_lines = lines
        .iter()
        .filter(|v| message(v).starts_with("connection refused"))
        .count();
    let distinct_lines = lines
        .iter()
        .filter(|v| message(v) == "pool exhausted, giving up")
        .count();
    assert_eq!(distinct_lines, 3, "every distinct error is kept");
    assert_eq!(storm_lines, 5 * 5, "five per window");
    let sums = summaries(&lines);
    // One summary per window of the storm's key; the distinct errors had
    // nothing suppressed, so none.
    assert_eq!(sums.len(), 5);
    for s in &sums {
        assert_eq!(s["level"], "WARN");
        assert_eq!(s["target"], "sampling_layer");
        assert_eq!(s["fields"]["key_target"], "app::db");
        assert_eq!(s["fields"]["key_level"], "ERROR");
        assert_eq!(s["fields"]["key_message"], "connection refused (attempt 0)");
        assert_eq!(field_u64(s, "window_ms"), 1000);
        // What was emitted in the window, kept + suppressed, give or take
        // the copies judged in a window after its end (the key reads the
        // clock once per CLOCK_READ_EVERY suppressed copies).
        assert_eq!(field_u64(s, "kept"), 5);
        assert!((PER_SEC - 5).abs_diff(field_u64(s, "suppressed")) < CLOCK_READ_EVERY);
        let (first, last) = (
            field_u64(s, "first_suppressed_ms"),
            field_u64(s, "last_suppressed_ms"),
        );
        // The 6th copy of a window is 100 µs in, the last 20 µs before its end.
        assert_eq!(last - first, 999);
    }
    let emitted = storm_lines as u64 + sums.iter().map(|s| field_u64(s, "suppressed")).sum::<u64>();
    assert_eq!(emitted, 5 * PER_SEC);
    let st = handle.stats().repeats;
    let db = &st.targets[0];
    assert_eq!(db.target, "app::db");
    assert_eq!(db.configured.as_deref(), Some("first 5/1s"));
    assert_eq!(
        (db.kept, db.suppressed, db.summaries),
        (25 + 3, 5 * (PER_SEC - 5), 5)
    );
    assert_eq!(db.seen(), 5 * PER_SEC + 3);
    assert_eq!(
        (db.live_keys, db.evicted_keys, st.summaries_lost),
        (2, 0, 0)
    );
}

#[test]
fn shutdown_mid_window_writes_the_last_summary() {
    let _serial = serial();
    let clock = ManualClock::new();
    let s = sampler(&clock, Breaker::disabled(), "app::db=first 5/1s");
    let (lines, handle) = json_run(s, |h| {
        storm(&clock, 2, &[]);
        for i in 0..1_000 {
            refused(i);
        }
        // The third window is open: only the flush can write its summary.
        h.flush_repeats();
    });
    let sums = summaries(&lines);
    let counts: Vec<(u64, u64)> = sums
        .iter()
        .map(|s| (field_u64(s, "kept"), field_u64(s, "suppressed")))
        .collect();
    // Each window keeps 5; its end is noticed at most CLOCK_READ_EVERY - 1
    // copies late, those copies counted in it; together exactly what was
    // emitted.
    assert!(counts.iter().all(|&(kept, _)| kept == 5), "{counts:?}");
    for (&(_, got), want) in counts.iter().zip([PER_SEC - 5, PER_SEC - 5, 995]) {
        assert!(got.abs_diff(want) < CLOCK_READ_EVERY, "{counts:?}");
    }
    let emitted: u64 = counts
        .iter()
        .map(|&(kept, suppressed)| kept + suppressed)
        .sum();
    assert_eq!(emitted, 2 * PER_SEC + 1_000);
    assert_eq!(handle.stats().repeats.targets[0].summaries, 3);
    // Nothing left to write: a second flush writes nothing.
    handle.flush_repeats();
    assert_eq!(handle.stats().repeats.targets[0].summaries, 3);
}

#[test]
fn without_a_repeat_directive_every_error_is_written() {
    let _serial = serial();
    let clock = ManualClock::new();
    let s = sampler(&clock, Breaker::disabled(), "0,app::cache=first 1/1s");
    let (lines, handle) = json_run(s, |h| {
        for i in 0..500 {
            error!(target: "app::db", i, "connection refused");
            warn!(target: "app::db", i, "retrying");
            info!(target: "app::db", i, "sampled out at rate 0");
        }
        h.flush_repeats();
    });
    assert_eq!(lines.len(), 1000);
    assert!(summaries(&lines).is_empty());
    assert_eq!(handle.stats().repeats.targets[0].seen(), 0);
}

#[test]
fn repeats_at_a_sampled_level_are_judged_before_sampling() {
    let _serial = serial();
    // A kept copy is then sampled at 1/2: written copies weighted by
    // 1/sample_rate plus the summaries' suppressed add up to what was emitted.
    let clock = ManualClock::new();
    let s = sampler(
        &clock,
        Breaker::disabled(),
        "app::db=1/2,app::db=first 10/1s",
    );
    let (lines, handle) = json_run(s, |h| {
        for _ in 0..3 {
            for _ in 0..1_000 {
                info!(target: "app::db", "cache miss");
                clock.advance(Duration::from_millis(1));
            }
        }
        h.flush_repeats();
    });
    let written = lines.iter().filter(|v| message(v) == "cache miss").count() as u64;
    let suppressed: u64 = summaries(&lines)
        .iter()
        .map(|s| field_u64(s, "suppressed"))
        .sum();
    assert_eq!((written, suppressed), (15, 2_970));
    assert_eq!(written * 2 + suppressed, 3_000);
    let st = handle.stats();
    let db = st.targets.iter().find(|t| t.target == "app::db").unwrap();
    assert_eq!(
        (db.seen, db.kept),
        (30, 15),
        "sampling saw only the copies repeats kept"
    );
}

#[test]
fn named_fields_make_keys_and_an_open_breaker_does_not_lift_suppression() {
    let _serial = serial();
    let clock = ManualClock::new();
    let breaker = Breaker::default()
        .threshold_per_sec(100.0)
        .threshold_only()
        .window(Duration::from_secs(1))
        .hold(Duration::from_secs(60));
    let s = sampler(&clock, breaker, "app::db=first 2/1s by peer");
    let (lines, handle) = json_run(s, |h| {
        for i in 0..3_000u64 {
            let peer = ["a", "b", "c"][(i % 3) as usize];
            error!(target: "app::db", peer, code = i, "refused");
            clock.advance(Duration::from_micros(100)); // 0.3 s in all
        }
        h.flush_repeats();
    });
    let st = handle.stats();
    assert!(
        st.breaker_open,
        "suppressed errors count in the breaker's judgement"
    );
    let refused = lines.iter().filter(|v| message(v) == "refused").count();
    assert_eq!(refused, 3 * 2, "two per peer, breaker open or not");
    let sums = summaries(&lines);
    assert_eq!(sums.len(), 3);
    for s in sums {
        assert_eq!((field_u64(s, "kept"), field_u64(s, "suppressed")), (2, 998));
    }
    assert_eq!(st.repeats.targets[0].live_keys, 3);
}

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

/// A dependency that logs through `log` only.
mod legacy_dep {
    pub(crate) fn reset(i: u32) {
        log::error!(target: "legacy_dep::pool", "connection reset by peer ({i})");
    }
    pub(crate) fn other_site() {
        log::error!(target: "legacy_dep::pool", "pool closed");
    }
    pub(crate) fn elsewhere(i: u32) {
        log::error!(target: "other_dep", "unrelated ({i})");
    }
}

#[test]
fn a_log_crate_error_repeating_is_collapsed_by_its_real_target() {
    let _serial = serial();
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| tracing_log::LogTracer::init().expect("the only logger"));
    let clock = ManualClock::new();
    let s = sampler(&clock, Breaker::disabled(), "legacy_dep=first 3/1s");
    let (lines, handle) = json_run(s, |h| {
        for i in 0..100 {
            legacy_dep::reset(i);
            legacy_dep::elsewhere(i);
        }
        legacy_dep::other_site();
        h.flush_repeats();
    });
    let count = |prefix: &str| {
        lines
            .iter()
            .filter(|v| message(v).starts_with(prefix))
            .count()
    };
    assert_eq!(count("connection reset by peer"), 3);
    assert_eq!(
        count("pool closed"),
        1,
        "another `log` call site is another key"
    );
    assert_eq!(
        count("unrelated"),
        100,
        "`other_dep` has no repeat directive"
    );
    let sums = summaries(&lines);
    assert_eq!(sums.len(), 1);
    assert_eq!(sums[0]["fields"]["key_target"], "legacy_dep::pool");
    assert_eq!(sums[0]["fields"]["key_level"], "ERROR");
    assert_eq!(
        sums[0]["fields"]["key_message"],
        "connection reset by peer (0)"
    );
    assert_eq!(
        (field_u64(sums[0], "kept"), field_u64(sums[0], "suppressed")),
        (3, 97)
    );
    assert_eq!(handle.stats().repeats.targets[0].live_keys, 2);
}

#[test]
fn a_suppressed_error_still_writes_its_requests_captured_context() {
    let _serial = serial();
    use sampling_layer::capture::{CaptureLayer, CaptureWriter};
    let clock = ManualClock::new();
    let s = SamplingFilter::builder()
        .clock(clock.clone())
        .breaker(Breaker::disabled())
        .capture(Capture::default().span("request"))
        .parse("0,app=first 1/1s")
        .unwrap();
    let handle = s.handle();
    let cap = Output::new();
    let layer = CaptureLayer::new(
        fmt::layer()
            .without_time()
            .with_ansi(false)
            .with_writer(CaptureWriter::new(cap.clone(), &handle)),
        &handle,
    )
    .with_filter(s);
    let dispatch = Dispatch::new(tracing_subscriber::registry().with(layer));
    handle.set_notice_dispatch(&dispatch);
    let request = |steps: u32| {
        let span = tracing::info_span!("request");
        let _e = span.enter();
        for step in 0..steps {
            tracing::debug!(target: "work", step, "step");
        }
        error!(target: "app", "upstream failed");
    };
    tracing::dispatcher::with_default(&dispatch, || {
        request(3); // kept: its 3 steps, then the error
        request(2); // the error is a suppressed repeat: its 2 steps still written
        request(0); // suppressed, nothing captured: nothing written
        handle.flush_repeats();
    });
    let lines = cap.lines();
    assert_eq!(cap.count("captured=true"), 5, "{lines:#?}");
    assert_eq!(
        cap.count("upstream failed"),
        2,
        "the kept error and the summary: {lines:#?}"
    );
    assert_eq!(cap.count("suppressed=2"), 1);
    let last_step = lines.iter().rposition(|l| l.contains("step=1")).unwrap();
    assert!(
        lines[last_step + 1].contains("repeated event suppressed"),
        "{lines:#?}"
    );
}

#[test]
fn summaries_are_never_sampled_nor_suppressed() {
    let _serial = serial();
    // WARN is sampled here (keep level ERROR) at rate 0 by default, and a
    // repeat directive names the summaries' own target: neither touches them.
    let clock = ManualClock::new();
    let s = SamplingFilter::builder()
        .clock(clock.clone())
        .breaker(Breaker::disabled())
        .keep_level(tracing::Level::ERROR)
        .parse("0,sampling_layer=first 1/1s,app=first 1/1s")
        .unwrap();
    let (lines, handle) = json_run(s, |h| {
        // Three keys (callsites), so three summaries in one window.
        for _ in 0..10 {
            error!(target: "app", "refused");
            error!(target: "app", "reset");
            error!(target: "app", "timed out");
        }
        h.flush_repeats();
    });
    let sums = summaries(&lines);
    assert_eq!(sums.len(), 3);
    assert!(sums.iter().all(|s| field_u64(s, "suppressed") == 9));
    let st = handle.stats().repeats;
    let app = st.targets.iter().find(|t| t.target == "app").unwrap();
    assert_eq!((app.kept, app.suppressed, app.summaries), (3, 27, 3));
    let own = st
        .targets
        .iter()
        .find(|t| t.target == "sampling_layer")
        .unwrap();
    assert_eq!(own.seen(), 0);
}

#[test]
fn threads_hammering_one_key_keep_exactly_n_per_window() {
    let _serial = serial();
    const THREADS: u64 = 2;
    const EACH: u64 = 20_000;
    let clock = ManualClock::new();
    let s = sampler(&clock, Breaker::disabled(), "app::db=first 5/1s");
    let (lines, handle) = json_run(s, |h| {
        let dispatch = tracing::dispatcher::get_default(Dispatch::clone);
        std::thread::scope(|scope| {
            for _ in 0..THREADS {
                let d = dispatch.clone();
                scope.spawn(move || {
                    tracing::dispatcher::with_default(&d, || (0..EACH).for_each(refused))
                });
            }
        });
        h.flush_repeats();
    });
    let written = lines
        .iter()
        .filter(|v| message(v).starts_with("connection refused"))
        .count();
    let sums = summaries(&lines);
    assert_eq!((written, sums.len()), (5, 1));
    assert_eq!(field_u64(sums[0], "suppressed"), THREADS * EACH - 5);
    let db = &handle.stats().repeats.targets[0];
    assert_eq!((db.kept, db.suppressed), (5, THREADS * EACH - 5));
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
    let suppressed: u64 = handle
        .stats()
        .repeats
        .targets
        .iter()
        .map(|t| t.suppressed)
        .sum();
    assert_eq!(suppressed, 1 + 2 + 2);
    // Under the dispatcher the due rebuild runs (it switches nothing off).
    tracing::dispatcher::with_default(&dispatch, || handle.directives());
    emit(1);
    assert_eq!(
        cap.lines().len(),
        lines.len(),
        "both suppressed in the same window"
    );
}
