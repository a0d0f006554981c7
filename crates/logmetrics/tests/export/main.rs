//! Exact values published through a `DebuggingRecorder` after known workloads: one
//! binary, a module per source of figures; the helpers and fixtures are here.

#[path = "../support/mod.rs"]
mod support;

use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use backpressure_writer::stats::{LatencySnapshot, Stats};
use logmetrics::{latency_bucket_bounds, names, Exporter};
use metrics_util::debugging::DebuggingRecorder;
use sampling_layer::stats::{SamplingStats, TargetStats, OTHER_TARGET};

use support::{take, Value};

const APP: &[(&str, &str)] = &[("name", "app")];

fn writer_stats() -> Stats {
    let mut s = Stats::default();
    s.queue_depth = 5;
    s.capacity = 100;
    s.high_water = 40;
    s.submitted = 25;
    s.lines_written = 10;
    s.bytes_written = 1_234;
    s.dropped.newest = 3;
    s.dropped.keep_timeout = 1;
    s.dropped.write_failed = 6;
    s.write_errors = 2;
    s.sink_panics = 1;
    s.batches = 4;
    s.worker_alive = true;
    s.since_last_write = Some(Duration::from_millis(1_500));
    s.in_sink = 2;
    s.buffered_bytes = 640;
    s.byte_capacity = 4_096;
    s.keep_byte_capacity = 512;
    s.blocked_producers = 3;
    s
}

fn target(name: &str, rate: f64, seen: u64, kept: u64) -> TargetStats {
    let mut t = TargetStats::default();
    t.target = name.to_owned();
    t.rate = rate;
    t.seen = seen;
    t.kept = kept;
    t.dropped = seen - kept;
    t.effective_rate = rate;
    // Recent figures are not published (docs/metrics.md, "Not exported"): set, so that
    // `every_metric_is_described_with_its_unit` would see a stray series.
    t.recent_seen = seen / 2;
    t.recent_kept = kept / 2;
    t
}

fn sampler_stats() -> SamplingStats {
    let mut s = SamplingStats::default();
    s.active_keys = 12;
    s.callsite_keys = 4;
    s.max_keys = 10_000;
    s.evicted_keys = 3;
    s.breaker_open = true;
    s.breaker_trips = 2;
    s.enabled = true;
    s.pressure_scale = 0.5;
    s.fleet_size = Some(4);
    s.fleet_size_refused = 2;
    let mut db = target("app::db", 1.0, 4_000, 100);
    db.budget = Some(200.0);
    db.effective_budget = Some(100.0);
    db.effective_rate = 0.025;
    s.retired_targets = 9;
    s.forgotten_targets = 17;
    s.breaker_recoveries = 1;
    s.recent_interval = Duration::from_secs(10);
    s.targets = vec![
        target("", 0.5, 40, 20),
        target("app::router", 0.05, 1_000, 50),
        target(OTHER_TARGET, 1.0, 7, 7),
        db,
    ];
    let mut repeat = sampling_layer::repeat::RepeatTargetStats::default();
    repeat.target = "app::db".into();
    repeat.kept = 15;
    repeat.suppressed = 49_985;
    repeat.summaries = 3;
    repeat.live_keys = 2;
    s.repeats.targets = vec![repeat];
    s
}

/// A source the test can change between exports.
fn shared<T: Clone + Send + 'static>(v: T) -> (Arc<Mutex<T>>, impl Fn() -> T + Send + Sync) {
    let cell = Arc::new(Mutex::new(v));
    let c = cell.clone();
    (cell, move || c.lock().unwrap().clone())
}

mod exporter;
mod rolling;
mod sampler;
mod writer;
