//! Composition with other filters and layers, and annotation: one test binary, a module per topic.

#[path = "../support/mod.rs"]
mod support;

mod annotate;
mod combinators;
mod compose;
mod placement;
mod probes;
