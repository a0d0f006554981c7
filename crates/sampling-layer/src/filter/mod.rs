//! [`SamplingFilter`]: the per-layer [`Filter`] and global [`Layer`] impls.
//!
//! The sampler itself is [`Sampler`]; this type adds what only a
//! `tracing-subscriber` filter or layer needs: where it sits in the stack,
//! the consistent-mode values recorded on spans, and recognising itself in a
//! dispatcher. Its constructors are with the builder ([`crate::filter::builder`]).

pub(crate) mod builder;
pub mod combinator;
pub(crate) mod handle;
#[cfg(feature = "env-filter")]
pub(crate) mod split;

use std::any::TypeId;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use tracing_core::{
    span, subscriber::Interest, Dispatch, Event, LevelFilter, Metadata, Subscriber,
};
use tracing_subscriber::{
    layer::{Context, Filter, Layer},
    registry::LookupSpan,
    Registry,
};
use xxhash_rust::xxh3::xxh3_64;

use crate::error::{BuildError, BuildErrorKind, ParseError};
use crate::repeat::gate::Early;
use crate::{
    decide::keys::FieldHashes,
    decide::mode::Mode,
    figures::stats::SamplingStats,
    filter::handle::SamplingHandle,
    sampler::{Sampler, CAPTURE, REPEATS},
};
use builder::SamplingFilterBuilder;

/// Samples events per callsite or per key. Use it as a per-layer filter
/// (`fmt::layer().with_filter(sampler)`) or as a global layer
/// (`registry().with(sampler)`). Spans are never filtered, only events; events
/// at or above `keep_level` (default `WARN`) are never sampled.
///
#[doc = include_str!("directives.md")]
#[doc = include_str!("cost.md")]
pub struct SamplingFilter {
    pub(crate) sampler: Arc<Sampler>,
    placement: Placement,
}

/// Where a global sampler sits, learnt in `Layer::on_layer`: whether it may
/// decide in `enabled`. (A per-layer filter is asked by `Filtered` in its own
/// pass and ignores this.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Placement {
    /// Directly on the `Registry`: every other layer was asked before it in
    /// `enabled`, so it decides there (interest `sometimes` for sampled
    /// callsites), and a sampled-out event is never built.
    OnRegistry,
    /// Above another subscriber (say `fmt().with_env_filter(..).finish()`),
    /// or not told: the layers below are asked *after* it in `enabled` and may
    /// still reject the event (per-target levels; asking them first through
    /// `Context::enabled` would run their filters twice). So it answers
    /// `Interest::always()` (the layers below set the callsite's interest: one
    /// they disable stays `never`) and `true` in `enabled`, and decides in
    /// `event_enabled`, which runs only for events the whole stack enabled.
    Above,
}

impl fmt::Debug for SamplingFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SamplingFilter")
            .field("sampler", &self.sampler)
            .field("placement", &self.placement)
            .finish()
    }
}

impl SamplingFilter {
    pub(crate) fn from_sampler(sampler: Sampler) -> Self {
        SamplingFilter {
            sampler: Arc::new(sampler),
            placement: Placement::Above,
        }
    }

    /// Identifies this sampler (as `Sampler::id`).
    pub(crate) fn id(&self) -> usize {
        self.sampler.id()
    }

    /// The id of the `SamplingFilter` `dispatch` holds as a per-layer filter,
    /// if any: how a sampler recognises its own dispatcher (see
    /// [`NoticeRoute::capture`](crate::control::breaker::notice::NoticeRoute::capture)).
    pub(crate) fn recognise(dispatch: &Dispatch) -> Option<usize> {
        dispatch.downcast_ref::<SamplingFilter>().map(Self::id)
    }

    /// Whether `meta`'s events are decided in `enabled` (registered, sampled
    /// and needing no field); the others are decided in `event_enabled`.
    pub(crate) fn decides_early(&self, meta: &Metadata<'_>) -> bool {
        self.sampler
            .callsites
            .get_addr(meta as *const Metadata<'_> as usize)
            .is_some_and(|cs| cs.early)
    }

    /// A handle to change directives, switch sampling off and on, and read figures.
    pub fn handle(&self) -> SamplingHandle {
        SamplingHandle {
            sampler: self.sampler.clone(),
        }
    }

    /// The current directives, as given (comma-joined; bad ones skipped).
    pub fn directives(&self) -> String {
        self.sampler.expire_due(true);
        self.sampler.directives()
    }

    /// A snapshot of the figures (same as `handle().stats()`).
    pub fn stats(&self) -> SamplingStats {
        self.sampler.stats()
    }

    fn interest(&self, meta: &'static Metadata<'static>) -> Interest {
        self.sampler.capture_dispatch();
        if meta.is_span() {
            return Interest::always();
        }
        let cs = self.sampler.register(meta);
        // A kept level outside our rebuild: `always` could be stored after a
        // concurrent change of the repeat targets rebuilt the callsite, and
        // skip its repeat judgement until the next change.
        if cs.sampled || self.sampler.repeat_covers(cs) || !self.sampler.settled_interest() {
            Interest::sometimes()
        } else {
            Interest::always()
        }
    }

    /// `enabled` with repeats or capture engaged: the repeat judgement
    /// first, then the decision, then capture's diversion.
    // Out of line: inlined, the decision's fast path measured ~14
    // instructions dearer (callgrind, `path_instr rate`).
    #[inline(never)]
    fn enabled_engaged(&self, meta: &Metadata<'_>) -> bool {
        let early = self.sampler.repeat_early(meta);
        match early {
            // At the capture trigger's level it still writes its span's
            // context: `event_enabled` must know the copy was judged.
            Early::Suppress => {
                let context = self.sampler.capture.suppressed_trigger(self.id(), meta);
                if context {
                    self.sampler.mark_judged(meta);
                }
                return context;
            }
            Early::Defer => return true, // judged first in `event_enabled`
            Early::Pass | Early::Kept => {}
        }
        let keep = self.sampler.decide_early(meta);
        // A sampled-out event inside a capturing span may be diverted instead.
        let enabled = self.sampler.capture.after_enabled(self.id(), meta, keep);
        if !enabled && early == Early::Kept {
            self.sampler.forget_judged(meta);
        }
        enabled
    }

    fn decide<S>(&self, event: &Event<'_>, ctx: &Context<'_, S>) -> bool
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        self.sampler.decide(event, || self.span_hash(event, ctx))
    }

    /// The consistent field's hash on the nearest span around `event` that has it.
    fn span_hash<S>(&self, event: &Event<'_>, ctx: &Context<'_, S>) -> Option<u64>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let name = self.consistent_name()?;
        let leaf = if event.is_root() {
            None
        } else if let Some(id) = event.parent() {
            ctx.span(id)
        } else {
            ctx.lookup_current()
        }?;
        leaf.scope().find_map(|span| {
            span.extensions()
                .get::<SpanValues>()
                .and_then(|v| v.0.iter().find(|(n, _)| *n == name).map(|(_, h)| *h))
        })
    }

    fn consistent_name(&self) -> Option<u64> {
        match &self.sampler.mode {
            Mode::Consistent { field } => Some(xxh3_64(field.as_bytes())),
            _ => None,
        }
    }

    /// A new span: remembers its consistent field's hash, if it carries one.
    fn new_span<S>(&self, attrs: &span::Attributes<'_>, id: &span::Id, ctx: &Context<'_, S>)
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        self.record_span(id, attrs.metadata(), |h| attrs.record(h), ctx);
    }

    /// Values recorded on a span later: as [`new_span`](Self::new_span).
    fn record_values<S>(&self, id: &span::Id, values: &span::Record<'_>, ctx: &Context<'_, S>)
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        if let Some(span) = ctx.span(id) {
            let meta = span.metadata();
            self.record_span(id, meta, |h| values.record(h), ctx);
        }
    }

    /// Remembers the consistent field's hash on spans that carry it.
    fn record_span<S>(
        &self,
        id: &span::Id,
        meta: &Metadata<'_>,
        record: impl FnOnce(&mut FieldHashes<'_>),
        ctx: &Context<'_, S>,
    ) where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let Mode::Consistent { field } = &self.sampler.mode else {
            return;
        };
        let Some(f) = meta.fields().field(field) else {
            return;
        };
        let mut hashes = FieldHashes {
            key: None,
            value: Some(&f),
            key_hash: None,
            value_hash: None,
        };
        record(&mut hashes);
        let (Some(hash), Some(span)) = (hashes.value_hash, ctx.span(id)) else {
            return;
        };
        let name = xxh3_64(field.as_bytes());
        let mut ext = span.extensions_mut();
        match ext.get_mut::<SpanValues>() {
            Some(v) => match v.0.iter_mut().find(|(n, _)| *n == name) {
                Some(slot) => slot.1 = hash,
                None => v.0.push((name, hash)),
            },
            None => ext.insert(SpanValues(vec![(name, hash)])),
        }
    }
}

/// Consistent-mode field hashes recorded on a span: (field name hash, value hash).
/// Several samplers in one registry share the list.
#[derive(Debug)]
struct SpanValues(Vec<(u64, u64)>);

impl SamplingFilter {
    /// A builder with the default settings.
    pub fn builder() -> SamplingFilterBuilder {
        SamplingFilterBuilder::default()
    }

    /// Default settings and these directives; the first bad directive is the
    /// error. The same as `directives.parse::<SamplingFilter>()`.
    pub fn try_new(directives: &str) -> Result<Self, ParseError> {
        Self::builder()
            .parse(directives)
            .map_err(defaults_are_valid)
    }

    /// Default settings and these directives, skipping bad ones with a warning on stderr.
    pub fn new(directives: &str) -> Self {
        Self::builder().parse_lossy(directives)
    }
}

/// `"app=0.1".parse::<SamplingFilter>()`: default settings, as
/// [`SamplingFilter::try_new`].
///
/// ```
/// use sampling_layer::SamplingFilter;
///
/// let sampler: SamplingFilter = "0.5,app::db=1/20".parse().unwrap();
/// assert_eq!(sampler.directives(), "0.5,app::db=1/20");
/// assert!("app=1.5".parse::<SamplingFilter>().is_err());
/// ```
impl FromStr for SamplingFilter {
    type Err = ParseError;

    fn from_str(directives: &str) -> Result<Self, ParseError> {
        Self::try_new(directives)
    }
}

/// With the default settings only a directive can be refused.
pub(crate) fn defaults_are_valid(e: BuildError) -> ParseError {
    match e.kind() {
        BuildErrorKind::Directive(p) => p.clone(),
        _ => unreachable!("the default settings are valid: {e}"),
    }
}

impl<S> Filter<S> for SamplingFilter
where
    S: Subscriber + for<'a> LookupSpan<'a> + 'static,
{
    /// Spans: always `true`. Events whose callsite needs no field to decide
    /// are decided here; the others in `event_enabled`.
    fn enabled(&self, meta: &Metadata<'_>, _cx: &Context<'_, S>) -> bool {
        // Repeats or capture engaged: their sequence; else the decision alone.
        if self.sampler.engaged() & (REPEATS | CAPTURE) != 0 {
            return self.enabled_engaged(meta);
        }
        self.sampler.decide_early(meta)
    }

    fn callsite_enabled(&self, meta: &'static Metadata<'static>) -> Interest {
        self.interest(meta)
    }

    fn event_enabled(&self, event: &Event<'_>, cx: &Context<'_, S>) -> bool {
        if self.sampler.engaged() & (REPEATS | CAPTURE) == 0 {
            return self.decide(event, cx);
        }
        let capture = &self.sampler.capture;
        if !self.sampler.repeat_gate(event, true) {
            // Suppressed: never sampled, never captured; at the capture
            // trigger's level it still writes its span's captured context.
            if capture.suppressed_trigger(self.id(), event.metadata()) {
                capture.write_diverted(self.id(), event, cx);
            }
            return false;
        }
        // Without capture, the decision alone; with it, a dropped event may
        // be diverted (written through the `CaptureLayer`, then sampled out).
        if !capture.is_active() {
            return self.decide(event, cx);
        }
        capture.event_enabled(self.id(), event, cx, || self.decide(event, cx))
    }

    /// `None`: the sampler never disables a level, so it offers no hint and
    /// leaves the other filters' hints in force.
    fn max_level_hint(&self) -> Option<LevelFilter> {
        None
    }

    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
        self.new_span(attrs, id, &ctx);
        // The span hooks keep the thread's stack of capturing spans.
        if self.sampler.capture.is_active() {
            self.sampler
                .capture
                .on_new_span(self.id(), attrs.metadata(), id, &ctx);
        }
    }

    fn on_record(&self, id: &span::Id, values: &span::Record<'_>, ctx: Context<'_, S>) {
        self.record_values(id, values, &ctx);
    }

    fn on_enter(&self, id: &span::Id, ctx: Context<'_, S>) {
        if self.sampler.capture.is_active() {
            self.sampler.capture.on_enter(self.id(), id, &ctx);
        }
    }

    fn on_exit(&self, id: &span::Id, _ctx: Context<'_, S>) {
        if self.sampler.capture.is_active() {
            self.sampler.capture.on_exit(self.id(), id);
        }
    }

    // Whether or not capture is on now: a capturing span opened while it was
    // must leave the owner table at its close.
    fn on_close(&self, id: span::Id, ctx: Context<'_, S>) {
        self.sampler.capture.on_close(self.id(), &id, &ctx);
    }
}

impl<S> Layer<S> for SamplingFilter
where
    S: Subscriber + for<'a> LookupSpan<'a> + 'static,
{
    fn on_register_dispatch(&self, subscriber: &Dispatch) {
        self.sampler.notices.told(subscriber);
    }

    fn on_layer(&mut self, _inner: &mut S) {
        // Context capture: a global layer's "enabled" reaches every layer,
        // so it never diverts; say so rather than capture nothing silently.
        if self.sampler.capture.is_active() {
            eprintln!(
                "warning: sampling-layer: context capture works only in a per-layer \
                 filter (`fmt::layer().with_filter(sampler)`); this global sampler captures nothing"
            );
        }
        self.placement = if TypeId::of::<S>() == TypeId::of::<Registry>() {
            Placement::OnRegistry
        } else {
            Placement::Above
        };
    }

    fn register_callsite(&self, meta: &'static Metadata<'static>) -> Interest {
        let interest = self.interest(meta);
        match self.placement {
            Placement::OnRegistry => interest,
            Placement::Above => Interest::always(),
        }
    }

    fn enabled(&self, meta: &Metadata<'_>, _ctx: Context<'_, S>) -> bool {
        match self.placement {
            Placement::OnRegistry if self.sampler.engaged() & REPEATS == 0 => {
                self.sampler.decide_early(meta)
            }
            Placement::OnRegistry => match self.sampler.repeat_early(meta) {
                Early::Suppress => false,
                Early::Defer => true,
                Early::Pass => self.sampler.decide_early(meta),
                Early::Kept => {
                    let keep = self.sampler.decide_early(meta);
                    if !keep {
                        self.sampler.forget_judged(meta);
                    }
                    keep
                }
            },
            Placement::Above => true,
        }
    }

    fn event_enabled(&self, event: &Event<'_>, ctx: Context<'_, S>) -> bool {
        if self.sampler.engaged() & REPEATS == 0 {
            return self.decide(event, &ctx);
        }
        let early = self.placement == Placement::OnRegistry;
        self.sampler.repeat_gate(event, early) && self.decide(event, &ctx)
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        None
    }

    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
        self.new_span(attrs, id, &ctx);
    }

    fn on_record(&self, id: &span::Id, values: &span::Record<'_>, ctx: Context<'_, S>) {
        self.record_values(id, values, &ctx);
    }
}
