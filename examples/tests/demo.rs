//! Runs the demo briefly, exactly as `cargo run --example demo -- --seconds 3` would, and
//! checks its verdict and its figures against the log file it wrote.

use std::time::Duration;

use examples::demo::{self, Config, Module, SinkKind};

fn run(overflow: &str) -> (demo::Outcome, String) {
    let dir = tempfile::tempdir().unwrap();
    let log_file = dir.path().join("demo.log");
    let mut cfg = Config::parse([
        "--seconds",
        "3",
        "--overflow",
        overflow,
        "--metrics-addr",
        "off",
        "--no-progress",
    ])
    .unwrap();
    cfg.log_file = log_file.clone();
    assert_eq!(cfg.duration, Duration::from_secs(3));
    assert_eq!(cfg.sink, SinkKind::File);
    let mut out = Vec::new();
    let outcome = demo::run(&cfg, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    // The file as an independent reader sees it, not as the demo summarised it.
    let log = std::fs::read_to_string(&log_file).unwrap();
    let file = outcome.file.as_ref().expect("a file sink is read back");
    assert_eq!(file.lines, log.lines().count() as u64);
    for m in Module::ALL {
        for level in ["WARN", "ERROR"] {
            let needle = format!(" {level} {}: ", m.target());
            let direct = log.lines().filter(|l| l.contains(&needle)).count() as u64;
            assert_eq!(file.get(m.target(), level), direct, "{needle}");
        }
    }
    (outcome, text)
}

fn check(outcome: &demo::Outcome, text: &str) {
    assert!(outcome.ok(), "{text}");
    assert!(text.contains("OK: every one of"), "{text}");
    let w = &outcome.writer;
    assert_eq!(
        w.submitted,
        w.lines_written + w.dropped.total() + w.queue_depth as u64
    );
    assert_eq!(w.queue_depth, 0, "the guard drained the queue");
    let file = outcome.file.as_ref().unwrap();
    assert_eq!(file.lines - file.drop_reports, w.lines_written);
    for row in &outcome.modules {
        assert!(row.warn_error_emitted > 0 || row.module == Module::Exporter);
        assert_eq!(
            row.warn_error_in_file,
            Some(row.warn_error_emitted),
            "{row:?}"
        );
        assert!(row.in_file.unwrap() <= row.emitted, "{row:?}");
    }
    // The sampled modules lost volume; the storm tripped the breaker.
    for m in [Module::Router, Module::Websocket, Module::ConnectionManager] {
        let row = outcome.modules.iter().find(|r| r.module == m).unwrap();
        assert!(row.seen > 0 && row.kept < row.seen, "{row:?}");
        assert!(row.in_file.unwrap() < row.emitted, "{row:?}");
    }
    assert!(outcome.sampler.breaker_trips >= 1, "{text}");
}

#[test]
fn demo_keeps_every_warning_and_accounts_for_every_line() {
    let (outcome, text) = run("drop-newest");
    check(&outcome, &text);
    // The summary names every module and the writer's accounting line.
    for m in Module::ALL {
        assert!(text.contains(m.target()), "{text}");
    }
    assert!(text.contains("writer: submitted"), "{text}");
}

#[test]
fn demo_with_drop_oldest() {
    let (outcome, text) = run("drop-oldest");
    check(&outcome, &text);
}
