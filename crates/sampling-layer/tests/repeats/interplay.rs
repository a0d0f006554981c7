//! Repeats beside the rest: `log` records, captured context, sampling, threads.

use super::*;

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
