//! Run-time control and figures: [`SamplingHandle`].

use std::fmt;
use std::sync::Arc;

use tracing_core::dispatcher::Dispatch;

use crate::annotate::Annotated;
use crate::directive::DirectiveSet;
use crate::error::ParseError;
use crate::shared::Shared;
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

    /// Figures of context capture (see [`CaptureStats`](crate::CaptureStats)).
    // capture (issue 12)
    pub fn capture_stats(&self) -> crate::CaptureStats {
        self.shared.capture.stats()
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

    /// Identifies the sampler (as `Shared::id` does).
    pub(crate) fn id(&self) -> usize {
        Arc::as_ptr(&self.shared) as usize
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

impl<F> Annotated<F> {
    /// Writes the rate of this sampler only (the one that filters the layer
    /// this formatter belongs to), whatever other samplers decided.
    pub fn for_sampler(self, sampler: &SamplingHandle) -> Self {
        self.bind(sampler.id(), sampler.shared.clone())
    }
}

/// The notice thread lives in [`notice`](crate::notice); the decision path
/// still names it through this module.
pub(crate) use crate::notice::notify;
