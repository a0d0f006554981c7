//! Per-callsite-key sampling for `tracing`: deterministic, probabilistic and consistent.
//!
//! (Skeleton: the sampler lands with its own issue.)
#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub
)]

mod stats;

pub use stats::{SamplingStats, TargetStats, OTHER_TARGET};
