//! Runnable examples for the workspace, and the code behind them.
//!
//! - `cargo run --release --example demo`: the whole pipeline on a simulated service
//!   ([`demo`]).
//! - `cargo run --release --example prometheus`: a small service serving `/metrics`.
//! - `cargo run --release --example service`: an axum service to copy ([`service`]).
//!
//! The user guide ([`guide`]) and the README ([`readme`]) are included here so that every
//! Rust block in them is compiled and run as a doctest.

pub mod demo;
pub mod service;

#[doc = include_str!("../../docs/guide.md")]
pub mod guide {}

#[doc = include_str!("../../README.md")]
pub mod readme {}
