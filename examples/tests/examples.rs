//! Runs each single-file example in `examples/` as a user would and checks what it really
//! prints, line by line.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use support::{example, finish, first_line, run};

/// The lines of fmt's default text format without their timestamps.
fn without_timestamps(text: &str) -> Vec<&str> {
    text.lines()
        .map(|l| l.split_once(' ').map_or(l, |(_, rest)| rest.trim_start()))
        .collect()
}

fn starting_with<'a>(lines: &[&'a str], prefix: &str) -> Vec<&'a str> {
    lines
        .iter()
        .copied()
        .filter(|l| l.starts_with(prefix))
        .collect()
}

#[test]
fn writer_dropin_writes_every_line_and_accounts_for_it() {
    let out = run(example("writer_dropin"));
    assert!(out.status.success(), "{out:?}");
    let lines = without_timestamps(&out.stdout);
    let mut expected: Vec<String> = (0..1_000)
        .map(|i| format!("INFO writer_dropin: request handled i={i}"))
        .collect();
    expected.push("WARN writer_dropin: disk almost full".into());
    assert_eq!(lines, expected);
    assert_eq!(out.stderr, "submitted 1001 = written 1001 + dropped 0\n");
}

#[test]
fn sampler_env_keeps_each_module_at_its_rate_from_rust_log_sample() {
    let mut cmd = example("sampler_env");
    cmd.env("RUST_LOG", "debug").env(
        "RUST_LOG_SAMPLE",
        "sampler_env::http=1/10,sampler_env::db=50%",
    );
    let out = run(cmd);
    assert!(out.status.success(), "{out:?}");
    let lines = without_timestamps(&out.stdout);

    // Deterministic sampling: the 1st of every 10 requests, the 1st of every 2 queries.
    let http = starting_with(&lines, "DEBUG sampler_env::http:");
    let expected: Vec<String> = (0..1_000)
        .step_by(10)
        .map(|r| format!("DEBUG sampler_env::http: request received request={r} sample_rate=0.1"))
        .collect();
    assert_eq!(http, expected);
    let queries = starting_with(&lines, "DEBUG sampler_env::db:");
    let expected: Vec<String> = (0..1_000)
        .step_by(2)
        .map(|r| format!("DEBUG sampler_env::db: query done request={r} sample_rate=0.5"))
        .collect();
    assert_eq!(queries, expected);
    // Warnings are never sampled, and carry no rate.
    let warnings = starting_with(&lines, "WARN");
    let expected: Vec<String> = (0..10)
        .map(|n| format!("WARN sampler_env::db: slow query request={}", n * 100 + 99))
        .collect();
    assert_eq!(warnings, expected);
    assert_eq!(lines.len(), 100 + 500 + 10);

    let mut stats: Vec<&str> = out.stderr.lines().collect();
    stats.sort_unstable();
    assert_eq!(
        stats,
        [
            "sampler_env::db: kept 500 of 1000 (rate 0.5)",
            "sampler_env::http: kept 100 of 1000 (rate 0.1)",
        ]
    );
}

#[test]
fn sampler_env_refuses_a_bad_directive_naming_the_variable() {
    let mut cmd = example("sampler_env");
    cmd.env("RUST_LOG_SAMPLE", "sampler_env::http=1.5");
    let out = run(cmd);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert_eq!(out.stdout, "");
    assert!(
        out.stderr.starts_with("RUST_LOG_SAMPLE: ") && out.stderr.contains("sampler_env::http=1.5"),
        "{}",
        out.stderr
    );
}

#[test]
fn metrics_serves_the_figures_on_slash_metrics() {
    // A free port, closed again for the example to bind.
    let addr: SocketAddr = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap();
    let mut cmd = example("metrics");
    cmd.arg(addr.to_string())
        .stdin(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("the example starts");
    assert_eq!(
        first_line(&mut child),
        format!("serving http://{addr}/metrics until stdin closes\n")
    );

    let page = scrape(addr);
    for line in [
        // 1 000 router events at 1 in 20; the warning is never sampled.
        r#"log_sampling_events_seen_total{name="app",target="app::router"} 1000"#,
        r#"log_sampling_events_kept_total{name="app",target="app::router"} 50"#,
        r#"log_sampling_rate{name="app",target="app::router"} 0.05"#,
        r#"log_writer_lines_submitted_total{name="app"} 51"#,
        r#"log_writer_lines_written_total{name="app"} 51"#,
        r#"log_writer_lines_dropped_total{name="app",reason="newest"} 0"#,
        r#"log_writer_queue_depth{name="app"} 0"#,
        // The writer's buckets, not a summary.
        "# TYPE log_writer_queue_wait_seconds histogram",
    ] {
        assert!(page.lines().any(|l| l == line), "{line:?} not in\n{page}");
    }

    drop(child.stdin.take()); // closing stdin stops it
    let out = finish(child);
    assert!(out.status.success(), "{out:?}");
    assert_eq!((out.stdout.as_str(), out.stderr.as_str()), ("", ""));
}

/// `GET /metrics`, retried while the exporter's listener is not up yet.
fn scrape(addr: SocketAddr) -> String {
    for _ in 0..500 {
        if let Ok(mut conn) = TcpStream::connect(addr) {
            conn.set_read_timeout(Some(support::DEADLINE)).unwrap();
            // HTTP/1.0: the body comes whole, never chunked.
            conn.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").unwrap();
            let mut response = String::new();
            conn.read_to_string(&mut response).unwrap();
            let (head, body) = response.split_once("\r\n\r\n").expect("an HTTP response");
            assert!(head.starts_with("HTTP/1.0 200"), "{head}");
            return body.to_string();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("nothing listens on {addr}");
}
