//! The exporter: its builder, the background thread and the guard that stops it.

use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use metrics::Recorder;

use crate::health::{self, HealthReport, HealthThresholds, SamplerBaseline, WriterBaseline};
use crate::publish::{self, SamplerSeries, WriterSeries};
use crate::source::{IntoSamplerSource, IntoWriterSource, SamplerSource, WriterSource};
use crate::Error;

type SharedRecorder = Arc<dyn Recorder + Send + Sync>;

/// Default time between two exports.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);
/// Default name of the exporter thread.
pub const DEFAULT_THREAD_NAME: &str = "logmetrics-exporter";

/// Configures an [`Exporter`]: `Exporter::builder()`, consuming setters, then
/// [`build`](Self::build) or [`spawn`](Self::spawn).
pub struct ExporterBuilder {
    interval: Duration,
    thread_name: String,
    writers: Vec<(String, Box<dyn WriterSource>)>,
    samplers: Vec<(String, Box<dyn SamplerSource>)>,
    thresholds: HealthThresholds,
    recorder: Option<SharedRecorder>,
}

impl Default for ExporterBuilder {
    fn default() -> Self {
        Self {
            interval: DEFAULT_INTERVAL,
            thread_name: DEFAULT_THREAD_NAME.to_owned(),
            writers: Vec::new(),
            samplers: Vec::new(),
            thresholds: HealthThresholds::default(),
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
            .field("thresholds", &self.thresholds)
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
    /// closure returning [`Stats`](backpressure_writer::Stats).
    ///
    /// The source is polled on the exporter thread (or in `export_now`) once per export.
    pub fn writer(mut self, name: impl Into<String>, source: impl IntoWriterSource) -> Self {
        self.writers
            .push((name.into(), Box::new(source.into_writer_source())));
        self
    }

    /// Registers a sampler under `name`: a
    /// [`SamplingHandle`](sampling_layer::SamplingHandle), by value or by reference, or a
    /// closure returning [`SamplingStats`](sampling_layer::SamplingStats).
    pub fn sampler(mut self, name: impl Into<String>, source: impl IntoSamplerSource) -> Self {
        self.samplers
            .push((name.into(), Box::new(source.into_sampler_source())));
        self
    }

    /// When [`Exporter::health`] reports a problem.
    pub fn health_thresholds(mut self, thresholds: HealthThresholds) -> Self {
        self.thresholds = thresholds;
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
    pub fn build(self) -> Result<Exporter, Error> {
        if self.interval.is_zero() {
            return Err(Error::ZeroInterval);
        }
        if self.writers.is_empty() && self.samplers.is_empty() {
            return Err(Error::NothingToExport);
        }
        check_names("writer", &self.writers)?;
        check_names("sampler", &self.samplers)?;
        if self.thread_name.contains('\0') {
            return Err(Error::InvalidThreadName(self.thread_name));
        }
        self.thresholds.validate()?;

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
        };
        let baselines = Baselines {
            writers: vec![WriterBaseline::default(); self.writers.len()],
            samplers: vec![SamplerBaseline::default(); self.samplers.len()],
        };
        Ok(Exporter {
            inner: Arc::new(Inner {
                config: self,
                series: Mutex::new(series),
                baselines: Mutex::new(baselines),
                exports: AtomicU64::new(0),
            }),
        })
    }

    /// Validates the configuration and starts the exporter thread: it exports at once,
    /// then every [`interval`](Self::interval), and once more when the guard is dropped.
    pub fn spawn(self) -> Result<ExporterGuard, Error> {
        let exporter = self.build()?;
        let (stop, stopped) = mpsc::channel::<()>();
        let worker = exporter.clone();
        let thread = thread::Builder::new()
            .name(exporter.inner.config.thread_name.clone())
            .spawn(move || run(&worker, &stopped))
            .map_err(Error::Spawn)?;
        Ok(ExporterGuard {
            exporter,
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

fn check_names<T>(kind: &'static str, sources: &[(String, T)]) -> Result<(), Error> {
    for (i, (name, _)) in sources.iter().enumerate() {
        if name.is_empty() {
            return Err(Error::EmptyName { kind });
        }
        if sources[..i].iter().any(|(n, _)| n == name) {
            return Err(Error::DuplicateName {
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
}

struct Baselines {
    writers: Vec<WriterBaseline>,
    samplers: Vec<SamplerBaseline>,
}

struct Inner {
    /// The validated builder: sources, interval, thresholds, recorder.
    config: ExporterBuilder,
    /// Held for a whole export, so two exports (thread and `export_now`) never compute
    /// histogram deltas from the same baseline. Only exporters take it, never loggers.
    series: Mutex<Series>,
    /// Separate from `series`: a readiness probe never waits for an export.
    baselines: Mutex<Baselines>,
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
        metrics::with_recorder(|r| {
            publish::describe_all(r);
            for ((_, source), s) in inner.config.writers.iter().zip(&mut series.writers) {
                s.publish(r, &source.stats());
            }
            for ((_, source), s) in inner.config.samplers.iter().zip(&mut series.samplers) {
                s.publish(r, &source.stats());
            }
        });
    }

    /// Number of exports completed so far (by the thread and by `export_now`).
    pub fn exports(&self) -> u64 {
        self.inner.exports.load(Ordering::Acquire)
    }

    /// Checks every writer and sampler against the thresholds. Drops, write errors and
    /// breaker trips are counted since the previous call (since start for the first).
    pub fn health(&self) -> HealthReport {
        let inner = &*self.inner;
        let mut base = lock(&inner.baselines);
        let base = &mut *base;
        let t = &inner.config.thresholds;
        HealthReport {
            writers: inner
                .config
                .writers
                .iter()
                .zip(&mut base.writers)
                .map(|((name, source), b)| health::check_writer(name, &source.stats(), b, t))
                .collect(),
            samplers: inner
                .config
                .samplers
                .iter()
                .zip(&mut base.samplers)
                .map(|((name, source), b)| health::check_sampler(name, &source.stats(), b, t))
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
    /// The exporter the thread runs.
    pub fn exporter(&self) -> &Exporter {
        &self.exporter
    }

    /// Publishes now, without waiting for the interval (see [`Exporter::export_now`]).
    pub fn export_now(&self) {
        self.exporter.export_now();
    }

    /// See [`Exporter::health`].
    pub fn health(&self) -> HealthReport {
        self.exporter.health()
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
