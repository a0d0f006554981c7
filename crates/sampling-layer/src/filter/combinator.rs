//! `sampler.and(f)`, `sampler.or(f)`, `sampler.not()`: filter combinators that
//! know when the sampler decides.
//!
//! The sampler decides an event in `Filter::enabled` when its callsite needs
//! no field (the common case), and in `Filter::event_enabled` otherwise (a
//! `sample_key` field, consistent mode); for those it answers `true` in
//! `enabled`, meaning "not decided yet". tracing-subscriber's combinators
//! (0.3.23, `filter::combinator`) read that `true` as a decision:
//! `Or::event_enabled` returns `a || b` where `b`'s default `event_enabled` is
//! `true`, so `sampler.or(x)` keeps every keyed event; `Not::event_enabled`
//! returns `true` without asking, so `sampler.not()` drops every keyed event;
//! and `And::max_level_hint` is the smaller of two `Option`s, so
//! `env.and(sampler)` has no hint (`None`). The types here ask the sampler in
//! the method where it decides, and are what `SamplingFilter::and`, `or` and
//! `not` return (inherent methods, so they win over `FilterExt`'s).
//!
#![doc = include_str!("combinator.md")]

use tracing_core::{span, subscriber::Interest, Event, LevelFilter, Metadata, Subscriber};
use tracing_subscriber::{
    layer::{Context, Filter},
    registry::LookupSpan,
};

use crate::{annotate, filter::SamplingFilter};

impl SamplingFilter {
    /// Keeps an event if `other` enables it and the sampler keeps it. `other`
    /// is asked first, so the sampler counts only events `other` let through,
    /// and the level hint is `other`'s: `sampler.and(env)` is the per-layer
    /// filter to use with an `EnvFilter` (`env.and(sampler)` samples the same
    /// but gives the subscriber no level hint).
    ///
    /// ```
    /// use sampling_layer::SamplingFilter;
    /// use tracing::Subscriber as _;
    /// use tracing_subscriber::{fmt, prelude::*, EnvFilter};
    ///
    /// let sampler = SamplingFilter::try_new("app=0.1").unwrap();
    /// let subscriber = tracing_subscriber::registry()
    ///     .with(fmt::layer().with_filter(sampler.and(EnvFilter::new("info"))));
    /// assert_eq!(subscriber.max_level_hint(), Some(tracing::level_filters::LevelFilter::INFO));
    /// ```
    pub fn and<F>(self, other: F) -> SamplerAnd<F> {
        SamplerAnd {
            sampler: self,
            other,
        }
    }

    /// Keeps an event if the sampler keeps it or, when it does not, `other`
    /// enables it. The sampler is asked first and counts every event it sees.
    pub fn or<F>(self, other: F) -> SamplerOr<F> {
        SamplerOr {
            sampler: self,
            other,
        }
    }

    /// Keeps exactly the events the sampler drops (and so never an event at
    /// or above `keep_level`). They carry no `sample_rate`.
    // Named `not` to take precedence over `FilterExt::not`, which gets keyed
    // events wrong; `std::ops::Not` would not be found by `sampler.not()`.
    #[allow(clippy::should_implement_trait)]
    pub fn not(self) -> SamplerNot {
        SamplerNot { sampler: self }
    }
}

/// `sampler.and(other)`: see [`SamplingFilter::and`].
#[derive(Debug)]
pub struct SamplerAnd<F> {
    sampler: SamplingFilter,
    other: F,
}

/// `sampler.or(other)`: see [`SamplingFilter::or`].
#[derive(Debug)]
pub struct SamplerOr<F> {
    sampler: SamplingFilter,
    other: F,
}

/// `sampler.not()`: see [`SamplingFilter::not`].
#[derive(Debug)]
pub struct SamplerNot {
    sampler: SamplingFilter,
}

/// The sampler's `Filter` methods, named once.
fn s_enabled<S>(s: &SamplingFilter, meta: &Metadata<'_>, cx: &Context<'_, S>) -> bool
where
    S: Subscriber + for<'a> LookupSpan<'a> + 'static,
{
    <SamplingFilter as Filter<S>>::enabled(s, meta, cx)
}

fn s_event_enabled<S>(s: &SamplingFilter, event: &Event<'_>, cx: &Context<'_, S>) -> bool
where
    S: Subscriber + for<'a> LookupSpan<'a> + 'static,
{
    <SamplingFilter as Filter<S>>::event_enabled(s, event, cx)
}

fn s_interest<S>(s: &SamplingFilter, meta: &'static Metadata<'static>) -> Interest
where
    S: Subscriber + for<'a> LookupSpan<'a> + 'static,
{
    <SamplingFilter as Filter<S>>::callsite_enabled(s, meta)
}

/// Forwards the span hooks to the sampler (consistent mode reads span fields)
/// and to the other filter.
macro_rules! span_hooks {
    ($($other:ident)?) => {
        fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
            $(self.$other.on_new_span(attrs, id, ctx.clone());)?
            Filter::<S>::on_new_span(&self.sampler, attrs, id, ctx);
        }

        fn on_record(&self, id: &span::Id, values: &span::Record<'_>, ctx: Context<'_, S>) {
            $(self.$other.on_record(id, values, ctx.clone());)?
            Filter::<S>::on_record(&self.sampler, id, values, ctx);
        }

        fn on_enter(&self, _id: &span::Id, _ctx: Context<'_, S>) {
            $(self.$other.on_enter(_id, _ctx);)?
        }

        fn on_exit(&self, _id: &span::Id, _ctx: Context<'_, S>) {
            $(self.$other.on_exit(_id, _ctx);)?
        }

        fn on_close(&self, _id: span::Id, _ctx: Context<'_, S>) {
            $(self.$other.on_close(_id, _ctx);)?
        }
    };
    // Context capture: `and` keeps the sampler's capturing-span stack (the
    // sampler decides last there, so a diverted event is one `other` passed).
    // `or` and `not` do not: there a diverted event would be misread as kept
    // (`or`) or as dropped (`not`), so they capture nothing.
    ($other:ident, capture) => {
        fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
            self.$other.on_new_span(attrs, id, ctx.clone());
            Filter::<S>::on_new_span(&self.sampler, attrs, id, ctx);
        }

        fn on_record(&self, id: &span::Id, values: &span::Record<'_>, ctx: Context<'_, S>) {
            self.$other.on_record(id, values, ctx.clone());
            Filter::<S>::on_record(&self.sampler, id, values, ctx);
        }

        fn on_enter(&self, id: &span::Id, ctx: Context<'_, S>) {
            self.$other.on_enter(id, ctx.clone());
            Filter::<S>::on_enter(&self.sampler, id, ctx);
        }

        fn on_exit(&self, id: &span::Id, ctx: Context<'_, S>) {
            self.$other.on_exit(id, ctx.clone());
            Filter::<S>::on_exit(&self.sampler, id, ctx);
        }

        fn on_close(&self, id: span::Id, ctx: Context<'_, S>) {
            self.$other.on_close(id.clone(), ctx.clone());
            Filter::<S>::on_close(&self.sampler, id, ctx);
        }
    };
}

impl<S, F> Filter<S> for SamplerAnd<F>
where
    S: Subscriber + for<'a> LookupSpan<'a> + 'static,
    F: Filter<S>,
{
    fn enabled(&self, meta: &Metadata<'_>, cx: &Context<'_, S>) -> bool {
        self.other.enabled(meta, cx) && s_enabled(&self.sampler, meta, cx)
    }

    fn callsite_enabled(&self, meta: &'static Metadata<'static>) -> Interest {
        let other = self.other.callsite_enabled(meta);
        if other.is_never() {
            return other;
        }
        let sampler = s_interest::<S>(&self.sampler, meta);
        if sampler.is_always() {
            other
        } else {
            sampler
        }
    }

    fn event_enabled(&self, event: &Event<'_>, cx: &Context<'_, S>) -> bool {
        self.other.event_enabled(event, cx) && s_event_enabled(&self.sampler, event, cx)
    }

    /// `other`'s: the sampler disables no level.
    fn max_level_hint(&self) -> Option<LevelFilter> {
        self.other.max_level_hint()
    }

    span_hooks!(other, capture);
}

impl<S, F> Filter<S> for SamplerOr<F>
where
    S: Subscriber + for<'a> LookupSpan<'a> + 'static,
    F: Filter<S>,
{
    fn enabled(&self, meta: &Metadata<'_>, cx: &Context<'_, S>) -> bool {
        if !self.sampler.decides_early(meta) {
            // Decided in `event_enabled`, and `other` with it.
            return true;
        }
        annotate::clear_pending(self.sampler.id(), meta);
        s_enabled(&self.sampler, meta, cx) || self.other.enabled(meta, cx)
    }

    fn callsite_enabled(&self, meta: &'static Metadata<'static>) -> Interest {
        let sampler = s_interest::<S>(&self.sampler, meta);
        let other = self.other.callsite_enabled(meta);
        if sampler.is_always() || other.is_always() {
            Interest::always()
        } else if sampler.is_never() && other.is_never() {
            Interest::never()
        } else {
            Interest::sometimes()
        }
    }

    fn event_enabled(&self, event: &Event<'_>, cx: &Context<'_, S>) -> bool {
        let id = self.sampler.id();
        let kept = if self.sampler.decides_early(event.metadata()) {
            // Decided in `enabled`: kept there if a decision is pending.
            annotate::adopt_pending(id, event)
        } else {
            s_event_enabled(&self.sampler, event, cx)
        };
        if kept {
            return true;
        }
        // Kept, if at all, by `other`: no rate of the sampler's applies.
        annotate::set(id, event, None);
        let meta = event.metadata();
        let asked_in_enabled = self.sampler.decides_early(meta);
        (asked_in_enabled || self.other.enabled(meta, cx)) && self.other.event_enabled(event, cx)
    }

    /// `None`: the sampler admits every level, so the pair may too.
    fn max_level_hint(&self) -> Option<LevelFilter> {
        None
    }

    span_hooks!(other);
}

impl<S> Filter<S> for SamplerNot
where
    S: Subscriber + for<'a> LookupSpan<'a> + 'static,
{
    fn enabled(&self, meta: &Metadata<'_>, cx: &Context<'_, S>) -> bool {
        if !self.sampler.decides_early(meta) {
            return true;
        }
        annotate::clear_pending(self.sampler.id(), meta);
        !s_enabled(&self.sampler, meta, cx)
    }

    fn callsite_enabled(&self, meta: &'static Metadata<'static>) -> Interest {
        let sampler = s_interest::<S>(&self.sampler, meta);
        if sampler.is_always() {
            Interest::never()
        } else if sampler.is_never() {
            Interest::always()
        } else {
            Interest::sometimes()
        }
    }

    fn event_enabled(&self, event: &Event<'_>, cx: &Context<'_, S>) -> bool {
        let kept_by_sampler = !self.sampler.decides_early(event.metadata())
            && s_event_enabled(&self.sampler, event, cx);
        annotate::set(self.sampler.id(), event, None);
        !kept_by_sampler
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        None
    }

    span_hooks!();
}
