//! The demo: a simulated service logging through `sampling-layer` and
//! `backpressure-writer`, with `logmetrics` publishing the figures, in four phases.
//!
//! `examples/demo.rs` is a thin `main` around [`run`]; keeping the work here lets the
//! integration test run the very same code for a few seconds and check its figures.

mod args;
mod readback;
mod report;
mod service;
mod sink;

pub use args::{ArgError, Config, SinkKind, USAGE};
pub use readback::FileCounts;
pub use report::Outcome;
pub use service::Module;

use std::error::Error;
use std::fs;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use backpressure_writer::NonBlockingBuilder;
use sampling_layer::{Breaker, SamplingFilter};
use tracing::Dispatch;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::{fmt, EnvFilter, Layer};

use service::{Dice, Emitted, Pacer};
use sink::ThrottledSink;

/// The embedded default rates: the source report's strategy. `RUST_LOG_SAMPLE` replaces it.
///
/// Each module has a target-wide rate (what the summary shows as "rate"); the router's
/// tool calls carry `sample_key = "tool_call"`, and the connection manager's heartbeats and
/// latency metrics have rates of their own under it.
pub const DEFAULT_DIRECTIVES: &str = "demo::router=0.05,\
demo::websocket=0.01,\
demo::connection_manager=0.05,\
demo::connection_manager[heartbeat]=0.01,\
demo::connection_manager[metrics]=10%";

/// The embedded default levels: `RUST_LOG` replaces it.
pub const DEFAULT_LEVELS: &str = "debug";

/// Requests per second per producer thread in the steady phases.
const REQUESTS_PER_SEC: f64 = 2_500.0;
/// Rows per second the batch exporter logs during the overload phase: about five times
/// what the throttled sink can take.
const FLOOD_ROWS_PER_SEC: f64 = 40_000.0;
/// ERROR events per second during the storm: well above the breaker's threshold.
const STORM_ERRORS_PER_SEC: f64 = 400.0;
/// The breaker's threshold (ERROR events per second over a one-second window).
const BREAKER_THRESHOLD: f64 = 50.0;
/// Bytes per second the sink accepts while throttled: a slow disk.
const SLOW_SINK_BYTES_PER_SEC: u64 = 1_000_000;
/// The writer's queue: small enough for the overload phase to fill it.
const QUEUE_LINES: usize = 8_192;

/// The whole command: parses `args` (after the program name), runs the demo, and returns
/// the process exit code: 0 when every check passed, 1 when one failed (a WARN/ERROR line
/// missing from the file, accounting that does not add up), 2 for bad arguments or a run
/// that could not start.
pub fn cli<I, S>(args: I, out: &mut dyn Write) -> u8
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let cfg = match Config::parse(args) {
        Ok(cfg) => cfg,
        Err(e) => {
            eprintln!("demo: {e}");
            return 2;
        }
    };
    match run(&cfg, out) {
        Ok(outcome) if outcome.ok() => 0,
        Ok(_) => 1,
        Err(e) => {
            eprintln!("demo: {e}");
            2
        }
    }
}

/// Runs the demo and returns its outcome; progress and the summary go to `out`.
pub fn run(cfg: &Config, out: &mut dyn Write) -> Result<Outcome, Box<dyn Error>> {
    let started = Instant::now();
    let directives =
        std::env::var("RUST_LOG_SAMPLE").unwrap_or_else(|_| DEFAULT_DIRECTIVES.to_string());
    let levels = std::env::var("RUST_LOG").unwrap_or_else(|_| DEFAULT_LEVELS.to_string());

    // The hold period scales with the run so that a short run still shows the breaker
    // closing again; 60 s is the library's default for real services.
    let hold = (cfg.duration / 15).max(Duration::from_millis(500));
    let sampler = SamplingFilter::builder()
        .breaker(
            Breaker::default()
                .threshold_per_sec(BREAKER_THRESHOLD)
                .window(Duration::from_secs(1))
                .hold(hold),
        )
        .parse(&directives)
        .map_err(|e| format!("RUST_LOG_SAMPLE={directives:?}: {e}"))?;
    let handle = sampler.handle();
    let env_filter =
        EnvFilter::try_new(&levels).map_err(|e| format!("RUST_LOG={levels:?}: {e}"))?;

    let (sink, throttle): (Box<dyn Write + Send>, _) = match cfg.sink {
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
    };
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
        .with_writer(writer.clone())
        .event_format(sampling_layer::Annotated::new(fmt::format()))
        .with_filter(sampler);
    let dispatch = Dispatch::new(
        tracing_subscriber::registry()
            .with(env_filter)
            .with(fmt_layer),
    );
    // The breaker's own WARN notices go through this dispatcher: the run uses scoped
    // dispatchers (so that a test can run the demo), which a per-layer filter can't find.
    handle.set_notice_dispatch(&dispatch);

    // A busy port must not stop the main job: the figures are printed at the end anyway.
    let _metrics = match cfg.metrics_addr {
        Some(addr) => match metrics_endpoint::start(addr, &writer, &handle) {
            Ok(guard) => Some(guard),
            Err(e) => {
                writeln!(out, "  metrics: not served ({e}); carrying on without them")?;
                None
            }
        },
        None => None,
    };

    writeln!(
        out,
        "demo: {:.0} s, overflow {:?}, sink {:?}",
        cfg.duration.as_secs_f64(),
        cfg.overflow,
        cfg.sink
    )?;
    writeln!(out, "  RUST_LOG_SAMPLE={directives}")?;
    writeln!(out, "  RUST_LOG={levels}")?;
    if cfg.sink != SinkKind::Stdout {
        writeln!(out, "  log file: {}", cfg.log_file.display())?;
    }
    if let (Some(addr), Some(_)) = (cfg.metrics_addr, &_metrics) {
        writeln!(out, "  metrics: http://{addr}/metrics")?;
    }

    let emitted = Arc::new(Emitted::default());
    let phases = Phases::split(cfg.duration);
    let progress_stop = Arc::new(AtomicBool::new(false));
    let progress = cfg.progress.then(|| {
        report::spawn_progress(
            writer.clone(),
            handle.clone(),
            Arc::clone(&emitted),
            Arc::clone(&progress_stop),
        )
    });

    // Two producer threads: the steady request traffic runs in both through every phase;
    // the second also carries the phase's special load (the flood, the storm).
    let phase_clock = Instant::now();
    let mut producers = Vec::new();
    for n in 0..2u64 {
        let dispatch = dispatch.clone();
        let emitted = Arc::clone(&emitted);
        let phases = phases.clone();
        producers.push(
            thread::Builder::new()
                .name(format!("demo-producer-{n}"))
                .spawn(move || {
                    tracing::dispatcher::with_default(&dispatch, || {
                        produce(n, phase_clock, &phases, &emitted)
                    })
                })?,
        );
    }

    // The conductor: turns the sink's throttle and the run-time rate change on schedule.
    let slow_always = cfg.sink == SinkKind::Slow;
    let mut announced = None;
    // The sampler's figures at the end of the steady phase: the actual rates before the
    // breaker and the rate change blur them.
    let mut steady = None;
    while phase_clock.elapsed() < phases.end {
        let phase = phases.at(phase_clock.elapsed());
        if announced != Some(phase) {
            announced = Some(phase);
            match phase {
                0 => writeln!(out, "phase 1: steady traffic")?,
                1 => {
                    steady = Some(handle.stats());
                    throttle.set(SLOW_SINK_BYTES_PER_SEC);
                    writeln!(
                        out,
                        "phase 2: overload burst into a slow sink ({:?})",
                        cfg.overflow
                    )?;
                }
                2 => {
                    if !slow_always {
                        throttle.set(0);
                    }
                    writeln!(
                        out,
                        "phase 3: error storm ({STORM_ERRORS_PER_SEC} ERROR/s; breaker threshold \
                         {BREAKER_THRESHOLD}/s, hold {hold:?})"
                    )?;
                }
                _ => {
                    let changed = rate_change(&directives);
                    handle.set_directives(&changed)?;
                    writeln!(
                        out,
                        "phase 4: run-time rate change through the handle: {changed}"
                    )?;
                }
            }
        }
        thread::sleep(Duration::from_millis(10));
    }
    for p in producers {
        p.join().map_err(|_| "a producer thread panicked")?;
    }
    throttle.set(0);
    progress_stop.store(true, Ordering::Relaxed);
    if let Some(p) = progress {
        let _ = p.join();
    }

    // Everything submitted is now either written, dropped or queued: drain and stop.
    drop(dispatch);
    let flushed = guard.flush();
    drop(guard);
    let writer_stats = writer.stats();
    let sampling_stats = handle.stats();
    let file = if cfg.sink == SinkKind::Stdout {
        None
    } else {
        Some(readback::count(&cfg.log_file)?)
    };
    let outcome = Outcome::new(
        &emitted,
        steady.as_ref(),
        &sampling_stats,
        &writer_stats,
        file,
        flushed.err().map(|e| e.to_string()),
    );
    outcome.print(out, started.elapsed())?;
    Ok(outcome)
}

/// What a producer thread does at a given moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Load {
    Requests,
    Flood,
    Storm,
}

/// One producer thread: steady request traffic throughout, except that the second thread
/// carries the phase's special load (the flood, the storm) while it lasts.
fn produce(n: u64, clock: Instant, phases: &Phases, emitted: &Emitted) {
    let mut dice = Dice::new(n);
    let mut seq = n << 40;
    let mut load = None;
    let mut pacer = Pacer::new(REQUESTS_PER_SEC);
    loop {
        let now = clock.elapsed();
        if now >= phases.end {
            return;
        }
        let current = match (n, phases.at(now)) {
            (1, 1) => Load::Flood,
            (1, 2) if now < phases.storm_end => Load::Storm,
            _ => Load::Requests,
        };
        if load != Some(current) {
            // A fresh pacer per stretch of load: a pacer that had been idle would
            // otherwise "catch up" on the time it did not run, flat out.
            load = Some(current);
            pacer = Pacer::new(match current {
                Load::Requests => REQUESTS_PER_SEC,
                Load::Flood => FLOOD_ROWS_PER_SEC / 64.0,
                Load::Storm => STORM_ERRORS_PER_SEC,
            });
        }
        seq += 1;
        match current {
            Load::Flood => {
                // A batch job exporting rows far faster than the slow sink takes them.
                for row in 0..64 {
                    service::export_row(seq * 64 + row, emitted);
                }
            }
            Load::Storm => service::storm_error(seq, emitted),
            Load::Requests => service::request(seq, &mut dice, emitted),
        }
        pacer.tick();
    }
}

/// The phase boundaries: steady 35%, burst 20%, storm 25% (errors for its first 5% of the
/// run, then the breaker's window and hold), rate change 20%.
#[derive(Debug, Clone)]
struct Phases {
    starts: [Duration; 4],
    storm_end: Duration,
    end: Duration,
}

impl Phases {
    fn split(total: Duration) -> Self {
        let at = |f: f64| total.mul_f64(f);
        Phases {
            starts: [Duration::ZERO, at(0.35), at(0.55), at(0.80)],
            storm_end: at(0.60),
            end: total,
        }
    }

    fn at(&self, t: Duration) -> usize {
        self.starts.iter().rposition(|s| t >= *s).unwrap_or(0)
    }
}

/// The directives for the last phase: the router goes from 5% to 20%, as an operator would
/// raise a rate while chasing a problem.
fn rate_change(directives: &str) -> String {
    const ROUTER: &str = "demo::router=";
    let mut changed: Vec<&str> = directives
        .split(',')
        .filter(|d| !d.trim().starts_with(ROUTER))
        .collect();
    changed.push("demo::router=0.2");
    changed.join(",")
}

mod metrics_endpoint {
    //! `/metrics` for the run: the Prometheus exporter plus a `logmetrics` exporter
    //! publishing the writer's and the sampler's figures every 250 ms.

    use std::error::Error;
    use std::net::SocketAddr;
    use std::time::Duration;

    use backpressure_writer::NonBlocking;
    use logmetrics::names;
    use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
    use sampling_layer::SamplingHandle;

    /// Installs the global recorder and starts the exporter; the guard stops it.
    pub(super) fn start(
        addr: SocketAddr,
        writer: &NonBlocking,
        sampler: &SamplingHandle,
    ) -> Result<logmetrics::ExporterGuard, Box<dyn Error>> {
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
}
