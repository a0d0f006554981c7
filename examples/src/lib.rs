//! Runnable examples for the workspace, and the code behind them.
//!
//! - `cargo run --release --example demo`: the whole pipeline on a simulated service
//!   ([`demo`]).
//! - `cargo run --example writer_dropin`: `backpressure-writer` in place of
//!   `tracing_appender::non_blocking`.
//! - `cargo run --example sampler_env`: per-module sampling rates from `RUST_LOG_SAMPLE`.
//! - `cargo run --example metrics`: the figures on `/metrics`.
//! - `cargo run --release --example prometheus`: a small service serving `/metrics`, for
//!   the end-to-end check against a real Prometheus.
//! - `cargo run --release --example service`: an axum service to copy ([`service`]).
//!
//! The user guide ([`guide`]), the README ([`readme`]) and each crate's README
//! ([`crate_readmes`]) are included here so that every Rust block in them is compiled and
//! run as a doctest.

pub mod demo;
pub mod service;

#[doc = include_str!("../../docs/guide.md")]
pub mod guide {}

#[doc = include_str!("../../README.md")]
pub mod readme {}

/// The crates' READMEs, whose examples are doctests here.
pub mod crate_readmes {
    #[doc = include_str!("../../crates/backpressure-writer/README.md")]
    pub mod backpressure_writer {}

    #[doc = include_str!("../../crates/sampling-layer/README.md")]
    pub mod sampling_layer {}

    #[doc = include_str!("../../crates/logmetrics/README.md")]
    pub mod logmetrics {}
}
