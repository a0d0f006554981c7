//! A small service whose logs go through `sampling-layer` and two `backpressure-writer`s,
//! with their figures served to Prometheus by `logmetrics` and `metrics-exporter-prometheus`.
//!
//! ```text
//! cargo run --release --example prometheus -- [--listen 127.0.0.1:9000] [--events 20000]
//!     [--seconds N] [--summary PATH]
//! ```
//!
//! It logs a bounded burst (an "app" log behind a deliberately slow sink and a small queue,
//! so some lines are dropped, and an "audit" log that blocks rather than drops), flushes
//! both, publishes once more, prints (and with `--summary`, writes) its final counts, then
//! keeps serving `/metrics` until killed or for `--seconds N`. `.ci/e2e-prometheus` compares
//! those counts with what a real Prometheus scraped. The listen address can also come from
//! `LOGMETRICS_EXAMPLE_LISTEN`; it defaults to loopback.

use std::error::Error;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::thread;
use std::time::{Duration, Instant};

use backpressure_writer::{NonBlocking, NonBlockingBuilder, Overflow};
use logmetrics::{names, Exporter};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
use sampling_layer::{Mode, SamplingFilter};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::Layer;

const DIRECTIVES: &str = "app::router=1/20,app::db=10%";

struct Args {
    listen: SocketAddr,
    events: u64,
    seconds: Option<u64>,
    summary: Option<PathBuf>,
}

fn parse_args() -> Result<Args, String> {
    let default_listen =
        std::env::var("LOGMETRICS_EXAMPLE_LISTEN").unwrap_or_else(|_| "127.0.0.1:9000".to_owned());
    let mut args = Args {
        listen: default_listen
            .parse()
            .map_err(|e| format!("LOGMETRICS_EXAMPLE_LISTEN={default_listen:?}: {e}"))?,
        events: 20_000,
        seconds: None,
        summary: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--listen" => {
                let v = value()?;
                args.listen = v.parse().map_err(|e| format!("--listen {v:?}: {e}"))?;
            }
            "--events" => {
                let v = value()?;
                args.events = v.parse().map_err(|e| format!("--events {v:?}: {e}"))?;
            }
            "--seconds" => {
                let v = value()?;
                args.seconds = Some(v.parse().map_err(|e| format!("--seconds {v:?}: {e}"))?);
            }
            "--summary" => args.summary = Some(PathBuf::from(value()?)),
            "-h" | "--help" => {
                println!(
                    "usage: prometheus [--listen ADDR] [--events N] [--seconds N] [--summary PATH]"
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?} (try --help)")),
        }
    }
    Ok(args)
}

/// Stands in for a slow disk or a congested pipe: every write to the sink takes 2 ms.
struct SlowSink;

impl Write for SlowSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        thread::sleep(Duration::from_millis(2));
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn main() -> Result<(), Box<dyn Error>> {
    let args = parse_args()?;

    // Real Prometheus histograms whose buckets are exactly the writer's own.
    let bounds = logmetrics::latency_bucket_bounds();
    PrometheusBuilder::new()
        .with_http_listener(args.listen)
        .set_buckets_for_metric(Matcher::Full(names::WRITER_QUEUE_WAIT.to_owned()), &bounds)?
        .set_buckets_for_metric(Matcher::Full(names::WRITER_BATCH_WRITE.to_owned()), &bounds)?
        .install()?;

    let (app, app_guard) = NonBlockingBuilder::default()
        .buffered_lines_limit(256)
        .overflow(Overflow::DropNewest)
        .thread_name("app-log")
        .try_finish(SlowSink)?;
    let (audit, audit_guard) = NonBlockingBuilder::default()
        .lossy(false)
        .thread_name("audit-log")
        .try_finish(io::sink())?;
    logmetrics::self_check(&app, &app_guard, Duration::from_secs(5))?;

    let sampler = SamplingFilter::builder()
        .mode(Mode::Deterministic)
        .parse(DIRECTIVES)?;
    let handle = sampler.handle();

    let exporter = Exporter::builder()
        .interval(Duration::from_millis(500))
        .writer("app", &app)
        .writer("audit", &audit)
        .sampler("main", &handle)
        .spawn()?;

    let subscriber = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(app.clone())
                .with_filter(sampler),
        )
        .with(
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(audit.clone())
                .with_filter(Targets::new().with_target("audit", tracing::Level::INFO)),
        );
    tracing::subscriber::set_global_default(subscriber)?;

    println!("serving metrics on http://{}/metrics", args.listen);
    workload(args.events);

    // Everything is written or counted as dropped; publish once more so the next scrape
    // sees the final figures, then report them.
    app_guard.flush_timeout(Duration::from_secs(30))?;
    audit_guard.flush_timeout(Duration::from_secs(30))?;
    exporter.exporter().export_now();
    let summary = summary(&app, &audit, &handle.stats());
    print!("{summary}");
    println!("health: {}", exporter.exporter().health());
    if let Some(path) = &args.summary {
        // Write then rename, so a reader never sees half a file.
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, &summary)?;
        std::fs::rename(&tmp, path)?;
    }

    let until = args
        .seconds
        .map(|s| Instant::now() + Duration::from_secs(s));
    loop {
        if until.is_some_and(|t| Instant::now() >= t) {
            return Ok(());
        }
        thread::sleep(Duration::from_millis(200));
    }
}

/// A burst of requests: chatty router and db logs (sampled), some events under no
/// directive (`(other)`), warnings (never sampled) and audit records (their own writer).
fn workload(events: u64) {
    for i in 0..events {
        tracing::info!(target: "app::router", request = i, path = "/api/items", "routed request");
        if i % 2 == 0 {
            tracing::debug!(target: "app::db", request = i, rows = i % 17, "query done");
        }
        if i % 10 == 0 {
            tracing::info!(target: "app::cache", request = i, "cache refreshed");
        }
        if i % 500 == 0 {
            tracing::warn!(target: "app::router", request = i, "slow request");
        }
        if i % 100 == 0 {
            tracing::info!(target: "audit", request = i, user = "alice", "item viewed");
        }
    }
}

fn summary(
    app: &NonBlocking,
    audit: &NonBlocking,
    sampling: &sampling_layer::stats::SamplingStats,
) -> String {
    let (a, b) = (app.stats(), audit.stats());
    let mut out = String::new();
    let mut line = |k: &str, v: u64| out.push_str(&format!("{k}={v}\n"));
    line("app_submitted", a.submitted);
    line("app_written", a.lines_written);
    line("app_dropped", a.dropped.total());
    line("app_dropped_newest", a.dropped.newest);
    line("audit_written", b.lines_written);
    line("audit_dropped", b.dropped.total());
    for t in &sampling.targets {
        let key = t.target.replace("::", "_");
        let key = if key.is_empty() {
            "default".to_owned()
        } else {
            key
        };
        line(&format!("{}_seen", key.trim_start_matches("app_")), t.seen);
        line(&format!("{}_kept", key.trim_start_matches("app_")), t.kept);
    }
    out
}
