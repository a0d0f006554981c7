//! What changes rates while the sampler runs: the breaker, pressure and
//! budgets, and timed edits.

pub(crate) mod breaker;
pub(crate) mod budget;
pub(crate) mod pressure;
pub(crate) mod timed;
