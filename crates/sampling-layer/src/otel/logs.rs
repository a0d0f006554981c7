//! The sample rate and the sampling reason on OpenTelemetry log records
//! exported through the log bridge (`opentelemetry-appender-tracing`).
//!
//! The bridge builds each `LogRecord` from the event's fields and metadata
//! only, so the rate a sampler kept the event at (which is not a field)
//! never reaches it. [`bridge`] wraps both ends: the bridge layer, which
//! looks up the sampler's decision for the event it is given, and the
//! logger the bridge emits through, which adds it to the record as two
//! attributes, [`SAMPLE_RATE`] (a double, only when below one, as on text
//! lines) and [`SAMPLE_REASON`] (`"rate"`, `"trace"`, `"bypass"`,
//! `"whole"`). Records of events the sampler never samples (WARN and ERROR
//! by default) carry neither: each stands for itself. The record is
//! otherwise the bridge's own (body, severity, target, trace context).
//!
//! ```
//! use opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge;
//! use opentelemetry_sdk::logs::{InMemoryLogExporter, SdkLoggerProvider};
//! use sampling_layer::{otel, SamplingFilter};
//! use tracing_subscriber::prelude::*;
//!
//! let exporter = InMemoryLogExporter::default(); // an OTLP exporter in a service
//! let provider = SdkLoggerProvider::builder()
//!     .with_simple_exporter(exporter.clone())
//!     .build();
//! let sampler = SamplingFilter::try_new("app=1/4").unwrap();
//! let logs = otel::logs::bridge(&provider, OpenTelemetryTracingBridge::new)
//!     .for_sampler(&sampler.handle());
//! let subscriber = tracing_subscriber::registry().with(logs.with_filter(sampler));
//! tracing::subscriber::with_default(subscriber, || {
//!     for i in 0..8 {
//!         tracing::debug!(target: "app", i, "polled");
//!     }
//! });
//! let records = exporter.get_emitted_logs().unwrap();
//! assert_eq!(records.len(), 2); // a quarter, deterministic mode
//! ```
//!
//! Cost, only on records the bridge emits: a scan of the sampler's four
//! thread-local slots in the layer, one thread-local store and restore
//! around the bridge, and two attributes on the record.

use std::any::TypeId;
use std::cell::Cell;
use std::fmt;
use std::sync::Arc;

use opentelemetry::logs::{LogRecord, Logger, LoggerProvider, Severity};
use opentelemetry::InstrumentationScope;
use tracing_core::{span, Event, Metadata, Subscriber};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::{Context, Layer};

use crate::annotate::{self, Reason};
use crate::SamplingHandle;

/// The attribute holding the rate a record's event was kept at (a double
/// below one; absent when kept whole): the same figure as `sample_rate=` on
/// an [`Annotated`](crate::Annotated) line, so `sum(1 / sample_rate)`
/// estimates the records emitted.
pub const SAMPLE_RATE: &str = "sample_rate";

/// The attribute saying why the sampler kept the event: `"rate"` (kept by
/// its rate below one), `"trace"` (decided by its trace under a key
/// extractor; its `sample_rate` then includes the head sampler's probability
/// where the trace carries `th`), `"bypass"` (sampling switched off at run
/// time or the breaker open: kept whole), `"whole"` (a rule at rate 1).
pub const SAMPLE_REASON: &str = "sample_reason";

thread_local! {
    /// The decision for the event the wrapped bridge is handling on this
    /// thread: (rate bits, 0 for none; reason).
    static CURRENT: Cell<Option<(u64, Reason)>> = const { Cell::new(None) };
}

/// Wraps the log bridge: `make` builds it (`OpenTelemetryTracingBridge::new`)
/// on a provider that adds the attributes, and the layer returned gives the
/// provider each event's decision. Filter the layer with the sampler (the
/// bridge then sees kept events only); bind it with
/// [`RateLayer::for_sampler`] when the subscriber has more than one sampler.
pub fn bridge<P, B>(provider: &P, make: impl FnOnce(&RateProvider<P>) -> B) -> RateLayer<B>
where
    P: LoggerProvider + Clone,
{
    let rated = RateProvider {
        inner: provider.clone(),
    };
    RateLayer {
        inner: make(&rated),
        sampler: None,
    }
}

/// A [`LoggerProvider`] whose loggers add [`SAMPLE_RATE`] and
/// [`SAMPLE_REASON`] to records emitted inside a [`RateLayer`]; made by
/// [`bridge`].
#[derive(Debug, Clone)]
pub struct RateProvider<P> {
    inner: P,
}

impl<P: LoggerProvider> LoggerProvider for RateProvider<P> {
    type Logger = RateLogger<P::Logger>;

    fn logger_with_scope(&self, scope: InstrumentationScope) -> Self::Logger {
        RateLogger {
            inner: self.inner.logger_with_scope(scope),
        }
    }
}

/// The logger of a [`RateProvider`].
#[derive(Debug)]
pub struct RateLogger<L> {
    inner: L,
}

impl<L: Logger> Logger for RateLogger<L> {
    type LogRecord = L::LogRecord;

    fn create_log_record(&self) -> Self::LogRecord {
        self.inner.create_log_record()
    }

    fn emit(&self, mut record: Self::LogRecord) {
        if let Some((bits, reason)) = CURRENT.with(Cell::get) {
            if bits != 0 {
                record.add_attribute(SAMPLE_RATE, f64::from_bits(bits));
            }
            record.add_attribute(SAMPLE_REASON, reason_text(reason));
        }
        self.inner.emit(record);
    }

    fn event_enabled(&self, level: Severity, target: &str, name: Option<&str>) -> bool {
        self.inner.event_enabled(level, target, name)
    }
}

/// The bridge layer, handing each event's sampling decision to its
/// [`RateLogger`]; made by [`bridge`]. Every other `Layer` method goes to
/// the bridge unchanged.
pub struct RateLayer<B> {
    inner: B,
    /// The bound sampler's id, and the sampler, kept alive so that the id
    /// cannot be reused while this layer lives.
    sampler: Option<(usize, Arc<dyn fmt::Debug + Send + Sync>)>,
}

impl<B> fmt::Debug for RateLayer<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLayer")
            .field("bound", &self.sampler.is_some())
            .finish_non_exhaustive()
    }
}

impl<B> RateLayer<B> {
    /// Records carry this sampler's decision only (as
    /// [`Annotated::for_sampler`](crate::Annotated::for_sampler)); without
    /// it, the decision of the sampler that decided the event last.
    pub fn for_sampler(mut self, sampler: &SamplingHandle) -> Self {
        self.sampler = Some((sampler.id(), sampler.sampler.clone()));
        self
    }
}

/// [`SAMPLE_REASON`]'s value.
fn reason_text(reason: Reason) -> &'static str {
    match reason {
        Reason::Rate => "rate",
        Reason::Trace => "trace",
        Reason::Bypass => "bypass",
        Reason::Whole => "whole",
    }
}

/// Restores the previous decision when the bridge returns, or unwinds.
struct Restore(Option<(u64, Reason)>);

impl Drop for Restore {
    fn drop(&mut self) {
        let _ = CURRENT.try_with(|c| c.set(self.0));
    }
}

impl<S, B> Layer<S> for RateLayer<B>
where
    S: Subscriber,
    B: Layer<S>,
{
    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let decided = annotate::decision(self.sampler.as_ref().map(|s| s.0), event)
            .map(|(rate, reason)| (rate.map_or(0, f64::to_bits), reason));
        let _restore = Restore(CURRENT.with(|c| c.replace(decided)));
        self.inner.on_event(event, ctx);
    }

    fn on_register_dispatch(&self, subscriber: &tracing_core::Dispatch) {
        self.inner.on_register_dispatch(subscriber);
    }

    fn on_layer(&mut self, subscriber: &mut S) {
        self.inner.on_layer(subscriber);
    }

    fn register_callsite(
        &self,
        metadata: &'static Metadata<'static>,
    ) -> tracing_core::subscriber::Interest {
        self.inner.register_callsite(metadata)
    }

    fn enabled(&self, metadata: &Metadata<'_>, ctx: Context<'_, S>) -> bool {
        self.inner.enabled(metadata, ctx)
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        self.inner.max_level_hint()
    }

    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
        self.inner.on_new_span(attrs, id, ctx);
    }

    fn on_record(&self, span: &span::Id, values: &span::Record<'_>, ctx: Context<'_, S>) {
        self.inner.on_record(span, values, ctx);
    }

    fn on_follows_from(&self, span: &span::Id, follows: &span::Id, ctx: Context<'_, S>) {
        self.inner.on_follows_from(span, follows, ctx);
    }

    fn event_enabled(&self, event: &Event<'_>, ctx: Context<'_, S>) -> bool {
        self.inner.event_enabled(event, ctx)
    }

    fn on_enter(&self, id: &span::Id, ctx: Context<'_, S>) {
        self.inner.on_enter(id, ctx);
    }

    fn on_exit(&self, id: &span::Id, ctx: Context<'_, S>) {
        self.inner.on_exit(id, ctx);
    }

    fn on_close(&self, id: span::Id, ctx: Context<'_, S>) {
        self.inner.on_close(id, ctx);
    }

    fn on_id_change(&self, old: &span::Id, new: &span::Id, ctx: Context<'_, S>) {
        self.inner.on_id_change(old, new, ctx);
    }

    // `Layered` asks its layers, by type id, whether they filter per layer
    // (and `with_filter` relies on it): the bridge must answer for itself.
    #[doc(hidden)]
    unsafe fn downcast_raw(&self, id: TypeId) -> Option<*const ()> {
        if id == TypeId::of::<Self>() {
            Some(self as *const Self as *const ())
        } else {
            // SAFETY: forwarded as asked; the inner layer answers for its own type.
            unsafe { self.inner.downcast_raw(id) }
        }
    }
}
