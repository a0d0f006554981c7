//! Context capture: one test binary, a module per topic.

#[path = "../support/mod.rs"]
mod support;

mod basics;
mod nested;
mod routing;
mod tasks;
mod threads;
