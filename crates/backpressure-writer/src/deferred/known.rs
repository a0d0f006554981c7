//! The callsites whose records the decoder may read: a record names its event's and its
//! spans' metadata by address, and the decoder turns an address back into the
//! `&'static Metadata` only through this table, so a frame that did not come from the
//! layer (or a damaged one) can never make it read memory that is not a callsite.

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::{OnceLock, PoisonError, RwLock};

use tracing_core::field::Field;
use tracing_core::Metadata;

/// A noted callsite: its metadata, and its fields by index (made once per callsite, so
/// that a reader finds a value's field without walking the field set).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Noted {
    pub(crate) meta: &'static Metadata<'static>,
    pub(crate) fields: &'static [Field],
}

type Table = RwLock<HashMap<usize, Noted>>;

fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(Default::default)
}

/// Slots of the per-thread cache of addresses already in the table.
const SEEN: usize = 64;

/// A callsite's slot in a cache of `SEEN` entries: the address's bits mixed by an odd
/// multiplier, the top six taken. (The address's own low bits collided: metadata statics
/// sit at strides that share them, and two callsites a request logs in turn, in one
/// slot, sent every record of both to the shared table's lock and `SipHash`.)
pub(crate) fn slot(addr: usize) -> usize {
    ((addr as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 58) as usize
}

thread_local! {
    static RECENT: [Cell<usize>; SEEN] = const { [const { Cell::new(0) }; SEEN] };
}

/// The address a record carries for `meta`, entered in the table if it is new.
///
/// Costs a thread-local load and a compare for a callsite this thread has seen lately
/// (the usual case); the first sight on a thread takes the table's read lock, the first
/// sight in the process its write lock and an insertion (and the callsite's fields, kept
/// for the life of the process, as its metadata is). The table holds one entry per
/// callsite the program has, never more.
pub(crate) fn note(meta: &'static Metadata<'static>) -> u64 {
    let addr = meta as *const Metadata<'static> as usize;
    if !seen(addr) {
        let present = table()
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .contains_key(&addr);
        if !present {
            table()
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .entry(addr)
                .or_insert_with(|| Noted {
                    meta,
                    fields: Box::leak(meta.fields().iter().collect()),
                });
        }
        remember(addr);
    }
    addr as u64
}

/// The address a record carries for `meta`, which was noted before (a span's, when the
/// span was created): no table or cache to consult.
pub(crate) fn noted(meta: &'static Metadata<'static>) -> u64 {
    meta as *const Metadata<'static> as usize as u64
}

/// Whether this thread noted `addr` lately. Two ways per set: two callsites a request
/// logs in turn that fall in one set both stay (a direct-mapped cache sent a quarter of
/// a service's records to the table).
pub(crate) fn seen(addr: usize) -> bool {
    let set = slot(addr) & !1;
    RECENT
        .try_with(|seen| seen[set].get() == addr || seen[set + 1].get() == addr)
        .unwrap_or(false)
}

/// Puts `addr` first in its set, the set's other entry second (the older one goes).
pub(crate) fn remember(addr: usize) {
    let set = slot(addr) & !1;
    let _ = RECENT.try_with(|seen| seen[set + 1].set(seen[set].replace(addr)));
}

/// The callsite at `addr`, if a layer noted it.
fn lookup(addr: u64) -> Option<Noted> {
    let addr = usize::try_from(addr).ok()?;
    table()
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .get(&addr)
        .copied()
}

/// A reader's cache of [`lookup`]: one table read per callsite it meets, then a compare.
#[derive(Debug)]
pub(crate) struct Cache([(u64, Option<Noted>); SEEN]);

impl Default for Cache {
    fn default() -> Self {
        Cache([(0, None); SEEN])
    }
}

impl Cache {
    /// The callsite at `addr`, if a layer noted it.
    pub(crate) fn get(&mut self, addr: u64) -> Option<Noted> {
        let slot = &mut self.0[slot(addr as usize)];
        if slot.0 != addr || slot.1.is_none() {
            *slot = (addr, lookup(addr));
        }
        slot.1
    }
}
