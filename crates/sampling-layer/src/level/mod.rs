//! Levels that change at run time, per target, with an expiry: [`Levels`]
//! and its [`LevelHandle`].
//!
//! `Levels` reads `EnvFilter`'s `target=level` directives and a bare default
//! level (`"info,app::db=debug"`), and is changed one target at a time while
//! it runs, the way [`SamplingHandle`](crate::SamplingHandle) changes rates:
//!
//! ```
//! use std::time::Duration;
//! use sampling_layer::level::Levels;
//! use tracing_subscriber::{fmt, prelude::*};
//!
//! let levels = Levels::try_new("info").unwrap();
//! let handle = levels.handle(); // Clone + Send + Sync
//! let subscriber = tracing_subscriber::registry().with(fmt::layer().with_filter(levels));
//! tracing::subscriber::with_default(subscriber, || {
//!     tracing::debug!(target: "app::db", "not written");
//!     // During an incident: DEBUG for one target, for ten minutes.
//!     handle.set_target_level_for("app::db", "debug", Duration::from_secs(600)).unwrap();
//!     tracing::debug!(target: "app::db", "written");
//! });
//! assert_eq!(handle.directives(), "info,app::db=debug");
//! assert_eq!(handle.pending()[0].target, "app::db");
//! ```
//!
//! # Where it goes
//!
//! - **Global layer**: `registry().with(levels)`, as a global `EnvFilter`.
//! - **Per-layer filter**: `fmt::layer().with_filter(levels)`.
//! - **With the sampler**: [`sampler.and(levels)`](crate::SamplingFilter::and),
//!   a per-layer filter that asks the levels first (so the sampler counts
//!   only events at an enabled level) and gives the subscriber the levels'
//!   hint; `levels.and(sampler)` (`FilterExt::and`) filters the same events.
//!
//! # Cost, and why no lock
//!
//! Levels are decided per callsite, when it registers: `Interest::always()`
//! or `Interest::never()`, as `EnvFilter` does for its plain directives. A
//! change publishes a new table and then calls
//! `tracing_core::callsite::rebuild_interest_cache()` once, which registers
//! every callsite again (a level lowered back really stops its events) and
//! recomputes the subscriber's level hint from [`max_level_hint`]. As a
//! global layer nothing runs per event for a callsite so decided.
//!
//! A callsite registered outside such a rebuild (its first event, a new
//! dispatcher) is answered `sometimes`: there `tracing-core` stores the
//! answer with nothing ordering it after a concurrent change's rebuild, so
//! an `always` or `never` read off the older table could undo the change.
//! About 100 ms later a rebuild of the filter's own, on a thread
//! (`sampling-layer-settle`), decides it `always` or `never`
//! ([`LevelStats::settles`] counts them); a burst of first events shares
//! one. It runs where a rebuild reaches the filter's dispatcher: a global
//! `Levels` knows it, a per-layer one once a handle call was made inside it
//! (below), or through a global default in the process (`.init()`);
//! otherwise a per-layer `Levels` leaves its new callsites `sometimes` until
//! the next change.
//!
//! Where `enabled` is asked (such a callsite; a per-layer filter; a
//! callsite another layer made `sometimes`), it reads
//! the callsite's decision from a lock-free table keyed by the metadata's
//! address; metadata that is not a registered callsite (a `log` record
//! through `LogTracer`) is matched against a per-thread copy of the table,
//! refreshed by the first such event after a change. No clock is read per
//! event. A rebuild registers callsites again with every layer: the
//! sampler's figures, budgets and capture state are not touched by it.
//!
//! Rebuilds reach every dispatcher `tracing-core` knows, except in one case:
//! when the only dispatcher in the process is a scoped one (`with_default`),
//! `tracing-core` rebuilds through the *calling thread's* default. A global
//! `Levels` is told its dispatcher and rebuilds with it as the default, so
//! it has no such limit. A per-layer one is not told: it finds its
//! dispatcher at the first handle call made from a thread inside it (the
//! first `Levels` the dispatcher holds, not one inside a filter combinator),
//! and from then on rebuilds under it from any thread, timed returns
//! included; before that, call the handle from inside that dispatcher. A
//! global default, or more than one dispatcher, has no such limit either.
//!
//! # What it accepts
//!
//! ```text
//! directives := item ("," item)*        at most MAX_DIRECTIVES_LEN bytes, 4 096 targets
//! item       := level                   the default
//!             | target "=" level        events whose target starts with `target`
//! level      := trace | debug | info | warn | error | off | 0 .. 5     any case
//! ```
//!
//! The most specific (longest) matching target wins, then the default; an
//! event nothing matches is off, as with `EnvFilter`. A later directive for
//! the same target replaces an earlier one. A bare target (`app`, which
//! `EnvFilter` reads as `app=trace`) is refused, since a mistyped level would
//! read as one. **Span and field filters** (`target[span{field=v}]=level`)
//! are refused with [`ParseErrorKind::SpanFilterInLevels`](crate::ParseErrorKind::SpanFilterInLevels):
//! they match per span at run time, which is what the lock-free callsite
//! decision leaves out; keep them in an `EnvFilter` layered beside `Levels`.
//!
//! # With the sampler's directives
//!
//! `split_directives`' combined form
//! `target=level@rate` names both a level and a rate. [`set_target`]
//! applies one such item at run time to a `LevelHandle` and a
//! [`SamplingHandle`](crate::SamplingHandle) together, with an optional
//! expiry for both.
//!
//! [`max_level_hint`]: tracing_subscriber::layer::Filter::max_level_hint

mod combined;
mod control;
mod handle;
mod sites;
mod table;

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use tracing_core::{subscriber::Interest, LevelFilter, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Filter, Layer};

pub use combined::set_target;
pub use handle::{LevelHandle, LevelStats, PendingLevel};

use crate::clock::{Clock, SystemClock};
use crate::error::{BuildError, ParseError};
use control::Shared;
use table::Table;

/// Per-target levels that change at run time (see the [module docs](self)).
/// A global [`Layer`] and a per-layer [`Filter`].
pub struct Levels {
    shared: Arc<Shared>,
}

impl fmt::Debug for Levels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Levels")
            .field("directives", &self.shared.shown())
            .finish()
    }
}

/// Builds a [`Levels`]: `Levels::builder().clock(clock).parse("info")`.
#[derive(Debug, Default)]
pub struct LevelsBuilder {
    clock: Option<Arc<dyn Clock>>,
}

impl LevelsBuilder {
    /// The clock timed changes expire on (default: [`SystemClock`]); a
    /// [`ManualClock`](crate::clock::ManualClock) makes expiry testable without sleeps.
    pub fn clock(mut self, clock: impl Clock + 'static) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// A filter with these directives; the first bad one is the error.
    pub fn parse(self, directives: &str) -> Result<Levels, BuildError> {
        let table = Table::parse(directives)?;
        let clock = self
            .clock
            .unwrap_or_else(|| Arc::new(SystemClock::default()));
        Ok(Levels {
            shared: Arc::new(Shared::new(table, clock, recognise)),
        })
    }
}

impl Levels {
    /// A builder, for a clock of your own.
    pub fn builder() -> LevelsBuilder {
        LevelsBuilder::default()
    }

    /// Default settings and these directives; the first bad one is the error.
    pub fn try_new(directives: &str) -> Result<Levels, ParseError> {
        let table = Table::parse(directives)?;
        Ok(Levels {
            shared: Arc::new(Shared::new(
                table,
                Arc::new(SystemClock::default()),
                recognise,
            )),
        })
    }

    /// A handle to change the levels and read them back.
    pub fn handle(&self) -> LevelHandle {
        LevelHandle {
            shared: self.shared.clone(),
        }
    }

    fn interest(&self, meta: &'static Metadata<'static>) -> Interest {
        let on = self.shared.register(meta);
        if !crate::interest::rebuilding() {
            // Stored by tracing-core with nothing ordering it after a
            // concurrent change's rebuild: `enabled` answers until a rebuild
            // of our own decides the callsite.
            crate::interest::unsettled(&self.shared);
            Interest::sometimes()
        } else if on {
            Interest::always()
        } else {
            Interest::never()
        }
    }
}

/// The `Levels` `dispatch` holds, if any (see `Shared::find_dispatch`).
fn recognise(dispatch: &tracing_core::Dispatch) -> Option<*const Shared> {
    dispatch
        .downcast_ref::<Levels>()
        .map(|l| Arc::as_ptr(&l.shared))
}

impl FromStr for Levels {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Levels::try_new(s)
    }
}

impl<S: Subscriber> Filter<S> for Levels {
    fn enabled(&self, meta: &Metadata<'_>, _cx: &Context<'_, S>) -> bool {
        self.shared.enabled(meta)
    }

    fn callsite_enabled(&self, meta: &'static Metadata<'static>) -> Interest {
        self.interest(meta)
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(self.shared.max())
    }
}

impl<S: Subscriber> Layer<S> for Levels {
    fn on_register_dispatch(&self, subscriber: &tracing_core::Dispatch) {
        self.shared.told(subscriber);
    }

    fn register_callsite(&self, meta: &'static Metadata<'static>) -> Interest {
        self.interest(meta)
    }

    fn enabled(&self, meta: &Metadata<'_>, _ctx: Context<'_, S>) -> bool {
        self.shared.enabled(meta)
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(self.shared.max())
    }
}
