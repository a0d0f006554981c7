//! The sink's one source of time: the wall clock (names, periods, file ages) and a
//! monotonic clock (how long ago this process closed a file, which a clock jump cannot
//! change).

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

/// Where the rolling sink reads the time. [`SystemClock`] by default; [`ManualClock`] for
/// tests that cross period boundaries or jump the wall clock without waiting.
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// The wall-clock time: decides the period (and so the file name) of a write, and the
    /// age of files for [`max_age`](super::RollingFileBuilder::max_age).
    fn now(&self) -> SystemTime;
    /// Time elapsed on a monotonic clock since some fixed point of this process.
    fn monotonic(&self) -> Duration;
}

/// The system's clocks: [`SystemTime::now`] and an [`Instant`] taken at construction.
#[derive(Debug, Clone, Copy)]
pub struct SystemClock {
    start: Instant,
}

impl Default for SystemClock {
    fn default() -> Self {
        SystemClock {
            start: Instant::now(),
        }
    }
}

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
    fn monotonic(&self) -> Duration {
        self.start.elapsed()
    }
}

/// A clock that moves only when told to; clones share one time.
///
/// [`advance`](Self::advance) moves both clocks (time passing), [`set_wall`](Self::set_wall)
/// only the wall clock (a clock jump, as an NTP step or an operator does it).
#[derive(Debug, Clone)]
pub struct ManualClock {
    inner: Arc<Mutex<(SystemTime, Duration)>>,
}

impl ManualClock {
    /// A clock whose wall time is `wall` and whose monotonic time is zero.
    pub fn new(wall: SystemTime) -> Self {
        ManualClock {
            inner: Arc::new(Mutex::new((wall, Duration::ZERO))),
        }
    }

    /// Lets `d` pass on both clocks.
    pub fn advance(&self, d: Duration) {
        let mut t = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        t.0 += d;
        t.1 += d;
    }

    /// Sets the wall clock alone; the monotonic clock does not move.
    pub fn set_wall(&self, wall: SystemTime) {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner).0 = wall;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner).0
    }
    fn monotonic(&self) -> Duration {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner).1
    }
}
