//! Budgets and pressure: one test binary, a module per topic.

#[path = "../support/mod.rs"]
mod support;

mod fleet;
mod pressure;
mod sharing;
mod time;
mod whole;
