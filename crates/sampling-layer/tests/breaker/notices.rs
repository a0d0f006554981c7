//! Breaker notices: one thread for any number of transitions, and every
//! notice arrives. Its own process, so the thread count is this test's alone.

use std::time::Duration;

use crate::support::{breaker_sampler, text_layer, Output};
use sampling_layer::clock::ManualClock;
use tracing::{error, info};
use tracing_subscriber::prelude::*;

/// Threads of this process whose name is the notice thread's.
#[cfg(target_os = "linux")]
fn notice_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|name| name.trim_end() == "sampler-notice")
        .count()
}

#[test]
fn many_transitions_start_one_thread_and_every_notice_arrives() {
    const CYCLES: usize = 40;
    let clock = ManualClock::new();
    let (cap, rx) = Output::with_channel();
    let s = breaker_sampler(&clock, 1.0, Duration::ZERO);
    let handle = s.handle();
    let sub = tracing_subscriber::registry()
        .with(s)
        .with(text_layer(&cap));
    tracing::subscriber::with_default(sub, || {
        for _ in 0..CYCLES {
            error!("boom");
            error!("boom"); // 2/s over a 1 s window: opens
            clock.advance(Duration::from_secs(2));
            info!("quiet"); // the window is empty and the hold is zero: closes
        }
        // Every notice arrives, while its dispatcher lives (the gate is the
        // channel; the bound only guards against a hang).
        let mut notices = 0;
        while notices < 2 * CYCLES {
            let line = rx
                .recv_timeout(Duration::from_secs(60))
                .expect("a notice never arrived");
            notices += usize::from(line.contains("circuit breaker"));
        }
    });
    let st = handle.stats();
    assert_eq!(
        (st.breaker_trips, st.breaker_recoveries),
        (CYCLES as u64, CYCLES as u64)
    );
    assert_eq!(cap.count("circuit breaker opened"), CYCLES);
    assert_eq!(cap.count("circuit breaker closed"), CYCLES);
    #[cfg(target_os = "linux")]
    assert_eq!(
        notice_threads(),
        1,
        "one notice thread for {} transitions",
        2 * CYCLES
    );
}
