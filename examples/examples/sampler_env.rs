//! Per-module sampling rates from `RUST_LOG_SAMPLE`, levels from `RUST_LOG`:
//!
//! ```text
//! RUST_LOG=debug RUST_LOG_SAMPLE="sampler_env::http=1/10,sampler_env::db=50%" \
//!     cargo run --example sampler_env
//! ```
//!
//! keeps 1 `http` request line in 10 and half the `db` queries, each marked with the rate
//! it was kept at (`sample_rate=0.1`), and every warning. A bad directive stops it with an
//! error naming the variable; unset, nothing is sampled.

use std::process::ExitCode;

use sampling_layer::{Annotated, SamplingFilter};
use tracing_subscriber::{fmt, prelude::*, EnvFilter};

mod http {
    pub(crate) fn handle(request: u64) {
        tracing::debug!(request, "request received");
    }
}

mod db {
    pub(crate) fn query(request: u64) {
        tracing::debug!(request, "query done");
        if request % 100 == 99 {
            tracing::warn!(request, "slow query");
        }
    }
}

fn main() -> ExitCode {
    let sampler = match SamplingFilter::builder().from_env() {
        Ok(sampler) => sampler,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let handle = sampler.handle();
    let levels = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("debug"));
    tracing_subscriber::registry()
        .with(levels)
        .with(
            fmt::layer()
                .event_format(Annotated::new(fmt::format()))
                .with_filter(sampler),
        )
        .init();

    for request in 0..1_000 {
        http::handle(request);
        db::query(request);
    }

    for t in handle.stats().targets.iter().filter(|t| t.seen > 0) {
        eprintln!(
            "{}: kept {} of {} (rate {})",
            t.target, t.kept, t.seen, t.rate
        );
    }
    ExitCode::SUCCESS
}
