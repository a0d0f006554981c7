//! The breaker's ratio and spike triggers, with a manual clock: a healthy
//! busy service never trips it, a storm does, and the trigger is reported.

use std::time::Duration;

use sampling_layer::{clock::ManualClock, Breaker, SamplingFilter, SamplingHandle};
use tracing_subscriber::{layer::Layer, prelude::*};

/// A layer that does nothing: the counts are the sampler's.
struct Sink;
impl<S: tracing::Subscriber> Layer<S> for Sink {}

/// Emits, for each second in `seconds`, `events` sampled DEBUG events and
/// `errors` ERROR events, spread evenly over ten steps of 100 ms.
struct Load {
    clock: ManualClock,
    handle: SamplingHandle,
}

impl Load {
    fn new(breaker: Breaker) -> (Load, impl tracing::Subscriber) {
        let clock = ManualClock::new();
        let sampler = SamplingFilter::builder()
            .clock(clock.clone())
            .breaker(breaker)
            .parse("app=0.01")
            .unwrap();
        let handle = sampler.handle();
        let sub = tracing_subscriber::registry().with(Sink.with_filter(sampler));
        (Load { clock, handle }, sub)
    }

    fn run(&self, seconds: u32, events: u64, errors: u64) {
        for _ in 0..seconds {
            for _ in 0..10 {
                let (n, e) = (events / 10, errors / 10);
                for i in 0..n {
                    tracing::debug!(target: "app", i, "work");
                    // Exactly `e` errors per step, spread evenly.
                    if (i + 1) * e / n != i * e / n {
                        tracing::error!(target: "app", "failed");
                    }
                }
                self.clock.advance(Duration::from_millis(100));
            }
        }
    }

    fn trips(&self) -> (u64, Option<&'static str>) {
        let s = self.handle.stats();
        (s.breaker_trips, s.breaker_trigger)
    }
}

/// The case: 0.1% errors at 100 000 events/s is 100 ERROR/s, twice
/// the default threshold; for three windows it must not trip the default
/// breaker. The absolute threshold alone (the old default) trips it.
#[test]
fn a_healthy_busy_service_does_not_trip_the_default_breaker() {
    let (load, sub) = Load::new(Breaker::default());
    tracing::subscriber::with_default(sub, || load.run(30, 100_000, 100));
    assert_eq!(load.trips(), (0, None));

    let (old, sub) = Load::new(Breaker::default().threshold_only());
    tracing::subscriber::with_default(sub, || old.run(30, 100_000, 100));
    assert_eq!(old.trips(), (1, Some("threshold")), "the old default trips");
}

/// The demo's storm, in kind: after a healthy 0.1%, errors jump to 1.4% of
/// the traffic (14× their baseline). The default breaker opens within the
/// window (both triggers cross together here: 1% of 100 000/s is 10× the
/// baseline of 100/s; the ratio is checked first).
#[test]
fn a_storm_trips_the_default_breaker_within_the_window() {
    let (load, sub) = Load::new(Breaker::default());
    tracing::subscriber::with_default(sub, || {
        load.run(20, 100_000, 100);
        assert_eq!(load.trips().0, 0);
        load.run(10, 100_000, 1_400);
    });
    let (trips, trigger) = load.trips();
    assert_eq!(trips, 1);
    assert!(matches!(trigger, Some("ratio" | "spike")), "{trigger:?}");
}

/// The ratio alone: errors at 0.6% of 10 000 events/s (60/s, above the
/// floor of 50) do not trip it, for three windows; at 2% they do, once they
/// have filled enough of the window (here 0.6% + 1.4% × 3/10 > 1%: in the
/// third second).
#[test]
fn the_ratio_trigger_fires_above_its_ratio_only() {
    let (load, sub) = Load::new(Breaker::default().without_spike());
    tracing::subscriber::with_default(sub, || {
        load.run(30, 10_000, 60);
        assert_eq!(load.trips(), (0, None), "0.6% is below 1%");
        load.run(2, 10_000, 200);
        assert_eq!(
            load.trips(),
            (0, None),
            "two seconds of 2%: 820 errors in the window, 82/s against 10 000 events/s: 0.81%"
        );
        load.run(1, 10_000, 200);
    });
    assert_eq!(load.trips(), (1, Some("ratio")));
}

/// The spike alone: 60 errors/s steady is the baseline; errors at 9× it
/// for two windows never fire it (the traffic unchanged, so the ratio, were
/// it on, would); at 15× it fires within the window (in the seventh second,
/// when the window's rate passes 10×).
#[test]
fn the_spike_trigger_fires_against_its_baseline() {
    let (load, sub) = Load::new(Breaker::default().without_ratio().spike(10.0));
    tracing::subscriber::with_default(sub, || {
        load.run(30, 10_000, 60);
        assert_eq!(load.trips(), (0, None), "steady: no spike");
        load.run(20, 10_000, 540);
    });
    assert_eq!(load.trips(), (0, None), "9x the baseline");

    let (load, sub) = Load::new(Breaker::default().without_ratio().spike(10.0));
    tracing::subscriber::with_default(sub, || {
        load.run(30, 10_000, 60);
        load.run(6, 10_000, 900);
        assert_eq!(
            load.trips(),
            (0, None),
            "15x for 6 of 10 slots: 9.4x the baseline"
        );
        load.run(1, 10_000, 900);
    });
    assert_eq!(load.trips(), (1, Some("spike")));
}

/// Below the absolute floor nothing fires, whatever the ratio: 40 errors/s
/// among 100 events/s is 29%, but under 50/s.
#[test]
fn the_threshold_is_a_floor_for_every_trigger() {
    let (load, sub) = Load::new(Breaker::default());
    tracing::subscriber::with_default(sub, || load.run(30, 100, 40));
    assert_eq!(load.trips(), (0, None));
}

#[test]
fn bad_trigger_settings_are_refused() {
    for b in [
        Breaker::default().ratio(0.0),
        Breaker::default().ratio(1.0),
        Breaker::default().ratio(f64::NAN),
        Breaker::default().spike(1.0),
        Breaker::default().spike(f64::INFINITY),
    ] {
        let e = SamplingFilter::builder()
            .breaker(b)
            .parse("0.5")
            .unwrap_err();
        assert!(e.to_string().contains("breaker"), "{e}");
    }
}
