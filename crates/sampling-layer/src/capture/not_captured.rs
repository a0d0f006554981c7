//! [`NotCaptured`]: the filter for a layer beside a [`CaptureWriter`]'s layer
//! under the same sampler.

use std::fmt;

use tracing_core::{subscriber::Interest, Event, LevelFilter, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Filter};

use super::stack;
#[cfg(doc)]
use super::CaptureWriter;

/// Filters out the events a sampler let through only to capture them, and
/// nothing else.
///
/// A [`SamplingFilter`](crate::SamplingFilter) enables a sampled-out event
/// inside a capturing span for the whole layer it filters, so that `fmt`
/// formats it and the [`CaptureWriter`] diverts the line into the span's
/// buffer. A `Filter` cannot tell the layers under it apart: a second layer
/// added with `and_then` (a counting layer, an OpenTelemetry log exporter) is
/// given those events too, as if they were kept. Give that layer this filter
/// and it sees exactly what the sampler kept (and everything the sampler does
/// not sample), never a captured event, neither when it is buffered nor when
/// a trigger writes it: flushed context goes to the writer as bytes, and the
/// trigger itself is a kept event.
///
/// It reads the mark the sampler's decision left on the thread, so it must sit
/// *under* that sampler (inside the layer the sampler filters), where it is
/// asked after the sampler decided. Cost per event: a scan of a few entries
/// of a thread-local.
///
/// ```
/// use sampling_layer::capture::{Capture, CaptureWriter, NotCaptured};
/// use sampling_layer::SamplingFilter;
/// use tracing_subscriber::{fmt, prelude::*};
///
/// let sampler = SamplingFilter::builder().capture(Capture::default().span("request")).parse("0.01").unwrap();
/// let handle = sampler.handle();
/// # let metrics_layer = tracing_subscriber::layer::Identity::new();
/// let _subscriber = tracing_subscriber::registry().with(
///     fmt::layer()
///         .with_writer(CaptureWriter::new(std::io::stdout, &handle))
///         .and_then(metrics_layer.with_filter(NotCaptured::new(&handle)))
///         .with_filter(sampler),
/// );
/// ```
#[derive(Clone)]
pub struct NotCaptured {
    sampler: usize,
}

impl NotCaptured {
    /// For the sampler with this identity; the public constructor
    /// (`NotCaptured::new`, beside the handle) calls this.
    pub(crate) fn for_sampler(sampler: usize) -> Self {
        NotCaptured { sampler }
    }
}

impl fmt::Debug for NotCaptured {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NotCaptured").finish_non_exhaustive()
    }
}

impl<S: Subscriber> Filter<S> for NotCaptured {
    /// The sampler decided first (it filters the layer this one is in): a
    /// mark for this callsite means it diverted the event. Spans are never
    /// marked.
    fn enabled(&self, meta: &Metadata<'_>, _cx: &Context<'_, S>) -> bool {
        !stack::has_mark(self.sampler, meta)
    }

    /// Events the sampler decides in `event_enabled` (a `sample_key`,
    /// consistent mode) are marked there, before this is asked.
    fn event_enabled(&self, event: &Event<'_>, _cx: &Context<'_, S>) -> bool {
        !stack::has_mark(self.sampler, event.metadata())
    }

    /// `sometimes` for events: the answer differs from event to event, so
    /// no callsite may be cached as always enabled.
    fn callsite_enabled(&self, meta: &'static Metadata<'static>) -> Interest {
        if meta.is_span() {
            Interest::always()
        } else {
            Interest::sometimes()
        }
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        None
    }
}
