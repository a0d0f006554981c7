//! The event mix of the composition tests and what they count of it.

use sampling_layer::SamplingHandle;
use tracing::{info, warn};

use super::Output;

/// 100 events per callsite kind at target `app` (one decided in `enabled`, one
/// keyed, so decided in `event_enabled`), 100 at `vip`, 10 WARN.
pub fn emit() {
    for _ in 0..100 {
        info!(target: "app", "plain");
        info!(target: "app", sample_key = "k", "keyed");
        info!(target: "vip", "vip");
    }
    for _ in 0..10 {
        warn!(target: "app", "warned");
    }
}

/// (plain, keyed, vip, warned) lines written.
pub fn counts(cap: &Output) -> (usize, usize, usize, usize) {
    (
        cap.count("plain"),
        cap.count("keyed"),
        cap.count("vip"),
        cap.count("warned"),
    )
}

/// Events the sampler counted, over all its targets.
pub fn seen(h: &SamplingHandle) -> u64 {
    h.stats().targets.iter().map(|t| t.seen).sum()
}
