//! Publishes the figures of [`backpressure-writer`](backpressure_writer) and
//! [`sampling-layer`](sampling_layer) through the [`metrics`] facade, and reports their
//! health.
//!
//! Operators need to see how much the service logged, how much the sampler kept, and
//! whether the writer lost anything. Both crates keep plain atomic counters and hand out
//! snapshots (`NonBlocking::stats()`, `SamplingHandle::stats()`); this crate polls those
//! snapshots and publishes them, so the logging hot path never calls a `metrics` recorder:
//!
//! - an [`Exporter`] publishes on an interval from its own named thread, started by
//!   [`ExporterBuilder::spawn`] and stopped (after one last export) when the
//!   `#[must_use]` [`ExporterGuard`] is dropped; or on demand with
//!   [`Exporter::export_now`];
//! - each writer ([`WriterSource`](source::WriterSource): a `NonBlocking` or a closure) and sampler
//!   ([`SamplerSource`](source::SamplerSource): a `SamplingHandle` or a closure) is registered under a name, which becomes the `name` label,
//!   so an application log and an audit log stay apart;
//! - counters are published with `Counter::absolute`, gauges with `set`, and the writer's
//!   latency buckets as `Histogram::record_many(bucket bound, new observations)` so a
//!   Prometheus histogram with [`latency_bucket_bounds`] as buckets reproduces them;
//! - every metric is described with its unit; the names live in one table, [`names`],
//!   mirrored by `docs/metrics.md`. Labels are bounded: `reason` has eight values and
//!   `target` only the sampler's directive targets plus `(other)` and `(default)`, never a
//!   per-key value;
//! - [`Exporter::health`] returns a typed [`HealthReport`](health::HealthReport) for readiness probes: counts
//!   (drops, write errors, breaker trips) over a fixed window of recent time, the same
//!   answer for every caller ([`health`] says exactly what a probe sees); and
//!   [`self_check`] confirms at start-up that a line reaches the sink (the line takes the
//!   writer's [`own_line_format`](backpressure_writer::NonBlocking::own_line_format), so a
//!   JSON-lines file stays JSON lines).
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use backpressure_writer::NonBlockingBuilder;
//! use logmetrics::{names, Exporter};
//!
//! let (writer, guard) = NonBlockingBuilder::default().finish(std::io::sink());
//! logmetrics::self_check(&writer, &guard, Duration::from_secs(5)).expect("log sink works");
//!
//! // In a service: `.spawn()` and keep the guard; here, publish by hand into a recorder.
//! let exporter = Exporter::builder()
//!     .interval(Duration::from_secs(5))
//!     .writer("app", writer.clone())
//!     .build()
//!     .expect("valid configuration");
//!
//! let subscriber = tracing_subscriber::fmt().with_writer(writer.clone()).finish();
//! tracing::subscriber::with_default(subscriber, || tracing::info!("hello"));
//! guard.flush().expect("flushed");
//!
//! let recorder = metrics_util::debugging::DebuggingRecorder::new();
//! let snapshotter = recorder.snapshotter();
//! metrics::with_local_recorder(&recorder, || exporter.export_now());
//! let written = snapshotter.snapshot().into_vec().into_iter().find_map(|(key, _, _, value)| {
//!     (key.key().name() == names::WRITER_LINES_WRITTEN).then_some(value)
//! });
//! // The self-check line and "hello".
//! assert_eq!(written, Some(metrics_util::debugging::DebugValue::Counter(2)));
//!
//! assert!(exporter.health().is_healthy());
//! ```
//!
//! # Where each topic lives
//!
//! | Topic | Where |
//! |---|---|
//! | Configuration, validation ([`BuildError`]), the export thread | [`ExporterBuilder`], [`ExporterGuard`] |
//! | What one export publishes and costs | [`Exporter::export_now`] |
//! | Metric names, kinds, units, labels | [`names`] (mirrored by `docs/metrics.md`) |
//! | Latency buckets for a Prometheus recorder | [`latency_bucket_bounds`] |
//! | Readiness: what a probe sees, thresholds, problems | [`health`] |
//! | What can be registered as a writer or a sampler | [`source`] |
//! | The start-up check that a line reaches the sink | [`self_check`] |
#![forbid(unsafe_code)]

mod error;
mod exporter;
pub mod health;
pub mod names;
mod publish;
mod self_check;
pub mod source;
mod window;

pub use error::BuildError;
pub use exporter::{
    Exporter, ExporterBuilder, ExporterGuard, DEFAULT_HEALTH_WINDOW_INTERVALS, DEFAULT_INTERVAL,
    DEFAULT_THREAD_NAME, MAX_HEALTH_WINDOW_INTERVALS,
};
pub use publish::latency_bucket_bounds;
pub use self_check::{
    self_check, self_check_line, SelfCheckError, SelfCheckReport, SELF_CHECK_LINE,
};
