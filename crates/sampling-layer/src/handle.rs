//! Run-time control and figures: [`SamplingHandle`].

use std::fmt;
use std::sync::Arc;

use tracing_core::dispatcher::{Dispatch, WeakDispatch};

use crate::breaker::Transition;
use crate::directive::DirectiveSet;
use crate::error::ParseError;
use crate::shared::{Shared, NOTICE_TARGET};
use crate::stats::SamplingStats;

/// Controls a [`SamplingFilter`](crate::SamplingFilter) after it was installed.
/// Cheap to clone; `Send + Sync`. Changes take effect from the next event,
/// without `reload::Layer` and without rebuilding the subscriber.
#[derive(Clone)]
pub struct SamplingHandle {
    pub(crate) shared: Arc<Shared>,
}

impl fmt::Debug for SamplingHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SamplingHandle")
            .field("directives", &self.shared.directives())
            .finish()
    }
}

impl SamplingHandle {
    /// Replaces the directives. On error nothing changes. Per-target figures
    /// continue where they were for targets that remain.
    pub fn set_directives(&self, directives: &str) -> Result<(), ParseError> {
        crate::filter::capture_dispatch(&self.shared);
        let (set, _) = DirectiveSet::parse(directives, false)?;
        self.shared.install(set)
    }

    /// `false` suspends sampling (every event is kept); `true` resumes it.
    pub fn set_enabled(&self, enabled: bool) {
        crate::filter::capture_dispatch(&self.shared);
        self.shared.set_enabled(enabled);
    }

    /// Sends the breaker's notices into `dispatch`. Needed only when the sampler
    /// is a per-layer filter under a *scoped* dispatcher (`with_default`) that
    /// it could not find by itself (see [`Breaker`](crate::Breaker)): a global
    /// layer is told its dispatcher, and the global default is the fallback.
    /// Keeps a weak reference.
    pub fn set_notice_dispatch(&self, dispatch: &Dispatch) {
        *self
            .shared
            .notice_dispatch
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(dispatch.downgrade());
    }

    /// The current directives, as given (comma-joined).
    pub fn directives(&self) -> String {
        self.shared.directives()
    }

    /// A snapshot of the sampler's figures. Also lets an open breaker close if
    /// its hold period has passed with no events to notice it.
    pub fn stats(&self) -> SamplingStats {
        crate::filter::capture_dispatch(&self.shared);
        self.shared.stats()
    }
}

/// Logs a breaker transition as one WARN event with target `sampling_layer`.
///
/// A subscriber must not be re-entered from inside its own filtering (the
/// per-layer filter state is thread-local and would be overwritten, and a
/// scoped dispatcher hands nested events to a no-op), so the notice is emitted
/// from a short-lived thread, into the dispatcher the sampler is part of
/// (told to a global layer; found for a per-layer filter by
/// [`capture_dispatch`](crate::filter::capture_dispatch)), else into the global
/// default. Transitions are
/// rare (at most one pair per hold period), so the thread costs nothing that matters.
pub(crate) fn notify(dispatch: Option<WeakDispatch>, t: Transition) {
    let emit = move || {
        if t.opened {
            tracing::warn!(
                target: NOTICE_TARGET,
                error_rate = t.rate,
                threshold = t.threshold,
                "circuit breaker opened: errors above threshold, sampling suspended (keeping every event)"
            );
        } else {
            tracing::warn!(
                target: NOTICE_TARGET,
                error_rate = t.rate,
                threshold = t.threshold,
                "circuit breaker closed: error rate below threshold for the hold period, sampling resumed"
            );
        }
    };
    let spawned = std::thread::Builder::new()
        .name("sampling-layer-notice".into())
        .spawn(move || match dispatch.and_then(|d| d.upgrade()) {
            Some(d) => tracing::dispatcher::with_default(&d, emit),
            None => emit(),
        });
    // Failing to spawn loses the notice, not the transition (counted in stats).
    drop(spawned);
}
