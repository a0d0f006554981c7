//! The docs, dashboard and alert rules name only metrics that exist, and the docs' table
//! lists every one of them with its type.

use std::path::PathBuf;

use logmetrics::names::{self, MetricKind};

fn repo_file(rel: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every `log_writer_*` / `log_sampling_*` identifier in `text`.
fn metric_idents(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let is_ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut i = 0;
    while i < bytes.len() {
        // Bytes, not `&str` slices: the docs hold multi-byte characters (µ, —), and an
        // identifier starts and ends on ASCII bytes, which are always char boundaries.
        let rest = &bytes[i..];
        let boundary = i == 0 || !is_ident(bytes[i - 1]);
        if boundary && (rest.starts_with(b"log_writer_") || rest.starts_with(b"log_sampling_")) {
            let len = rest.iter().take_while(|&&b| is_ident(b)).count();
            out.push(&text[i..i + len]);
            i += len;
        } else {
            i += 1;
        }
    }
    out
}

/// Resolves a PromQL series name to a table entry (`_bucket`/`_sum`/`_count` of histograms).
fn resolve(ident: &str) -> Option<&'static names::MetricDef> {
    names::find(ident).or_else(|| {
        ["_bucket", "_sum", "_count"].iter().find_map(|suffix| {
            let base = ident.strip_suffix(suffix)?;
            names::find(base).filter(|m| m.kind == MetricKind::Histogram)
        })
    })
}

fn assert_only_known_names(rel: &str, min_mentions: usize) {
    let text = repo_file(rel);
    let idents = metric_idents(&text);
    let unknown: Vec<&str> = idents
        .iter()
        .copied()
        .filter(|i| resolve(i).is_none())
        .collect();
    assert!(
        unknown.is_empty(),
        "{rel} names unknown metrics: {unknown:?}"
    );
    assert!(
        idents.len() >= min_mentions,
        "{rel}: only {} metric mentions",
        idents.len()
    );
}

#[test]
fn ident_scanner_and_resolver_work() {
    let found = metric_idents(
        "rate(log_writer_queue_wait_seconds_bucket[5m]) xlog_writer_no log_sampling_rate{",
    );
    assert_eq!(
        found,
        vec!["log_writer_queue_wait_seconds_bucket", "log_sampling_rate"]
    );
    assert!(resolve("log_writer_queue_wait_seconds_bucket").is_some());
    assert!(resolve("log_writer_lines_written_total_bucket").is_none());
    assert!(resolve("log_writer_lines_lost_total").is_none());
}

#[test]
fn metrics_md_table_lists_every_metric_with_its_type() {
    let doc = repo_file("docs/metrics.md");
    for m in names::METRICS {
        let row = doc
            .lines()
            .find(|l| l.starts_with(&format!("| `{}` |", m.name)))
            .unwrap_or_else(|| panic!("docs/metrics.md has no table row for {}", m.name));
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        assert_eq!(cells[2], m.kind.as_str(), "type of {}", m.name);
        assert_eq!(cells[4], m.labels.join(", "), "labels of {}", m.name);
    }
    assert_only_known_names("docs/metrics.md", names::METRICS.len());
}

#[test]
fn dashboard_and_alerts_use_only_known_metrics() {
    assert_only_known_names("docs/grafana/log-pipeline.json", 20);
    assert_only_known_names("docs/prometheus/alerts.yml", 6);
    assert_only_known_names("docs/prometheus/alerts.test.yml", 6);
}

/// The `- alert: Name` names of a rules file, in order.
fn alert_names(rules: &str) -> Vec<&str> {
    rules
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- alert:"))
        .map(str::trim)
        .collect()
}

#[test]
fn every_alert_is_unit_tested_and_documented_under_one_name() {
    let rules = repo_file("docs/prometheus/alerts.yml");
    let tests = repo_file("docs/prometheus/alerts.test.yml");
    let doc = repo_file("docs/metrics.md");
    let alerts = alert_names(&rules);
    // The crates say `WorkerGone` for a writer without its worker: so does the
    // alert, or silences written from the docs would not match what fires.
    assert_eq!(
        alerts,
        [
            "LogLinesDropped",
            "LogDropRatioHigh",
            "LogQueueNearlyFull",
            "LogWriteErrors",
            "LogWriterWorkerGone",
            "LogSamplingBreakerOpen",
            "LogSamplingUnderPressure",
        ]
    );
    for a in &alerts {
        assert!(
            tests.contains(&format!("alertname: {a}\n")),
            "alerts.test.yml does not test {a}"
        );
        assert!(
            doc.contains(&format!("| `{a}` |")),
            "docs/metrics.md does not list {a}"
        );
    }
    for text in [&rules, &tests, &doc] {
        assert!(
            !text.contains("WorkerDead"),
            "the old alert name is still used"
        );
    }
}
