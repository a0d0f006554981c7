//! What `enabled` reads, without a lock: each registered callsite's decision,
//! and for metadata that is not one, a per-thread copy of the table.
//!
//! Decisions are made per callsite when it registers, and every change of the
//! table re-registers every callsite (`rebuild_interest_cache`), so the
//! decision for a callsite's metadata is one flag, found by its address in an
//! insert-only open-addressing table: a multiply, a shift, and two atomic
//! loads (the same scheme as the sampler's callsite table). Writers are rare
//! (registration) and take a mutex, which also orders a registration's read
//! of the table with its store of the flag, so a registration that read an
//! older table cannot overwrite the flag a later re-registration stored.
//!
//! Metadata that is not a registered callsite (a `log` record seen through
//! `LogTracer`, which builds metadata per record; or a callsite beyond the
//! table's [`SLOTS`]` / 2`) is matched against the table itself. Each thread
//! keeps its own `Arc` of the table with the generation it was published as,
//! so reading it costs one atomic load and a thread-local borrow; only the
//! first such event on a thread after a change takes the publishing mutex,
//! to clone the new `Arc`. An old table lives until every thread that holds
//! it has seen a newer generation (or exited).

use std::cell::RefCell;
use std::sync::{Arc, Mutex, MutexGuard};

use tracing_core::Metadata;

use super::table::Table;
use crate::sync::{AtomicU64, AtomicU8, AtomicUsize, Ordering};

/// Slots of the callsite table (9 bytes each); at most half are used.
pub(crate) const SLOTS: usize = 4096;

const EMPTY: usize = 0;

/// The published table and its generation.
#[derive(Debug)]
pub(crate) struct Published {
    id: usize,
    table: Mutex<Arc<Table>>,
    generation: AtomicU64,
}

impl Published {
    pub(crate) fn new(table: Table) -> Self {
        static NEXT_ID: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(1);
        Published {
            id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            table: Mutex::new(Arc::new(table)),
            generation: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Arc<Table>> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The current table (a clone of the `Arc`, under the mutex: not for events).
    pub(crate) fn load(&self) -> Arc<Table> {
        self.lock().clone()
    }

    pub(crate) fn store(&self, table: Table) {
        let mut cur = self.lock();
        *cur = Arc::new(table);
        self.generation.fetch_add(1, Ordering::Release);
    }

    /// Runs `f` on the current table through this thread's copy.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&Table) -> R) -> R {
        let generation = self.generation.load(Ordering::Acquire);
        let mut f = Some(f);
        let done = SNAPSHOTS.try_with(|cell| {
            let Ok(mut snaps) = cell.try_borrow_mut() else {
                return None;
            };
            let pos = snaps.iter().position(|s| s.0 == self.id);
            let fresh = pos.filter(|&i| snaps[i].1 == generation);
            let i = match fresh {
                Some(i) => i,
                None => {
                    let table = self.lock();
                    let snap = (
                        self.id,
                        self.generation.load(Ordering::Acquire),
                        table.clone(),
                    );
                    drop(table);
                    match pos {
                        Some(i) => {
                            snaps[i] = snap;
                            i
                        }
                        None => {
                            // A thread keeps copies of a few filters only.
                            if snaps.len() == MAX_SNAPSHOTS {
                                snaps.remove(0);
                            }
                            snaps.push(snap);
                            snaps.len() - 1
                        }
                    }
                }
            };
            Some((f.take().expect("called once"))(&snaps[i].2))
        });
        match done {
            Ok(Some(r)) => r,
            // Re-entered from `f`, or the thread is exiting: read under the mutex.
            _ => (f.take().expect("not called"))(&self.load()),
        }
    }
}

const MAX_SNAPSHOTS: usize = 8;

type Snapshot = (usize, u64, Arc<Table>);

thread_local! {
    static SNAPSHOTS: RefCell<Vec<Snapshot>> = const { RefCell::new(Vec::new()) };
}

/// Each registered callsite's decision, by metadata address.
#[derive(Debug)]
pub(crate) struct Sites {
    keys: Box<[AtomicUsize]>,
    on: Box<[AtomicU8]>,
    /// Serialises registrations; the number of slots used.
    used: Mutex<usize>,
}

#[inline]
fn slot_of(addr: usize) -> usize {
    // Fibonacci hashing: metadata are `static`s a few dozen bytes apart.
    ((addr as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - SLOTS.trailing_zeros())) as usize
}

impl Sites {
    pub(crate) fn new() -> Self {
        Sites {
            keys: (0..SLOTS).map(|_| AtomicUsize::new(EMPTY)).collect(),
            on: (0..SLOTS).map(|_| AtomicU8::new(0)).collect(),
            used: Mutex::new(0),
        }
    }

    /// The decision for the callsite whose metadata is at `addr`, if it is
    /// registered here. Hot path: no lock, no allocation.
    #[inline]
    pub(crate) fn get(&self, addr: usize) -> Option<bool> {
        let mut i = slot_of(addr);
        loop {
            let k = self.keys[i].load(Ordering::Acquire);
            if k == addr {
                return Some(self.on[i].load(Ordering::Acquire) == 1);
            }
            if k == EMPTY {
                return None;
            }
            i = (i + 1) & (SLOTS - 1);
        }
    }

    /// Decides `meta` on the current table and records it; returns the decision.
    pub(crate) fn register(&self, meta: &'static Metadata<'static>, table: &Published) -> bool {
        let addr = meta as *const Metadata<'static> as usize;
        let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        let on = table.load().enabled(meta);
        let mut i = slot_of(addr);
        loop {
            let k = self.keys[i].load(Ordering::Relaxed);
            if k == addr {
                self.on[i].store(u8::from(on), Ordering::Release);
                return on;
            }
            if k == EMPTY {
                break;
            }
            i = (i + 1) & (SLOTS - 1);
        }
        // Kept at most half full so that probes stay short and always end.
        if *used < SLOTS / 2 {
            *used += 1;
            self.on[i].store(u8::from(on), Ordering::Relaxed);
            self.keys[i].store(addr, Ordering::Release);
        }
        on
    }
}
