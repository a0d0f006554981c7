//! The sampler's one clock (breaker, pressure, budgets, repeat windows,
//! expiring changes, recent figures), injectable so tests need no sleeps.

use std::fmt::Debug;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A monotonic clock: time elapsed since some fixed origin.
pub trait Clock: Send + Sync + Debug {
    /// Time since this clock's origin. Must never go backwards.
    fn now(&self) -> Duration;

    /// Wall-clock time (since the Unix epoch), if this clock knows it: what
    /// processes share, so that consistent-mode budgets change their rates
    /// on the same boundaries everywhere. `None` (the default) aligns
    /// nothing.
    fn wall(&self) -> Option<Duration> {
        None
    }
}

/// The real clock (`Instant`, origin = creation).
#[derive(Debug, Clone, Copy)]
pub struct SystemClock {
    origin: Instant,
}

impl Default for SystemClock {
    fn default() -> Self {
        SystemClock {
            origin: Instant::now(),
        }
    }
}

impl Clock for SystemClock {
    fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    fn wall(&self) -> Option<Duration> {
        SystemTime::now().duration_since(UNIX_EPOCH).ok()
    }
}

/// A clock that moves only when told to. Clones share the same time.
#[derive(Debug, Clone, Default)]
pub struct ManualClock {
    nanos: Arc<AtomicU64>,
}

impl ManualClock {
    /// A clock at time zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        self.nanos.fetch_add(by.as_nanos() as u64, Ordering::SeqCst);
    }
}

/// Its time is also its wall-clock time: samplers that share one manual
/// clock are aligned, as processes on the same wall clock are.
impl Clock for ManualClock {
    fn now(&self) -> Duration {
        Duration::from_nanos(self.nanos.load(Ordering::SeqCst))
    }

    fn wall(&self) -> Option<Duration> {
        Some(self.now())
    }
}
