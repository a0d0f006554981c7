//! Setting the run up: the sampler, the writer over its sink, the subscriber, and
//! `/metrics`, exactly as a service would set them up, plus the knobs the run turns.

use backpressure_writer::format::{PlainFields, PlainFull};
use std::error::Error;
use std::fs;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::time::Duration;

use backpressure_writer::{NonBlocking, NonBlockingBuilder, Overflow, WorkerGuard};
use logmetrics::{names, ExporterGuard};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
use sampling_layer::capture::{Capture, CaptureLayer, CaptureWriter};
use sampling_layer::{Annotated, Breaker, SamplingFilter, SamplingHandle};
use tracing::Dispatch;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::{fmt, EnvFilter, Layer};

use super::args::{Config, SinkKind};
use super::human;
use super::scenario::{Schedule, BREAKER_THRESHOLD, QUEUE_LINES, SLOW_SINK_BYTES_PER_SEC};
use super::sink::{Throttle, ThrottledSink};

/// The embedded default rates, those a Python service's logging review settled on for its
/// request router (5% of tool calls), its websocket layer (1%) and its connection manager
/// (5% of connection events, 1% of heartbeats, 10% of latency metrics), which the
/// simulated service reproduces. `RUST_LOG_SAMPLE` replaces them.
///
/// Each module has a target-wide rate (what the summary shows as "rate"); the router's
/// tool calls carry `sample_key = "tool_call"`, and the connection manager's heartbeats and
/// latency metrics have rates of their own under it. The upstream client's errors, which
/// repeat through the error storm, keep their first 5 copies per key and second, and the
/// rest is counted in one summary line per second.
pub const DEFAULT_DIRECTIVES: &str = "demo::router=0.05,\
demo::websocket=0.01,\
demo::connection_manager=0.05,\
demo::connection_manager[heartbeat]=0.01,\
demo::connection_manager[metrics]=10%,\
demo::upstream=first 5/1s";

/// The embedded default levels: `RUST_LOG` replaces them.
pub const DEFAULT_LEVELS: &str = "debug";

/// Everything the run logs through, and the knobs it turns.
#[derive(Debug)]
pub(crate) struct Pipeline {
    /// The sampling directives in force at the start.
    pub(crate) directives: String,
    pub(crate) levels: String,
    pub(crate) sampler: SamplingHandle,
    pub(crate) writer: NonBlocking,
    pub(crate) guard: WorkerGuard,
    /// The subscriber the producer threads log into.
    pub(crate) dispatch: Dispatch,
    /// The sink's speed limit.
    pub(crate) throttle: Throttle,
    /// `/metrics`, while it is served.
    pub(crate) metrics: Option<ExporterGuard>,
    /// Why `/metrics` is not served although it was asked for.
    pub(crate) metrics_error: Option<String>,
}

impl Pipeline {
    /// Builds the pipeline for `cfg`. A bad directive, a log file that cannot be created
    /// or a writer that cannot start is an error; a busy metrics port is not: the figures
    /// are printed at the end anyway.
    pub(crate) fn set_up(cfg: &Config, schedule: &Schedule) -> Result<Self, Box<dyn Error>> {
        let directives =
            std::env::var("RUST_LOG_SAMPLE").unwrap_or_else(|_| DEFAULT_DIRECTIVES.to_string());
        let levels = std::env::var("RUST_LOG").unwrap_or_else(|_| DEFAULT_LEVELS.to_string());
        let sampler = SamplingFilter::builder()
            .breaker(
                Breaker::default()
                    .threshold_per_sec(BREAKER_THRESHOLD)
                    .window(schedule.breaker_window())
                    .hold(schedule.breaker_hold()),
            )
            // A failed request comes with its sampled-out lines (the writer below too).
            .capture(Capture::default().span("request"))
            .parse(&directives)
            .map_err(|e| format!("RUST_LOG_SAMPLE={directives:?}: {e}"))?;
        let handle = sampler.handle();
        let env_filter =
            EnvFilter::try_new(&levels).map_err(|e| format!("RUST_LOG={levels:?}: {e}"))?;

        let (sink, throttle) = open_sink(cfg)?;
        if cfg.sink == SinkKind::Slow {
            throttle.set(SLOW_SINK_BYTES_PER_SEC);
        }
        let (writer, guard) = NonBlockingBuilder::default()
            .buffered_lines_limit(QUEUE_LINES)
            .overflow(cfg.overflow)
            .thread_name("demo-log-writer")
            .try_finish(sink)?;

        let fmt_layer = fmt::layer()
            .with_ansi(false)
            .with_writer(CaptureWriter::new(writer.clone(), &handle))
            // `fmt`'s text, byte for byte, for less work on the caller (see
            // `backpressure_writer::format`).
            .fmt_fields(PlainFields::new())
            .event_format(Annotated::new(PlainFull::new()));
        // Captured lines are written through this layer alone.
        let fmt_layer = CaptureLayer::new(fmt_layer, &handle).with_filter(sampler);
        let dispatch = Dispatch::new(
            tracing_subscriber::registry()
                .with(env_filter)
                .with(fmt_layer),
        );
        // The breaker's own WARN notices go through this dispatcher: the run uses scoped
        // dispatchers (so that a test can run the demo), which a per-layer filter can't find.
        handle.set_notice_dispatch(&dispatch);

        let (metrics, metrics_error) = match cfg.metrics_addr {
            Some(addr) => match serve_metrics(addr, &writer, &handle) {
                Ok(guard) => (Some(guard), None),
                Err(e) => (None, Some(e.to_string())),
            },
            None => (None, None),
        };
        Ok(Pipeline {
            directives,
            levels,
            sampler: handle,
            writer,
            guard,
            dispatch,
            throttle,
            metrics,
            metrics_error,
        })
    }

    /// The lines printed before the run: what it is set up with.
    pub(crate) fn print_banner(&self, cfg: &Config, out: &mut dyn Write) -> io::Result<()> {
        writeln!(
            out,
            "demo: {}, overflow {}, sink {}",
            human::duration(cfg.duration),
            overflow(cfg.overflow),
            format!("{:?}", cfg.sink).to_lowercase()
        )?;
        writeln!(out, "  RUST_LOG_SAMPLE={}", self.directives)?;
        writeln!(out, "  RUST_LOG={}", self.levels)?;
        if cfg.sink != SinkKind::Stdout {
            writeln!(out, "  log file: {}", cfg.log_file.display())?;
        }
        if let (Some(addr), Some(_)) = (cfg.metrics_addr, &self.metrics) {
            writeln!(out, "  metrics: http://{addr}/metrics")?;
        }
        if let Some(e) = &self.metrics_error {
            writeln!(out, "  metrics: not served ({e}); carrying on without them")?;
        }
        Ok(())
    }
}

/// The policy as the command line names it: `drop-newest`, `block (up to 50 ms)`.
pub(crate) fn overflow(o: Overflow) -> String {
    match o {
        Overflow::DropNewest => "drop-newest".to_string(),
        Overflow::DropOldest => "drop-oldest".to_string(),
        Overflow::Block { timeout: Some(t) } => format!("block (up to {})", human::duration(t)),
        Overflow::Block { timeout: None } => "block".to_string(),
        other => format!("{other:?}"),
    }
}

type Sink = Box<dyn Write + Send>;

/// The sink behind its throttle: stdout, or the log file (its directory created).
fn open_sink(cfg: &Config) -> Result<(Sink, Throttle), Box<dyn Error>> {
    Ok(match cfg.sink {
        SinkKind::Stdout => {
            let (s, t) = ThrottledSink::new(io::stdout());
            (Box::new(s), t)
        }
        SinkKind::File | SinkKind::Slow => {
            if let Some(dir) = cfg.log_file.parent().filter(|d| !d.as_os_str().is_empty()) {
                fs::create_dir_all(dir)?;
            }
            let file = fs::File::create(&cfg.log_file)
                .map_err(|e| format!("cannot create {}: {e}", cfg.log_file.display()))?;
            let (s, t) = ThrottledSink::new(file);
            (Box::new(s), t)
        }
    })
}

/// `/metrics` for the run: installs the Prometheus exporter as the global recorder and
/// starts a `logmetrics` exporter publishing the writer's and the sampler's figures every
/// 250 ms; the guard stops it.
fn serve_metrics(
    addr: SocketAddr,
    writer: &NonBlocking,
    sampler: &SamplingHandle,
) -> Result<ExporterGuard, Box<dyn Error>> {
    // Real histograms (buckets), not summaries: the writer's own bucket bounds.
    let bounds = logmetrics::latency_bucket_bounds();
    let histogram = |name: &str| Matcher::Full(name.to_owned());
    PrometheusBuilder::new()
        .with_http_listener(addr)
        .set_buckets_for_metric(histogram(names::WRITER_QUEUE_WAIT), &bounds)?
        .set_buckets_for_metric(histogram(names::WRITER_BATCH_WRITE), &bounds)?
        .install()
        .map_err(|e| format!("cannot serve metrics on {addr}: {e} (use --metrics-addr off)"))?;
    let guard = logmetrics::Exporter::builder()
        .interval(Duration::from_millis(250))
        .writer("demo", writer)
        .sampler("demo", sampler)
        .spawn()?;
    Ok(guard)
}
