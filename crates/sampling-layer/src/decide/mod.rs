//! The per-event decision's parts: the three tables an event is found in
//! (callsites, keys with their field hashing, `log` sites), what each entry
//! decides with (its cached rule and counts word, `entry`), the modes, and
//! the key extractor.

pub(crate) mod budget_cell;
pub(crate) mod callsites;
pub(crate) mod entry;
pub mod extract;
pub(crate) mod keys;
pub(crate) mod log_sites;
pub(crate) mod mode;

/// The target of the sampler's own lines (the breaker's notices, repeat
/// summaries): never sampled, never suppressed.
pub(crate) const NOTICE_TARGET: &str = "sampling_layer";
