//! Per-callsite state, found from an event's `&'static Metadata` without a lock.
//!
//! Callsites are few, `'static` and registered once, so the table is
//! insert-only open addressing keyed by the metadata's address: a lookup is a
//! multiply, a shift and one or two atomic loads. The table holds
//! [`FAST_SLOTS`] slots and is kept at most half full; callsites beyond that
//! (a program with more than `FAST_SLOTS / 2` sampled callsites) go to an
//! overflow `DashMap`, which costs a shard read lock per event.
//!
//! Registration is rare (once per callsite), so writers take a mutex: one
//! writer at a time re-checks the table, stores the state pointer into an
//! empty slot and then publishes the key with a release store. Readers never
//! lock: a reader that sees the key (acquire) sees the pointer.

use dashmap::DashMap;
use tracing_core::{field::Field, Metadata};

use crate::decide::budget_cell::BudgetCell;
use crate::decide::entry::{Counts, RuleCache};
use crate::decide::mode::splitmix64;
use crate::sync::OwnLine;
use crate::sync::{AtomicPtr, AtomicUsize, Mutex, Ordering};

/// Slots in the lock-free part of the table (16 bytes each).
pub(crate) const FAST_SLOTS: usize = 2048;

/// What the sampler remembers about one callsite. Aligned to a cache line so
/// two hot callsites never share one.
#[derive(Debug)]
#[repr(align(64))]
pub(crate) struct CallsiteState {
    /// The rule for events here that have no key of their own.
    pub(crate) rule: RuleCache,
    /// The callsite key's position and figures (see [`Counts`]), on a cache
    /// line of its own: every event of the callsite writes it, from whichever
    /// thread logs, and beside the rule and flags each event reads first that
    /// write made those reads miss the cache on every core but the last one to
    /// count (in a service on two cores, about 45% of the decision's samples).
    pub(crate) counts: OwnLine<Counts>,
    /// For budgets: the callsite key's estimate (see `budget`).
    pub(crate) budget: BudgetCell,
    /// The `sample_key` field, if this callsite has one.
    pub(crate) key_field: Option<Field>,
    /// The consistent-mode field, if this callsite has one.
    pub(crate) consistent_field: Option<Field>,
    /// The target's xxh3, mixed (`splitmix64`): folded into a key's hash,
    /// since per-key counters are per (target, key). Mixed once here rather
    /// than on every keyed event.
    pub(crate) key_salt: u64,
    /// Whether events here are sampled at all (below `keep_level`, not our own notices).
    pub(crate) sampled: bool,
    /// Sampled, and decidable from the metadata alone (no key field, not
    /// consistent mode, not a `log` record): decided in `enabled`.
    pub(crate) early: bool,
    /// One of `tracing-log`'s shared per-level callsites (see `log_bridge`).
    pub(crate) log_bridge: bool,
    pub(crate) meta: &'static Metadata<'static>,
    /// The repeat directive that applies here, cached (see `repeat::gate`).
    pub(crate) repeat: RepeatCell,
}

impl CallsiteState {
    pub(crate) fn new(
        meta: &'static Metadata<'static>,
        sampled: bool,
        key_field: &str,
        consistent_field: Option<&str>,
    ) -> Self {
        let fields = meta.fields();
        let key_field = fields.field(key_field);
        // A probe (`event_enabled!`) asks whether an event may be enabled; it
        // is not one, so it is never counted and never takes a kept position.
        let sampled = sampled && !is_probe(meta);
        let log_bridge = crate::decide::log_sites::is_log_callsite(meta);
        CallsiteState {
            early: sampled && !log_bridge && key_field.is_none() && consistent_field.is_none(),
            log_bridge,
            rule: RuleCache::new(),
            counts: OwnLine(Counts::new()),
            budget: BudgetCell::new(),
            key_field,
            consistent_field: consistent_field.and_then(|f| fields.field(f)),
            key_salt: splitmix64(xxhash_rust::xxh3::xxh3_64(meta.target().as_bytes())),
            sampled,
            meta,
            repeat: RepeatCell::new(),
        }
    }
}

/// Whether `meta` is a probe's hint metadata (`Kind::EVENT.hint()`, made by
/// `tracing::event_enabled!` and `enabled!`). `Metadata` has no accessor for
/// its kind, but its `Debug` form ends with it (`kind: Kind(EVENT | HINT)` in
/// tracing-core 0.1.36; pinned by a test). Read once per callsite, at
/// registration, so the allocation is not on any event's path.
pub(crate) fn is_probe(meta: &Metadata<'_>) -> bool {
    let text = format!("{meta:?}");
    text.rfind("kind: Kind(")
        .is_some_and(|at| text[at..].contains("HINT"))
}

#[derive(Debug)]
struct Slot {
    key: AtomicUsize,
    state: AtomicPtr<CallsiteState>,
}

/// The callsite table. Owns every state it holds until dropped. The slots are
/// inline (not behind a pointer) and `N` is a power of two, so a probe is one
/// dependent load fewer and needs no bounds check.
#[derive(Debug)]
pub(crate) struct CallsiteTable<const N: usize = FAST_SLOTS> {
    slots: [Slot; N],
    used: AtomicUsize,
    overflow: DashMap<usize, Box<CallsiteState>>,
    registering: Mutex<()>,
}

impl<const N: usize> CallsiteTable<N> {
    const MASK: usize = {
        assert!(N.is_power_of_two());
        N - 1
    };

    pub(crate) fn new() -> Self {
        CallsiteTable {
            slots: std::array::from_fn(|_| Slot {
                key: AtomicUsize::new(0),
                state: AtomicPtr::new(std::ptr::null_mut()),
            }),
            used: AtomicUsize::new(0),
            overflow: DashMap::new(),
            registering: Mutex::new(()),
        }
    }

    #[inline]
    fn home(&self, key: usize) -> usize {
        let h = (key as u64 >> 3).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        (h >> 32) as usize & Self::MASK
    }

    /// The state for `meta`, if registered.
    #[inline]
    pub(crate) fn get(&self, meta: &'static Metadata<'static>) -> Option<&CallsiteState> {
        self.get_key(meta as *const _ as usize)
    }

    /// The state for the metadata at `addr` (from a non-`'static` borrow of a
    /// callsite's metadata, which lives at the same address).
    #[inline]
    pub(crate) fn get_addr(&self, addr: usize) -> Option<&CallsiteState> {
        self.get_key(addr)
    }

    #[inline]
    fn get_key(&self, key: usize) -> Option<&CallsiteState> {
        self.get_inline(key).or_else(|| self.get_overflow(key))
    }

    /// The state for the metadata at `addr` if it is in the inline table
    /// (`None`: not registered, or in the overflow). No call, no lock.
    #[inline]
    pub(crate) fn get_inline(&self, key: usize) -> Option<&CallsiteState> {
        let mask = Self::MASK;
        let mut i = self.home(key);
        // At most half the slots are used, so an empty slot ends every probe.
        for _ in 0..N {
            let slot = &self.slots[i];
            let k = slot.key.load(Ordering::Acquire);
            if k == key {
                let p = slot.state.load(Ordering::Acquire);
                // SAFETY: non-null pointers come from `Box::into_raw` in
                // `insert` and are freed only in `Drop`, which needs `&mut self`.
                return unsafe { p.as_ref() };
            }
            if k == 0 {
                break;
            }
            i = (i + 1) & mask;
        }
        None
    }

    /// Out of line: its lock guard and call would otherwise make every probe
    /// (the hot path) save registers and reserve stack it never uses.
    #[cold]
    #[inline(never)]
    fn get_overflow(&self, key: usize) -> Option<&CallsiteState> {
        self.overflow.get(&key).map(|s| {
            let p: *const CallsiteState = &**s;
            // SAFETY: overflow boxes are never removed before `Drop`, and a
            // box's contents do not move when the map rehashes.
            unsafe { &*p }
        })
    }

    /// Registers `meta` (once; later calls return the first state) and returns its state.
    pub(crate) fn get_or_insert(
        &self,
        meta: &'static Metadata<'static>,
        make: impl FnOnce() -> CallsiteState,
    ) -> &CallsiteState {
        let key = meta as *const _ as usize;
        if let Some(s) = self.get_key(key) {
            return s;
        }
        self.insert(key, Box::new(make()))
    }

    fn insert(&self, key: usize, state: Box<CallsiteState>) -> &CallsiteState {
        let _one_writer = self.registering.lock().unwrap_or_else(|e| e.into_inner());
        // Another thread may have registered it while we waited.
        if let Some(s) = self.get_key(key) {
            return s;
        }
        let mask = Self::MASK;
        if self.used.load(Ordering::Relaxed) < N / 2 {
            let mut i = self.home(key);
            while self.slots[i].key.load(Ordering::Relaxed) != 0 {
                i = (i + 1) & mask;
            }
            let slot = &self.slots[i];
            let p = Box::into_raw(state);
            slot.state.store(p, Ordering::Relaxed);
            // Publishes the pointer with the key.
            slot.key.store(key, Ordering::Release);
            self.used.fetch_add(1, Ordering::Relaxed);
            // SAFETY: just created from a live box; freed only in Drop.
            return unsafe { &*p };
        }
        let entry = self.overflow.entry(key).or_insert(state);
        let p: *const CallsiteState = &**entry;
        drop(entry);
        // SAFETY: overflow boxes are never removed before `Drop` (which needs
        // `&mut self`, so no `&self` borrow outlives them), and a box's
        // contents do not move when the map rehashes.
        unsafe { &*p }
    }

    /// Visits every registered state (stats, flushing).
    pub(crate) fn for_each(&self, mut f: impl FnMut(&CallsiteState)) {
        for slot in self.slots.iter() {
            let p = slot.state.load(Ordering::Acquire);
            // SAFETY: non-null pointers come from `Box::into_raw` in `insert`
            // and are freed only in `Drop`, which needs `&mut self`.
            if let Some(s) = unsafe { p.as_ref() } {
                f(s);
            }
        }
        for s in self.overflow.iter() {
            f(s.value());
        }
    }
}

impl<const N: usize> Drop for CallsiteTable<N> {
    fn drop(&mut self) {
        for slot in self.slots.iter() {
            let p = slot.state.load(Ordering::Acquire);
            if !p.is_null() {
                // SAFETY: created by `Box::into_raw` in `insert`, freed once here.
                drop(unsafe { Box::from_raw(p) });
            }
        }
    }
}

// SAFETY: the raw pointers are owned boxes of `CallsiteState`, which is Send + Sync.
unsafe impl<const N: usize> Send for CallsiteTable<N> {}
// SAFETY: all shared access goes through atomics; see above.
unsafe impl<const N: usize> Sync for CallsiteTable<N> {}

// `limits.md` quotes this size: three cache lines of what events read, and
// the counts word's own.
const _: () = assert!(std::mem::size_of::<CallsiteState>() <= 256);

/// A callsite's repeat rule, cached: `generation << 16 | code`, 0 before
/// the first resolution.
#[derive(Debug, Default)]
pub(crate) struct RepeatCell(pub(crate) std::sync::atomic::AtomicU64);

impl RepeatCell {
    pub(crate) fn new() -> Self {
        Self::default()
    }
}
