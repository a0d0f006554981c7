//! The modes, and the specification's probability rule: one test binary, a module per topic.

#[path = "../support/mod.rs"]
mod support;

mod consistent;
mod deterministic;
mod probabilistic;
mod probability_prop;
