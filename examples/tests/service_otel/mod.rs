//! `--otel`: the file keeps the logs of exactly the traces OpenTelemetry sampled.

use std::collections::{BTreeSet, HashMap};

use examples::service::routes;
use serde_json::Value;

use crate::service_http::harness::{level_of, read_file, Service};
use crate::service_http::http;

/// Requests driven.
const REQUESTS: u32 = 100;

#[test]
fn otel_keeps_the_logs_of_the_sampled_traces() {
    let logs = tempfile::tempdir().unwrap();
    let traces = tempfile::tempdir().unwrap();
    let spans_file = traces.path().join("spans.jsonl");
    let spans_arg = format!("--otel-spans-file={}", spans_file.display());
    // Rate 1 for both targets: with `follow_trace` that is "every log of every sampled
    // trace", so only the head sampler decides.
    let service = Service::start_with(
        logs.path(),
        "app::handlers=1,legacy_dep=1",
        &["--otel", "--otel-head-rate=0.5", &spans_arg],
    );
    let mut failed = HashMap::new();
    for i in 0..REQUESTS {
        let id = format!("t-{i}");
        let fail = i % 10 == 7;
        let path = format!("/work?key={i}&fail={fail}");
        let (status, _) = http(service.app, "GET", &path, &[("x-request-id", &id)], b"");
        assert_eq!(status, if fail { 500 } else { 200 }, "{path}");
        failed.insert(id, fail);
    }
    // SIGTERM: the shutdown exports the last batch of spans before the writers flush.
    let (status, stopped) = service.stop("-TERM");
    assert!(status.success(), "{status}");
    assert!(stopped.ends_with("flush=ok"), "{stopped}");

    // Per request: the handlers' INFO lines, and the `log` dependency's.
    let mut kept: HashMap<&str, (usize, usize)> = HashMap::new();
    let file = read_file(logs.path());
    for l in &file {
        let Some(id) = l["span"]["request_id"].as_str() else {
            continue;
        };
        if !matches!(level_of(l), "INFO" | "DEBUG") {
            continue;
        }
        let e = kept.entry(id).or_default();
        match l["target"].as_str() {
            Some(routes::TARGET) => e.0 += 1,
            Some("legacy_dep") => e.1 += 1,
            _ => {}
        }
    }
    // Whole requests or nothing: started, done (unless it failed), the dependency's INFO.
    for (id, &(handlers, legacy)) in &kept {
        let full = 1 + usize::from(!failed[*id]);
        assert_eq!((handlers, legacy), (full, 1), "{id}: a request is whole");
    }
    let n = kept.len();
    assert!(
        0 < n && n < REQUESTS as usize,
        "{n} of {REQUESTS} kept at 0.5"
    );

    // Exactly the traces exported: the same requests, each its own trace.
    let spans = std::fs::read_to_string(&spans_file).unwrap();
    let spans: Vec<Value> = spans
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let exported: BTreeSet<&str> = spans
        .iter()
        .filter(|s| s["name"] == "request")
        .map(|s| s["request_id"].as_str().unwrap())
        .collect();
    let logged: BTreeSet<&str> = kept.keys().copied().collect();
    assert_eq!(logged, exported);
    let trace_ids: BTreeSet<&str> = spans
        .iter()
        .map(|s| s["trace_id"].as_str().unwrap())
        .collect();
    assert_eq!(trace_ids.len(), exported.len());
    assert!(spans.iter().all(|s| s["sampled"] == true));
}

#[test]
fn a_bad_head_rate_stops_start_up_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "service_child_process",
            "--exact",
            "--ignored",
            "--nocapture",
        ])
        .env(crate::CHILD_DIR, &logs)
        .env(crate::CHILD_ARGS, "--otel --otel-head-rate=1.5")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--otel-head-rate: invalid directive \"1.5\""),
        "{stderr}"
    );
    assert!(!logs.exists());
}
