//! Runs the demo briefly, exactly as `cargo run --example demo -- --seconds 3` would
//! (through the same `cli` entry point its `main` calls), and checks its exit code and the
//! figures it printed against the log file it wrote.

mod support;

use examples::demo::{self, Config, Module, Phase};

/// Runs the command; returns its exit code, its printed output and the log file's text.
fn run_cli(extra: &[&str]) -> (u8, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let log_file = dir.path().join("demo.log");
    let mut args = vec![
        "--seconds",
        "3",
        "--metrics-addr",
        "off",
        "--no-progress",
        "--log-file",
        log_file.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let mut out = Vec::new();
    let code = demo::cli(args, &mut out);
    let text = String::from_utf8(out).unwrap();
    let log = std::fs::read_to_string(&log_file).unwrap_or_default();
    (code, text, log)
}

/// The number after `label` in `text` (`"written 12 "` → 12).
fn figure(text: &str, label: &str) -> u64 {
    let rest = &text[text
        .find(label)
        .unwrap_or_else(|| panic!("{label:?} in {text}"))
        + label.len()..];
    rest.split(|c: char| !c.is_ascii_digit())
        .find(|s| !s.is_empty())
        .unwrap()
        .parse()
        .unwrap()
}

/// Checks the printed summary against the log file, read here independently.
fn check_against_file(text: &str, log: &str) {
    let drop_reports = log
        .lines()
        .filter(|l| l.starts_with("backpressure-writer: dropped "))
        .count() as u64;
    let event_lines = log.lines().count() as u64 - drop_reports;
    // The main writer's line (the pressure phase's table has a `written` column too).
    let w = &text[text.find("\nwriter: submitted").expect(text)..];
    assert_eq!(figure(w, "written "), event_lines, "{text}");
    assert_eq!(
        figure(w, "submitted "),
        figure(w, "written ") + figure(w, "+ dropped ") + figure(w, "+ pending "),
        "{text}"
    );
    assert_eq!(figure(w, "+ pending "), 0, "{text}");
    let reported: u64 = log
        .lines()
        .filter_map(|l| l.strip_prefix("backpressure-writer: dropped "))
        .map(|l| l.split(' ').next().unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(
        figure(w, "+ dropped "),
        reported,
        "the drop reports add up: {text}"
    );

    for m in Module::ALL {
        // The module's row: `<target> <emitted> <kept> <in file> ... <found>/<emitted>`.
        let row = text
            .lines()
            .find(|l| l.starts_with(m.target()))
            .unwrap_or_else(|| panic!("no row for {}: {text}", m.target()));
        let cols: Vec<&str> = row.split_whitespace().collect();
        let in_file: u64 = cols[3].parse().unwrap();
        let direct = log
            .lines()
            .filter(|l| l.contains(&format!(" {}: ", m.target())))
            .count() as u64;
        assert_eq!(in_file, direct, "{row}");
        let (found, emitted) = cols.last().unwrap().split_once('/').unwrap();
        let warn_error = log
            .lines()
            // A request's lines carry its span (`request:`) between level and target.
            .filter(|l| {
                (l.contains(" WARN ") || l.contains(" ERROR "))
                    && l.contains(&format!(" {}: ", m.target()))
            })
            .count()
            .to_string();
        assert_eq!(
            (found, emitted),
            (warn_error.as_str(), warn_error.as_str()),
            "{row}"
        );
    }
}

#[test]
fn demo_exits_zero_and_its_summary_matches_the_log_file() {
    let (code, text, log) = run_cli(&[]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("OK: every one of"), "{text}");
    check_against_file(&text, &log);
    // Failed requests came with their context, marked, and the summary counts it.
    let context = log
        .lines()
        .filter(|l| l.ends_with(" captured=true"))
        .count() as u64;
    assert!(context > 0, "{text}");
    assert_eq!(figure(&text, "before errors ("), context, "{text}");
    assert!(figure(&text, "context: ") >= context, "{text}");
    // The storm tripped the breaker, and its notices reached the file.
    assert!(figure(&text, "breaker trips ") >= 1, "{text}");
    // What a person reads fits an ordinary terminal: no header wraps (the banner's
    // directive string is a value to copy, and the tables are what they are).
    let summary_at = text.find("\nsummary after").expect(&text);
    for line in text[..summary_at].lines() {
        if !line.starts_with("  RUST_LOG_SAMPLE=") {
            assert!(
                line.chars().count() <= 100,
                "{} chars: {line:?}",
                line.len()
            );
        }
    }
    // The pressure phase says what it does before it runs, and its target has rows in
    // the summary, in the same bare numbers as the rest of it.
    let pressure_at = text.find("\npressure phase: demo::export").expect(&text);
    assert!(pressure_at < summary_at, "{text}");
    for label in ["demo::export (no loop) ", "demo::export (loop) "] {
        let row = text.lines().find(|l| l.starts_with(label)).expect(&text);
        let (written, emitted) = row
            .split_whitespace()
            .last()
            .unwrap()
            .split_once('/')
            .unwrap();
        assert_eq!(written, emitted, "{row}");
    }
    let summary = &text[summary_at..];
    let grouped = summary
        .as_bytes()
        .windows(3)
        .any(|w| w[0].is_ascii_digit() && w[1] == b' ' && w[2].is_ascii_digit());
    assert!(
        !grouped,
        "digits grouped by spaces in the summary: {summary}"
    );
    // The pressure phase: the same sampled flood drops fewer lines with the pressure
    // loop than without (its WARN/ERROR check is part of the verdict above).
    let drops = &text[text.find("pressure phase: writer drops").expect(&text)..];
    let without = figure(drops, "without pressure ");
    let with = figure(drops, "with pressure ");
    assert!(with < without, "{with} >= {without}: {text}");
    // By the ratio or the spike trigger (the absolute threshold is their floor).
    assert!(
        text.contains("(last trigger: ratio)") || text.contains("(last trigger: spike)"),
        "{text}"
    );
    assert_eq!(
        figure(&text, "breaker notices in the file: "),
        log.lines()
            .filter(|l| l.contains(" WARN sampling_layer: "))
            .count() as u64
    );
}

#[test]
fn demo_with_drop_oldest_and_block() {
    for overflow in ["drop-oldest", "block"] {
        let (code, text, log) = run_cli(&["--overflow", overflow]);
        assert_eq!(code, 0, "{overflow}: {text}");
        check_against_file(&text, &log);
    }
}

#[test]
fn bad_arguments_exit_2() {
    let (code, text, _) = run_cli(&["--overflow", "sometimes"]);
    assert_eq!((code, text.as_str()), (2, ""));
}

#[test]
fn help_exits_0_and_lists_every_flag() {
    for flag in ["--help", "-h"] {
        let mut out = Vec::new();
        let code = demo::cli([flag], &mut out);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(code, 0, "{text}");
        assert!(text.starts_with("A simulated service"), "{text}");
        for listed in [
            "Usage: demo [OPTIONS]",
            "--seconds <N>",
            "--overflow <OVERFLOW>",
            "--sink <SINK>",
            "--log-file <PATH>",
            "--metrics-addr <HOST:PORT|off>",
            "--progress",
            "--no-progress",
            "RUST_LOG_SAMPLE",
        ] {
            assert!(text.contains(listed), "{flag}: {listed:?} not in {text}");
        }
    }
}

#[test]
fn the_outcome_reports_what_the_sampler_and_writer_did() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg =
        Config::from_args(["--seconds", "3", "--metrics-addr", "off", "--no-progress"]).unwrap();
    cfg.log_file = dir.path().join("demo.log");
    let outcome = demo::run(&cfg, &mut Vec::new()).unwrap();
    assert!(outcome.ok(), "{:?}", outcome.problems);
    for m in [Module::Router, Module::Websocket, Module::ConnectionManager] {
        let row = outcome.modules.iter().find(|r| r.module == m).unwrap();
        // Sampled modules lost volume; in the steady phase the deterministic sampler kept
        // at the configured rate, give or take the one event that opens a window.
        assert!(row.seen > 0 && row.kept < row.seen, "{row:?}");
        assert!(row.in_file.unwrap() < row.emitted, "{row:?}");
        assert!(row.steady_rate.is_some(), "{row:?}");
    }
    let (seen, kept) = outcome.steady.unwrap();
    assert!(
        seen > 0 && kept * 10 < seen,
        "steady phase kept {kept} of {seen}"
    );
}

/// The example binary itself, its output piped as a script or CI would: no progress bar,
/// so no `\r` and no escape sequence, and the phase headers on lines of their own; with
/// `--progress`, the figures come as plain lines on stderr.
#[test]
fn piped_output_holds_no_carriage_return_or_escape_sequence() {
    let dir = tempfile::tempdir().unwrap();
    let log_file = dir.path().join("demo.log");
    for progress in [None, Some("--progress")] {
        let mut cmd = support::example("demo");
        cmd.args(["--seconds", "1", "--metrics-addr", "off", "--log-file"])
            .arg(&log_file)
            .args(progress);
        let out = support::run(cmd);
        assert!(out.status.success(), "{progress:?}: {out:?}");
        for (name, text) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
            assert!(
                !text.contains('\r') && !text.contains('\x1b'),
                "{progress:?}: {name} has a \\r or an ESC: {text:?}"
            );
        }
        let headers: Vec<&str> = out
            .stdout
            .lines()
            .filter(|l| l.starts_with("phase "))
            .collect();
        assert_eq!(headers.len(), Phase::ALL.len(), "{}", out.stdout);
        for (line, phase) in headers.iter().zip(Phase::ALL) {
            assert!(line.starts_with(&phase.to_string()), "{line:?}");
        }
        match progress {
            None => assert_eq!(out.stderr, ""),
            Some(_) => {
                // A line a second, and one with the final figures.
                let lines: Vec<&str> = out.stderr.lines().collect();
                assert!(!lines.is_empty(), "{}", out.stderr);
                for line in &lines {
                    assert!(
                        line.starts_with('[')
                            && line.contains(" | queue ")
                            && (line.ends_with("breaker closed") || line.ends_with("breaker OPEN")),
                        "{line:?}"
                    );
                }
                let last = lines.last().unwrap();
                assert!(last.contains("] phase 4/4: "), "{last:?}");
            }
        }
    }
}
