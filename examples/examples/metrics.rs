//! The writer's and the sampler's figures on `/metrics`: `logmetrics` publishes them
//! through the `metrics` facade, `metrics-exporter-prometheus` serves them.
//!
//! ```text
//! cargo run --example metrics -- 127.0.0.1:9000
//! curl -s 127.0.0.1:9000/metrics | grep '^log_'
//! ```
//!
//! It logs 1 000 requests (the router sampled 1 in 20), then serves `/metrics` until its
//! standard input closes (Ctrl-D). `examples/prometheus.rs` is a fuller service.

use std::error::Error;
use std::io::Read;
use std::net::SocketAddr;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
use sampling_layer::SamplingFilter;
use tracing_subscriber::{fmt, prelude::*};

fn main() -> Result<(), Box<dyn Error>> {
    let addr: SocketAddr = match std::env::args().nth(1) {
        Some(a) => a
            .parse()
            .map_err(|e| format!("listen address {a:?}: {e}"))?,
        None => SocketAddr::from(([127, 0, 0, 1], 9000)),
    };
    // The writer's latency histograms as real Prometheus histograms, with its own buckets.
    PrometheusBuilder::new()
        .with_http_listener(addr)
        .set_buckets_for_metric(
            Matcher::Suffix("_seconds".into()),
            &logmetrics::latency_bucket_bounds(),
        )?
        .install()?;

    let sampler = SamplingFilter::try_new("app::router=1/20")?;
    // A real service writes to a file; the figures are the same.
    let (writer, guard) = backpressure_writer::non_blocking(std::io::sink());
    let exporter = logmetrics::Exporter::builder()
        .writer("app", &writer)
        .sampler("app", sampler.handle())
        .spawn()?;
    tracing_subscriber::registry()
        .with(fmt::layer().with_writer(writer).with_filter(sampler))
        .init();

    for request in 0..1_000 {
        tracing::debug!(target: "app::router", request, "routed");
    }
    tracing::warn!(target: "app::router", "never sampled");

    guard.flush()?;
    // Publish the final figures now rather than at the next interval.
    exporter.exporter().export_now();
    println!("serving http://{addr}/metrics until stdin closes");
    std::io::stdin().read_to_end(&mut Vec::new())?;
    Ok(())
}
