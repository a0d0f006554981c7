//! The breaker notice when the sampler is a per-layer filter under the global
//! default dispatcher (its own process: the global default is set once).

mod support;

use std::time::Duration;

use sampling_layer::clock::ManualClock;
use support::{breaker_sampler, text_layer, Output};
use tracing::error;
use tracing_subscriber::prelude::*;

#[test]
fn per_layer_filter_notice_reaches_the_global_subscriber() {
    let clock = ManualClock::new();
    let (cap, rx) = Output::with_channel();
    let s = breaker_sampler(&clock, 1.0, Duration::from_secs(60));
    let handle = s.handle();
    tracing_subscriber::registry()
        .with(text_layer(&cap).with_filter(s))
        .init();
    error!("one");
    error!("two");
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("notice never arrived");
        if line.contains("circuit breaker opened") {
            break;
        }
    }
    assert_eq!(handle.stats().breaker_trips, 1);
}
