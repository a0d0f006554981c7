//! Turning one stats snapshot into recorder calls.
//!
//! Keys are built once per registered source (and once per sampler target, the first time
//! it shows up), so an export after the first allocates nothing: it costs one recorder
//! lookup per series (22 for a writer plus one per histogram bucket that gained
//! observations, 17 + 3 per target + 5 per repeat target for a sampler, capture included) and runs only on the
//! exporter thread or in `export_now`, never on the logging hot path.

use backpressure_writer::rolling::RollingStats;
use backpressure_writer::stats::{DropReason, LatencySnapshot, Stats};
use metrics::{Key, KeyName, Label, Level, Metadata, Recorder, SharedString};
use sampling_layer::{capture::CaptureStats, repeat::RepeatStats, stats::SamplingStats};

use crate::names::{self, MetricKind};

static METADATA: Metadata<'static> =
    Metadata::new(module_path!(), Level::INFO, Some(module_path!()));

/// The upper bounds, in seconds, of the writer's latency buckets
/// ([`LatencySnapshot::bucket_upper_bound`]), smallest first.
///
/// Configure these as the buckets of [`names::WRITER_QUEUE_WAIT`] and
/// [`names::WRITER_BATCH_WRITE`] in your recorder (for `metrics-exporter-prometheus`,
/// `set_buckets_for_metric`) so each exported observation lands in exactly the bucket the
/// writer counted it in and `histogram_quantile` sees the writer's real distribution.
///
/// A `Vec` (one per [`LatencySnapshot::bucket_count`]) rather than an array, so that the
/// writer may add buckets in a minor release.
///
/// With `metrics-exporter-prometheus` (`examples/examples/prometheus.rs` is a complete
/// service; `docs/metrics.md` documents every metric, the Grafana dashboard and the alert
/// rules):
///
/// ```ignore
/// let bounds = logmetrics::latency_bucket_bounds();
/// PrometheusBuilder::new()
///     .with_http_listener(([127, 0, 0, 1], 9000))
///     .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &bounds)?
///     .install()?;
/// let _metrics = Exporter::builder()
///     .writer("app", writer.clone())
///     .sampler("main", sampler.handle())
///     .spawn()?;
/// ```
pub fn latency_bucket_bounds() -> Vec<f64> {
    (0..LatencySnapshot::bucket_count())
        .map(|i| LatencySnapshot::bucket_upper_bound(i).as_secs_f64())
        .collect()
}

/// Sends every metric's unit and help text to `recorder`.
///
/// Re-sent on every export (a couple of dozen map inserts per interval) so that a recorder
/// installed after the exporter started still learns them.
pub(crate) fn describe_all(recorder: &dyn Recorder) {
    for m in names::METRICS {
        let key = KeyName::from_const_str(m.name);
        let help = SharedString::const_str(m.help);
        match m.kind {
            MetricKind::Counter => recorder.describe_counter(key, m.unit, help),
            MetricKind::Gauge => recorder.describe_gauge(key, m.unit, help),
            MetricKind::Histogram => recorder.describe_histogram(key, m.unit, help),
        }
    }
}

fn key(name: &'static str, labels: &[(&'static str, &str)]) -> Key {
    let labels: Vec<Label> = labels
        .iter()
        .map(|&(k, v)| Label::new(k, v.to_owned()))
        .collect();
    Key::from_parts(name, labels)
}

fn counter(r: &dyn Recorder, key: &Key, value: u64) {
    r.register_counter(key, &METADATA).absolute(value);
}

fn gauge(r: &dyn Recorder, key: &Key, value: f64) {
    r.register_gauge(key, &METADATA).set(value);
}

/// The series of one registered writer, and the histogram state of the last export.
#[derive(Debug)]
pub(crate) struct WriterSeries {
    queue_depth: Key,
    capacity: Key,
    high_water: Key,
    submitted: Key,
    written: Key,
    bytes: Key,
    /// Same order as `Dropped::by_reason`.
    dropped: Vec<(DropReason, Key)>,
    write_errors: Key,
    sink_panics: Key,
    batches: Key,
    worker_alive: Key,
    last_write_age: Key,
    queue_wait: Key,
    batch_write: Key,
    in_sink: Key,
    queue_bytes: Key,
    capacity_bytes: Key,
    blocked_producers: Key,
    prev_queue_wait: LatencySnapshot,
    prev_batch_write: LatencySnapshot,
    bounds: Vec<f64>,
}

impl WriterSeries {
    pub(crate) fn new(name: &str) -> Self {
        let n = [(names::LABEL_NAME, name)];
        let dropped = DropReason::ALL
            .iter()
            .map(|&reason| {
                (
                    reason,
                    key(
                        names::WRITER_LINES_DROPPED,
                        &[
                            (names::LABEL_NAME, name),
                            (names::LABEL_REASON, reason.as_str()),
                        ],
                    ),
                )
            })
            .collect();
        Self {
            queue_depth: key(names::WRITER_QUEUE_DEPTH, &n),
            capacity: key(names::WRITER_QUEUE_CAPACITY, &n),
            high_water: key(names::WRITER_QUEUE_HIGH_WATER, &n),
            submitted: key(names::WRITER_LINES_SUBMITTED, &n),
            written: key(names::WRITER_LINES_WRITTEN, &n),
            bytes: key(names::WRITER_BYTES_WRITTEN, &n),
            dropped,
            write_errors: key(names::WRITER_WRITE_ERRORS, &n),
            sink_panics: key(names::WRITER_SINK_PANICS, &n),
            batches: key(names::WRITER_BATCHES, &n),
            worker_alive: key(names::WRITER_WORKER_ALIVE, &n),
            last_write_age: key(names::WRITER_LAST_WRITE_AGE, &n),
            queue_wait: key(names::WRITER_QUEUE_WAIT, &n),
            batch_write: key(names::WRITER_BATCH_WRITE, &n),
            in_sink: key(names::WRITER_LINES_IN_SINK, &n),
            queue_bytes: key(names::WRITER_QUEUE_BYTES, &n),
            capacity_bytes: key(names::WRITER_QUEUE_CAPACITY_BYTES, &n),
            blocked_producers: key(names::WRITER_BLOCKED_PRODUCERS, &n),
            prev_queue_wait: LatencySnapshot::default(),
            prev_batch_write: LatencySnapshot::default(),
            bounds: latency_bucket_bounds(),
        }
    }

    pub(crate) fn publish(&mut self, r: &dyn Recorder, s: &Stats) {
        gauge(r, &self.queue_depth, s.queue_depth as f64);
        // The overflow policy's line bound: `queue_depth / capacity` reads 1 when the room
        // the policy drops from is full, whatever the keep-level reserve beside it holds
        // (bounded by its bytes, that reserve has a line bound as large as the queue's,
        // which would halve the ratio a full queue shows).
        gauge(r, &self.capacity, s.capacity as f64);
        gauge(r, &self.high_water, s.high_water as f64);
        gauge(r, &self.in_sink, s.in_sink as f64);
        gauge(r, &self.queue_bytes, s.buffered_bytes as f64);
        // Like `capacity`: the bound of `buffered_bytes`, keep-level bytes included.
        gauge(
            r,
            &self.capacity_bytes,
            s.byte_capacity.saturating_add(s.keep_byte_capacity) as f64,
        );
        gauge(r, &self.blocked_producers, s.blocked_producers as f64);
        counter(r, &self.submitted, s.submitted);
        counter(r, &self.written, s.lines_written);
        counter(r, &self.bytes, s.bytes_written);
        for (reason, key) in &self.dropped {
            counter(r, key, s.dropped.get(*reason));
        }
        counter(r, &self.write_errors, s.write_errors);
        counter(r, &self.sink_panics, s.sink_panics);
        counter(r, &self.batches, s.batches);
        gauge(
            r,
            &self.worker_alive,
            if s.worker_alive { 1.0 } else { 0.0 },
        );
        if let Some(age) = s.since_last_write {
            gauge(r, &self.last_write_age, age.as_secs_f64());
        }
        record_delta(
            r,
            &self.queue_wait,
            &self.bounds,
            &mut self.prev_queue_wait,
            &s.queue_wait,
        );
        record_delta(
            r,
            &self.batch_write,
            &self.bounds,
            &mut self.prev_batch_write,
            &s.batch_write,
        );
    }
}

/// Records what `cur` gained over `prev` as `record_many(bucket bound, new observations)`.
///
/// The writer's buckets only grow; if a bucket shrank, the source was replaced (a new writer
/// under the same name), and everything in `cur` is new.
fn record_delta(
    r: &dyn Recorder,
    key: &Key,
    bounds: &[f64],
    prev: &mut LatencySnapshot,
    cur: &LatencySnapshot,
) {
    let reset = cur.counts().iter().zip(prev.counts()).any(|(c, p)| c < p);
    if reset {
        *prev = LatencySnapshot::default();
    }
    let mut histogram = None;
    for (i, (c, p)) in cur.counts().iter().zip(prev.counts()).enumerate() {
        let delta = c - p;
        if delta > 0 {
            histogram
                .get_or_insert_with(|| r.register_histogram(key, &METADATA))
                .record_many(bounds[i], usize::try_from(delta).unwrap_or(usize::MAX));
        }
    }
    *prev = *cur;
}

/// One sampler target's series.
#[derive(Debug)]
struct TargetSeries {
    target: String,
    seen: Key,
    kept: Key,
    rate: Key,
    effective_rate: Key,
    budget: Key,
}

/// The series of one registered sampler.
#[derive(Debug)]
pub(crate) struct SamplerSeries {
    name: String,
    active_keys: Key,
    callsite_keys: Key,
    max_keys: Key,
    evicted: Key,
    breaker_open: Key,
    breaker_trips: Key,
    enabled: Key,
    pressure_scale: Key,
    fleet_size: Key,
    fleet_size_refused: Key,
    retired_targets: Key,
    forgotten_targets: Key,
    breaker_recoveries: Key,
    capture: CaptureSeries,
    repeats: RepeatSeries,
    /// Grows only with the targets the sampler reports (its directives plus `(other)`), so
    /// the label set stays as small as the configuration.
    targets: Vec<TargetSeries>,
}

impl SamplerSeries {
    pub(crate) fn new(name: &str) -> Self {
        let n = [(names::LABEL_NAME, name)];
        Self {
            name: name.to_owned(),
            active_keys: key(names::SAMPLING_ACTIVE_KEYS, &n),
            callsite_keys: key(names::SAMPLING_CALLSITE_KEYS, &n),
            max_keys: key(names::SAMPLING_MAX_KEYS, &n),
            evicted: key(names::SAMPLING_KEYS_EVICTED, &n),
            breaker_open: key(names::SAMPLING_BREAKER_OPEN, &n),
            breaker_trips: key(names::SAMPLING_BREAKER_TRIPS, &n),
            enabled: key(names::SAMPLING_ENABLED, &n),
            pressure_scale: key(names::SAMPLING_PRESSURE_SCALE, &n),
            fleet_size: key(names::SAMPLING_FLEET_SIZE, &n),
            fleet_size_refused: key(names::SAMPLING_FLEET_SIZE_REFUSED, &n),
            retired_targets: key(names::SAMPLING_RETIRED_TARGETS, &n),
            forgotten_targets: key(names::SAMPLING_TARGETS_FORGOTTEN, &n),
            breaker_recoveries: key(names::SAMPLING_BREAKER_RECOVERIES, &n),
            capture: CaptureSeries::new(name),
            repeats: RepeatSeries::new(name),
            targets: Vec::new(),
        }
    }

    pub(crate) fn publish(&mut self, r: &dyn Recorder, s: &SamplingStats) {
        gauge(r, &self.active_keys, s.active_keys as f64);
        gauge(r, &self.callsite_keys, s.callsite_keys as f64);
        gauge(r, &self.max_keys, s.max_keys as f64);
        counter(r, &self.evicted, s.evicted_keys);
        gauge(
            r,
            &self.breaker_open,
            if s.breaker_open { 1.0 } else { 0.0 },
        );
        counter(r, &self.breaker_trips, s.breaker_trips);
        gauge(r, &self.enabled, if s.enabled { 1.0 } else { 0.0 });
        gauge(r, &self.pressure_scale, s.pressure_scale);
        // Only samplers with a fleet have the series.
        if let Some(size) = s.fleet_size {
            gauge(r, &self.fleet_size, size as f64);
            counter(r, &self.fleet_size_refused, s.fleet_size_refused);
        }
        gauge(r, &self.retired_targets, s.retired_targets as f64);
        counter(r, &self.forgotten_targets, s.forgotten_targets);
        counter(r, &self.breaker_recoveries, s.breaker_recoveries);
        // `recent_seen`/`recent_kept` are deliberately not published: Prometheus derives
        // any recent rate from the seen/kept counters (docs/metrics.md, "Not exported").
        self.capture.publish(r, &s.capture);
        self.repeats.publish(r, &s.repeats);
        for t in &s.targets {
            let series = self.target(&t.target);
            counter(r, &series.seen, t.seen);
            counter(r, &series.kept, t.kept);
            gauge(r, &series.rate, t.rate);
            gauge(r, &series.effective_rate, t.effective_rate);
            // Only budget targets have the series, so the label set stays the configuration's.
            if let Some(b) = t.effective_budget {
                gauge(r, &series.budget, b);
            }
        }
    }

    /// Targets are few (one per directive), so a linear scan beats hashing here.
    fn target(&mut self, target: &str) -> &TargetSeries {
        let i = match self.targets.iter().position(|t| t.target == target) {
            Some(i) => i,
            None => {
                let label = if target.is_empty() {
                    names::DEFAULT_TARGET_LABEL
                } else {
                    target
                };
                let labels = [
                    (names::LABEL_NAME, self.name.as_str()),
                    (names::LABEL_TARGET, label),
                ];
                self.targets.push(TargetSeries {
                    target: target.to_owned(),
                    seen: key(names::SAMPLING_EVENTS_SEEN, &labels),
                    kept: key(names::SAMPLING_EVENTS_KEPT, &labels),
                    rate: key(names::SAMPLING_RATE, &labels),
                    effective_rate: key(names::SAMPLING_EFFECTIVE_RATE, &labels),
                    budget: key(names::SAMPLING_BUDGET, &labels),
                });
                self.targets.len() - 1
            }
        };
        &self.targets[i]
    }
}

/// The repeat-suppression series of one sampler: one set per repeat target
/// (the targets ever configured with a repeat directive, a bounded set).
#[derive(Debug)]
struct RepeatSeries {
    name: String,
    lost: Key,
    targets: Vec<(String, [Key; 5])>,
}

impl RepeatSeries {
    fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            lost: key(
                names::SAMPLING_REPEAT_SUMMARIES_LOST,
                &[(names::LABEL_NAME, name)],
            ),
            targets: Vec::new(),
        }
    }

    fn publish(&mut self, r: &dyn Recorder, s: &RepeatStats) {
        counter(r, &self.lost, s.summaries_lost);
        for t in &s.targets {
            let i = match self.targets.iter().position(|(n, _)| *n == t.target) {
                Some(i) => i,
                None => {
                    let labels = [
                        (names::LABEL_NAME, self.name.as_str()),
                        (names::LABEL_TARGET, t.target.as_str()),
                    ];
                    let keys = [
                        names::SAMPLING_REPEATS_KEPT,
                        names::SAMPLING_REPEATS_SUPPRESSED,
                        names::SAMPLING_REPEAT_SUMMARIES,
                        names::SAMPLING_REPEAT_KEYS,
                        names::SAMPLING_REPEAT_KEYS_EVICTED,
                    ]
                    .map(|n| key(n, &labels));
                    self.targets.push((t.target.clone(), keys));
                    self.targets.len() - 1
                }
            };
            let [kept, suppressed, summaries, live, evicted] = &self.targets[i].1;
            counter(r, kept, t.kept);
            counter(r, suppressed, t.suppressed);
            counter(r, summaries, t.summaries);
            gauge(r, live, t.live_keys as f64);
            counter(r, evicted, t.evicted_keys);
        }
    }
}

/// The context-capture series of one sampler.
#[derive(Debug)]
struct CaptureSeries {
    captured: Key,
    flushed: Key,
    discarded: Key,
    evicted_span: Key,
    evicted_total: Key,
    buffered_bytes: Key,
}

impl CaptureSeries {
    fn new(name: &str) -> Self {
        let n = [(names::LABEL_NAME, name)];
        let bound = |b: &str| {
            key(
                names::SAMPLING_CAPTURE_EVICTED,
                &[(names::LABEL_NAME, name), (names::LABEL_BOUND, b)],
            )
        };
        Self {
            captured: key(names::SAMPLING_CAPTURED, &n),
            flushed: key(names::SAMPLING_CAPTURE_FLUSHED, &n),
            discarded: key(names::SAMPLING_CAPTURE_DISCARDED, &n),
            evicted_span: bound("span"),
            evicted_total: bound("total"),
            buffered_bytes: key(names::SAMPLING_CAPTURE_BUFFERED_BYTES, &n),
        }
    }

    fn publish(&self, r: &dyn Recorder, c: &CaptureStats) {
        counter(r, &self.captured, c.captured);
        counter(r, &self.flushed, c.flushed);
        counter(r, &self.discarded, c.discarded);
        counter(r, &self.evicted_span, c.evicted_span_cap);
        counter(r, &self.evicted_total, c.evicted_total_cap);
        gauge(r, &self.buffered_bytes, c.buffered_bytes as f64);
    }
}

/// The series of one registered rolling file sink.
#[derive(Debug)]
pub(crate) struct FileSeries {
    rotations: Key,
    reopens: Key,
    deleted: Key,
    compressed_bytes: Key,
    compression_failures: Key,
    open_failures: Key,
    current_bytes: Key,
    torn_lines_ended: Key,
}

impl FileSeries {
    pub(crate) fn new(name: &str) -> Self {
        let n = [(names::LABEL_NAME, name)];
        Self {
            rotations: key(names::FILE_ROTATIONS, &n),
            reopens: key(names::FILE_REOPENS, &n),
            deleted: key(names::FILE_DELETED, &n),
            compressed_bytes: key(names::FILE_COMPRESSED_BYTES, &n),
            compression_failures: key(names::FILE_COMPRESSION_FAILURES, &n),
            open_failures: key(names::FILE_OPEN_FAILURES, &n),
            current_bytes: key(names::FILE_CURRENT_BYTES, &n),
            torn_lines_ended: key(names::FILE_TORN_LINES_ENDED, &n),
        }
    }

    pub(crate) fn publish(&self, r: &dyn Recorder, s: &RollingStats) {
        counter(r, &self.rotations, s.rotations);
        counter(r, &self.reopens, s.reopens);
        counter(r, &self.deleted, s.files_deleted);
        counter(r, &self.compressed_bytes, s.bytes_compressed);
        counter(r, &self.compression_failures, s.compression_failures);
        counter(r, &self.open_failures, s.open_failures);
        gauge(r, &self.current_bytes, s.current_file_size as f64);
        counter(r, &self.torn_lines_ended, s.torn_lines_ended);
    }
}
