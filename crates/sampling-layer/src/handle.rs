//! Run-time control and figures: [`SamplingHandle`].

use std::fmt;
use std::sync::Arc;

use tracing_core::dispatcher::Dispatch;

use crate::annotate::Annotated;
use crate::directive::DirectiveSet;
use crate::error::ParseError;
use crate::sampler::Sampler;
use crate::stats::SamplingStats;

/// Controls a [`SamplingFilter`](crate::SamplingFilter) after it was installed.
/// Cheap to clone; `Send + Sync`. Changes take effect from the next event,
/// without `reload::Layer` and without rebuilding the subscriber.
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
    /// Replaces the directives. On error nothing changes. Per-target figures
    /// continue where they were for targets that remain.
    pub fn set_directives(&self, directives: &str) -> Result<(), ParseError> {
        self.sampler.capture_dispatch();
        let (set, _) = DirectiveSet::parse(directives, false)?;
        self.sampler.install(set)
    }

    /// `false` suspends sampling (every event is kept); `true` resumes it.
    pub fn set_enabled(&self, enabled: bool) {
        self.sampler.capture_dispatch();
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

    /// Identifies the sampler (as `Sampler::id` does).
    pub(crate) fn id(&self) -> usize {
        self.sampler.id()
    }

    /// The current directives, as given (comma-joined).
    pub fn directives(&self) -> String {
        self.sampler.directives()
    }

    /// A snapshot of the sampler's figures. Also lets an open breaker close if
    /// its hold period has passed with no events to notice it.
    pub fn stats(&self) -> SamplingStats {
        self.sampler.capture_dispatch();
        self.sampler.stats()
    }
}

impl<F> Annotated<F> {
    /// Writes the rate of this sampler only (the one that filters the layer
    /// this formatter belongs to), whatever other samplers decided.
    pub fn for_sampler(self, sampler: &SamplingHandle) -> Self {
        self.bind(sampler.id(), sampler.sampler.clone())
    }
}
