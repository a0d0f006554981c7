//! [`CaptureLayer`]: the one layer under a sampler that captured events are
//! written through.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use tracing_core::{
    span, subscriber::Interest, Dispatch, Event, LevelFilter, Metadata, Subscriber,
};
use tracing_subscriber::layer::{Context, Layer};

use super::CaptureState;
#[cfg(doc)]
use super::CaptureWriter;

/// Wraps the layer whose writer is a [`CaptureWriter`], so that the
/// sampler's captured events reach that layer and no other.
///
/// A `Filter` enables an event for the whole layer it filters, and a second
/// layer added with `and_then` (a counting layer, an OpenTelemetry log
/// exporter) cannot be told apart from the `fmt` layer. So the sampler never
/// enables an event it captures: it hands the event to the layer wrapped
/// here, directly, and answers "sampled out" to everything under it. The
/// other layers see what the sampler kept, and the trigger; never a captured
/// event, buffered or flushed (flushed context goes to the writer as bytes).
///
/// The sampler captures only while both this wrapper (added to a subscriber)
/// and a `CaptureWriter` of its own exist: with either missing, an event it
/// would capture stays sampled out, counted in
/// [`CaptureStats::no_writer`](crate::capture::CaptureStats::no_writer) and
/// reported once on stderr. One `CaptureLayer` per sampler: a second one is
/// refused with a warning on stderr (its layer still sees kept events).
///
/// Wrap the layer that owns the `CaptureWriter`, itself without a filter of
/// its own inside: the sampler calls its `on_event` while the stack is still
/// deciding the event, when a filter inside it has not been asked yet.
///
/// ```
/// use sampling_layer::capture::{Capture, CaptureLayer, CaptureWriter};
/// use sampling_layer::SamplingFilter;
/// use tracing_subscriber::{fmt, prelude::*};
///
/// let sampler = SamplingFilter::builder()
///     .capture(Capture::default().span("request"))
///     .parse("0.01")
///     .unwrap();
/// let handle = sampler.handle();
/// # let export_layer = tracing_subscriber::layer::Identity::new();
/// let text = fmt::layer().with_writer(CaptureWriter::new(std::io::stdout, &handle));
/// let _subscriber = tracing_subscriber::registry().with(
///     CaptureLayer::new(text, &handle)
///         .and_then(export_layer) // sees kept events only
///         .with_filter(sampler),
/// );
/// ```
pub struct CaptureLayer<L> {
    /// Shared with the sampler's registration, which calls its `on_event`.
    inner: Arc<L>,
    capture: Arc<CaptureState>,
    /// The registration this wrapper holds while it is in a subscriber.
    token: Option<u64>,
}

/// What the sampler calls for an event it captures: the wrapped layer's
/// `on_event`, for the subscriber type `S` the layer was added to. Stored
/// type-erased in the sampler's capture state (a `Filter` is generic over
/// `S`, the state is not) and recovered by a `TypeId` comparison.
pub(crate) struct WriteCaptured<S>(Arc<OnEvent<S>>);

/// The wrapped layer's `on_event`, for subscriber type `S`.
type OnEvent<S> = dyn Fn(&Event<'_>, &Context<'_, S>) + Send + Sync;

impl<S> Clone for WriteCaptured<S> {
    fn clone(&self) -> Self {
        WriteCaptured(self.0.clone())
    }
}

impl<S> WriteCaptured<S> {
    pub(crate) fn call(&self, event: &Event<'_>, cx: &Context<'_, S>) {
        (self.0)(event, cx)
    }
}

impl<L> CaptureLayer<L> {
    /// For the sampler whose capture state this is; the public constructor
    /// (`CaptureLayer::new`, beside the handle) calls this.
    pub(crate) fn for_sampler(inner: L, capture: Arc<CaptureState>) -> Self {
        CaptureLayer {
            inner: Arc::new(inner),
            capture,
            token: None,
        }
    }
}

impl<L: fmt::Debug> fmt::Debug for CaptureLayer<L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CaptureLayer")
            .field("inner", &self.inner)
            .field("registered", &self.token.is_some())
            .finish()
    }
}

impl<L> Drop for CaptureLayer<L> {
    fn drop(&mut self) {
        // Also breaks the cycle registration -> layer -> `CaptureWriter` -> state.
        if let Some(token) = self.token.take() {
            self.capture.unregister_layer(token);
        }
    }
}

impl<S, L> Layer<S> for CaptureLayer<L>
where
    S: Subscriber + 'static,
    L: Layer<S> + Send + Sync,
{
    fn on_register_dispatch(&self, subscriber: &Dispatch) {
        self.inner.on_register_dispatch(subscriber);
    }

    fn on_layer(&mut self, subscriber: &mut S) {
        // Not shared yet: the registration below is the only other owner.
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.on_layer(subscriber);
        }
        if self.token.is_some() {
            return;
        }
        let inner = self.inner.clone();
        let write =
            WriteCaptured::<S>(Arc::new(move |event, cx| inner.on_event(event, cx.clone())));
        self.token = self
            .capture
            .register_layer(Arc::new(write) as Arc<dyn Any + Send + Sync>);
    }

    fn register_callsite(&self, meta: &'static Metadata<'static>) -> Interest {
        self.inner.register_callsite(meta)
    }

    fn enabled(&self, meta: &Metadata<'_>, ctx: Context<'_, S>) -> bool {
        self.inner.enabled(meta, ctx)
    }

    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
        self.inner.on_new_span(attrs, id, ctx)
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        self.inner.max_level_hint()
    }

    fn on_record(&self, span: &span::Id, values: &span::Record<'_>, ctx: Context<'_, S>) {
        self.inner.on_record(span, values, ctx)
    }

    fn on_follows_from(&self, span: &span::Id, follows: &span::Id, ctx: Context<'_, S>) {
        self.inner.on_follows_from(span, follows, ctx)
    }

    fn event_enabled(&self, event: &Event<'_>, ctx: Context<'_, S>) -> bool {
        self.inner.event_enabled(event, ctx)
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        self.inner.on_event(event, ctx)
    }

    fn on_enter(&self, id: &span::Id, ctx: Context<'_, S>) {
        self.inner.on_enter(id, ctx)
    }

    fn on_exit(&self, id: &span::Id, ctx: Context<'_, S>) {
        self.inner.on_exit(id, ctx)
    }

    fn on_close(&self, id: span::Id, ctx: Context<'_, S>) {
        self.inner.on_close(id, ctx)
    }

    fn on_id_change(&self, old: &span::Id, new: &span::Id, ctx: Context<'_, S>) {
        self.inner.on_id_change(old, new, ctx)
    }

    // Lets tracing-subscriber find what is inside (a per-layer filter's
    // marker, `fmt`'s formatted-fields type) as if this wrapper were not there.
    #[doc(hidden)]
    unsafe fn downcast_raw(&self, id: std::any::TypeId) -> Option<*const ()> {
        if id == std::any::TypeId::of::<Self>() {
            return Some(self as *const Self as *const ());
        }
        // SAFETY: the inner layer answers for its own types, as `Layered` does.
        unsafe { self.inner.downcast_raw(id) }
    }
}
