//! Probabilistic mode: the kept share is within 4 sigma of the rate.

use sampling_layer::{Breaker, Mode, SamplingFilter};
use tracing::info;
use tracing_subscriber::prelude::*;

fn run(rate: f64, seed: u64, n: u64) -> u64 {
    let s = SamplingFilter::builder()
        .mode(Mode::Probabilistic)
        .seed(seed)
        .breaker(Breaker::disabled())
        .parse(&rate.to_string())
        .unwrap();
    let handle = s.handle();
    let sub = tracing_subscriber::registry().with(s);
    tracing::subscriber::with_default(sub, || {
        for i in 0..n {
            info!(sample_key = i, "x");
        }
    });
    let t = &handle.stats().targets[0];
    assert_eq!(t.seen, n);
    assert_eq!(t.kept + t.dropped, n);
    t.kept
}

#[test]
fn kept_share_is_within_four_sigma_over_100k() {
    let n = 100_000u64;
    for (rate, seed) in [(0.05, 1), (0.3, 2), (0.5, 3), (0.01, 4)] {
        let kept = run(rate, seed, n) as f64;
        let mean = rate * n as f64;
        let sigma = (n as f64 * rate * (1.0 - rate)).sqrt();
        assert!(
            (kept - mean).abs() <= 4.0 * sigma,
            "rate {rate}: kept {kept}, expected {mean} ± {}",
            4.0 * sigma
        );
    }
}

#[test]
fn no_per_key_state_in_probabilistic_mode() {
    let s = SamplingFilter::builder()
        .mode(Mode::Probabilistic)
        .parse("0.5")
        .unwrap();
    let handle = s.handle();
    let sub = tracing_subscriber::registry().with(s);
    tracing::subscriber::with_default(sub, || {
        for i in 0..1000 {
            info!(sample_key = i, "x");
        }
    });
    assert_eq!(handle.stats().active_keys, 0);
}

#[test]
fn rates_zero_and_one_are_exact() {
    assert_eq!(run(0.0, 9, 1000), 0);
    assert_eq!(run(1.0, 9, 1000), 1000);
}
