//! Bounded per-key state for events that carry a key field.
//!
//! Keys are `u64` hashes of (target, key value), so the store never holds a
//! key string. Entries live in a sharded `DashMap`; each is six atomics
//! (48 bytes, 56 with its map key). A hit costs the shard's read lock (one
//! atomic add and one sub), the decision's atomics and, at most once per new
//! key inserted anywhere, a store of the "last touched" tick.
//!
//! At most `max_keys` entries are live. A new key first reserves a place in
//! the live count; when the store is full, the inserting thread evicts the
//! least recently touched eighth of the entries (approximate LRU: recency is
//! the insert tick at the last access, compared in one pass and selected in
//! linear time) and counts them. Counts an evicted entry held are moved to its
//! stats bucket, so evictions never lose figures.
//!
//! Memory bound: an entry and its map key take 40 bytes, plus hashbrown's
//! control byte: 41 bytes per slot. Under churn (keys evicted and inserted
//! all the time) hashbrown only rehashes in place while at most half of its
//! usable slots (7/8 of the table) are live, else it doubles; tables are
//! powers of two. So a shard holds at most `2 * 2 * 8/7 = 4.57` slots per live
//! entry: 187 bytes. [`BYTES_PER_KEY`] (192) is that bound with rounding; the
//! steady state measured by `tests/memory.rs` (1 M distinct keys,
//! `max_keys(10_000)`) is about 134 bytes per key (3.3 slots).

use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Mutex;

use dashmap::DashMap;

use crate::counts::Counts;
use crate::rule::RuleCache;
use crate::sync::{AtomicU64, AtomicUsize, Ordering};

/// Documented bound on the heap bytes the key store may use per unit of
/// `max_keys` (see the module docs for the derivation).
pub const BYTES_PER_KEY: usize = 192;

// The bound above counts on this size; a change must revisit it.
const _: () = assert!(std::mem::size_of::<(u64, KeyEntry)>() == 40);

/// State for one (target, key).
#[derive(Debug)]
pub(crate) struct KeyEntry {
    pub(crate) rule: RuleCache,
    pub(crate) counts: Counts,
    touched: AtomicU64,
}

/// The keys are already xxh3 hashes: use them as they are.
#[derive(Default, Clone, Copy, Debug)]
pub(crate) struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used; fold anything else in case that changes.
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type Map = DashMap<u64, KeyEntry, BuildHasherDefault<PassThrough>>;

/// The bounded key store.
#[derive(Debug)]
pub(crate) struct KeyStore {
    map: Map,
    max: usize,
    live: AtomicUsize,
    evicted: AtomicU64,
    /// Advances on every insert; entries remember it at their last access.
    tick: AtomicU64,
    evicting: Mutex<()>,
}

impl KeyStore {
    pub(crate) fn new(max: usize) -> Self {
        KeyStore {
            map: Map::default(),
            max,
            live: AtomicUsize::new(0),
            evicted: AtomicU64::new(0),
            tick: AtomicU64::new(0),
            evicting: Mutex::new(()),
        }
    }

    pub(crate) fn live(&self) -> usize {
        self.live.load(Ordering::Relaxed).min(self.max)
    }

    pub(crate) fn evicted(&self) -> u64 {
        self.evicted.load(Ordering::Relaxed)
    }

    pub(crate) fn max(&self) -> usize {
        self.max
    }

    /// Runs `f` on the entry for `key`, creating it (and evicting if full)
    /// when absent. `on_evict` receives each evicted entry so its counts can
    /// be kept.
    #[inline]
    pub(crate) fn with_entry<R>(
        &self,
        key: u64,
        on_evict: impl FnMut(&KeyEntry),
        f: impl FnOnce(&KeyEntry) -> R,
    ) -> R {
        if let Some(e) = self.map.get(&key) {
            let now = self.tick.load(Ordering::Relaxed);
            if e.touched.load(Ordering::Relaxed) != now {
                e.touched.store(now, Ordering::Relaxed);
            }
            return f(&e);
        }
        self.insert(key, on_evict, f)
    }

    #[cold]
    fn insert<R>(
        &self,
        key: u64,
        mut on_evict: impl FnMut(&KeyEntry),
        f: impl FnOnce(&KeyEntry) -> R,
    ) -> R {
        // Reserve a place first so the bound holds under concurrent inserts.
        loop {
            let n = self.live.load(Ordering::Relaxed);
            if n < self.max {
                if self
                    .live
                    .compare_exchange_weak(n, n + 1, Ordering::Relaxed, Ordering::Relaxed)
                    .is_ok()
                {
                    break;
                }
                continue;
            }
            let _one_evictor = self.evicting.lock().unwrap_or_else(|e| e.into_inner());
            if self.live.load(Ordering::Relaxed) >= self.max {
                self.evict_batch(&mut on_evict);
            }
        }
        let tick = self.tick.fetch_add(1, Ordering::Relaxed) + 1;
        let mut created = false;
        let entry = self.map.entry(key).or_insert_with(|| {
            created = true;
            KeyEntry {
                rule: RuleCache::new(),
                counts: Counts::new(),
                touched: AtomicU64::new(tick),
            }
        });
        if !created {
            // Another thread inserted the same key meanwhile: give the place back.
            self.live.fetch_sub(1, Ordering::Relaxed);
        }
        let entry = entry.downgrade();
        f(&entry)
    }

    /// Evicts the least recently touched eighth (at least one entry).
    fn evict_batch(&self, on_evict: &mut impl FnMut(&KeyEntry)) {
        let want = (self.max / 8).max(1);
        let mut ages: Vec<(u64, u64)> = self
            .map
            .iter()
            .map(|e| (e.touched.load(Ordering::Relaxed), *e.key()))
            .collect();
        if ages.len() > want {
            ages.select_nth_unstable(want - 1);
            ages.truncate(want);
        }
        let mut n = 0;
        for (_, key) in ages {
            if let Some((_, e)) = self.map.remove(&key) {
                on_evict(&e);
                n += 1;
            }
        }
        self.live.fetch_sub(n, Ordering::Relaxed);
        self.evicted.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Visits every live entry (stats).
    pub(crate) fn for_each(&self, mut f: impl FnMut(&KeyEntry)) {
        for e in self.map.iter() {
            f(e.value());
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn bound_holds_and_evictions_are_counted() {
        let s = KeyStore::new(100);
        let mut evicted_seen = 0u64;
        for k in 0..10_000u64 {
            s.with_entry(
                k,
                |_| evicted_seen += 1,
                |e| {
                    e.counts.count(None, true);
                },
            );
            assert!(s.live() <= 100);
            assert!(s.map.len() <= 100);
        }
        assert_eq!(s.evicted(), evicted_seen);
        assert_eq!(s.evicted() + s.map.len() as u64, 10_000);
    }

    #[test]
    fn recently_touched_keys_survive_eviction() {
        let s = KeyStore::new(80);
        for k in 0..80u64 {
            s.with_entry(k, |_| {}, |_| {});
        }
        // Touch the first ten again after newer inserts so they are the freshest.
        for k in 80..85u64 {
            for hot in 0..10u64 {
                s.with_entry(hot, |_| {}, |_| {});
            }
            s.with_entry(k, |_| {}, |_| {});
        }
        for hot in 0..10u64 {
            assert!(s.map.contains_key(&hot), "hot key {hot} was evicted");
        }
        assert!(s.evicted() >= 5);
    }
}
