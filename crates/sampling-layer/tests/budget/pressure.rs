//! Pressure: sampled rates and budgets tighten while the signal is high and
//! relax when it falls, `sample_rate` stays true, WARN/ERROR and unsampled
//! targets are untouched. Manual clock, a signal the test sets.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::support::Output;
use sampling_layer::{
    clock::ManualClock, Annotated, Breaker, Pressure, SamplingFilter, SamplingHandle,
};
use tracing_subscriber::{fmt, prelude::*};

struct Rig {
    clock: ManualClock,
    fill: Arc<AtomicU64>,
    cap: Output,
    handle: SamplingHandle,
}

fn rig(directives: &str) -> (Rig, impl tracing::Subscriber) {
    let clock = ManualClock::new();
    let fill = Arc::new(AtomicU64::new(0f64.to_bits()));
    let f = fill.clone();
    let sampler = SamplingFilter::builder()
        .breaker(Breaker::disabled())
        .clock(clock.clone())
        .pressure(
            Pressure::new(move || f64::from_bits(f.load(Ordering::Relaxed)))
                .every(Duration::from_millis(50)),
        )
        .parse(directives)
        .unwrap();
    let handle = sampler.handle();
    let cap = Output::new();
    let sub = tracing_subscriber::registry().with(
        fmt::layer()
            .with_ansi(false)
            .with_writer(cap.clone())
            .event_format(Annotated::new(
                fmt::format().without_time().with_ansi(false),
            ))
            .with_filter(sampler),
    );
    (
        Rig {
            clock,
            fill,
            cap,
            handle,
        },
        sub,
    )
}

impl Rig {
    fn set_fill(&self, v: f64) {
        self.fill.store(v.to_bits(), Ordering::Relaxed);
    }

    /// Emits `n` DEBUG events at `app`; returns (kept lines, sum of 1/sample_rate).
    fn emit(&self, n: usize) -> (usize, f64) {
        let before = self.cap.lines().len();
        for i in 0..n {
            tracing::debug!(target: "app", i, "x");
        }
        let lines = self.cap.lines();
        let weight = lines[before..]
            .iter()
            .map(|l| {
                l.split("sample_rate=")
                    .nth(1)
                    .map_or(1.0, |r| 1.0 / r.trim().parse::<f64>().unwrap())
            })
            .sum();
        (lines.len() - before, weight)
    }
}

#[test]
fn rates_halve_per_read_under_pressure_and_recover_with_hysteresis() {
    let (r, sub) = rig("app=1/2");
    tracing::subscriber::with_default(sub, || {
        assert_eq!(r.emit(1_000), (500, 1_000.0), "no pressure: 1/2");
        r.set_fill(0.9);
        r.clock.advance(Duration::from_millis(50));
        // The first kept event reads the signal (and is kept at 1/2); from
        // the next event on the rate is 1/4.
        assert_eq!(r.emit(1), (1, 2.0));
        assert_eq!(r.handle.stats().pressure_scale, 0.5);
        let (kept, weight) = r.emit(1_000);
        assert_eq!(kept, 250);
        assert_eq!(weight, 1_000.0, "sample_rate is the rate each was kept at");
        let app = &r.handle.stats().targets[1];
        assert_eq!((app.rate, app.effective_rate), (0.5, 0.25));
        // Read again within the period: nothing moves.
        r.emit(100);
        assert_eq!(r.handle.stats().pressure_scale, 0.5);
        // Between low (0.25) and high (0.5): held.
        r.set_fill(0.4);
        r.clock.advance(Duration::from_millis(50));
        r.emit(100);
        assert_eq!(r.handle.stats().pressure_scale, 0.5);
        // Below low: back up, one step per read.
        r.set_fill(0.1);
        r.clock.advance(Duration::from_millis(50));
        r.emit(8);
        assert_eq!(r.handle.stats().pressure_scale, 1.0);
        assert_eq!(r.emit(1_000).0, 500);
    });
}

#[test]
fn warn_error_and_unsampled_targets_are_untouched() {
    let (r, sub) = rig("app=1/2");
    tracing::subscriber::with_default(sub, || {
        r.set_fill(1.0);
        for _ in 0..20 {
            r.clock.advance(Duration::from_millis(50));
            r.emit(64);
        }
        assert!(r.handle.stats().pressure_scale < 0.01);
        let before = r.cap.lines().len();
        for _ in 0..100 {
            tracing::warn!(target: "app", "w");
            tracing::error!(target: "app", "e");
            tracing::debug!(target: "other", "not sampled");
        }
        assert_eq!(r.cap.lines().len() - before, 300);
    });
}

/// A budget under pressure: the three-key scenario of `tests/budget/sharing.rs` at
/// 500/s; with the scale at 1/4, about 125 lines per interval.
#[test]
fn budgets_shrink_with_the_scale() {
    let (r, sub) = rig("app=500/s");
    tracing::subscriber::with_default(sub, || {
        let second = |r: &Rig| {
            let before = r.cap.lines().len();
            for j in 0..20_000u32 {
                tracing::debug!(target: "app", sample_key = "hot", "x");
                if j % 10 == 0 {
                    tracing::debug!(target: "app", sample_key = "warm", "x");
                }
                if j % 1_000 == 0 {
                    tracing::debug!(target: "app", sample_key = "rare", "x");
                }
                if j % 2_000 == 1_999 {
                    // Reads every 100 ms of simulated time.
                    r.clock.advance(Duration::from_millis(100));
                }
            }
            r.cap.lines().len() - before
        };
        for _ in 0..4 {
            second(&r);
        }
        let k = second(&r);
        assert!((450..=550).contains(&k), "{k}");
        // Two reads under pressure: 1/4; then held (between low and high).
        r.set_fill(0.9);
        for _ in 0..2 {
            r.clock.advance(Duration::from_millis(50));
            for _ in 0..200 {
                tracing::debug!(target: "app", sample_key = "hot", "x");
            }
        }
        r.set_fill(0.4);
        assert_eq!(r.handle.stats().pressure_scale, 0.25);
        second(&r);
        let kept = second(&r);
        assert_eq!(r.handle.stats().pressure_scale, 0.25);
        let app = &r.handle.stats().targets[1];
        assert_eq!(app.effective_budget, Some(125.0));
        assert!((110..=140).contains(&kept), "{kept}");
    });
}

/// `app=0.01` at 1 000 events per second (the clock moves a millisecond
/// per event), the writer 90% full for 30 s, then empty. The signal is read
/// on time although kept events are rare (the scale makes them rarer): the
/// scale reaches the floor while the queue is full, and is back to 1 within
/// two seconds of it emptying (ten reads up from 1/1024, one per 128
/// sampled-out events at most: 1.3 s).
#[test]
fn pressure_recovers_on_time_when_kept_events_are_rare() {
    let (r, sub) = rig("app=0.01");
    tracing::subscriber::with_default(sub, || {
        let mut i = 0u64;
        let mut second = |r: &Rig| {
            for _ in 0..1_000 {
                tracing::debug!(target: "app", i, "x");
                i += 1;
                r.clock.advance(Duration::from_millis(1));
            }
            r.handle.stats().pressure_scale
        };
        r.set_fill(0.9);
        let mut scales = Vec::new();
        for _ in 0..30 {
            scales.push(second(&r));
        }
        assert_eq!(scales[29], 1.0 / 1024.0, "the floor: {scales:?}");
        r.set_fill(0.0);
        // Counted in 100 ms steps of simulated time.
        let mut steps = 0;
        while r.handle.stats().pressure_scale < 1.0 {
            for _ in 0..100 {
                tracing::debug!(target: "app", i, "x");
                i += 1;
                r.clock.advance(Duration::from_millis(1));
            }
            steps += 1;
            assert!(steps <= 20, "not back to 1 after {steps} steps of 100 ms");
        }
        eprintln!("back to 1 after {steps} steps of 100 ms");
    });
}
