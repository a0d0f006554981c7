//! OpenTelemetry: trace keys, the specification's sampling, log records: one test binary, a module per topic.

#[path = "../support/mod.rs"]
mod support;

mod follow;
mod logs;
mod probability;
mod ratio_prop;
