//! The exporter: its builder, the background thread and the guard that stops it.

use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use backpressure_writer::rolling::RollingHandle;
use metrics::Recorder;

use crate::health::{self, HealthReport, HealthThresholds};
use crate::publish::{self, FileSeries, SamplerSeries, WriterSeries};
use crate::source::{IntoSamplerSource, IntoWriterSource, SamplerSource, WriterSource};
use crate::window::{Counts, History, WriterCounts};
use crate::BuildError;

type SharedRecorder = Arc<dyn Recorder + Send + Sync>;
type Clock = Arc<dyn Fn() -> Instant + Send + Sync>;

/// Default health window, in export intervals.
pub const DEFAULT_HEALTH_WINDOW_INTERVALS: u32 = 6;
/// Most observations a health window may need (`health_window / interval`), so that its
/// memory stays small.
pub const MAX_HEALTH_WINDOW_INTERVALS: u32 = 10_000;

/// Default time between two exports.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);
/// Default name of the exporter thread.
pub const DEFAULT_THREAD_NAME: &str = "logmetrics-exporter";

/// Configures an [`Exporter`]: `Exporter::builder()`, consuming setters, then
/// [`build`](Self::build) or [`spawn`](Self::spawn).
#[must_use = "a builder does nothing until `build` or `spawn`"]
pub struct ExporterBuilder {
    interval: Duration,
    thread_name: String,
    writers: Vec<(String, Box<dyn WriterSource>)>,
    samplers: Vec<(String, Box<dyn SamplerSource>)>,
    files: Vec<(String, RollingHandle)>,
    thresholds: HealthThresholds,
    health_window: Option<Duration>,
    clock: Clock,
    recorder: Option<SharedRecorder>,
}

impl Default for ExporterBuilder {
    fn default() -> Self {
        Self {
            interval: DEFAULT_INTERVAL,
            thread_name: DEFAULT_THREAD_NAME.to_owned(),
            writers: Vec::new(),
            samplers: Vec::new(),
            files: Vec::new(),
            thresholds: HealthThresholds::default(),
            health_window: None,
            clock: Arc::new(Instant::now),
            recorder: None,
        }
    }
}

impl fmt::Debug for ExporterBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExporterBuilder")
            .field("interval", &self.interval)
            .field("thread_name", &self.thread_name)
            .field("writers", &names(&self.writers))
            .field("samplers", &names(&self.samplers))
            .field("files", &names(&self.files))
            .field("thresholds", &self.thresholds)
            .field("health_window", &self.health_window)
            .field("recorder", &self.recorder.as_ref().map(|_| ".."))
            .finish()
    }
}

fn names<T>(sources: &[(String, T)]) -> Vec<&str> {
    sources.iter().map(|(n, _)| n.as_str()).collect()
}

impl ExporterBuilder {
    /// Time between two exports of the spawned thread (default 5 s). Shorter than your
    /// scrape interval is pointless; a fraction of it keeps scraped values fresh.
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// Name of the spawned thread (default `logmetrics-exporter`).
    pub fn thread_name(mut self, name: impl Into<String>) -> Self {
        self.thread_name = name.into();
        self
    }

    /// Registers a writer under `name` (the `name` label of its series): a
    /// [`NonBlocking`](backpressure_writer::NonBlocking), by value or by reference, or a
    /// closure returning [`Stats`](backpressure_writer::stats::Stats).
    ///
    /// The source is polled on the exporter thread (or in `export_now`) once per export.
    pub fn writer(mut self, name: impl Into<String>, source: impl IntoWriterSource) -> Self {
        self.writers
            .push((name.into(), Box::new(source.into_writer_source())));
        self
    }

    /// Registers a sampler under `name`: a
    /// [`SamplingHandle`](sampling_layer::SamplingHandle), by value or by reference, or a
    /// closure returning [`SamplingStats`](sampling_layer::stats::SamplingStats).
    pub fn sampler(mut self, name: impl Into<String>, source: impl IntoSamplerSource) -> Self {
        self.samplers
            .push((name.into(), Box::new(source.into_sampler_source())));
        self
    }

    /// Publishes the figures of a writer's rolling file sink (`log_writer_file_*`:
    /// rotations, reopens, files deleted, bytes compressed, compression and open failures,
    /// current file size) under `name`, usually the name its writer is registered under.
    pub fn rolling_file(mut self, name: impl Into<String>, handle: &RollingHandle) -> Self {
        self.files.push((name.into(), handle.clone()));
        self
    }

    /// When [`Exporter::health`] reports a problem.
    pub fn health_thresholds(mut self, thresholds: HealthThresholds) -> Self {
        self.thresholds = thresholds;
        self
    }

    /// The span of recent time over which [`Exporter::health`] counts drops, write errors
    /// and breaker trips (see [`health`](crate::health) for what a probe sees). Default:
    /// six export intervals (30 s with the default interval). Must be at least one
    /// interval and at most 10 000.
    pub fn health_window(mut self, window: Duration) -> Self {
        self.health_window = Some(window);
        self
    }

    /// The clock the health window is measured with (default [`Instant::now`]). For tests
    /// and simulations: it must never go backwards.
    pub fn clock(mut self, clock: impl Fn() -> Instant + Send + Sync + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Publish into this recorder instead of the calling thread's current one (the global
    /// recorder, for the spawned thread). Mostly for tests and for services that keep
    /// several recorders.
    pub fn recorder<R>(mut self, recorder: R) -> Self
    where
        R: Recorder + Send + Sync + 'static,
    {
        self.recorder = Some(Arc::new(recorder));
        self
    }

    /// Validates the configuration and returns an exporter that publishes only when
    /// [`Exporter::export_now`] is called.
    pub fn build(self) -> Result<Exporter, BuildError> {
        if self.interval.is_zero() {
            return Err(BuildError::ZeroInterval);
        }
        if self.writers.is_empty() && self.samplers.is_empty() && self.files.is_empty() {
            return Err(BuildError::NothingToExport);
        }
        check_names("writer", &self.writers)?;
        check_names("sampler", &self.samplers)?;
        check_names("rolling file", &self.files)?;
        if self.thread_name.contains('\0') {
            return Err(BuildError::ThreadNameNul {
                name: self.thread_name,
            });
        }
        self.thresholds.validate()?;
        let window = self.health_window.unwrap_or_else(|| {
            self.interval
                .checked_mul(DEFAULT_HEALTH_WINDOW_INTERVALS)
                .unwrap_or(Duration::MAX)
        });
        let intervals = History::slots_for(window, self.interval) - 2;
        if window < self.interval || intervals > u128::from(MAX_HEALTH_WINDOW_INTERVALS) {
            return Err(BuildError::InvalidHealthWindow {
                window,
                interval: self.interval,
            });
        }

        let series = Series {
            writers: self
                .writers
                .iter()
                .map(|(n, _)| WriterSeries::new(n))
                .collect(),
            samplers: self
                .samplers
                .iter()
                .map(|(n, _)| SamplerSeries::new(n))
                .collect(),
            files: self.files.iter().map(|(n, _)| FileSeries::new(n)).collect(),
            counts: Counts::zeros(self.writers.len(), self.samplers.len()),
        };
        let (w, s) = (self.writers.len(), self.samplers.len());
        let history = History::new(window, self.interval, w, s, (self.clock)());
        Ok(Exporter {
            inner: Arc::new(Inner {
                config: self,
                series: Mutex::new(series),
                history: Mutex::new(history),
                exports: AtomicU64::new(0),
            }),
        })
    }

    /// Validates the configuration and starts the exporter thread: it exports at once,
    /// then every [`interval`](Self::interval), and once more when the guard is dropped.
    pub fn spawn(self) -> Result<ExporterGuard, BuildError> {
        let exporter = self.build()?;
        let (stop, stopped) = mpsc::channel::<()>();
        let worker = exporter.clone();
        let thread = thread::Builder::new()
            .name(exporter.inner.config.thread_name.clone())
            .spawn(move || run(&worker, &stopped))
            .map_err(BuildError::Spawn)?;
        Ok(ExporterGuard {
            exporter,
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

fn check_names<T>(kind: &'static str, sources: &[(String, T)]) -> Result<(), BuildError> {
    for (i, (name, _)) in sources.iter().enumerate() {
        if name.is_empty() {
            return Err(BuildError::EmptyName { kind });
        }
        if sources[..i].iter().any(|(n, _)| n == name) {
            return Err(BuildError::DuplicateName {
                kind,
                name: name.clone(),
            });
        }
    }
    Ok(())
}

/// The exporter thread's loop: export, wait for the interval or the guard, repeat.
fn run(exporter: &Exporter, stopped: &mpsc::Receiver<()>) {
    let mut reported_panic = false;
    loop {
        // A panicking source must not silently end all exports: report once, carry on.
        if panic::catch_unwind(AssertUnwindSafe(|| exporter.export_now())).is_err()
            && !reported_panic
        {
            eprintln!("logmetrics: a stats source panicked during export; exports continue");
            reported_panic = true;
        }
        match stopped.recv_timeout(exporter.inner.config.interval) {
            Err(mpsc::RecvTimeoutError::Timeout) => continue,
            // The guard dropped its sender: publish the final figures and leave.
            Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => {
                let _ = panic::catch_unwind(AssertUnwindSafe(|| exporter.export_now()));
                return;
            }
        }
    }
}

struct Series {
    writers: Vec<WriterSeries>,
    samplers: Vec<SamplerSeries>,
    files: Vec<FileSeries>,
    /// The counters of the current export, for the health window (reused: exports do not
    /// allocate).
    counts: Counts,
}

struct Inner {
    /// The validated builder: sources, interval, thresholds, recorder.
    config: ExporterBuilder,
    /// Held for a whole export, so two exports (thread and `export_now`) never compute
    /// histogram deltas from the same baseline. Only exporters take it, never loggers.
    series: Mutex<Series>,
    /// Separate from `series`: a readiness probe never waits for an export (an export
    /// takes it only to record its counters, after publishing).
    history: Mutex<History>,
    exports: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // State behind these locks stays consistent even if a source panicked mid-export.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Publishes registered writers' and samplers' figures through the `metrics` facade.
///
/// Cheap to clone (one `Arc`); clones share state. Get one from
/// [`Exporter::builder`]`.build()`, or let [`ExporterBuilder::spawn`] run it on a thread.
#[derive(Clone)]
pub struct Exporter {
    inner: Arc<Inner>,
}

impl fmt::Debug for Exporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Exporter")
            .field("interval", &self.inner.config.interval)
            .field("writers", &names(&self.inner.config.writers))
            .field("samplers", &names(&self.inner.config.samplers))
            .field("exports", &self.exports())
            .finish_non_exhaustive()
    }
}

impl Exporter {
    /// A builder with the defaults.
    pub fn builder() -> ExporterBuilder {
        ExporterBuilder::default()
    }

    /// Takes every source's snapshot and publishes it now, into the configured recorder or
    /// else the calling thread's current one: counters with `absolute`, gauges with `set`,
    /// latency histograms as the bucket counts gained since the previous export.
    ///
    /// # Cost
    ///
    /// One export takes each source's snapshot (a few relaxed loads and a short lock in the
    /// writer) and makes one recorder call per series: ~25 per writer plus one
    /// `record_many` per histogram bucket that gained observations, 6 + 3 per target per
    /// sampler. Keys are built once, so after the first export publishing allocates
    /// nothing of its own (`tests/alloc.rs` counts it); the sampler's snapshot (its
    /// per-target list) and the recorder may. Nothing here runs per log event.
    pub fn export_now(&self) {
        let inner = &*self.inner;
        match &inner.config.recorder {
            Some(r) => metrics::with_local_recorder(&**r, || self.publish()),
            None => self.publish(),
        }
        inner.exports.fetch_add(1, Ordering::Release);
    }

    fn publish(&self) {
        let inner = &*self.inner;
        let mut series = lock(&inner.series);
        let series = &mut *series;
        let counts = &mut series.counts;
        metrics::with_recorder(|r| {
            publish::describe_all(r);
            for (i, ((_, source), s)) in inner
                .config
                .writers
                .iter()
                .zip(&mut series.writers)
                .enumerate()
            {
                let stats = source.stats();
                counts.writers[i] = WriterCounts::of(&stats);
                s.publish(r, &stats);
            }
            for (i, ((_, source), s)) in inner
                .config
                .samplers
                .iter()
                .zip(&mut series.samplers)
                .enumerate()
            {
                let stats = source.stats();
                counts.set_sampler(i, &stats);
                s.publish(r, &stats);
            }
            for ((_, handle), s) in inner.config.files.iter().zip(&series.files) {
                s.publish(r, &handle.stats());
            }
        });
        let now = (inner.config.clock)();
        lock(&inner.history).record(now, counts);
    }

    /// Number of exports completed so far (by the thread and by `export_now`).
    pub fn exports(&self) -> u64 {
        self.inner.exports.load(Ordering::Acquire)
    }

    /// Checks every writer and sampler against the thresholds: the present state, and the
    /// drops, write errors and breaker trips within the health window (see
    /// [`health`](crate::health) for exactly what a probe sees). A check never hides
    /// anything from another: callers at the same moment get the same answer.
    pub fn health(&self) -> HealthReport {
        let inner = &*self.inner;
        let config = &inner.config;
        let now = (config.clock)();
        let writers: Vec<_> = config.writers.iter().map(|(_, s)| s.stats()).collect();
        let samplers: Vec<_> = config.samplers.iter().map(|(_, s)| s.stats()).collect();
        let mut counts = Counts::zeros(writers.len(), samplers.len());
        for (c, s) in counts.writers.iter_mut().zip(&writers) {
            *c = WriterCounts::of(s);
        }
        for (i, s) in samplers.iter().enumerate() {
            counts.set_sampler(i, s);
        }
        let (window, base) = {
            let mut history = lock(&inner.history);
            history.record(now, &counts);
            let zeros = Counts::zeros(writers.len(), samplers.len());
            (
                history.window(),
                history.baseline(now).cloned().unwrap_or(zeros),
            )
        };
        let t = &config.thresholds;
        HealthReport {
            window,
            writers: config
                .writers
                .iter()
                .zip(&writers)
                .zip(&base.writers)
                .map(|(((name, _), s), b)| health::check_writer(name, s, b, window, t))
                .collect(),
            samplers: config
                .samplers
                .iter()
                .zip(&samplers)
                .zip(&base.samplers)
                .map(|(((name, _), s), &b)| health::check_sampler(name, s, b, t))
                .collect(),
        }
    }
}

/// Keeps the exporter thread running; dropping it publishes once more, stops the thread and
/// joins it.
#[must_use = "dropping the guard stops the exporter thread"]
pub struct ExporterGuard {
    exporter: Exporter,
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl fmt::Debug for ExporterGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExporterGuard")
            .field("exporter", &self.exporter)
            .field("running", &self.thread.as_ref().map(|t| !t.is_finished()))
            .finish()
    }
}

impl ExporterGuard {
    /// The exporter the thread runs: [`export_now`](Exporter::export_now) and
    /// [`health`](Exporter::health) through it.
    pub fn exporter(&self) -> &Exporter {
        &self.exporter
    }
}

impl Drop for ExporterGuard {
    fn drop(&mut self) {
        // Dropping the sender wakes the thread at once (Disconnected), wherever it waits.
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            // The thread catches source panics itself; a join error has nothing to add.
            let _ = thread.join();
        }
    }
}
