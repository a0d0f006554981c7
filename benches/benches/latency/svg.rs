//! A percentile chart of the latency runs as a self-contained SVG: one panel per producer
//! count, percentile on a log scale of 1/(1-q) across, latency on a log scale up, one line
//! per writer, and the goal's three marks (p50 100 ns, p99 1 µs, p99.9 2 µs).

use std::fmt::Write;

use crate::{Run, PRODUCERS};

const PANEL_W: f64 = 260.0;
const PANEL_H: f64 = 220.0;
const MARGIN_L: f64 = 60.0;
const MARGIN_T: f64 = 40.0;
const GAP: f64 = 30.0;
/// Latency axis: 10 ns to 1 ms, as powers of ten.
const Y_MIN: f64 = 1.0;
const Y_MAX: f64 = 6.0;
/// Percentile axis: from p50 (1/(1-q) = 2) to p99.99 (10^4).
const X_MIN: f64 = std::f64::consts::LOG10_2;
const X_MAX: f64 = 4.0;

const WRITERS: [(&str, &str); 4] = [
    ("backpressure_writer", "#1f77b4"),
    ("backpressure_writer_no_poll", "#9467bd"),
    ("tracing_appender", "#d62728"),
    ("flume", "#2ca02c"),
];

fn x_of(panel: usize, decades: f64) -> f64 {
    MARGIN_L + panel as f64 * (PANEL_W + GAP) + (decades - X_MIN) / (X_MAX - X_MIN) * PANEL_W
}

fn y_of(ns: f64) -> f64 {
    let l = ns.max(1.0).log10().clamp(Y_MIN, Y_MAX);
    MARGIN_T + PANEL_H - (l - Y_MIN) / (Y_MAX - Y_MIN) * PANEL_H
}

pub(crate) fn chart(runs: &[Run], load: &str) -> String {
    let width = MARGIN_L + PRODUCERS.len() as f64 * (PANEL_W + GAP) + 20.0;
    let height = MARGIN_T + PANEL_H + 90.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(
        s,
        r#"<rect width="100%" height="100%" fill="white"/><text x="{MARGIN_L}" y="18" font-size="13">One write call, bursts of 20 lines with 1 ms pauses: latency by percentile (log-log). Load average at the end: {load}</text>"#
    );
    for (panel, &p) in PRODUCERS.iter().enumerate() {
        let (x0, x1) = (x_of(panel, X_MIN), x_of(panel, X_MAX));
        let _ = writeln!(
            s,
            r##"<rect x="{x0}" y="{MARGIN_T}" width="{PANEL_W}" height="{PANEL_H}" fill="none" stroke="#888"/><text x="{}" y="{}" text-anchor="middle">{p} producer{}</text>"##,
            (x0 + x1) / 2.0,
            MARGIN_T - 6.0,
            if p == 1 { "" } else { "s" }
        );
        for e in Y_MIN as u32..=Y_MAX as u32 {
            let y = y_of(10f64.powi(e as i32));
            let label = ["", "10 ns", "100 ns", "1 µs", "10 µs", "100 µs", "1 ms"][e as usize];
            let _ = writeln!(
                s,
                r##"<line x1="{x0}" x2="{x1}" y1="{y}" y2="{y}" stroke="#eee"/><text x="{}" y="{}" text-anchor="end">{label}</text>"##,
                x0 - 3.0,
                y + 4.0
            );
        }
        for (d, label) in [
            (X_MIN, "p50"),
            (1.0, "p90"),
            (2.0, "p99"),
            (3.0, "p99.9"),
            (4.0, "p99.99"),
        ] {
            let x = x_of(panel, d);
            let _ = writeln!(
                s,
                r##"<line x1="{x}" x2="{x}" y1="{MARGIN_T}" y2="{}" stroke="#eee"/><text x="{x}" y="{}" text-anchor="middle">{label}</text>"##,
                MARGIN_T + PANEL_H,
                MARGIN_T + PANEL_H + 14.0
            );
        }
        for (d, goal) in [(X_MIN, 100.0), (2.0, 1_000.0), (3.0, 2_000.0)] {
            let _ = writeln!(
                s,
                r##"<path d="M{} {} l5 -5 l5 5 l-5 5 z" fill="none" stroke="#000"/>"##,
                x_of(panel, d) - 5.0,
                y_of(goal)
            );
        }
        for (writer, colour) in WRITERS {
            let Some(run) = runs.iter().find(|r| r.producers == p && r.writer == writer) else {
                continue;
            };
            let mut points = String::new();
            let mut d = X_MIN;
            while d <= X_MAX + 1e-9 {
                let q = 1.0 - 10f64.powf(-d);
                let _ = write!(
                    points,
                    "{:.1},{:.1} ",
                    x_of(panel, d),
                    y_of(run.quantile(q) as f64)
                );
                d += 0.05;
            }
            let _ = writeln!(
                s,
                r#"<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="1.5"/>"#
            );
        }
    }
    let ly = MARGIN_T + PANEL_H + 40.0;
    for (i, (writer, colour)) in WRITERS.iter().enumerate() {
        let x = MARGIN_L + i as f64 * 230.0;
        let _ = writeln!(
            s,
            r#"<line x1="{x}" x2="{}" y1="{ly}" y2="{ly}" stroke="{colour}" stroke-width="2"/><text x="{}" y="{}">{writer}</text>"#,
            x + 25.0,
            x + 30.0,
            ly + 4.0
        );
    }
    let _ = writeln!(
        s,
        r##"<path d="M{} {} l5 -5 l5 5 l-5 5 z" fill="none" stroke="#000"/><text x="{}" y="{}">goal: p50 100 ns, p99 1 µs, p99.9 2 µs</text>"##,
        MARGIN_L + 15.0,
        ly + 20.0,
        MARGIN_L + 30.0,
        ly + 24.0
    );
    let _ = writeln!(
        s,
        r##"<text x="{MARGIN_L}" y="{}" fill="#555">Regenerate: cargo bench -p benches --bench latency -- --svg docs/writer-latency.svg</text>"##,
        ly + 44.0
    );
    s.push_str("</svg>\n");
    s
}
