//! The circuit breaker end to end: trip, notice, keep-all, recovery, notice.

use std::sync::mpsc::Receiver;
use std::time::Duration;

use crate::support::{breaker_sampler, sampler, text_layer, Output};
use sampling_layer::{clock::ManualClock, Breaker, SamplingFilter, SamplingHandle};
use tracing::{error, info};
use tracing_subscriber::prelude::*;

/// Waits for a line containing `needle` (the notice comes from another thread).
/// The bound only guards against a hang; the gate is the channel.
fn wait_for(rx: &Receiver<String>, needle: &str) -> String {
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("notice never arrived");
        if line.contains(needle) {
            return line;
        }
    }
}

/// A sampler at rate 0 on a manual clock whose breaker opens above 5 ERROR events a
/// second (1 s window) and closes after 60 s, on the registry, before a text layer
/// whose lines also go to the receiver.
fn stack() -> (
    ManualClock,
    Output,
    Receiver<String>,
    SamplingHandle,
    tracing::Dispatch,
) {
    let clock = ManualClock::new();
    let (cap, rx) = Output::with_channel();
    let s = breaker_sampler(&clock, 5.0, Duration::from_secs(60));
    let handle = s.handle();
    let dispatch = tracing_subscriber::registry()
        .with(s)
        .with(text_layer(&cap))
        .into();
    (clock, cap, rx, handle, dispatch)
}

#[test]
fn trips_on_an_error_burst_keeps_everything_then_recovers() {
    let (clock, cap, rx, handle, dispatch) = stack();
    tracing::dispatcher::with_default(&dispatch, || {
        info!("before");
        for _ in 0..5 {
            error!("boom");
        }
        assert!(
            !handle.stats().breaker_open,
            "5/s is not above the threshold"
        );
        info!("still sampled");
        error!("boom");
        let notice = wait_for(&rx, "circuit breaker opened");
        assert!(notice.contains("WARN sampling_layer:"), "{notice}");
        assert!(notice.contains("error_rate=6"), "{notice}");
        for _ in 0..3 {
            info!("during");
        }
        let st = handle.stats();
        assert!(st.breaker_open);
        assert_eq!(st.breaker_trips, 1);
        // Errors stop; the window (1 s) empties at 1 s, and the hold period counts from
        // then, not from the first event that sees it.
        clock.advance(Duration::from_secs(2));
        info!("during");
        clock.advance(Duration::from_secs(58));
        info!("during");
        assert!(handle.stats().breaker_open, "59 s below");
        clock.advance(Duration::from_secs(1));
        info!("after");
        wait_for(&rx, "circuit breaker closed");
        let st = handle.stats();
        assert!(!st.breaker_open);
        assert_eq!((st.breaker_trips, st.breaker_recoveries), (1, 1));
        info!("after");
    });
    assert_eq!(cap.count("before"), 0);
    assert_eq!(cap.count("still sampled"), 0);
    assert_eq!(cap.count("boom"), 6);
    assert_eq!(cap.count("during"), 5);
    assert_eq!(cap.count("after"), 0);
    assert_eq!(cap.count("circuit breaker"), 2, "one notice per transition");
}

#[test]
fn per_layer_filter_notice_reaches_a_scoped_dispatcher_it_is_given() {
    let clock = ManualClock::new();
    let (cap, rx) = Output::with_channel();
    let s = breaker_sampler(&clock, 1.0, Duration::from_secs(60));
    let handle = s.handle();
    let dispatch: tracing::Dispatch = tracing_subscriber::registry()
        .with(text_layer(&cap).with_filter(s))
        .into();
    // A per-layer filter is not told its dispatcher; under a scoped one it may
    // not find it (callsites registered through another dispatch pass), so
    // the application names it.
    handle.set_notice_dispatch(&dispatch);
    tracing::dispatcher::with_default(&dispatch, || {
        error!("one");
        error!("two");
        let notice = wait_for(&rx, "circuit breaker opened");
        assert!(notice.contains("WARN sampling_layer:"), "{notice}");
        assert_eq!(handle.stats().breaker_trips, 1);
    });
}

#[test]
fn a_disabled_breaker_never_opens() {
    let s = sampler("0");
    let handle = s.handle();
    let sub = tracing_subscriber::registry().with(s);
    tracing::subscriber::with_default(sub, || {
        for _ in 0..10_000 {
            error!("boom");
        }
    });
    let st = handle.stats();
    assert!(!st.breaker_open);
    assert_eq!(st.breaker_trips, 0);
}

#[test]
fn bad_breaker_settings_are_rejected() {
    for b in [
        Breaker::default().threshold_per_sec(0.0),
        Breaker::default().threshold_per_sec(f64::NAN),
        Breaker::default().window(Duration::ZERO),
    ] {
        let e = SamplingFilter::builder()
            .breaker(b)
            .parse("0.5")
            .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("invalid sampler setting `breaker."),
            "{e}"
        );
    }
}

/// A storm, then nothing logged and nothing read for five minutes: the first event after
/// finds that the rate fell long ago and closes the breaker, so the traffic that
/// resumes is sampled again at once rather than kept whole for another hold period.
#[test]
fn traffic_after_an_idle_stretch_is_sampled_at_once() {
    let (clock, cap, rx, handle, dispatch) = stack();
    tracing::dispatcher::with_default(&dispatch, || {
        for _ in 0..10 {
            error!("boom");
        }
        wait_for(&rx, "circuit breaker opened");
        clock.advance(Duration::from_secs(300));
        for _ in 0..100 {
            info!("resumed");
        }
        wait_for(&rx, "circuit breaker closed");
    });
    let st = handle.stats();
    assert!(!st.breaker_open);
    assert_eq!((st.breaker_trips, st.breaker_recoveries), (1, 1));
    // The event that finds the fall is decided as the breaker stood when it came (kept);
    // the 99 after it are sampled at the default rate, 0.
    assert_eq!(cap.count("resumed"), 1);
}
