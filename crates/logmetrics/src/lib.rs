//! Exports `backpressure-writer` and `sampling-layer` figures through the `metrics` facade.
//!
//! (Skeleton: the exporter lands with its own issue.)
#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub
)]
