//! The default breaker against a healthy busy service whose errors come in
//! bursts: 100 000 events/s, 0.1% of them errors, arriving as 1 000 every
//! 10 s. Over three simulated minutes (manual clock, 10 ms steps) the
//! bursts must not hold it open: open at most a fifth of the time. A first
//! burst after a quiet stretch may trip it once (a trip lasts at least the
//! 60 s hold), and then the later bursts must not re-fire it. Even errors
//! at the same ratio never trip it.

use std::time::Duration;

use sampling_layer::{clock::ManualClock, Breaker, SamplingFilter};
use tracing_subscriber::{layer::Layer, prelude::*};

/// A layer that does nothing: the figures are the sampler's.
struct Sink;
impl<S: tracing::Subscriber> Layer<S> for Sink {}

/// Sampled-level events per 10 ms step: 100 000 per second.
const EVENTS_PER_STEP: u64 = 1_000;
/// 180 simulated seconds.
const STEPS: u64 = 18_000;
/// Steps of one error period (10 s).
const PERIOD: u64 = 1_000;

/// What a run of [`simulate`] saw.
#[derive(Debug)]
struct Run {
    /// Steps after which the breaker was open.
    open_steps: u64,
    trips: u64,
    recoveries: u64,
    trigger: Option<&'static str>,
    errors: u64,
}

impl Run {
    fn open_secs(&self) -> f64 {
        self.open_steps as f64 / 100.0
    }
}

/// Runs `breaker` for `steps` steps of 10 ms; `errors(step)` is how many
/// ERROR events that step carries, spread among its events.
fn simulate(breaker: Breaker, steps: u64, errors: impl Fn(u64) -> u64) -> Run {
    let clock = ManualClock::new();
    let sampler = SamplingFilter::builder()
        .clock(clock.clone())
        .breaker(breaker)
        .parse("app=0.01")
        .unwrap();
    let handle = sampler.handle();
    let sub = tracing_subscriber::registry().with(Sink.with_filter(sampler));
    let mut run = Run {
        open_steps: 0,
        trips: 0,
        recoveries: 0,
        trigger: None,
        errors: 0,
    };
    tracing::subscriber::with_default(sub, || {
        for step in 0..steps {
            let e = errors(step);
            run.errors += e;
            let (n, mut sent) = (EVENTS_PER_STEP.max(e), 0);
            for i in 0..n {
                if i < EVENTS_PER_STEP {
                    tracing::debug!(target: "app", i, "work");
                }
                // Exactly `e` errors in the step, spread evenly among its events.
                while sent < (i + 1) * e / n {
                    tracing::error!(target: "app", "failed");
                    sent += 1;
                }
            }
            clock.advance(Duration::from_millis(10));
            run.open_steps += u64::from(handle.stats().breaker_open);
        }
    });
    let stats = handle.stats();
    (run.trips, run.recoveries, run.trigger) = (
        stats.breaker_trips,
        stats.breaker_recoveries,
        stats.breaker_trigger,
    );
    run
}

/// Open at most a fifth of the 180 s.
fn assert_rarely_open(run: &Run) {
    assert_eq!(run.errors, 18_000, "0.1% of 18 000 000 events");
    assert!(
        run.open_steps <= STEPS / 5,
        "open {} of 180 s ({} trips): bursts hold the breaker open",
        run.open_secs(),
        run.trips
    );
}

/// All 1 000 errors of a period in one 10 ms step.
#[test]
fn a_burst_in_one_step_every_ten_seconds_does_not_hold_it_open() {
    let run = simulate(Breaker::default(), STEPS, |s| {
        if s % PERIOD == 0 {
            1_000
        } else {
            0
        }
    });
    eprintln!("burst in one step: {run:?}");
    assert_rarely_open(&run);
}

/// 500 in the last 10 ms of one second and 500 in the first 10 ms of the
/// next: the two halves fall in different slots of the window.
#[test]
fn a_burst_across_a_slot_boundary_every_ten_seconds_does_not_hold_it_open() {
    let run = simulate(Breaker::default(), STEPS, |s| match s % PERIOD {
        99 | 100 => 500,
        _ => 0,
    });
    eprintln!("burst across a second: {run:?}");
    assert_rarely_open(&run);
}

/// The same ratio with the errors spread evenly (one per 10 ms step) never
/// trips it; the absolute threshold alone (30 s of it) trips it within the
/// first window and holds it open.
#[test]
fn even_errors_at_the_same_ratio_never_trip_it() {
    let run = simulate(Breaker::default(), STEPS, |_| 1);
    eprintln!("even errors: {run:?}");
    assert_eq!((run.errors, run.trips, run.open_steps), (18_000, 0, 0));

    let old = simulate(Breaker::default().threshold_only(), 3_000, |_| 1);
    assert_eq!((old.trips, old.recoveries), (1, 0));
    assert!(old.open_steps > 2_000, "{old:?}");
}

/// After a quiet stretch (one error, then none for 20 s) the first burst is
/// a spike against a baseline of almost nothing and trips it. The bursts
/// that follow are the same again: the baseline, fed while open, has
/// learned them by the next one, so the breaker closes one hold period
/// (60 s) after the first burst left the window and does not trip again.
#[test]
fn a_first_burst_may_trip_it_once_and_later_ones_do_not_hold_it_open() {
    let run = simulate(Breaker::default(), STEPS, |s| match s {
        0 => 1,
        s if s >= 2 * PERIOD && s % PERIOD == 0 => 1_000,
        _ => 0,
    });
    eprintln!("quiet, then bursts: {run:?}");
    assert_eq!(run.errors, 16_001);
    assert_eq!(
        (run.trips, run.recoveries, run.trigger),
        (1, 1, Some("spike"))
    );
    // Open from the first burst (20 s) until a hold period after the
    // baseline learned it (folded in as it left the window, at 29 s).
    assert!(run.open_steps <= 7_000, "open {} s", run.open_secs());
}
