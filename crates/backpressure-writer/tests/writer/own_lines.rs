//! The writer's own lines (the drop report) in the form the builder asks for: JSON objects
//! in `fmt::layer().json()`'s layout, so a JSON-lines output stays parseable, or a closure.

use std::io::Write;

use crate::support::{assert_accounting, Gate};
use backpressure_writer::{NonBlockingBuilder, Overflow, OwnLineFormat};
use serde_json::Value;
use tracing_subscriber::prelude::*;

/// The top-level keys of a JSON line, in the order they appear in the text.
fn keys_in_order(line: &str) -> Vec<String> {
    let obj: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
    let mut keys: Vec<(usize, String)> = obj
        .as_object()
        .unwrap()
        .keys()
        .map(|k| (line.find(&format!("\"{k}\":")).unwrap(), k.clone()))
        .collect();
    keys.sort();
    keys.into_iter().map(|(_, k)| k).collect()
}

#[test]
fn json_drop_reports_keep_fmt_json_output_parseable_line_by_line() {
    let (gate, sink) = Gate::closed_on_write();
    let (writer, guard) = NonBlockingBuilder::default()
        .buffered_lines_limit(4)
        .overflow(Overflow::DropNewest)
        .drop_report_interval(std::time::Duration::ZERO)
        .own_line_format(OwnLineFormat::Json)
        .finish(sink);
    let subscriber = tracing_subscriber::registry().with(
        tracing_subscriber::fmt::layer()
            .json()
            .with_writer(writer.clone()),
    );
    tracing::subscriber::with_default(subscriber, || {
        for round in 0..3 {
            gate.close();
            tracing::info!(round, "first");
            // The worker holds "first" inside the sink: 3 more fit, 6 are dropped.
            gate.wait_arrivals(1 + round);
            for i in 0..9 {
                tracing::info!(round, i, "flood");
            }
            gate.open();
            guard.flush().unwrap();
        }
    });

    let lines = gate.lines();
    let parsed: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let reports: Vec<&Value> = parsed
        .iter()
        .filter(|v| v["target"] == "backpressure_writer")
        .collect();
    assert_eq!(parsed.len(), 3 * 4 + 3, "{lines:#?}");
    assert_eq!(reports.len(), 3, "{lines:#?}");
    for r in &reports {
        assert_eq!(r["level"], "WARN");
        let f = &r["fields"];
        assert_eq!(f["message"], "dropped 6 lines since last report");
        assert_eq!(f["newest"], 6);
        for reason in [
            "oldest",
            "timeout",
            "keep_timeout",
            "shutdown",
            "worker_gone",
            "write_failed",
        ] {
            assert_eq!(f[reason], 0, "{reason}");
        }
    }
    // Same keys, in the same order, as the events fmt wrote around them.
    let event = lines.iter().find(|l| l.contains("\"first\"")).unwrap();
    let report = lines
        .iter()
        .find(|l| l.contains("backpressure_writer"))
        .unwrap();
    assert_eq!(
        keys_in_order(event),
        ["timestamp", "level", "fields", "target"]
    );
    assert_eq!(keys_in_order(report), keys_in_order(event));
    // The timestamp has the shape of fmt's: `2026-11-29T06:54:03.123456Z`.
    let ts = |v: &Value| v["timestamp"].as_str().unwrap().len();
    assert_eq!(ts(reports[0]), ts(&parsed[0]));

    let s = writer.stats();
    assert_eq!((s.lines_written, s.dropped.newest), (12, 18));
    assert_accounting(&s);
}

#[test]
fn a_closure_gives_the_drop_report_any_form() {
    let (gate, sink) = Gate::closed_on_write();
    let (mut w, guard) = NonBlockingBuilder::default()
        .buffered_lines_limit(1)
        .own_line_format(OwnLineFormat::custom(|line, out| {
            out.push_str(&format!(
                "level={} target={} msg={:?}",
                line.level(),
                line.target(),
                line.message()
            ));
            for (k, v) in line.fields().iter().filter(|(_, v)| *v > 0) {
                out.push_str(&format!(" {k}={v}"));
            }
        }))
        .finish(sink);
    w.write_all(b"kept\n").unwrap();
    gate.wait_arrivals(1);
    w.write_all(b"dropped\n").unwrap();
    gate.open();
    // The drop came after "kept" was taken, so its report is due after that batch: the
    // shutdown writes it at the latest.
    drop(guard);
    assert_eq!(
        gate.lines(),
        [
            "kept",
            "level=WARN target=backpressure_writer msg=\"dropped 1 lines since last report\" newest=1"
        ]
    );
    assert!(matches!(w.own_line_format(), OwnLineFormat::Custom(_)));
}

#[test]
fn the_text_form_stays_the_default() {
    let (w, _guard) = backpressure_writer::non_blocking(std::io::sink());
    assert!(matches!(w.own_line_format(), OwnLineFormat::Text));
}
