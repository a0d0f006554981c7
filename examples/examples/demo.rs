//! The main job: `cargo run --release --example demo`.
//!
//! A simulated service logs through `sampling-layer` and `backpressure-writer` for about
//! 15 s in four phases (steady traffic, an overload burst into a slow sink, an error storm
//! that trips the circuit breaker, a run-time rate change), serves its figures on
//! `127.0.0.1:9000/metrics`, then reads its log file back and prints what was emitted,
//! kept, sampled out and dropped. It exits non-zero if a single WARN/ERROR line is missing
//! from the file or the writer's accounting does not add up.
//!
//! `--help` lists the flags; `RUST_LOG_SAMPLE` overrides the rates, `RUST_LOG` the levels.
//! The code lives in the `examples` library ([`examples::demo`]) so that its integration
//! test runs exactly this.

use std::process::ExitCode;

fn main() -> ExitCode {
    ExitCode::from(examples::demo::cli(
        std::env::args_os().skip(1),
        &mut std::io::stdout(),
    ))
}
