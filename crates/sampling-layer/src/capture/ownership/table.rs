//! A sampler's open capturing spans, by span id, beside the registry's extensions.
//!
//! A capturing span is its own events' owner, so finding one here answers
//! `on_enter` (push it on the thread's stack) and `on_close` (hand its buffer
//! to the capturing span around it, or discard it) without looking the span up
//! in the registry and reading its extensions: in the service bench a request
//! span is entered three times and closed once, and each lookup with its
//! extensions read cost about 150 instructions; the extension itself cost an
//! allocation, a map insert and a free a span. A probe here is a few loads.
//!
//! The table is a cache, never the only record: a span that finds no free slot
//! near its home keeps its owner in its extensions as before, and a span
//! missing from the table is looked up there. What the table must never do is
//! answer for a span that is not a capturing span of this sampler, so an entry
//! lives exactly from its span's `on_new_span` to its `on_close`, which the
//! registry runs before it gives the id out again.
//!
//! Each slot is two words: the span's id, and the owner around it (the
//! capturing span its buffer goes to when it closes). A slot is claimed by a
//! compare-and-swap of its id from free to `CLAIMED`, its outer owner stored,
//! then its id published with a release store; a reader that acquires the id
//! reads the outer owner written before it. Only the span's close reads the
//! outer owner and frees the slot, so no two threads ever race on one slot
//! except through the claiming compare-and-swap.

use crate::sync::{AtomicU64, Ordering};

/// Slots in a sampler's table (8 KiB once capture is on): more than the
/// capturing spans a busy service has open at once in the service bench
/// (about one per connection); past that, spans keep their owner in their
/// extensions.
pub(crate) const SLOTS: usize = 512;
/// Slots a span may take, from its home on: a reader that misses looks at this many.
const PROBE: usize = 4;
/// A free slot's id (no span's id is 0).
const FREE: u64 = 0;
/// A slot being filled (no span's id is `u64::MAX`, see `CONTEXT_ONLY`).
const CLAIMED: u64 = u64::MAX;
/// "No capturing span around it" as an outer owner.
const NONE: u64 = 0;

#[derive(Debug)]
#[repr(align(16))]
struct Slot {
    id: AtomicU64,
    outer: AtomicU64,
}

/// A table of slots, found by a hash of the span's id.
#[derive(Debug)]
pub(crate) struct OwnerTable {
    slots: Box<[Slot]>,
    mask: usize,
}

impl OwnerTable {
    /// A table of `n` slots (a power of two).
    pub(crate) fn with_slots(n: usize) -> Self {
        assert!(n.is_power_of_two(), "a power of two");
        OwnerTable {
            slots: (0..n)
                .map(|_| Slot {
                    id: AtomicU64::new(FREE),
                    outer: AtomicU64::new(NONE),
                })
                .collect(),
            mask: n - 1,
        }
    }

    /// The slots span `id` may take, its home first.
    fn probe(&self, id: u64) -> impl Iterator<Item = &Slot> {
        // The registry's ids differ mostly in their low bits (a slot index) and
        // their high bits (a generation): a multiplicative hash's top bits mix both.
        let home = (id.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as usize;
        (0..PROBE.min(self.slots.len())).map(move |i| &self.slots[(home + i) & self.mask])
    }

    /// Records the just-opened capturing span `id`, with the owner around it;
    /// `false` if no slot near its home is free (the caller keeps it in the
    /// span's extensions). A compare-and-swap and two stores.
    pub(crate) fn insert(&self, id: u64, outer: Option<u64>) -> bool {
        // A slot still holding `id` is stale (a close that never came here
        // before the registry reused the id): taken first, so that no older
        // copy is left for a reader to find; else the first free one.
        let claim = |slot: &Slot, held: u64| {
            slot.id.load(Ordering::Relaxed) == held
                && slot
                    .id
                    .compare_exchange(held, CLAIMED, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
        };
        let stale = self.probe(id).find(|slot| claim(slot, id));
        let Some(slot) = stale.or_else(|| self.probe(id).find(|slot| claim(slot, FREE))) else {
            return false;
        };
        slot.outer.store(outer.unwrap_or(NONE), Ordering::Relaxed);
        slot.id.store(id, Ordering::Release);
        true
    }

    /// Whether `id` is here: an open capturing span of this sampler. Up to
    /// `PROBE` loads.
    #[inline]
    pub(crate) fn contains(&self, id: u64) -> bool {
        self.probe(id)
            .any(|slot| slot.id.load(Ordering::Acquire) == id)
    }

    /// Frees `id`'s slot at its close: `Some(outer owner)` if it was here.
    pub(crate) fn take(&self, id: u64) -> Option<Option<u64>> {
        let slot = self
            .probe(id)
            .find(|slot| slot.id.load(Ordering::Acquire) == id)?;
        let outer = slot.outer.load(Ordering::Relaxed);
        slot.id.store(FREE, Ordering::Release);
        Some(Some(outer).filter(|&o| o != NONE))
    }
}

#[cfg(all(test, not(sampling_layer_loom)))]
impl OwnerTable {
    /// Spans held now.
    pub(crate) fn len(&self) -> usize {
        self.slots
            .iter()
            .filter(|s| s.id.load(Ordering::Relaxed) != FREE)
            .count()
    }
}

#[cfg(all(test, not(sampling_layer_loom)))]
mod tests {
    use super::{OwnerTable, PROBE};

    #[test]
    fn a_span_is_found_from_its_open_to_its_close_with_its_outer_owner() {
        let t = OwnerTable::with_slots(64);
        assert!(t.insert(7, Some(3)));
        assert!(t.insert(9, None));
        assert!(t.contains(7) && t.contains(9) && !t.contains(3));
        assert_eq!(t.take(7), Some(Some(3)));
        assert!(!t.contains(7), "gone at its close");
        assert_eq!(t.take(7), None, "closed once");
        assert_eq!(t.take(9), Some(None));
    }

    /// Past the probe's slots a span is refused (and kept elsewhere by the
    /// caller), never stored where a reader would not look; freed slots are
    /// taken again.
    #[test]
    fn a_crowded_home_refuses_and_a_freed_slot_is_reused() {
        let t = OwnerTable::with_slots(PROBE);
        let ids: Vec<u64> = (1..=PROBE as u64).collect();
        for &id in &ids {
            assert!(t.insert(id, None), "{id}");
        }
        assert!(!t.insert(100, None), "every slot taken");
        assert!(!t.contains(100));
        assert_eq!(t.take(ids[1]), Some(None));
        assert!(t.insert(100, Some(1)));
        assert!(t.contains(100));
        assert_eq!(t.take(100), Some(Some(1)));
    }

    /// A stale entry (a close never seen) is replaced by the span that now
    /// holds the id, with its own outer owner.
    #[test]
    fn a_reused_id_replaces_its_stale_entry() {
        let t = OwnerTable::with_slots(64);
        assert!(t.insert(5, Some(1)));
        assert!(t.insert(5, Some(2)));
        assert_eq!(t.take(5), Some(Some(2)));
        assert_eq!(t.take(5), None, "one entry, not two");
    }
}
