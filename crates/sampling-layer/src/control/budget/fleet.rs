//! The fleet a `/fleet` budget is shared out over: its size, read from the
//! user's provider at each budget pass.
//!
//! Each process keeps `budget / size` lines per second of a fleet budget, so
//! the fleet keeps the budget whatever its size, as long as its members see
//! about equal traffic (a member below its share keeps all it has and the
//! rest of its share is not spent elsewhere: no member knows another's
//! traffic). The size is read once per pass (once per budget interval, or
//! earlier when a budget runs ahead of its pace), never on the event path.

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use crate::sync::{AtomicU64, Ordering};

/// The most members a fleet may have: above it a size is refused as a
/// mistake (a count of requests handed over as a count of processes).
pub(crate) const MAX_FLEET: u64 = 1 << 20;

/// Whether `size` can be a fleet's: 1 ..= [`MAX_FLEET`].
pub(crate) fn valid(size: u64) -> bool {
    (1..=MAX_FLEET).contains(&size)
}

/// The user's size provider, as the builder holds it.
#[derive(Clone)]
pub(crate) struct Provider(pub(crate) Arc<dyn Fn() -> u64 + Send + Sync>);

impl fmt::Debug for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Provider(..)")
    }
}

/// The user's provider and the last size it gave that was valid.
pub(crate) struct Fleet {
    provider: Provider,
    /// The last valid size read (the build checked the first).
    size: AtomicU64,
    /// Reads refused (0, above `MAX_FLEET`, or a panic): the size held.
    refused: AtomicU64,
}

impl fmt::Debug for Fleet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fleet")
            .field("size", &self.size())
            .field("refused", &self.refused())
            .finish_non_exhaustive()
    }
}

impl Fleet {
    /// With the provider and its first size, which the builder checked.
    pub(crate) fn new(provider: Provider, size: u64) -> Self {
        Fleet {
            provider,
            size: AtomicU64::new(size),
            refused: AtomicU64::new(0),
        }
    }

    /// Reads the provider: a valid size becomes the size; anything else (a
    /// panic too) is counted and the last valid size held. Returns the size.
    pub(crate) fn refresh(&self) -> u64 {
        match catch_unwind(AssertUnwindSafe(|| (self.provider.0)())) {
            Ok(size) if valid(size) => self.size.store(size, Ordering::Relaxed),
            _ => {
                self.refused.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.size()
    }

    pub(crate) fn size(&self) -> u64 {
        self.size.load(Ordering::Relaxed)
    }

    pub(crate) fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }
}
