//! The circuit breaker: one test binary, a module per topic.

#[path = "../support/mod.rs"]
mod support;

mod bursts;
mod notices;
mod threshold;
mod triggers;
