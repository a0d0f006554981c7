//! Directives: parsing, splitting, labels, run-time edits: one test binary, a module per topic.

#[path = "../support/mod.rs"]
mod support;

mod edits;
mod labels;
mod prop;
mod runtime;
mod split;
mod stats_monotonic;
mod targets;
