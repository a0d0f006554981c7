//! An event's key: its key field found and hashed ([`FieldHashes`], which
//! also hashes the consistent mode's field), and the bounded per-key state
//! of events that carry one.
//!
//! Keys are `u64` hashes of (target, key value), so the store never holds a
//! key string. Entries live in a sharded `DashMap`; each is seven words
//! (56 bytes, 64 with its map key): the rule cache, the counts word, the
//! budget estimate, the "last touched" tick, and the callsite and key hash it was made for (so a
//! directive change can re-resolve it at once, see `sampler::install`). A hit costs the
//! shard's read lock (one atomic add and one sub), the decision's atomics and,
//! at most once per new key inserted anywhere, a store of the tick.
//!
//! At most `max_keys` entries are live. A new key first reserves a place in
//! the live count; when the store is full, the inserting thread evicts the
//! least recently touched eighth of the entries (approximate LRU: recency is
//! the insert tick at the last access) and counts them. Eviction allocates
//! nothing: three passes of `DashMap::retain` (which, unlike `iter`, takes no
//! per-shard `Arc`) find the oldest tick, build a 64-bin histogram of ticks on
//! the stack, and remove the bins below the cut (and part of the cut's bin).
//! Counts an evicted entry held are moved to its stats bucket by the caller,
//! so evictions never lose figures.
//!
//! # Hash flooding
//!
//! Dynamic keys come from user data (client ids). The map does not use the
//! key's xxh3 bits as they are: it is indexed by a keyed, invertible mix of
//! them with a per-process random seed (see [`KeySeed::mix`]), so keys an attacker made collide in their unseeded low bits (the
//! table's bucket) or in DashMap's shard bits land in unrelated places. The
//! consistent mode's decision hash is not this one: it stays unseeded, so
//! processes agree.
//!
//! # Memory bound
//!
//! An entry and its map key take 64 bytes, plus hashbrown's control byte:
//! 65 bytes per slot. Under churn (keys evicted and inserted all the time)
//! hashbrown only rehashes in place while at most half of its usable slots
//! (7/8 of the table) are live, else it doubles; tables are powers of two. So
//! a shard holds at most `2 * 2 * 8/7 = 4.57` slots per live entry: 297
//! bytes. [`BYTES_PER_KEY`] (300) is that bound with rounding; the steady
//! state measured by `tests/memory/keys.rs` (1 M distinct keys, `max_keys(10_000)`)
//! is about 3.3 slots per key (213 bytes).

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::sync::{Mutex, OnceLock};

use dashmap::DashMap;
use tracing_core::field::{Field, Visit};
use tracing_core::Metadata;
use xxhash_rust::xxh3::{xxh3_64, Xxh3Default};

use crate::decide::budget_cell::BudgetCell;
use crate::decide::entry::{Counts, RuleCache};
use crate::sync::{AtomicU64, AtomicUsize, Ordering};

#[cfg(all(test, not(sampling_layer_loom)))]
mod tests;

// The bound above counts on this size; a change must revisit it.
const _: () = assert!(std::mem::size_of::<KeyEntry>() == 56);
const _: () = assert!(std::mem::size_of::<(u64, KeyEntry)>() == 64);

/// Histogram bins for choosing what to evict (on the evicting thread's stack).
const BINS: usize = 64;

/// State for one (target, key).
#[derive(Debug)]
pub(crate) struct KeyEntry {
    pub(crate) rule: RuleCache,
    pub(crate) counts: Counts,
    /// For budgets: the key's estimate (see `budget`).
    pub(crate) budget: BudgetCell,
    touched: AtomicU64,
    /// The callsite the entry was made from (its target) and the key's own
    /// hash: what its rule is resolved from.
    pub(crate) meta: &'static Metadata<'static>,
    pub(crate) key_hash: u64,
}

/// This process's key seed: the key store (and the `log` call-site table)
/// is indexed by [`mix`](Self::mix) of a key, never by the key's own bits.
#[derive(Clone, Copy, Debug)]
pub(crate) struct KeySeed {
    seeds: [u64; 2],
}

impl KeySeed {
    /// The process's seeds: drawn once from std's `RandomState` (OS randomness).
    pub(crate) fn process() -> Self {
        static SEEDS: OnceLock<[u64; 2]> = OnceLock::new();
        let seeds = *SEEDS.get_or_init(|| {
            let s = RandomState::new();
            [s.hash_one(0x5eed_u64), s.hash_one(0xf10d_u64)]
        });
        KeySeed { seeds }
    }

    #[cfg(all(test, not(sampling_layer_loom)))]
    fn with_seeds(seeds: [u64; 2]) -> Self {
        KeySeed { seeds }
    }

    /// A keyed, invertible mix of `key` (so distinct keys stay distinct): XOR
    /// the first seed, multiply by the second (made odd), then two rounds of
    /// fold-the-high-half-down and multiply. An XOR of a seed alone would keep
    /// every collision in the low bits; here every output bit depends on every
    /// input bit and on the secret factor. (One round fewer left DashMap's
    /// shard bits visibly uneven for some seeds on structured keys: 204–801
    /// of 4 096 keys per shard of 8 over 20 000 seeds, against 419–608 now.) Computed before the map lookup, so the
    /// map's own hashing stays a pass-through that inlines into the hot path
    /// (a seeded `Hasher` inside `DashMap` measured ~30 instructions more per
    /// keyed event: `DashMap::get` was no longer inlined).
    #[inline]
    pub(crate) fn mix(self, key: u64) -> u64 {
        let [a, b] = self.seeds;
        let mut h = (key ^ a).wrapping_mul(b | 1);
        h ^= h >> 32;
        h = h.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        h ^= h >> 29;
        h = h.wrapping_mul(0xBF58_476D_1CE4_E5B9);
        h ^ (h >> 32)
    }
}

/// The map's keys are already seeded mixes: use them as they are.
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
    seed: KeySeed,
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
            seed: KeySeed::process(),
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

    /// Runs `f` on the entry for `key` (under its shard's read lock: `f` must
    /// not block), creating it for `(meta, key_hash)` when absent. When the
    /// store is full, `on_full` is called (one thread at a time, holding no
    /// shard lock) to make room, normally through
    /// [`evict_batch`](Self::evict_batch).
    #[inline]
    pub(crate) fn with_entry<R>(
        &self,
        key: u64,
        origin: (&'static Metadata<'static>, u64),
        on_full: impl FnMut(),
        f: impl FnOnce(&KeyEntry) -> R,
    ) -> R {
        let key = self.seed.mix(key);
        if let Some(e) = self.map.get(&key) {
            let now = self.tick.load(Ordering::Relaxed);
            if e.touched.load(Ordering::Relaxed) != now {
                e.touched.store(now, Ordering::Relaxed);
            }
            return f(&e);
        }
        self.insert(key, origin, on_full, f)
    }

    /// Runs `f` on the entry for `key` if it is live (under its shard's read lock).
    pub(crate) fn get<R>(&self, key: u64, f: impl FnOnce(&KeyEntry) -> R) -> Option<R> {
        self.map.get(&self.seed.mix(key)).map(|e| f(&e))
    }

    /// `key` is already mixed.
    #[cold]
    fn insert<R>(
        &self,
        key: u64,
        (meta, key_hash): (&'static Metadata<'static>, u64),
        mut on_full: impl FnMut(),
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
                on_full();
            }
        }
        let tick = self.tick.fetch_add(1, Ordering::Relaxed) + 1;
        let mut created = false;
        let entry = self.map.entry(key).or_insert_with(|| {
            created = true;
            KeyEntry {
                rule: RuleCache::new(),
                counts: Counts::new(),
                budget: BudgetCell::new(),
                touched: AtomicU64::new(tick),
                meta,
                key_hash,
            }
        });
        if !created {
            // Another thread inserted the same key meanwhile: give the place back.
            self.live.fetch_sub(1, Ordering::Relaxed);
        }
        let entry = entry.downgrade();
        f(&entry)
    }

    /// Evicts the least recently touched eighth (at least one entry), handing
    /// each to `on_evict` while no other thread can reach it (its shard's
    /// write lock is held: `on_evict` must not block). Allocates nothing.
    pub(crate) fn evict_batch(&self, mut on_evict: impl FnMut(&KeyEntry)) {
        let want = (self.max / 8).max(1);
        let mut oldest = u64::MAX;
        self.map.retain(|_, e| {
            oldest = oldest.min(e.touched.load(Ordering::Relaxed));
            true
        });
        if oldest == u64::MAX {
            return;
        }
        let newest = self.tick.load(Ordering::Relaxed).max(oldest);
        let width = ((newest - oldest) / BINS as u64) + 1;
        let bin = |e: &KeyEntry| {
            let age = e.touched.load(Ordering::Relaxed).saturating_sub(oldest) / width;
            (age as usize).min(BINS - 1)
        };
        let mut hist = [0usize; BINS];
        self.map.retain(|_, e| {
            hist[bin(e)] += 1;
            true
        });
        // Every bin below `cut` goes, and `from_cut` entries of the cut's bin.
        let (mut cut, mut below) = (BINS, 0);
        for (i, n) in hist.iter().enumerate() {
            if below + n >= want {
                cut = i;
                break;
            }
            below += n;
        }
        let mut from_cut = want.saturating_sub(below);
        let mut n = 0;
        self.map.retain(|_, e| {
            let b = bin(e);
            let evict = b < cut || (b == cut && from_cut > 0);
            if evict {
                if b == cut {
                    from_cut -= 1;
                }
                on_evict(e);
                n += 1;
            }
            !evict
        });
        self.live.fetch_sub(n, Ordering::Relaxed);
        self.evicted.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Visits every live entry without allocating (DashMap's `retain` takes no
    /// per-shard `Arc`, unlike `iter`): the budget adjustment runs on a
    /// logging thread. Holds each shard's write lock while visiting it.
    pub(crate) fn visit(&self, mut f: impl FnMut(&KeyEntry)) {
        self.map.retain(|_, e| {
            f(e);
            true
        });
    }

    /// Visits every live entry (stats, installs; allocates: not for the
    /// logging thread).
    pub(crate) fn for_each(&self, mut f: impl FnMut(&KeyEntry)) {
        for e in self.map.iter() {
            f(e.value());
        }
    }
}

/// Finds the key field and the consistent field among an event's (or span's)
/// fields and hashes their text with xxh3, without allocating.
pub(crate) struct FieldHashes<'a> {
    pub(crate) key: Option<&'a Field>,
    pub(crate) value: Option<&'a Field>,
    pub(crate) key_hash: Option<u64>,
    pub(crate) value_hash: Option<u64>,
}

impl FieldHashes<'_> {
    fn put(&mut self, field: &Field, hash: impl Fn() -> u64) {
        if self.key == Some(field) {
            self.key_hash = Some(hash());
        }
        if self.value == Some(field) {
            self.value_hash = Some(hash());
        }
    }
}

impl Visit for FieldHashes<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, || xxh3_64(value.as_bytes()));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if self.key == Some(field) || self.value == Some(field) {
            let h = hash_debug(value);
            self.put(field, || h);
        }
    }
}

/// xxh3 of `value`'s `Debug` text, formatted into a stack buffer (streaming
/// into the hasher only for text longer than the buffer). Numbers hash as
/// their decimal text, `%x` values as their `Display` text.
pub(crate) fn hash_debug(value: &dyn fmt::Debug) -> u64 {
    struct StackHash {
        buf: [u8; 128],
        len: usize,
        spill: Option<Box<Xxh3Default>>,
    }
    impl fmt::Write for StackHash {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            let bytes = s.as_bytes();
            if self.spill.is_none() && self.len + bytes.len() <= self.buf.len() {
                self.buf[self.len..self.len + bytes.len()].copy_from_slice(bytes);
                self.len += bytes.len();
                return Ok(());
            }
            let h = self.spill.get_or_insert_with(|| {
                let mut h = Box::new(Xxh3Default::new());
                h.update(&self.buf[..self.len]);
                h
            });
            h.update(bytes);
            Ok(())
        }
    }
    let mut w = StackHash {
        buf: [0; 128],
        len: 0,
        spill: None,
    };
    let _ = fmt::write(&mut w, format_args!("{value:?}"));
    match w.spill {
        Some(h) => h.digest(),
        None => xxh3_64(&w.buf[..w.len]),
    }
}
