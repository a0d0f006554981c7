//! What the exporter polls: anything that can hand out a writer's or a sampler's snapshot.

use backpressure_writer::stats::Stats;
use backpressure_writer::NonBlocking;
use sampling_layer::{stats::SamplingStats, SamplingHandle};

/// A source of writer [`Stats`]: a [`NonBlocking`], or any `Fn() -> Stats` closure (handy
/// in tests, or to adapt another writer).
///
/// Deliberately not the `WorkerGuard`: moving it into the exporter would tie the writer's
/// shutdown to the exporter's.
///
/// Called on the exporter thread once per export and by `health()`; never on the logging
/// hot path.
pub trait WriterSource: Send + Sync + 'static {
    /// The writer's current figures.
    fn stats(&self) -> Stats;
}

impl<F> WriterSource for F
where
    F: Fn() -> Stats + Send + Sync + 'static,
{
    fn stats(&self) -> Stats {
        self()
    }
}

impl WriterSource for NonBlocking {
    fn stats(&self) -> Stats {
        NonBlocking::stats(self)
    }
}

/// A source of [`SamplingStats`]: a [`SamplingHandle`], or any `Fn() -> SamplingStats`
/// closure.
pub trait SamplerSource: Send + Sync + 'static {
    /// The sampler's current figures.
    fn stats(&self) -> SamplingStats;
}

impl<F> SamplerSource for F
where
    F: Fn() -> SamplingStats + Send + Sync + 'static,
{
    fn stats(&self) -> SamplingStats {
        self()
    }
}

impl SamplerSource for SamplingHandle {
    fn stats(&self) -> SamplingStats {
        SamplingHandle::stats(self)
    }
}

/// What [`ExporterBuilder::writer`](crate::ExporterBuilder::writer) accepts: any
/// [`WriterSource`] by value, or a `&NonBlocking` (cloned: clones share the
/// writer).
pub trait IntoWriterSource {
    /// The source kept by the exporter.
    type Source: WriterSource;
    /// Converts into the kept source.
    fn into_writer_source(self) -> Self::Source;
}

impl<S: WriterSource> IntoWriterSource for S {
    type Source = S;
    fn into_writer_source(self) -> S {
        self
    }
}

impl IntoWriterSource for &NonBlocking {
    type Source = NonBlocking;
    fn into_writer_source(self) -> NonBlocking {
        self.clone()
    }
}

/// What [`ExporterBuilder::sampler`](crate::ExporterBuilder::sampler) accepts: any
/// [`SamplerSource`] by value, or a `&SamplingHandle` (cloned: clones share the sampler).
pub trait IntoSamplerSource {
    /// The source kept by the exporter.
    type Source: SamplerSource;
    /// Converts into the kept source.
    fn into_sampler_source(self) -> Self::Source;
}

impl<S: SamplerSource> IntoSamplerSource for S {
    type Source = S;
    fn into_sampler_source(self) -> S {
        self
    }
}

impl IntoSamplerSource for &SamplingHandle {
    type Source = SamplingHandle;
    fn into_sampler_source(self) -> SamplingHandle {
        self.clone()
    }
}
