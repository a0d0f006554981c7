//! A non-blocking, level-aware, batching [`MakeWriter`](tracing_subscriber::fmt::MakeWriter):
//! a drop-in replacement for `tracing_appender::non_blocking`.
//!
//! (Skeleton: the writer lands with the workspace issue.)
#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub
)]

mod stats;

pub use stats::{Dropped, LatencySnapshot, Stats, LATENCY_BUCKETS};
