//! An axum service logging through the whole pipeline, written to be copied:
//! `cargo run --release --example service -- --help`.
//!
//! - **Levels and rates** from `RUST_LOG` (run-time levels, `sampling_layer::level`) and
//!   `RUST_LOG_SAMPLE` (a consistent sampler keyed on the `request_id` span field, or with
//!   `--sampling per-event` one that decides per callsite and takes budgets such as
//!   `app::handlers=200/s`); a bad value stops start-up with an error naming the variable
//!   and the directive ([`filters`]).
//! - **The context of a failed request** (`+{request_id}` in the default rates): its
//!   sampled-out lines wait in its span and are written, marked `"captured":true`, before
//!   its ERROR, through the file writer's context share ([`telemetry`]).
//! - **A JSON-lines file**, sampled and annotated with `sample_rate`, through a
//!   `backpressure-writer` over its rolling file sink (daily or hourly, 256 MiB files, gzip, SIGHUP reopens); **stdout**
//!   human-readable, with its own levels (`--stdout-log`), not sampled ([`telemetry`]).
//! - **`log`-crate events** of a dependency ([`legacy_dep`]) bridged by `tracing-log`.
//! - **Routes** ([`routes`]): `/work` (instrumented), `/metrics` and `/ready` on the app's
//!   listener; ([`admin`]) `/admin/sampling` (whole set, or `/admin/sampling/{target}` one
//!   target, optionally for a while), `/admin/level` (the same for levels) and `/admin/flush` on a second
//!   listener, bound to loopback by default, with bodies bounded to 64 KiB.
//! - **A panic hook** that logs a panic as an ERROR line and flushes the writers before
//!   the process goes on (or aborts).
//! - **OpenTelemetry**, opt-in (`--otel`, [`otel`]): traces sampled at the root, and the
//!   file keeps the logs of exactly the sampled traces.
//! - **Graceful shutdown** on SIGINT or SIGTERM: stop accepting and finish the requests in
//!   flight, shut the tracer provider down, stop the figures exporter, flush the writers
//!   within a deadline, drop their guards. `docs/guide.md` explains the order.
//!
//! Once both listeners are bound it prints one line on stdout,
//! `service listening app=ADDR admin=ADDR`, and at the end
//! `service stopped file_submitted=N file_written=N file_dropped=N ...`.

pub mod admin;
pub mod filters;
pub mod legacy_dep;
pub mod otel;
pub mod routes;
pub mod telemetry;

use std::error::Error;
use std::future::IntoFuture;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use backpressure_writer::rolling::Rotation;
use tokio::net::TcpListener;

use self::admin::AdminState;
use self::filters::{Filters, Keys};
use self::routes::AppState;
use self::telemetry::{Outcome, Settings, Telemetry};

/// What `--help` says after the flags: the variables that are not flags.
const ENVIRONMENT_HELP: &str = "\
Environment:
  RUST_LOG         levels of everything (target=level, a default level) [default: info]
  RUST_LOG_SAMPLE  the file's sampling directives (sampling-layer syntax); empty: keep
                   every line [default: app::handlers=0.25,legacy_dep=0.1,+{request_id};
                   with --sampling per-event: app::handlers=200/s,legacy_dep=0.1,+{request_id}]
  FLEET_SIZE       the replicas a fleet budget (`app::handlers=2000/s/fleet`, with
                   --sampling per-event) is shared out by; read again every second, so
                   a deployment that rewrites it (or a sidecar) moves each replica's share
  Each flag can also be set through the SERVICE_* variable shown beside it.";

/// The service's command line; every flag can also come from the environment.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "service",
    about = "An axum service logging through sampling-layer and backpressure-writer",
    after_help = ENVIRONMENT_HELP
)]
pub struct Config {
    /// Port of the application listener (`/work`, `/metrics`, `/ready`); 0 picks a free one.
    #[arg(long, env = "SERVICE_PORT", default_value_t = 8080)]
    pub port: u16,
    /// Address the application listener binds.
    #[arg(long, env = "SERVICE_BIND", default_value = "0.0.0.0")]
    pub bind: IpAddr,
    /// Address of the admin listener. Loopback by default: whoever reaches it can change
    /// what the service logs. Port 0 picks a free one.
    #[arg(long, env = "SERVICE_ADMIN_ADDR", default_value = "127.0.0.1:9091")]
    pub admin_addr: SocketAddr,
    /// Directory of the JSON-lines files (`service.<date>.jsonl`).
    #[arg(long, env = "SERVICE_LOG_DIR", default_value = "logs")]
    pub log_dir: PathBuf,
    /// A new file every day or every hour.
    #[arg(long, env = "SERVICE_ROTATION", value_enum, default_value_t = Rotate::Daily)]
    pub rotation: Rotate,
    /// Levels of the stdout layer (EnvFilter syntax), within those of `RUST_LOG`.
    #[arg(long, env = "SERVICE_STDOUT_LOG", default_value = "info")]
    pub stdout_log: String,
    /// How often the figures are published to `/metrics`, in milliseconds.
    #[arg(long, env = "SERVICE_EXPORT_INTERVAL_MS", default_value_t = 5_000)]
    pub export_interval_ms: u64,
    /// At shutdown: how long requests in flight may take, and then how long the writers
    /// may take to flush, in milliseconds (each).
    #[arg(long, env = "SERVICE_SHUTDOWN_DEADLINE_MS", default_value_t = 5_000)]
    pub shutdown_deadline_ms: u64,
    /// How the file's sampler decides: `consistent` keeps whole requests (by `request_id`,
    /// the same ones in every process; a budget there is one rate for the target);
    /// `per-event` decides per callsite, 1 in N, and shares a budget
    /// (`app::handlers=200/s`) out among the callsites, rare ones kept in full.
    #[arg(long, env = "SERVICE_SAMPLING", value_enum, default_value_t = Sampling::Consistent)]
    pub sampling: Sampling,
    /// Trace with OpenTelemetry, and keep in the file the logs of the sampled traces
    /// (falling back to `request_id` outside a trace).
    #[arg(long, env = "SERVICE_OTEL")]
    pub otel: bool,
    /// With `--otel`: the share of traces sampled (`TraceIdRatioBased` at the root). The
    /// service reads no incoming `traceparent`: every request starts a trace.
    #[arg(long, env = "SERVICE_OTEL_HEAD_RATE", default_value_t = 0.1)]
    pub otel_head_rate: f64,
    /// With `--otel`: write each exported span as a JSON line to this file (a stand-in
    /// for an OTLP exporter).
    #[arg(long, env = "SERVICE_OTEL_SPANS_FILE", requires = "otel")]
    pub otel_spans_file: Option<PathBuf>,
}

/// How the file's sampler decides (see [`Keys`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Sampling {
    /// Whole requests, by `request_id` (or by trace with `--otel`).
    Consistent,
    /// Each callsite 1 in N; budgets allowed. Not with `--otel`.
    PerEvent,
}

/// How often the log file rolls over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Rotate {
    /// `service.YYYY-MM-DD.jsonl`.
    Daily,
    /// `service.YYYY-MM-DD-HH.jsonl`.
    Hourly,
}

/// Parses the command line (and environment), runs the service until SIGINT or SIGTERM,
/// and returns the process's exit status: 0 after a clean shutdown.
pub fn main_with(args: impl IntoIterator<Item = String>) -> std::process::ExitCode {
    use clap::Parser;
    let config = match Config::try_parse_from(std::iter::once("service".to_owned()).chain(args)) {
        Ok(c) => c,
        // `--help` and `--version` print to stdout and exit 0; mistakes exit 2.
        Err(e) => e.exit(),
    };
    match run(config) {
        Ok(outcome) if outcome.flushed.is_ok() => std::process::ExitCode::SUCCESS,
        Ok(_) => std::process::ExitCode::FAILURE,
        Err(e) => {
            eprintln!("service: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Runs the service on a new tokio runtime until SIGINT or SIGTERM. Installs the global
/// subscriber, `log` logger and `metrics` recorder: once per process.
pub fn run(config: Config) -> Result<Outcome, Box<dyn Error>> {
    // Checked before anything is created: a typo leaves no empty log file behind.
    let keys = match (config.sampling, config.otel) {
        (Sampling::Consistent, true) => Keys::FollowTrace,
        (Sampling::Consistent, false) => Keys::RequestId,
        (Sampling::PerEvent, false) => Keys::PerEvent,
        // Following the trace is a consistent decision: the two cannot be combined.
        (Sampling::PerEvent, true) => {
            return Err(
                "--sampling per-event cannot be combined with --otel, which keeps \
                        the logs of whole sampled traces"
                    .into(),
            )
        }
    };
    let filters = Filters::from_env(&config.stdout_log, keys)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(serve(config, filters))
}

async fn serve(config: Config, filters: Filters) -> Result<Outcome, Box<dyn Error>> {
    let deadline = Duration::from_millis(config.shutdown_deadline_ms);
    let tracer_provider = match config.otel {
        true => Some(otel::provider(
            config.otel_head_rate,
            config.otel_spans_file.as_deref(),
        )?),
        false => None,
    };
    let settings = Settings {
        log_dir: &config.log_dir,
        rotation: match config.rotation {
            Rotate::Daily => Rotation::Daily,
            Rotate::Hourly => Rotation::Hourly,
        },
        export_interval: Duration::from_millis(config.export_interval_ms.max(1)),
        panic_flush_deadline: deadline,
        tracer_provider,
    };
    let telemetry = Telemetry::install(filters, &settings)?;

    let app_listener = TcpListener::bind((config.bind, config.port)).await?;
    let admin_listener = TcpListener::bind(config.admin_addr).await?;
    // Handlers first, then the line that says we are up: a SIGTERM sent after reading it
    // is always handled.
    let signal = shutdown_signal()?;
    reopen_on_sighup(telemetry.files.clone())?;
    let (app_addr, admin_addr) = (app_listener.local_addr()?, admin_listener.local_addr()?);
    println!("service listening app={app_addr} admin={admin_addr}");
    tracing::info!(target: "app", %app_addr, %admin_addr, "listening");

    // Metrics-exporter-prometheus keeps its histograms' windows in the recorder: with no
    // HTTP listener of its own, its upkeep is ours to run.
    let prometheus = telemetry.prometheus.clone();
    let upkeep = tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(5));
        loop {
            every.tick().await;
            prometheus.run_upkeep();
        }
    });

    let exporter = telemetry.exporter.exporter().clone();
    let app = routes::app(AppState {
        prometheus: telemetry.prometheus.clone(),
        exporter: exporter.clone(),
    });
    let admin = admin::admin(AdminState {
        sampling: telemetry.sampling.clone(),
        levels: telemetry.levels.clone(),
        file: telemetry.file.clone(),
        file_guard: telemetry.file_guard.clone(),
        exporter,
        flush_deadline: deadline,
    });
    let (stop, stopped) = tokio::sync::watch::channel(());
    let until_stopped = |mut rx: tokio::sync::watch::Receiver<()>| async move {
        let _ = rx.changed().await;
    };
    let app = tokio::spawn(
        axum::serve(app_listener, app)
            .with_graceful_shutdown(until_stopped(stopped.clone()))
            .into_future(),
    );
    let admin = tokio::spawn(
        axum::serve(admin_listener, admin)
            .with_graceful_shutdown(until_stopped(stopped))
            .into_future(),
    );

    let name = signal.await;
    tracing::info!(target: "app", signal = name, "shutting down");
    // 1. Stop accepting; requests in flight finish (and log) within the deadline.
    let _ = stop.send(());
    let drained = tokio::time::timeout(deadline, async {
        let _ = app.await;
        let _ = admin.await;
    })
    .await;
    if drained.is_err() {
        tracing::warn!(target: "app", ?deadline, "requests still in flight at the deadline");
    }
    upkeep.abort();
    tracing::info!(target: "app", "stopped serving");
    // 2.-5. Tracer provider, exporter, flush, guards: off the runtime, the flushes block.
    let outcome = tokio::task::spawn_blocking(move || telemetry.shutdown(deadline)).await?;
    println!("{outcome}");
    Ok(outcome)
}

/// logrotate's `create` mode: it renames the file, then sends SIGHUP; the sink opens the
/// name afresh at its next write.
fn reopen_on_sighup(files: backpressure_writer::rolling::RollingHandle) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut hup = signal(SignalKind::hangup())?;
        tokio::spawn(async move {
            while hup.recv().await.is_some() {
                files.reopen();
            }
        });
    }
    #[cfg(not(unix))]
    drop(files);
    Ok(())
}

/// Registers SIGINT and SIGTERM now; the future resolves with the name of the first.
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = &'static str>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        Ok(async move {
            tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
            "ctrl-c"
        })
    }
}
