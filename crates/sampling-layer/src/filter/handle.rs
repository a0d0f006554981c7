//! Run-time control and figures: [`SamplingHandle`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tracing_core::dispatcher::Dispatch;

use crate::annotate::Annotated;
use crate::capture::{CaptureLayer, CaptureWriter};
use crate::directive::edit::{check_item, Selector};
use crate::directive::DirectiveSet;
use crate::error::ParseError;
use crate::figures::stats::SamplingStats;
use crate::sampler::Sampler;

/// Controls a [`SamplingFilter`](crate::SamplingFilter) after it was installed.
/// Cheap to clone; `Send + Sync`. Changes take effect from the next event,
/// without `reload::Layer` and without rebuilding the subscriber.
///
/// Two ways to change rates: [`set_directives`](Self::set_directives)
/// replaces the whole set; [`set_target_rate`](Self::set_target_rate) and
/// [`remove_target`](Self::remove_target) change one directive and leave the
/// others as they are, so two callers changing different targets never undo
/// each other. [`set_target_rate_for`](Self::set_target_rate_for) changes one
/// for a while, then puts it back. [`directives`](Self::directives) reads
/// the set back as a string that builds the same set. Figures of targets
/// that stay configured carry on through every change.
///
#[doc = include_str!("handle.md")]
#[derive(Clone)]
pub struct SamplingHandle {
    pub(crate) sampler: Arc<Sampler>,
}

impl fmt::Debug for SamplingHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SamplingHandle")
            .field("directives", &self.sampler.directives())
            .finish()
    }
}

impl SamplingHandle {
    /// Replaces the **whole** directive set with `directives`: a target the
    /// new string does not name is no longer sampled by its own rule (it
    /// falls back to the default, or is kept). To change one target, use
    /// [`set_target_rate`](Self::set_target_rate). Cancels every pending
    /// expiry ([`set_target_rate_for`](Self::set_target_rate_for)). On error
    /// nothing changes. Figures continue where they were for targets that
    /// remain (and for targets that come back).
    ///
    /// # Examples
    ///
    /// ```
    /// use sampling_layer::SamplingFilter;
    ///
    /// let sampler = SamplingFilter::try_new("app=0.1,app::db=0.5").unwrap();
    /// let handle = sampler.handle();
    /// handle.set_directives("app=1/20").unwrap();
    /// // `app::db` was not repeated: it now falls under `app`'s rate.
    /// assert_eq!(handle.directives(), "app=1/20");
    /// // A bad string changes nothing.
    /// assert!(handle.set_directives("app=1.5").is_err());
    /// assert_eq!(handle.directives(), "app=1/20");
    /// ```
    pub fn set_directives(&self, directives: &str) -> Result<(), ParseError> {
        self.sampler.capture_dispatch();
        let (set, _) = DirectiveSet::parse(directives, false)?;
        self.sampler.replace_directives(set)?;
        self.sampler.rebuild_repeat_interest();
        Ok(())
    }

    /// Sets the rate of one target, leaving every other directive as it is.
    /// `target` is a directive's left-hand side: `app::db`, `app::ws[heartbeat]`
    /// (a key under a target), `[heartbeat]` (a key under any target), or `""`
    /// for the bare default; `rate` is any rate of the grammar (`0.05`, `5%`,
    /// `1/20`). Replaces that target's directive if there is one (and cancels
    /// its pending expiry), else adds it. On error nothing changes.
    ///
    /// # Examples
    ///
    /// ```
    /// use sampling_layer::SamplingFilter;
    ///
    /// let handle = SamplingFilter::try_new("0.5,app=0.1,lib=1/8").unwrap().handle();
    /// handle.set_target_rate("app", "1/20").unwrap();
    /// handle.set_target_rate("app::ws[heartbeat]", "1%").unwrap();
    /// assert_eq!(handle.directives(), "0.5,lib=1/8,app=1/20,app::ws[heartbeat]=1%");
    /// assert!(handle.set_target_rate("app", "1.5").is_err());
    /// ```
    pub fn set_target_rate(&self, target: &str, rate: &str) -> Result<(), ParseError> {
        self.edit(target, Some(rate), None).map(|_| ())
    }

    /// [`set_target_rate`](Self::set_target_rate) for `duration`, then back:
    /// at expiry the target returns to the directive it had before this call
    /// (or to none), unless it was changed again since. A later
    /// `set_target_rate` or `remove_target` on it cancels the return (the
    /// later change wins); a later `set_target_rate_for` on it replaces this
    /// one and returns, at its own expiry, to what the target had before the
    /// first of them (a temporary rate is never what it returns to);
    /// `set_directives` cancels every pending return.
    ///
    /// No thread and no timer: the return happens at the first kept event,
    /// handle call or stats read at or after the expiry, on the sampler's
    /// clock ([`SamplingFilterBuilder::clock`](crate::SamplingFilterBuilder::clock)).
    /// A sampled-out event never applies it.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use sampling_layer::{clock::ManualClock, SamplingFilter};
    ///
    /// let clock = ManualClock::new();
    /// let handle = SamplingFilter::builder()
    ///     .clock(clock.clone())
    ///     .parse("app=1%")
    ///     .unwrap()
    ///     .handle();
    /// // During an incident: everything from `app` for ten minutes.
    /// handle.set_target_rate_for("app", "1", Duration::from_secs(600)).unwrap();
    /// assert_eq!(handle.directives(), "app=1");
    /// clock.advance(Duration::from_secs(600));
    /// assert_eq!(handle.directives(), "app=1%");
    /// ```
    pub fn set_target_rate_for(
        &self,
        target: &str,
        rate: &str,
        duration: Duration,
    ) -> Result<(), ParseError> {
        self.edit(target, Some(rate), Some(duration)).map(|_| ())
    }

    /// Removes one target's directive (same forms as in
    /// [`set_target_rate`](Self::set_target_rate): `app::db`, `app[key]`,
    /// `[key]`, `""` for the default), leaving the others; its events fall
    /// to the next matching directive. Cancels its pending expiry. Returns
    /// whether it had a directive. Its figures are remembered, as for any
    /// target a set drops.
    pub fn remove_target(&self, target: &str) -> Result<bool, ParseError> {
        self.edit(target, None, None)
    }

    fn edit(
        &self,
        target: &str,
        rate: Option<&str>,
        expiry: Option<Duration>,
    ) -> Result<bool, ParseError> {
        self.sampler.capture_dispatch();
        let sel = Selector::parse(target)?;
        let item = match rate {
            Some(rate) => {
                let item = sel.item(rate);
                check_item(&sel, &item, rate)?;
                Some(item)
            }
            None => None,
        };
        let had = self.sampler.edit(&sel, item.as_deref(), expiry)?;
        self.sampler.rebuild_repeat_interest();
        Ok(had)
    }

    /// `false` suspends sampling (every event is kept); `true` resumes it.
    pub fn set_enabled(&self, enabled: bool) {
        self.sampler.capture_dispatch();
        self.sampler.expire_due(true);
        self.sampler.set_enabled(enabled);
    }

    /// Sends the breaker's notices into `dispatch`. Needed only when the sampler
    /// is a per-layer filter under a *scoped* dispatcher (`with_default`) that
    /// it could not find by itself (see [`Breaker`](crate::Breaker)): a global
    /// layer is told its dispatcher, and the global default is the fallback.
    /// Keeps a weak reference.
    pub fn set_notice_dispatch(&self, dispatch: &Dispatch) {
        self.sampler.notices.name(dispatch);
    }

    /// Writes the summary of every repeat window that suppressed anything
    /// and is still open (or ended with no event since to write it), on this
    /// thread, into the sampler's dispatcher, and returns once every waiting
    /// summary is written. Call it at shutdown, before dropping the writer's
    /// guard (see [`repeat`](crate::repeat)).
    ///
    /// # Examples
    ///
    /// ```
    /// use sampling_layer::SamplingFilter;
    /// use tracing_subscriber::{fmt, prelude::*};
    ///
    /// let sampler = SamplingFilter::try_new("app::db=first 2/1s").unwrap();
    /// let handle = sampler.handle();
    /// let subscriber = tracing_subscriber::registry().with(fmt::layer().with_filter(sampler));
    /// tracing::subscriber::with_default(subscriber, || {
    ///     for _ in 0..10 {
    ///         tracing::error!(target: "app::db", "connection refused"); // 2 written
    ///     }
    ///     handle.flush_repeats(); // "repeated event suppressed ... kept=2 suppressed=8"
    /// });
    /// let db = &handle.stats().repeats.targets[0];
    /// assert_eq!((db.kept, db.suppressed, db.summaries), (2, 8, 1));
    /// ```
    pub fn flush_repeats(&self) {
        self.sampler.capture_dispatch();
        self.sampler.flush_repeats();
    }

    /// Identifies the sampler (as `Sampler::id` does).
    pub(crate) fn id(&self) -> usize {
        self.sampler.id()
    }

    /// The current directives, comma-joined: as given to the last
    /// `set_directives` (or the builder), with each later per-target change
    /// applied (a changed target's directive moves to the end). The string
    /// parses to the current set.
    pub fn directives(&self) -> String {
        self.sampler.expire_due(true);
        self.sampler.rebuild_repeat_interest();
        self.sampler.directives()
    }

    /// A snapshot of the sampler's figures. Also lets an open breaker close if
    /// its hold period has passed with no events to notice it.
    pub fn stats(&self) -> SamplingStats {
        self.sampler.capture_dispatch();
        let stats = self.sampler.stats();
        self.sampler.rebuild_repeat_interest();
        stats
    }
}

impl SamplingHandle {
    /// The rate this sampler kept `event` at, if below one: what
    /// [`Annotated::for_sampler`] writes, for a formatter that asks on the
    /// caller's thread while the event is being handled (such as
    /// `backpressure-writer`'s deferred layer), whatever other samplers
    /// decided. [`sample_rate`](crate::sample_rate) is the same for the sampler
    /// that decided last.
    pub fn sample_rate(&self, event: &tracing_core::Event<'_>) -> Option<f64> {
        crate::annotate::rate_of(self.sampler.id(), event)
    }
}

impl<F> Annotated<F> {
    /// Writes the rate of this sampler only (the one that filters the layer
    /// this formatter belongs to), whatever other samplers decided.
    pub fn for_sampler(self, sampler: &SamplingHandle) -> Self {
        self.bind(sampler.id(), sampler.sampler.clone())
    }
}

impl<M> CaptureWriter<M> {
    /// Wraps `inner` for the sampler `handle` belongs to (the one that filters
    /// this writer's layer).
    pub fn new(inner: M, handle: &SamplingHandle) -> Self {
        CaptureWriter::for_sampler(inner, handle.sampler.capture.clone(), handle.sampler.id())
    }
}

impl<L> CaptureLayer<L> {
    /// Wraps `layer`, whose writer is a [`CaptureWriter`] of the sampler
    /// `handle` belongs to (the one that filters this layer).
    pub fn new(layer: L, handle: &SamplingHandle) -> Self {
        CaptureLayer::for_sampler(layer, handle.sampler.capture.clone())
    }
}
