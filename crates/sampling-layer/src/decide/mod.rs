//! The per-event decision's parts: the three tables an event is found in
//! (callsites, keys, `log` sites), the rule each caches, the modes and the
//! one-word counts.

pub(crate) mod budget_cell;
pub(crate) mod callsites;
pub(crate) mod counts;
pub mod extract;
pub(crate) mod fields;
pub(crate) mod keys;
pub(crate) mod log_sites;
pub(crate) mod mode;
pub(crate) mod rule;

/// The target of the sampler's own lines (the breaker's notices, repeat
/// summaries): never sampled, never suppressed.
pub(crate) const NOTICE_TARGET: &str = "sampling_layer";
