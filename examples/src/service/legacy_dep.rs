//! Stands in for a dependency that logs through the `log` crate, not `tracing`.
//!
//! `tracing_log::LogTracer` turns its records into tracing events; under the request span
//! they carry the `request_id` like the service's own events. Its target is `legacy_dep`,
//! the name a `RUST_LOG` or `RUST_LOG_SAMPLE` directive uses for it.

/// The dependency's `log` target.
pub const TARGET: &str = "legacy_dep";

/// Every key divisible by this gets a deprecation WARN (so a test knows which).
pub const WARN_EVERY: u32 = 50;

/// Looks `key` up, logging as a `log`-based library does.
pub fn lookup(key: u32) -> u32 {
    log::debug!(target: TARGET, "probing the cache for key {key}");
    log::info!(target: TARGET, "looked up key {key}");
    if key % WARN_EVERY == 0 {
        log::warn!(target: TARGET, "key {key} uses a deprecated lookup");
    }
    key.wrapping_mul(2_654_435_761) % 1000
}
