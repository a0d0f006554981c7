//! A real service's throughput with each logging stack: an axum app with tower-http's
//! `TraceLayer` (a DEBUG span per request and its two DEBUG events) and two events of its
//! own per request, loaded on loopback by 32 keep-alive connections, as `wrk -t1 -c32`
//! would load it.
//!
//! ```text
//! cargo bench -p benches --bench service                 # 5 rounds of 4 s per mode
//! cargo bench -p benches --bench service -- --rounds 3 --seconds 2
//! cargo bench -p benches --bench service -- --modes none,none_poll,ours
//! cargo bench -p benches --bench service -- --callgrind --modes none,bare,ours_deferred
//! ```
//!
//! `--callgrind` counts instructions per request instead of timing (each mode under
//! valgrind for 4 s and 14 s, or `--seconds`; see [`instructions`]): a figure the
//! machine's load does not move, where requests per second spread by ±10%.
//!
//! Each run is a child process (a global subscriber is once per process), the modes
//! interleaved round by round so that a noisy stretch of the machine hits every mode
//! alike, each round starting one mode further on so that none always runs first; the
//! best round of each mode is reported, with every round's figure beside it,
//! then each mode over `none`, `bare`, `bare_layer` (and a capturing mode over its mode
//! without capture) round by round, the median of those ratios with the interval that
//! holds the true median at 95% confidence, for throughput and for CPU a request (see
//! `parent::paired`). Rounds of one mode over another spread by about 10% here, so a
//! margin of a few percent takes a hundred rounds or more to decide:
//!
//! ```text
//! cargo bench -p benches --bench service -- --modes none,none_again,bare,ours_deferred_layer --rounds 160 --seconds 1
//! ```
//!
//! - `none`: no subscriber at all (the ceiling);
//! - `bare`: `registry()` with no layer (what spans cost without anyone listening). Such
//!   a registry never frees a closed span's slot: `tracing-subscriber` clears a span
//!   only from `Layered`'s close, so with no layer every request span stays in memory
//!   and its close skips the work every other stack here does (see `rss_kib`);
//! - `bare_layer`: `registry()` with one layer that does nothing (`Identity`): the
//!   cheapest stack that frees its spans;
//! - `appender`: `fmt` text into `tracing_appender::non_blocking` (lossy), no sampler;
//! - `ours_stock`: the same `fmt` layer, annotated and filtered by `sampling-layer` at
//!   `app::router=0.05,app::conn=0.01,tower_http=0.01`, into `backpressure-writer`;
//! - `ours`: the same, with `backpressure_writer::format`'s drop-ins for `fmt`'s
//!   formatters (`PlainFields`, `PlainFull` and its `CachedSystemTime`): the same lines.
//! - `ours_deferred`: `ours`'s lines laid out on the writer's thread:
//!   `backpressure_writer::deferred`'s layer, annotated through
//!   `sampling_layer::sample_rate`, its records decoded by `Decoded` around the file;
//! - `ours_deferred_layer`: `ours_deferred` with the
//!   sampler as a layer on the registry instead of the deferred layer's per-layer filter
//!   (the same lines, for a stack with one output): no per-layer filter bookkeeping on
//!   each span's enter, exit and close;
//! - `ours_deferred_layer_poll8` (only when named in `--modes`): `ours_deferred_layer`
//!   with the writer's longest idle poll at 8 ms instead of the default 32 (`max_poll`):
//!   four times the worker's wake-ups while lines come a few a millisecond;
//! - `ours_deferred_layer_null` (only when named in `--modes`): `ours_deferred_layer`
//!   with `Decoded` around `io::sink` instead of the file: the writer and its worker's
//!   layout without the file's writes;
//! - `ours_deferred_layer_sink` (only when named in `--modes`): `ours_deferred_layer` with
//!   its records written to `io::sink` on the caller's thread, with no writer: what the
//!   writer costs the service (its queue, its worker's wake-ups, layout and file writes);
//! - `ours_capture` (only when named in `--modes`): `ours` with error-triggered capture
//!   of tower-http's `request` spans (`CaptureLayer`, `CaptureWriter`) and no request
//!   failing: every sampled-out event of a request is formatted into its span's buffer and
//!   discarded when the span closes, what capture costs a service that never fails;
//!   `ours_deferred_capture` (also only when named) the same with `ours_deferred`'s
//!   layer, which records the captured events instead of formatting them.
//!
//! - `none_again` (only when named in `--modes`): `none` under a second name, the
//!   control of the measurement itself. Nothing differs between the two, so how far
//!   `none_again`'s figures fall from `none`'s in a run is the spread a difference between
//!   two modes must exceed before that run can tell them apart.
//!
//! - `none_poll` (only when named in `--modes`): no subscriber, and a thread that wakes
//!   every millisecond, as the writer's worker does while lines keep coming. On a VM an
//!   idle vCPU halts and waking it costs the loopback traffic dearly, so a process with a
//!   thread that keeps waking can serve more than one without: this mode measures that
//!   effect alone.
//!
//! Every stack with a writer writes into a temporary file.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::routing::get;
use axum::Router;
use backpressure_writer::deferred::{Decoded, DeferredLayer};
use backpressure_writer::format::{PlainFields, PlainFull};
use sampling_layer::capture::{Capture, CaptureLayer, CaptureWriter};
use sampling_layer::Annotated;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tower_http::trace::TraceLayer;
use tracing_subscriber::{fmt, prelude::*};

#[path = "service/parent.rs"]
mod parent;
use parent::{instructions, parent};

/// The directives of the `ours` stack.
const DIRECTIVES: &str = "app::router=0.05,app::conn=0.01,tower_http=0.01";
/// Keep-alive connections of the load generator.
const CONNECTIONS: usize = 32;
/// The modes, in the order the first round runs them (each later round starts one on).
const MODES: [&str; 8] = [
    "none",
    "bare",
    "bare_layer",
    "appender",
    "ours_stock",
    "ours",
    "ours_deferred",
    "ours_deferred_layer",
];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let seconds: f64 = value("--seconds").map_or(4.0, |s| s.parse().expect("--seconds"));
    if let Some(mode) = value("--child") {
        child(&mode, Duration::from_secs_f64(seconds));
        return;
    }
    // `cargo bench` passes `--bench`; `cargo test --benches` runs this as a smoke test.
    let smoke = !args.iter().any(|a| a == "--bench") && value("--rounds").is_none();
    let rounds: usize = value("--rounds").map_or(5, |s| s.parse().expect("--rounds"));
    let (rounds, seconds) = if smoke { (1, 0.3) } else { (rounds, seconds) };
    let modes: Vec<String> = value("--modes").map_or_else(
        || MODES.iter().map(|m| m.to_string()).collect(),
        |m| m.split(',').map(str::to_owned).collect(),
    );
    if args.iter().any(|a| a == "--callgrind") {
        instructions(&modes, 4.0, if seconds > 4.0 { seconds } else { 14.0 });
        return;
    }
    parent(&modes, rounds, seconds);
}

/// CPU time this process has used in user space and in the kernel (all threads), from
/// `/proc/self/stat` (in ticks of 1/100 s, Linux's `USER_HZ`); `None` elsewhere.
fn process_cpu() -> Option<(Duration, Duration)> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces), from field 3 on.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| -> Option<Duration> {
        Some(Duration::from_millis(
            fields.get(i)?.parse::<u64>().ok()? * 10,
        ))
    };
    Some((ticks(11)?, ticks(12)?))
}

/// The process's resident memory, from `/proc/self/status` (`VmRSS`); `None` elsewhere.
fn resident_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?;
    line.trim().trim_end_matches("kB").trim().parse().ok()
}

/// One run: installs the mode's stack, serves, loads, prints the figure.
fn child(mode: &str, length: Duration) {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = || std::fs::File::create(dir.path().join("service.log")).expect("log file");
    // Guards that drain the writers after the run: their drain is not timed here (the
    // server's throughput is), but it must not be cut short either.
    let mut guards: Vec<Box<dyn std::any::Any>> = Vec::new();
    let polling = Arc::new(AtomicBool::new(false));
    let mut captured = None;
    match mode {
        "none" | "none_again" => {}
        "none_poll" => {
            let stop = Arc::clone(&polling);
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(1));
                }
            });
        }
        "bare" => tracing::subscriber::set_global_default(tracing_subscriber::registry())
            .expect("global subscriber"),
        "bare_layer" => tracing::subscriber::set_global_default(
            tracing_subscriber::registry().with(tracing_subscriber::layer::Identity::new()),
        )
        .expect("global subscriber"),
        "appender" => {
            let (writer, guard) = tracing_appender::non_blocking(file());
            guards.push(Box::new(guard));
            let layer = fmt::layer().with_ansi(false).with_writer(writer);
            tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer))
                .expect("global subscriber");
        }
        "ours_stock" | "ours" => {
            let (writer, guard) = backpressure_writer::NonBlockingBuilder::default()
                .try_finish(file())
                .expect("writer");
            guards.push(Box::new(guard));
            let sampler = sampling_layer::SamplingFilter::try_new(DIRECTIVES).expect("directives");
            let layer = fmt::layer().with_ansi(false).with_writer(writer);
            let subscriber = tracing_subscriber::registry();
            if mode == "ours" {
                let layer = layer
                    .fmt_fields(PlainFields::new())
                    .event_format(Annotated::new(PlainFull::new()))
                    .with_filter(sampler);
                tracing::subscriber::set_global_default(subscriber.with(layer))
            } else {
                let layer = layer
                    .event_format(Annotated::new(fmt::format()))
                    .with_filter(sampler);
                tracing::subscriber::set_global_default(subscriber.with(layer))
            }
            .expect("global subscriber");
        }
        "ours_deferred"
        | "ours_deferred_layer"
        | "ours_deferred_layer_poll8"
        | "ours_deferred_layer_null" => {
            let mut builder = backpressure_writer::NonBlockingBuilder::default();
            if mode == "ours_deferred_layer_poll8" {
                builder = builder.max_poll(Duration::from_millis(8));
            }
            let (writer, guard) = if mode == "ours_deferred_layer_null" {
                builder.try_finish(
                    Box::new(Decoded::new(std::io::sink())) as Box<dyn std::io::Write + Send>
                )
            } else {
                builder.try_finish(Box::new(Decoded::new(file())) as Box<dyn std::io::Write + Send>)
            }
            .expect("writer");
            guards.push(Box::new(guard));
            let sampler = sampling_layer::SamplingFilter::try_new(DIRECTIVES).expect("directives");
            let layer = DeferredLayer::new(writer).with_sample_rate(sampling_layer::sample_rate);
            let registry = tracing_subscriber::registry();
            if mode == "ours_deferred" {
                tracing::subscriber::set_global_default(registry.with(layer.with_filter(sampler)))
            } else {
                tracing::subscriber::set_global_default(registry.with(sampler).with(layer))
            }
            .expect("global subscriber");
        }
        "ours_deferred_layer_sink" => {
            let sampler = sampling_layer::SamplingFilter::try_new(DIRECTIVES).expect("directives");
            let layer =
                DeferredLayer::new(std::io::sink).with_sample_rate(sampling_layer::sample_rate);
            let registry = tracing_subscriber::registry();
            tracing::subscriber::set_global_default(registry.with(sampler).with(layer))
                .expect("global subscriber");
        }
        "ours_capture" | "ours_deferred_capture" => {
            let deferred = mode == "ours_deferred_capture";
            let (writer, guard) = if deferred {
                backpressure_writer::NonBlockingBuilder::default()
                    .try_finish(Box::new(Decoded::new(file())) as Box<dyn std::io::Write + Send>)
            } else {
                backpressure_writer::NonBlockingBuilder::default()
                    .try_finish(Box::new(file()) as Box<dyn std::io::Write + Send>)
            }
            .expect("writer");
            guards.push(Box::new(guard));
            let sampler = sampling_layer::SamplingFilter::builder()
                .capture(Capture::default().span("request"))
                .parse(DIRECTIVES)
                .expect("directives");
            let handle = sampler.handle();
            let capture = CaptureWriter::new(writer, &handle);
            let registry = tracing_subscriber::registry();
            if deferred {
                let layer =
                    DeferredLayer::new(capture).with_sample_rate(sampling_layer::sample_rate);
                let layer = CaptureLayer::new(layer, &handle).with_filter(sampler);
                tracing::subscriber::set_global_default(registry.with(layer))
            } else {
                let layer = fmt::layer()
                    .with_ansi(false)
                    .with_writer(capture)
                    .fmt_fields(PlainFields::new())
                    .event_format(Annotated::new(PlainFull::new()));
                let layer = CaptureLayer::new(layer, &handle).with_filter(sampler);
                tracing::subscriber::set_global_default(registry.with(layer))
            }
            .expect("global subscriber");
            captured = Some(handle);
        }
        other => panic!("unknown mode {other:?}"),
    }

    let server = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("server runtime");
    let listener = server
        .block_on(TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    server.spawn(async move {
        let app = Router::new()
            .route("/work", get(work))
            .layer(TraceLayer::new_for_http());
        axum::serve(listener, app).await.expect("serve");
    });

    // The load on a runtime of its own, one thread, as `wrk -t1` runs.
    let load = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("load runtime");
    let done = Arc::new(AtomicU64::new(0));
    let cpu_before = process_cpu();
    let started = Instant::now();
    load.block_on(async {
        let deadline = started + length;
        let tasks: Vec<_> = (0..CONNECTIONS)
            .map(|_| tokio::spawn(connection(addr, deadline, Arc::clone(&done))))
            .collect();
        for t in tasks {
            t.await.expect("connection task");
        }
    });
    let elapsed = started.elapsed().as_secs_f64();
    let requests = done.load(Ordering::Relaxed) as f64;
    println!("requests={requests}");
    println!("requests_per_sec={:.1}", requests / elapsed);
    if let (Some(before), Some(after)) = (cpu_before, process_cpu()) {
        let per = |d: Duration| d.as_secs_f64() * 1e6 / requests;
        let user = after.0 - before.0;
        let system = after.1 - before.1;
        println!("cpu_us_per_request={:.3}", per(user + system));
        println!("user_us_per_request={:.3}", per(user));
    }
    if let Some(kib) = resident_kib() {
        println!("rss_kib={kib}");
    }
    if let Some(handle) = captured {
        let c = handle.stats().capture;
        println!(
            "captured_per_request={:.2} discarded={} flushed={}",
            c.captured as f64 / requests,
            c.discarded,
            c.flushed
        );
    }
    polling.store(true, Ordering::Relaxed);
    server.shutdown_timeout(Duration::from_secs(1));
    drop(guards);
}

/// The handler: a router event and a connection-pool event, as a real one logs.
async fn work() -> &'static str {
    tracing::debug!(target: "app::router", route = "/work", "routed");
    tracing::debug!(target: "app::conn", pool = 3u64, "connection checked out");
    "done"
}

/// One keep-alive connection: a request, its whole response, again, until `deadline`.
async fn connection(addr: SocketAddr, deadline: Instant, done: Arc<AtomicU64>) {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    let request = b"GET /work HTTP/1.1\r\nHost: bench\r\n\r\n";
    let mut buf = vec![0u8; 4096];
    while Instant::now() < deadline {
        stream.write_all(request).await.expect("request");
        let mut have = 0;
        // Headers, then as many body bytes as `content-length` says.
        loop {
            let n = stream.read(&mut buf[have..]).await.expect("response");
            assert!(n > 0, "the server closed the connection");
            have += n;
            if let Some(end) = find(&buf[..have], b"\r\n\r\n") {
                let head = std::str::from_utf8(&buf[..end]).expect("ascii head");
                let length: usize = head
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("content-length")
                            .then(|| v.trim().parse().ok())?
                    })
                    .expect("content-length");
                if have >= end + 4 + length {
                    break;
                }
            }
        }
        done.fetch_add(1, Ordering::Relaxed);
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
