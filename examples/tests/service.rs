//! The example service end to end, as a separate process: started on ephemeral ports,
//! driven with a few hundred requests, reconfigured through its admin routes, stopped with
//! SIGTERM, and its JSON file checked line by line against what was sent and against
//! `/metrics`.
//!
//! The service installs process-wide state (the global subscriber, the `log` logger, the
//! `metrics` recorder) and must receive a real SIGTERM, so it runs in a child process:
//! this test binary re-executed to run only the ignored `service_child_process` test,
//! which calls the library's `run` as `examples/examples/service.rs` does.
#![cfg(unix)]

mod service_admin;
mod service_features;
mod service_http;
mod service_otel;

use std::collections::{HashMap, HashSet};
use std::process::{Command, ExitCode};

use examples::service::{filters, routes};
use serde_json::Value;
use service_http::harness::{
    level_of, lines_written, message, read_file, word, Service, CHILD_ARGS, CHILD_DIR,
};
use service_http::{http, http_or_closed, Metrics};

/// Requests per phase.
const N: u32 = 100;

#[test]
#[ignore = "the service itself, run in a child process by `service_end_to_end`"]
fn service_child_process() {
    let dir = std::env::var(CHILD_DIR).expect("started by service_end_to_end");
    let args = [
        "--port=0",
        "--bind=127.0.0.1",
        "--admin-addr=127.0.0.1:0",
        "--stdout-log=warn",
        "--export-interval-ms=100",
        "--log-dir",
        &dir,
    ];
    let more = std::env::var(CHILD_ARGS).unwrap_or_default();
    let args = args
        .into_iter()
        .chain(more.split(' ').filter(|a| !a.is_empty()))
        .map(str::to_owned);
    // What `examples/examples/service.rs` runs.
    let status = examples::service::main_with(args);
    assert_eq!(status, ExitCode::SUCCESS);
}

/// One request of the load: its id and what it asks the handler to log.
struct Sent {
    id: String,
    slow: bool,
    fail: bool,
    key: u32,
}

fn drive(app: std::net::SocketAddr, phase: &str) -> Vec<Sent> {
    drive_n(app, phase, N)
}

fn drive_n(app: std::net::SocketAddr, phase: &str, n: u32) -> Vec<Sent> {
    (0..n)
        .map(|i| {
            let sent = Sent {
                id: format!("{phase}-{i}"),
                slow: i % 10 == 3,
                fail: i % 10 == 7,
                key: i,
            };
            let path = format!(
                "/work?key={}&slow={}&fail={}",
                sent.key, sent.slow, sent.fail
            );
            let (status, _) = http(app, "GET", &path, &[("x-request-id", &sent.id)], b"");
            assert_eq!(status, if sent.fail { 500 } else { 200 }, "{path}");
            sent
        })
        .collect()
}

#[test]
fn service_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let service = Service::start(dir.path(), "app::handlers=0,legacy_dep=0.1");
    let (app, admin) = (service.app, service.admin);

    assert_eq!(
        http(app, "GET", "/ready", &[], b""),
        (200, "healthy".to_owned())
    );

    // Phase a: INFO levels, the handlers' INFO/DEBUG sampled at 0: only WARN/ERROR stay.
    let a = drive(app, "a");
    // `/metrics` after each phase (flushed and published first): seen, kept and the rate.
    let handlers = || {
        let (status, body) = http(admin, "POST", "/admin/flush", &[], b"");
        assert_eq!(status, 200, "{body}");
        let m = Metrics(http(app, "GET", "/metrics", &[], b"").1);
        let labels = [("name", "file"), ("target", routes::TARGET)];
        let seen = m.get("log_sampling_events_seen_total", &labels);
        let kept = m.get("log_sampling_events_kept_total", &labels);
        (seen, kept, m.get("log_sampling_rate", &labels))
    };
    // INFO: "work started" in each request, "work done" in those that did not fail.
    let info = f64::from(N + N * 9 / 10);
    assert_eq!(handlers(), (info, 0.0, 0.0));
    // Phase b: DEBUG for `app`, everything kept.
    let (status, body) = http(admin, "PUT", "/admin/level", &[], b"info,app=debug");
    assert_eq!(status, 200, "{body}");
    let rates = b"app::handlers=1,legacy_dep=0.1";
    let (status, body) = http(admin, "PUT", "/admin/sampling", &[], rates);
    assert_eq!(status, 200, "{body}");
    let b = drive(app, "b");
    // Now with DEBUG: three steps per request too, and every one kept.
    let debug = f64::from(N * routes::STEPS);
    assert_eq!(handlers(), (2.0 * info + debug, info + debug, 1.0));
    // Phase c: a quarter of the requests, each whole or not at all.
    let rates = b"app::handlers=0.25,legacy_dep=0.1";
    let (status, body) = http(admin, "PUT", "/admin/sampling", &[], rates);
    assert_eq!(status, 200, "{body}");
    let c = drive(app, "c");

    // Bad admin input: refused, named, nothing changed; a 1 MB body is refused unread.
    let (status, body) = http(admin, "PUT", "/admin/sampling", &[], b"app::handlers=1.5");
    assert_eq!(status, 400);
    assert!(body.contains("app::handlers=1.5"), "{body}");
    let (status, body) = http(admin, "PUT", "/admin/level", &[], b"app=verbose");
    assert_eq!(status, 400);
    assert!(body.contains("app=verbose"), "{body}");
    let huge = vec![b'x'; 1 << 20];
    assert_eq!(http(admin, "PUT", "/admin/sampling", &[], &huge).0, 413);
    let (_, current) = http(admin, "GET", "/admin/sampling", &[], b"");
    let current: Value = serde_json::from_str(&current).unwrap();
    assert_eq!(current["directives"], "app::handlers=0.25,legacy_dep=0.1");
    let (_, level) = http(admin, "GET", "/admin/level", &[], b"");
    assert!(level.contains("app=debug"), "{level}");

    // Load stopped: flush the writer and publish, then the file and /metrics agree.
    let (status, flushed) = http(admin, "POST", "/admin/flush", &[], b"");
    assert_eq!(status, 200, "{flushed}");
    let (_, text) = http(app, "GET", "/metrics", &[], b"");
    let m = Metrics(text);
    let file = read_file(dir.path());
    let figures = |target: &str| {
        file.iter()
            .filter(|l| l["target"] == target && matches!(level_of(l), "INFO" | "DEBUG"))
            .count() as f64
    };
    let written = m.get("log_writer_lines_written_total", &[("name", "file")]);
    assert_eq!(written, lines_written(&file) as f64);
    let submitted = m.get("log_writer_lines_submitted_total", &[("name", "file")]);
    let dropped = m.get("log_writer_lines_dropped_total", &[("name", "file")]);
    let queued = m.get("log_writer_queue_depth", &[("name", "file")]);
    assert_eq!((submitted, queued), (written + dropped, 0.0));
    let kept = m.get(
        "log_sampling_events_kept_total",
        &[("name", "file"), ("target", routes::TARGET)],
    );
    assert_eq!(kept, figures(routes::TARGET));
    // The `log` dependency's records are sampled by their own target (`legacy_dep=0.1`):
    // one INFO per request seen (DEBUG is off for it), a proper fraction kept, and the
    // kept figure is the file's count.
    let legacy = [("name", "file"), ("target", "legacy_dep")];
    let legacy_seen = m.get("log_sampling_events_seen_total", &legacy);
    let legacy_kept = m.get("log_sampling_events_kept_total", &legacy);
    assert_eq!(legacy_seen, f64::from(3 * N));
    assert_eq!(legacy_kept, figures("legacy_dep"));
    assert!(
        0.0 < legacy_kept && legacy_kept < legacy_seen,
        "{legacy_kept} of {legacy_seen} kept at 0.1"
    );
    assert_eq!(m.get("log_sampling_rate", &legacy), 0.1);
    // The rate in force is exported too.
    assert_eq!(
        m.get(
            "log_sampling_rate",
            &[("name", "file"), ("target", routes::TARGET)]
        ),
        0.25
    );

    check_phases(&file, &a, &b, &c);

    // SIGTERM: a clean shutdown, exit status 0.
    let (status, stopped) = service.stop("-TERM");
    assert!(status.success(), "{status}");
    let figure = |name: &str| -> u64 { word(&stopped, name).parse().unwrap() };
    let file = read_file(dir.path());
    assert_eq!(figure("file_written"), lines_written(&file));
    assert_eq!(
        figure("file_submitted"),
        figure("file_written") + figure("file_dropped")
    );
    assert_eq!(figure("file_queued"), 0);
    assert!(stopped.ends_with("flush=ok"), "{stopped}");
    // Lines logged during the shutdown made it: the shutdown order drains before it stops.
    let messages: HashSet<&str> = file.iter().filter_map(message).collect();
    assert!(messages.contains("shutting down"), "{messages:?}");
    assert!(messages.contains("stopped serving"), "{messages:?}");
}

#[test]
fn sigint_stops_it_cleanly_too() {
    let dir = tempfile::tempdir().unwrap();
    let service = Service::start(dir.path(), "");
    let (status, _) = http(service.app, "GET", "/work?key=1", &[], b"");
    assert_eq!(status, 200);
    let (status, stopped) = service.stop("-INT");
    assert!(status.success(), "{status}");
    assert!(stopped.ends_with("flush=ok"), "{stopped}");
    let file = read_file(dir.path());
    let signal = file.iter().find(|l| message(l) == Some("shutting down"));
    assert_eq!(signal.unwrap()["fields"]["signal"], "SIGINT");
    // Nothing sampled (empty RUST_LOG_SAMPLE): the request's INFO lines are all there.
    let handled = file
        .iter()
        .filter(|l| l["target"] == routes::TARGET)
        .count();
    assert_eq!(handled, 2);
}

/// The phases' lines, request by request.
fn check_phases(file: &[Value], a: &[Sent], b: &[Sent], c: &[Sent]) {
    let mut by_request: HashMap<&str, Vec<&Value>> = HashMap::new();
    for line in file {
        if let Some(id) = line["span"]["request_id"].as_str() {
            by_request.entry(id).or_default().push(line);
        }
    }
    let sampled = |id: &str| -> usize {
        let lines = by_request.get(id).map(Vec::as_slice).unwrap_or_default();
        let of = |l: &&&Value| l["target"] == routes::TARGET;
        let of = lines.iter().filter(of);
        of.filter(|l| matches!(level_of(l), "INFO" | "DEBUG"))
            .count()
    };
    // Every WARN and ERROR, whatever the rates, including the `log` dependency's.
    for sent in a.iter().chain(b).chain(c) {
        let lines = by_request
            .get(sent.id.as_str())
            .map(Vec::as_slice)
            .unwrap_or_default();
        let has = |level: &str, target: &str, text: &str| {
            lines.iter().any(|l| {
                level_of(l) == level
                    && l["target"] == target
                    && message(l).is_some_and(|m| m.contains(text))
            })
        };
        assert_eq!(
            has("WARN", routes::TARGET, "slow request"),
            sent.slow,
            "{}",
            sent.id
        );
        assert_eq!(
            has("ERROR", routes::TARGET, "work failed"),
            sent.fail,
            "{}",
            sent.id
        );
        let deprecated = sent.key % examples::service::legacy_dep::WARN_EVERY == 0;
        assert_eq!(
            has("WARN", "legacy_dep", "deprecated"),
            deprecated,
            "{}",
            sent.id
        );
    }
    // The handlers' own INFO and DEBUG lines per request: started, steps, done.
    let full = |s: &Sent| 1 + routes::STEPS as usize + usize::from(!s.fail);
    for sent in a {
        assert_eq!(sampled(&sent.id), 0, "{} at rate 0", sent.id);
    }
    for sent in b {
        assert_eq!(
            sampled(&sent.id),
            full(sent),
            "{} at DEBUG, rate 1",
            sent.id
        );
    }
    let kept = c.iter().filter(|s| sampled(&s.id) > 0).count();
    for sent in c {
        let n = sampled(&sent.id);
        assert!(
            n == 0 || n == full(sent),
            "{}: {n} lines, a request is whole or absent",
            sent.id
        );
    }
    assert!(
        0 < kept && kept < c.len(),
        "{kept} of {} requests kept at 0.25",
        c.len()
    );
    // Kept lines below rate 1 say so.
    let annotated = |l: &&Value| l["sample_rate"].as_f64() == Some(0.25);
    let phase_c = file.iter().filter(|l| {
        l["span"]["request_id"]
            .as_str()
            .is_some_and(|id| id.starts_with("c-"))
            && l["target"] == routes::TARGET
            && matches!(level_of(l), "INFO" | "DEBUG")
    });
    assert!(phase_c.clone().count() > 0 && phase_c.clone().all(|l| annotated(&l)));
}

#[test]
fn bad_values_stop_start_up_naming_the_variable_and_the_directive() {
    let e = filters::Filters::parse(Some("info,app=verbose"), None, "info").unwrap_err();
    assert_eq!(
        (e.source.as_str(), e.directive.as_str()),
        ("RUST_LOG", "app=verbose")
    );
    let e = filters::Filters::parse(None, Some("app::handlers=0.1,legacy_dep=1.5"), "info")
        .unwrap_err();
    assert_eq!(
        (e.source.as_str(), e.directive.as_str()),
        ("RUST_LOG_SAMPLE", "legacy_dep=1.5")
    );
    assert!(e
        .to_string()
        .starts_with("RUST_LOG_SAMPLE: invalid directive \"legacy_dep=1.5\""));

    // And the process: the error on stderr, a failure status, nothing created.
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "service_child_process",
            "--exact",
            "--ignored",
            "--nocapture",
        ])
        .env(CHILD_DIR, &logs)
        .env("RUST_LOG_SAMPLE", "app::handlers=lots")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("RUST_LOG_SAMPLE: invalid directive \"app::handlers=lots\""),
        "{stderr}"
    );
    assert!(!logs.exists());
}
