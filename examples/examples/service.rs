//! An axum service logging through the whole pipeline:
//! `cargo run --release --example service -- --port 3000 --log-dir /tmp/logs`.
//!
//! `RUST_LOG` sets the levels, `RUST_LOG_SAMPLE` the file's sampling rates; `--help` lists
//! the flags (each also read from a `SERVICE_*` variable). The code lives in the `examples`
//! library ([`examples::service`]) so that its integration test runs exactly this.

use std::process::ExitCode;

fn main() -> ExitCode {
    examples::service::main_with(std::env::args().skip(1))
}
