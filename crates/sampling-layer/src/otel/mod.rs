//! Sampling keyed on the OpenTelemetry trace of the current span
//! (`opentelemetry` feature, for `opentelemetry` 0.33 with
//! `tracing-opentelemetry` 0.34).
//!
//! [`follow_trace`] keeps an event's log iff its trace is sampled;
//! [`probability`] keeps it iff the specification's `ProbabilitySampler` at
//! the event's directive rate keeps its trace, [`trace_id_ratio`] iff the
//! legacy `TraceIdRatioBased` does (see [`TracePolicy`]). Either way
//! the logs kept are those of whole traces, the same traces in every process
//! of a request's path, and they match what the tracing pipeline exports.
//! Neither a budget (refused) nor [pressure](crate::Pressure) (not applied
//! inside a trace) drops logs of a trace the policy keeps.
//!
//! ```
//! use opentelemetry::trace::TracerProvider as _;
//! use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
//! use sampling_layer::{otel, SamplingFilter};
//! use tracing_subscriber::{fmt, prelude::*};
//!
//! let provider = SdkTracerProvider::builder()
//!     .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(0.25))))
//!     // .with_batch_exporter(otlp_exporter)
//!     .build();
//! // Logs of sampled traces only (WARN and ERROR always); `split` works too.
//! let (env, sampler) = SamplingFilter::builder()
//!     .key_extractor(otel::follow_trace())
//!     .split("debug")
//!     .unwrap();
//! let subscriber = tracing_subscriber::registry()
//!     .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("service")))
//!     .with(fmt::layer().with_filter(sampler.and(env)));
//! tracing::subscriber::with_default(subscriber, || {
//!     let span = tracing::info_span!("request");
//!     let _entered = span.enter(); // the OpenTelemetry span starts here
//!     tracing::debug!("kept iff the request's trace is sampled");
//! });
//! ```
//!
//! # A service's opt-in setup
//!
//! The pieces a service adds when OpenTelemetry is switched on: the tracer
//! provider (keep it; `shutdown()` it at exit to flush), the bridge layer,
//! and the sampler built from the same directive string as before, with the
//! extractor set. The rest of the stack is unchanged.
//!
//! ```
//! use opentelemetry::trace::TracerProvider as _;
//! use opentelemetry_sdk::trace::{Sampler, SdkTracer, SdkTracerProvider};
//! use sampling_layer::{otel, BuildError, SamplingFilter};
//! use tracing_opentelemetry::OpenTelemetryLayer;
//! use tracing_subscriber::{fmt, prelude::*, registry::LookupSpan, EnvFilter};
//!
//! /// Traces sampled at `head_rate` at the root (parent-based below it), and
//! /// a log sampler that keeps the logs of exactly those traces.
//! fn otel_setup<S>(
//!     service: &'static str,
//!     head_rate: f64,
//!     directives: &str,
//! ) -> Result<(SdkTracerProvider, OpenTelemetryLayer<S, SdkTracer>, EnvFilter, SamplingFilter), BuildError>
//! where
//!     S: tracing::Subscriber + for<'a> LookupSpan<'a>,
//! {
//!     let provider = SdkTracerProvider::builder()
//!         .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(head_rate))))
//!         // .with_batch_exporter(otlp_exporter)
//!         .build();
//!     let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer(service));
//!     let (env, sampler) = SamplingFilter::builder()
//!         .key_extractor(otel::follow_trace())
//!         .split(directives)?;
//!     Ok((provider, layer, env, sampler))
//! }
//!
//! let (provider, layer, env, sampler) = otel_setup("service", 0.1, "debug").unwrap();
//! let handle = sampler.handle();
//! let subscriber = tracing_subscriber::registry()
//!     .with(layer)
//!     .with(fmt::layer().with_filter(sampler.and(env)));
//! tracing::subscriber::with_default(subscriber, || {
//!     for i in 0..100 {
//!         let span = tracing::info_span!("request", i);
//!         let _entered = span.enter();
//!         tracing::debug!("kept iff request {i}'s trace is sampled");
//!     }
//! });
//! let all = handle.stats().targets.iter().map(|t| t.seen).sum::<u64>();
//! assert_eq!(all, 100);
//! provider.shutdown().unwrap();
//! ```
//!
//! # Where the trace comes from
//!
//! The trace is read from OpenTelemetry's current [`Context`]
//! (`Context::map_current`: a thread-local borrow, no clone, no lock). With
//! `tracing-opentelemetry`'s context activation (on by default), entering a
//! `tracing` span starts its OpenTelemetry span (trace id and sampled flag
//! are assigned then, by the SDK's sampler) and makes it current, so an event
//! inside an entered span sees its trace. The sampler never starts a span
//! itself: starting one early would make a later `set_parent` fail.
//!
//! - An event with an explicit `parent:` (or `parent: None`) is decided by
//!   the *current* context, not by the span it names: `enabled` sees only the
//!   metadata, and `tracing-opentelemetry`'s span data is private. Inside
//!   another trace it follows that trace; outside any, it falls back (below).
//! - With context activation off
//!   (`OpenTelemetryLayer::with_context_activation(false)`), entering a span
//!   makes nothing current: every event falls back, unless you attach
//!   contexts yourself (`Context::attach`).
//! - An event outside any span with a valid span context falls back to the
//!   sampler's [`Mode`](crate::Mode): the `Consistent` field if the event or
//!   a span around it has one, else an independent draw at its rate.
//!
//! For another OpenTelemetry version, write the same few lines against it
//! with [`KeyExtractor::new`] (see [`current_trace`]'s source).

use opentelemetry::{trace::TraceContextExt, Context};

pub mod logs;

use crate::decide::extract::{KeyExtractor, TraceKey, TracePolicy};

/// The trace of the current OpenTelemetry context, if its span context is
/// valid (a non-zero trace id and span id), with the `ot` entry of its
/// `tracestate` when it has one ([`TraceKey::with_ot`]: `rv` and the head
/// sampler's `th`). An empty `tracestate` costs one check; a full one at most
/// a scan of its 32 members and one pass over the `ot` value.
#[inline]
pub fn current_trace() -> Option<TraceKey> {
    Context::map_current(|cx| {
        let span = cx.span();
        let sc = span.span_context();
        sc.is_valid().then(|| {
            let key = TraceKey::new(sc.trace_id().to_bytes(), sc.is_sampled());
            match sc.trace_state().get("ot") {
                Some(ot) => key.with_ot(ot),
                None => key,
            }
        })
    })
}

/// Keep the logs of sampled traces ([`TracePolicy::FollowTrace`] on
/// [`current_trace`]).
pub fn follow_trace() -> KeyExtractor {
    KeyExtractor::new(TracePolicy::FollowTrace, current_trace)
}

/// Keep the logs of the traces the legacy `TraceIdRatioBased` at the
/// directive rate keeps ([`TracePolicy::TraceIdRatio`] on [`current_trace`]).
pub fn trace_id_ratio() -> KeyExtractor {
    KeyExtractor::new(TracePolicy::TraceIdRatio, current_trace)
}

/// Keep the logs of the traces the specification's `ProbabilitySampler` at
/// the directive rate keeps ([`TracePolicy::Probability`] on
/// [`current_trace`]).
pub fn probability() -> KeyExtractor {
    KeyExtractor::new(TracePolicy::Probability, current_trace)
}
