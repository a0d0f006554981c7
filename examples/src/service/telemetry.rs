//! The logging pipeline: two writers, the panic hook that flushes them, the subscriber
//! (with OpenTelemetry if asked), the `log` bridge, the figures exporter and the
//! Prometheus recorder; and their shutdown, in order.

use std::error::Error;
use std::fmt;
use std::io::IsTerminal;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use backpressure_writer::deferred::{Decoded, DeferredLayer};
use backpressure_writer::format::CachedSystemTime;
use backpressure_writer::panic_flush::PanicFlush;
use backpressure_writer::rolling::{RollingFile, RollingHandle, Rotation};
use backpressure_writer::stats::Stats;
use backpressure_writer::{
    FlushError, NonBlocking, NonBlockingBuilder, Overflow, OwnLineFormat, WorkerGuard,
};
use logmetrics::{names, Exporter, ExporterGuard};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use sampling_layer::capture::{CaptureLayer, CaptureWriter};
use sampling_layer::level::LevelHandle;
use sampling_layer::SamplingHandle;
use tracing_subscriber::{filter::filter_fn, fmt as tfmt, prelude::*};

use super::filters::Filters;

/// The file name of the JSON log: `service.<date>.jsonl` (and `-<hour>` when hourly).
pub const FILE_PREFIX: &str = "service";
/// See [`FILE_PREFIX`].
pub const FILE_SUFFIX: &str = "jsonl";

/// What the pipeline needs to know from the service's configuration.
#[derive(Debug, Clone)]
pub struct Settings<'a> {
    /// Directory of the rolling JSON files.
    pub log_dir: &'a Path,
    /// `Rotation::Daily` or `Rotation::Hourly` (UTC).
    pub rotation: Rotation,
    /// How often `logmetrics` publishes the figures.
    pub export_interval: Duration,
    /// How long the panic hook waits for the writers.
    pub panic_flush_deadline: Duration,
    /// `--otel`: the tracer provider whose spans the file's sampler follows (built with
    /// [`otel::provider`](super::otel::provider), the sampler with `Keys::FollowTrace`).
    pub tracer_provider: Option<SdkTracerProvider>,
}

/// Everything installed; [`Telemetry::shutdown`] takes it down in order.
#[derive(Debug)]
pub struct Telemetry {
    /// The JSON file's writer (for its figures).
    pub file: NonBlocking,
    /// The file writer's guard, shared with `/admin/flush` until shutdown.
    pub file_guard: Arc<WorkerGuard>,
    /// The rolling file's figures and `reopen` (SIGHUP, for logrotate's `create` mode).
    pub files: RollingHandle,
    stdout: NonBlocking,
    stdout_guard: WorkerGuard,
    /// Run-time rates of the file's sampler.
    pub sampling: SamplingHandle,
    /// Run-time levels (`RUST_LOG`), per target and for a while.
    pub levels: LevelHandle,
    /// The thread that publishes the figures; dropping it stops the thread.
    pub exporter: ExporterGuard,
    /// Renders `/metrics`.
    pub prometheus: PrometheusHandle,
    /// `--otel`: shut down before the writers, so its last batch is exported.
    pub tracer_provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Builds and installs everything: the global subscriber, the `log` bridge, the
    /// global `metrics` recorder. Call once per process.
    pub fn install(filters: Filters, settings: &Settings<'_>) -> Result<Telemetry, Box<dyn Error>> {
        // The rolling sink writes `service.YYYY-MM-DD.jsonl` (and `.1.jsonl`, ... past
        // 256 MiB); behind the non-blocking writer its file I/O (and each rotation's
        // `open`) happens on the worker thread, and closed files are gzipped and retired
        // on the sink's own housekeeping thread.
        let appender = RollingFile::builder()
            .rotation(settings.rotation)
            .filename_prefix(FILE_PREFIX)
            .filename_suffix(FILE_SUFFIX)
            .max_file_size(256 * 1024 * 1024)
            .max_total_bytes(8 * 1024 * 1024 * 1024)
            .compression(backpressure_writer::rolling::Compression::Gzip)
            .build(settings.log_dir)?;
        let files = appender.handle();
        let (file, file_guard) = NonBlockingBuilder::default()
            // The writer's own lines (drop report, self-check) as JSON too: every line of
            // the file parses.
            .own_line_format(OwnLineFormat::Json)
            // In an incident the newest lines matter most; WARN/ERROR are never dropped.
            .overflow(Overflow::DropOldest)
            .thread_name("log-file")
            // The file layer's records become JSON lines here, on the writer's thread.
            .try_finish(Decoded::new(appender))?;
        let (stdout, stdout_guard) = NonBlockingBuilder::default()
            .thread_name("log-stdout")
            .try_finish(std::io::stdout())?;
        // A line through the whole path before the service takes traffic: a log directory
        // on a full or read-only disk fails start-up, not the first incident.
        logmetrics::self_check(&file, &file_guard, Duration::from_secs(5))?;
        // A panic (also with `panic = "abort"`, where no guard drains) logs itself as an
        // ERROR line in the request's span and flushes both writers before the previous
        // hook runs: the lines before a crash are the ones an incident needs.
        PanicFlush::new(settings.panic_flush_deadline).install()?;

        let sampling = filters.sampler.handle();
        // The context of a failed request (`+{request_id}` in `RUST_LOG_SAMPLE`): the
        // capture writer diverts its sampled-out lines into the request's span and, on an
        // ERROR, writes them first through the writer's context share, so a burst of
        // context cannot crowd the ERROR lines themselves out of the keep reserve.
        let file_writer =
            CaptureWriter::new(file.clone(), &sampling).with_context_writer(file.context_writer());
        // `fmt`'s JSON lines, laid out on the writer's thread: a kept line costs the
        // request only its record (`backpressure_writer::deferred`), and carries the
        // rate this sampler kept it at.
        let rates = sampling.clone();
        let file_layer = DeferredLayer::new(file_writer)
            .json()
            .with_span_list(false)
            .with_sample_rate(move |event| rates.sample_rate(event));
        // Captured lines are written through the file's layer alone.
        let file_layer = CaptureLayer::new(file_layer, &sampling).with_filter(filters.sampler);
        let stdout_layer = tfmt::layer()
            .with_timer(CachedSystemTime::new())
            .with_ansi(std::io::stdout().is_terminal())
            .with_writer(stdout.clone())
            .with_filter(filters.stdout);
        // `RUST_LOG` is the outermost layer, so it rejects an event before the sampler
        // counts it (the sampler's docs ask for dynamic filters first). A global layer
        // decided per callsite: a change rebuilds the interest once, no lock per event.
        let levels_handle = filters.levels.handle();
        let levels = filters.levels;
        // Spans only: events stay logs, in the file, rather than span events too.
        let otel_layer = settings.tracer_provider.as_ref().map(|p| {
            tracing_opentelemetry::layer()
                .with_tracer(p.tracer("service"))
                .with_filter(filter_fn(|m| m.is_span()))
        });
        let subscriber = tracing_subscriber::registry()
            .with(otel_layer)
            .with(file_layer)
            .with(stdout_layer)
            .with(levels);
        tracing::subscriber::set_global_default(subscriber)?;
        // `log::info!` from dependencies becomes a tracing event (fmt prints its real
        // target with tracing-subscriber's `tracing-log` feature).
        tracing_log::LogTracer::init()?;

        let levels = levels_handle;

        // `/metrics` is served by the app's own router: install the recorder without its
        // HTTP listener. The writer's latency histograms get the writer's own buckets.
        let bounds = logmetrics::latency_bucket_bounds();
        let prometheus = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(names::WRITER_QUEUE_WAIT.into()), &bounds)?
            .set_buckets_for_metric(Matcher::Full(names::WRITER_BATCH_WRITE.into()), &bounds)?
            .install_recorder()?;
        let exporter = Exporter::builder()
            .interval(settings.export_interval)
            .writer("file", &file)
            .writer("stdout", &stdout)
            .sampler("file", &sampling)
            .rolling_file("file", &files)
            .spawn()?;

        Ok(Telemetry {
            file,
            file_guard: Arc::new(file_guard),
            files,
            stdout,
            stdout_guard,
            sampling,
            levels,
            exporter,
            prometheus,
            tracer_provider: settings.tracer_provider.clone(),
        })
    }

    /// Takes the pipeline down once the listeners have stopped (no request can log any
    /// more): the tracer provider (exporting its last spans), the exporter (its last
    /// export sees every writer alive), then each writer flushed within `deadline` and
    /// its guard dropped (joining the worker).
    pub fn shutdown(self, deadline: Duration) -> Outcome {
        let Telemetry {
            file,
            file_guard,
            stdout,
            stdout_guard,
            exporter,
            tracer_provider,
            sampling,
            ..
        } = self;
        // Repeat windows still open write their summaries while the writers run.
        sampling.flush_repeats();
        // Its exporter may log an error: the writers still run.
        let traces = tracer_provider.map(|p| p.shutdown_with_timeout(deadline));
        if let Some(Err(e)) = &traces {
            tracing::error!(target: "app", error = %e, "tracer provider shutdown failed");
        }
        drop(exporter);
        // The routers are gone, so this is the last reference; were it not, flushing
        // through the shared one still drains, and the worker stops with the last clone.
        let flushed = match Arc::try_unwrap(file_guard) {
            Ok(guard) => {
                let flushed = guard.flush_timeout(deadline);
                drop(guard);
                flushed
            }
            Err(shared) => shared.flush_timeout(deadline),
        };
        let _ = stdout_guard.flush_timeout(deadline);
        drop(stdout_guard);
        Outcome {
            flushed,
            file: file.stats(),
            stdout: stdout.stats(),
        }
    }
}

/// How the pipeline ended.
#[derive(Debug)]
pub struct Outcome {
    /// The file writer's flush within the deadline.
    pub flushed: Result<(), FlushError>,
    /// The file writer's final figures.
    pub file: Stats,
    /// The stdout writer's final figures.
    pub stdout: Stats,
}

impl fmt::Display for Outcome {
    /// One parseable line: `service stopped file_submitted=N file_written=N ...`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.file;
        write!(
            f,
            "service stopped file_submitted={} file_written={} file_dropped={} file_queued={} stdout_dropped={} flush={}",
            s.submitted,
            s.lines_written,
            s.dropped.total(),
            s.queue_depth,
            self.stdout.dropped.total(),
            match &self.flushed {
                Ok(()) => "ok".to_owned(),
                Err(e) => format!("{e:?}"),
            }
        )
    }
}
