//! The one table of metric names, kinds, units, labels and help text.
//!
//! `docs/metrics.md` mirrors [`METRICS`] (a test checks that every name here appears there),
//! and the Grafana dashboard and alert rules may only use names from this table.

use metrics::Unit;

/// Label carrying the name a writer or sampler was registered under.
pub const LABEL_NAME: &str = "name";
/// Label carrying a drop reason (`DropReason::as_str`: `newest`, `oldest`, ...).
pub const LABEL_REASON: &str = "reason";
/// Label carrying a sampler directive's target, `(other)` or `(default)`.
pub const LABEL_TARGET: &str = "target";
/// Label: which capture bound dropped a line (`span` or `total`).
pub const LABEL_BOUND: &str = "bound";

/// The `target` label value used for the sampler's bare default rate (whose target is `""`):
/// an empty label value would make the series indistinguishable from an unlabelled one in
/// Prometheus, and no directive target can start with `(` (the sampler's parser refuses
/// it, as `EnvFilter` does), so no target's series can share this label or `(other)`.
pub const DEFAULT_TARGET_LABEL: &str = "(default)";

/// Lines buffered: queued, or taken by the worker and being written.
pub const WRITER_QUEUE_DEPTH: &str = "log_writer_queue_depth";
/// Lines the overflow policy lets the writer buffer (`buffered_lines_limit`); keep-level
/// lines may be buffered beyond it in their reserve, so [`WRITER_QUEUE_DEPTH`] can pass it.
pub const WRITER_QUEUE_CAPACITY: &str = "log_writer_queue_capacity";
/// Highest queue depth seen since the writer was built.
pub const WRITER_QUEUE_HIGH_WATER: &str = "log_writer_queue_high_water";
/// Lines handed to the writer.
pub const WRITER_LINES_SUBMITTED: &str = "log_writer_lines_submitted_total";
/// Lines the sink accepted.
pub const WRITER_LINES_WRITTEN: &str = "log_writer_lines_written_total";
/// Bytes the sink accepted.
pub const WRITER_BYTES_WRITTEN: &str = "log_writer_bytes_written_total";
/// Lines lost, by `reason`.
pub const WRITER_LINES_DROPPED: &str = "log_writer_lines_dropped_total";
/// Failed sink operations.
pub const WRITER_WRITE_ERRORS: &str = "log_writer_write_errors_total";
/// Times the sink panicked.
pub const WRITER_SINK_PANICS: &str = "log_writer_sink_panics_total";
/// Batches the worker wrote.
pub const WRITER_BATCHES: &str = "log_writer_batches_total";
/// 1 while the worker thread runs, 0 once it is gone.
pub const WRITER_WORKER_ALIVE: &str = "log_writer_worker_alive";
/// Seconds since the sink last accepted a write (absent until the first write).
pub const WRITER_LAST_WRITE_AGE: &str = "log_writer_last_write_age_seconds";
/// Time a (timed) line waited in the queue.
pub const WRITER_QUEUE_WAIT: &str = "log_writer_queue_wait_seconds";
/// Time one batch took to write (and flush).
pub const WRITER_BATCH_WRITE: &str = "log_writer_batch_write_seconds";

// Figures the writer and sampler gained with the byte bound and target retirement
// (logmetrics-catchup).
/// Of the buffered lines, those inside the sink's `write` call right now.
pub const WRITER_LINES_IN_SINK: &str = "log_writer_lines_in_sink";
/// Bytes of the lines in [`WRITER_QUEUE_DEPTH`].
pub const WRITER_QUEUE_BYTES: &str = "log_writer_queue_bytes";
/// Bytes the writer can buffer (`byte_capacity` plus `keep_byte_capacity`): the bound of
/// [`WRITER_QUEUE_BYTES`].
pub const WRITER_QUEUE_CAPACITY_BYTES: &str = "log_writer_queue_capacity_bytes";
/// Targets no longer configured whose figures the sampler remembers.
pub const SAMPLING_RETIRED_TARGETS: &str = "log_sampling_retired_targets";
/// Retired targets forgotten to stay under the bound on remembered ones.
pub const SAMPLING_TARGETS_FORGOTTEN: &str = "log_sampling_targets_forgotten_total";
/// Producers waiting for room in the writer's queue right now.
pub const WRITER_BLOCKED_PRODUCERS: &str = "log_writer_blocked_producers";
/// Times the sampler's circuit breaker has closed again.
pub const SAMPLING_BREAKER_RECOVERIES: &str = "log_sampling_breaker_recoveries_total";

// The writer's rolling file sink (`backpressure_writer::rolling`), registered with
// `ExporterBuilder::rolling_file`.
/// Files the rolling sink closed for a new period or the size limit.
pub const FILE_ROTATIONS: &str = "log_writer_file_rotations_total";
/// Files the rolling sink closed and opened again on request (logrotate).
pub const FILE_REOPENS: &str = "log_writer_file_reopens_total";
/// Files deleted by retention.
pub const FILE_DELETED: &str = "log_writer_file_deleted_total";
/// Bytes of closed files gzipped (before compression).
pub const FILE_COMPRESSED_BYTES: &str = "log_writer_file_compressed_bytes_total";
/// Compressions that failed (the original was kept).
pub const FILE_COMPRESSION_FAILURES: &str = "log_writer_file_compression_failures_total";
/// Opens of a new or reopened file that failed.
pub const FILE_OPEN_FAILURES: &str = "log_writer_file_open_failures_total";
/// Bytes in the file being written now.
pub const FILE_CURRENT_BYTES: &str = "log_writer_file_current_bytes";
/// Files found ending mid-line (a crash) and ended with a newline before appending.
pub const FILE_TORN_LINES_ENDED: &str = "log_writer_file_torn_lines_ended_total";

/// Per-key counters currently live.
pub const SAMPLING_ACTIVE_KEYS: &str = "log_sampling_active_keys";
/// Callsites with counters of their own (keys that are callsites, outside the LRU).
pub const SAMPLING_CALLSITE_KEYS: &str = "log_sampling_callsite_keys";
/// The configured bound on live keys.
pub const SAMPLING_MAX_KEYS: &str = "log_sampling_max_keys";
/// Per-key counters evicted.
pub const SAMPLING_KEYS_EVICTED: &str = "log_sampling_keys_evicted_total";
/// Sampled-level events that reached a decision, by `target`.
pub const SAMPLING_EVENTS_SEEN: &str = "log_sampling_events_seen_total";
/// Of those, kept, by `target`.
pub const SAMPLING_EVENTS_KEPT: &str = "log_sampling_events_kept_total";
/// The configured rate in `[0, 1]`, by `target`.
pub const SAMPLING_RATE: &str = "log_sampling_rate";
/// 1 while the circuit breaker is open (sampling suspended, everything kept).
pub const SAMPLING_BREAKER_OPEN: &str = "log_sampling_breaker_open";
/// Times the breaker has opened.
pub const SAMPLING_BREAKER_TRIPS: &str = "log_sampling_breaker_trips_total";
/// 1 while sampling is enabled, 0 when switched off at run time (everything kept).
pub const SAMPLING_ENABLED: &str = "log_sampling_enabled";
/// The rate a target samples at now (configured rate under pressure, or a budget
/// target's kept share), by `target`.
pub const SAMPLING_EFFECTIVE_RATE: &str = "log_sampling_effective_rate";
/// A budget target's goal in this process (its budget under pressure, a fleet budget
/// divided by the fleet size), in lines per second, by `target`.
pub const SAMPLING_BUDGET: &str = "log_sampling_budget_lines_per_second";
/// The pressure scale on every sampled rate and budget, in `(0, 1]`.
pub const SAMPLING_PRESSURE_SCALE: &str = "log_sampling_pressure_scale";
/// The fleet's size a `/fleet` budget is shared out by, as last read (with a fleet size
/// provider only).
pub const SAMPLING_FLEET_SIZE: &str = "log_sampling_fleet_size";
/// Reads of the fleet size refused (0, too large, or a panic); the last good size held.
pub const SAMPLING_FLEET_SIZE_REFUSED: &str = "log_sampling_fleet_size_refused_total";
/// Sampled-out lines put into a capturing span's buffer (context capture).
pub const SAMPLING_CAPTURED: &str = "log_sampling_captured_lines_total";
/// Captured lines written ahead of a trigger line.
pub const SAMPLING_CAPTURE_FLUSHED: &str = "log_sampling_capture_flushed_lines_total";
/// Captured lines discarded when their span closed without a trigger.
pub const SAMPLING_CAPTURE_DISCARDED: &str = "log_sampling_capture_discarded_lines_total";
/// Captured lines dropped by a bound, by `bound` (`span` or `total`).
pub const SAMPLING_CAPTURE_EVICTED: &str = "log_sampling_capture_evicted_lines_total";
/// Bytes held in capture buffers now.
pub const SAMPLING_CAPTURE_BUFFERED_BYTES: &str = "log_sampling_capture_buffered_bytes";
/// Copies of a repeat key kept (the first N per window), by `target`.
pub const SAMPLING_REPEATS_KEPT: &str = "log_sampling_repeats_kept_total";
/// Copies of a repeat key suppressed, open windows included, by `target`.
pub const SAMPLING_REPEATS_SUPPRESSED: &str = "log_sampling_repeats_suppressed_total";
/// Repeat summary lines written, by `target`.
pub const SAMPLING_REPEAT_SUMMARIES: &str = "log_sampling_repeat_summaries_total";
/// Repeat keys live now, by `target`.
pub const SAMPLING_REPEAT_KEYS: &str = "log_sampling_repeat_keys";
/// Repeat keys evicted to stay under the bound, by `target`.
pub const SAMPLING_REPEAT_KEYS_EVICTED: &str = "log_sampling_repeat_keys_evicted_total";
/// Repeat summaries lost because too many were waiting to be written.
pub const SAMPLING_REPEAT_SUMMARIES_LOST: &str = "log_sampling_repeat_summaries_lost_total";

/// What kind of instrument a metric is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    /// Monotonic; published with `Counter::absolute`.
    Counter,
    /// Set to the latest value on each export.
    Gauge,
    /// Fed from bucket deltas with `Histogram::record_many`.
    Histogram,
}

impl MetricKind {
    /// Lowercase name, as in Prometheus's `# TYPE` line.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricKind::Counter => "counter",
            MetricKind::Gauge => "gauge",
            MetricKind::Histogram => "histogram",
        }
    }
}

/// One row of the table.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MetricDef {
    /// The metric's name, as Prometheus shows it.
    pub name: &'static str,
    /// Counter, gauge or histogram.
    pub kind: MetricKind,
    /// Unit passed to `describe_*!`, `None` for plain ratios and flags.
    pub unit: Option<Unit>,
    /// Labels every series of this metric carries.
    pub labels: &'static [&'static str],
    /// Help text passed to `describe_*!`.
    pub help: &'static str,
}

/// Label sets: every series names its writer or sampler; some add a reason or a target.
const BY_NAME: &[&str] = &[LABEL_NAME];
const BY_NAME_REASON: &[&str] = &[LABEL_NAME, LABEL_REASON];
const BY_NAME_TARGET: &[&str] = &[LABEL_NAME, LABEL_TARGET];
const BY_NAME_BOUND: &[&str] = &[LABEL_NAME, LABEL_BOUND];

const fn def(
    name: &'static str,
    kind: MetricKind,
    unit: Option<Unit>,
    labels: &'static [&'static str],
    help: &'static str,
) -> MetricDef {
    MetricDef {
        name,
        kind,
        unit,
        labels,
        help,
    }
}

use MetricKind::{Counter, Gauge, Histogram};

/// Every metric this crate publishes.
#[rustfmt::skip]
pub const METRICS: &[MetricDef] = &[
    def(WRITER_QUEUE_DEPTH, Gauge, Some(Unit::Count), BY_NAME, "Lines buffered in the writer: queued, or taken by the worker and being written; keep-level lines included."),
    def(WRITER_QUEUE_CAPACITY, Gauge, Some(Unit::Count), BY_NAME, "Lines the overflow policy lets the writer buffer (buffered_lines_limit); keep-level lines may go beyond it into their reserve."),
    def(WRITER_QUEUE_HIGH_WATER, Gauge, Some(Unit::Count), BY_NAME, "Highest queue depth seen since the writer was built."),
    def(WRITER_LINES_SUBMITTED, Counter, Some(Unit::Count), BY_NAME, "Lines handed to the writer."),
    def(WRITER_LINES_WRITTEN, Counter, Some(Unit::Count), BY_NAME, "Lines the sink accepted whole (the writer's own report lines not included)."),
    def(WRITER_BYTES_WRITTEN, Counter, Some(Unit::Bytes), BY_NAME, "Bytes the sink accepted, the writer's own drop reports included."),
    def(WRITER_LINES_DROPPED, Counter, Some(Unit::Count), BY_NAME_REASON, "Lines the writer gave up on, by reason."),
    def(WRITER_WRITE_ERRORS, Counter, Some(Unit::Count), BY_NAME, "Failed sink operations (a failed batch write or flush, or a sink panic)."),
    def(WRITER_SINK_PANICS, Counter, Some(Unit::Count), BY_NAME, "Times the sink panicked (each is also a write error)."),
    def(WRITER_BATCHES, Counter, Some(Unit::Count), BY_NAME, "Batches the worker wrote."),
    def(WRITER_WORKER_ALIVE, Gauge, None, BY_NAME, "1 while the writer's worker thread runs, 0 once it is gone."),
    def(WRITER_LAST_WRITE_AGE, Gauge, Some(Unit::Seconds), BY_NAME, "Seconds since the sink last accepted a write, as of the last export."),
    def(WRITER_QUEUE_WAIT, Histogram, Some(Unit::Seconds), BY_NAME, "Time a timed line waited in the queue (a fixed fraction of lines is timed)."),
    def(WRITER_BATCH_WRITE, Histogram, Some(Unit::Seconds), BY_NAME, "Time one batch took to write and, when it ended with one, flush."),
    // Byte bound and target retirement (logmetrics-catchup).
    def(WRITER_LINES_IN_SINK, Gauge, Some(Unit::Count), BY_NAME, "Of the buffered lines, those inside the sink's write call right now (settled when it returns)."),
    def(WRITER_QUEUE_BYTES, Gauge, Some(Unit::Bytes), BY_NAME, "Bytes of the lines buffered in the writer (those of log_writer_queue_depth)."),
    def(WRITER_QUEUE_CAPACITY_BYTES, Gauge, Some(Unit::Bytes), BY_NAME, "Bytes the writer can buffer: buffered_bytes_limit plus the keep-level byte room, the bound of log_writer_queue_bytes."),
    def(SAMPLING_RETIRED_TARGETS, Gauge, Some(Unit::Count), BY_NAME, "Targets no longer configured whose figures the sampler remembers (a target that comes back carries on from them)."),
    def(SAMPLING_TARGETS_FORGOTTEN, Counter, Some(Unit::Count), BY_NAME, "Retired targets forgotten to stay under the bound on remembered ones (their figures restart from zero if they come back)."),
    def(WRITER_BLOCKED_PRODUCERS, Gauge, Some(Unit::Count), BY_NAME, "Producers (application threads) waiting for room in the writer's queue right now: Overflow::Block, or keep-level lines waiting for the keep room."),
    def(SAMPLING_BREAKER_RECOVERIES, Counter, Some(Unit::Count), BY_NAME, "Times the sampler's circuit breaker has closed again (sampling resumed)."),
    def(SAMPLING_ACTIVE_KEYS, Gauge, Some(Unit::Count), BY_NAME, "Per-key sampling counters currently live."),
    def(SAMPLING_CALLSITE_KEYS, Gauge, Some(Unit::Count), BY_NAME, "Callsites sampled under their own counter (bounded by the code, not evicted)."),
    def(SAMPLING_MAX_KEYS, Gauge, Some(Unit::Count), BY_NAME, "Configured bound on live per-key counters."),
    def(SAMPLING_KEYS_EVICTED, Counter, Some(Unit::Count), BY_NAME, "Per-key sampling counters evicted to stay under the bound."),
    def(SAMPLING_EVENTS_SEEN, Counter, Some(Unit::Count), BY_NAME_TARGET, "Sampled-level events that reached the sampler's decision, by directive target."),
    def(SAMPLING_EVENTS_KEPT, Counter, Some(Unit::Count), BY_NAME_TARGET, "Sampled-level events the sampler kept, by directive target."),
    def(SAMPLING_RATE, Gauge, None, BY_NAME_TARGET, "Configured sampling rate in [0, 1], by directive target."),
    def(SAMPLING_BREAKER_OPEN, Gauge, None, BY_NAME, "1 while the sampler's circuit breaker is open (sampling suspended)."),
    def(SAMPLING_BREAKER_TRIPS, Counter, Some(Unit::Count), BY_NAME, "Times the sampler's circuit breaker has opened."),
    def(SAMPLING_ENABLED, Gauge, None, BY_NAME, "1 while sampling is enabled, 0 while it is switched off at run time."),
    def(SAMPLING_EFFECTIVE_RATE, Gauge, None, BY_NAME_TARGET, "Rate a target samples at now: its configured rate under the pressure scale, or for a budget target the share kept in the last adjustment interval."),
    def(SAMPLING_BUDGET, Gauge, None, BY_NAME_TARGET, "A budget target's goal in this process, in lines per second: its budget under the pressure scale, divided by the fleet size for a fleet budget (budget targets only)."),
    def(SAMPLING_PRESSURE_SCALE, Gauge, None, BY_NAME, "Pressure scale on every sampled rate and budget, in (0, 1]; 1 without pressure."),
    def(SAMPLING_FLEET_SIZE, Gauge, None, BY_NAME, "The fleet's size a fleet budget (`/fleet`) is shared out by, as last read (samplers with a fleet size provider only)."),
    def(SAMPLING_FLEET_SIZE_REFUSED, Counter, Some(Unit::Count), BY_NAME, "Reads of the fleet size refused (0, above 1048576, or a panic of the provider); the last good size was held."),
    def(SAMPLING_CAPTURED, Counter, Some(Unit::Count), BY_NAME, "Sampled-out lines kept in a capturing span's buffer (context capture)."),
    def(SAMPLING_CAPTURE_FLUSHED, Counter, Some(Unit::Count), BY_NAME, "Captured lines written ahead of an error (trigger) in their span."),
    def(SAMPLING_CAPTURE_DISCARDED, Counter, Some(Unit::Count), BY_NAME, "Captured lines discarded because their span closed without a trigger."),
    def(SAMPLING_CAPTURE_EVICTED, Counter, Some(Unit::Count), BY_NAME_BOUND, "Captured lines dropped by a bound: span (lines or bytes per span) or total (bytes across spans)."),
    def(SAMPLING_CAPTURE_BUFFERED_BYTES, Gauge, Some(Unit::Bytes), BY_NAME, "Bytes held in capture buffers, as counted against the total bound."),
    def(FILE_ROTATIONS, Counter, Some(Unit::Count), BY_NAME, "Files the rolling sink closed for a new period or at the size limit."),
    def(FILE_REOPENS, Counter, Some(Unit::Count), BY_NAME, "Files the rolling sink closed and opened again on request (logrotate's create mode)."),
    def(FILE_DELETED, Counter, Some(Unit::Count), BY_NAME, "Files the rolling sink's retention deleted (count, total size or age)."),
    def(FILE_COMPRESSED_BYTES, Counter, Some(Unit::Bytes), BY_NAME, "Bytes of closed files the rolling sink gzipped, counted before compression."),
    def(FILE_COMPRESSION_FAILURES, Counter, Some(Unit::Count), BY_NAME, "Compressions that failed; the original file was kept each time."),
    def(FILE_OPEN_FAILURES, Counter, Some(Unit::Count), BY_NAME, "Opens of a new or reopened log file that failed (the batch that needed it failed too)."),
    def(FILE_CURRENT_BYTES, Gauge, Some(Unit::Bytes), BY_NAME, "Bytes in the file the rolling sink is writing now."),
    def(FILE_TORN_LINES_ENDED, Counter, Some(Unit::Count), BY_NAME, "Files the rolling sink found ending mid-line (a crash) and ended with a newline before appending."),
    def(SAMPLING_REPEATS_KEPT, Counter, Some(Unit::Count), BY_NAME_TARGET, "Copies of repeated events kept (the first N of each key per window), by repeat directive target."),
    def(SAMPLING_REPEATS_SUPPRESSED, Counter, Some(Unit::Count), BY_NAME_TARGET, "Copies of repeated events suppressed (open windows included), by repeat directive target."),
    def(SAMPLING_REPEAT_SUMMARIES, Counter, Some(Unit::Count), BY_NAME_TARGET, "Repeat summary lines written (one per key and window that suppressed anything), by repeat directive target."),
    def(SAMPLING_REPEAT_KEYS, Gauge, Some(Unit::Count), BY_NAME_TARGET, "Repeat keys live now, by repeat directive target."),
    def(SAMPLING_REPEAT_KEYS_EVICTED, Counter, Some(Unit::Count), BY_NAME_TARGET, "Repeat keys evicted to stay under the bound on live keys, by repeat directive target."),
    def(SAMPLING_REPEAT_SUMMARIES_LOST, Counter, Some(Unit::Count), BY_NAME, "Repeat summaries lost because 65 536 were waiting to be written."),
];

/// Looks a metric up by name.
pub fn find(name: &str) -> Option<&'static MetricDef> {
    METRICS.iter().find(|m| m.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_prometheus_safe() {
        for (i, m) in METRICS.iter().enumerate() {
            assert!(
                METRICS[i + 1..].iter().all(|o| o.name != m.name),
                "duplicate {}",
                m.name
            );
            assert!(m.name.starts_with("log_writer_") || m.name.starts_with("log_sampling_"));
            assert!(m
                .name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'));
            assert_eq!(
                m.kind == MetricKind::Counter,
                m.name.ends_with("_total"),
                "{}",
                m.name
            );
            assert_eq!(m.labels[0], LABEL_NAME);
            assert!(!m.help.is_empty());
        }
    }

    #[test]
    fn seconds_unit_matches_suffix() {
        for m in METRICS {
            assert_eq!(
                m.unit == Some(Unit::Seconds),
                m.name.ends_with("_seconds"),
                "{}",
                m.name
            );
        }
        assert_eq!(
            find(WRITER_QUEUE_WAIT).map(|m| m.kind),
            Some(MetricKind::Histogram)
        );
        assert!(find("log_writer_nope").is_none());
    }
}
