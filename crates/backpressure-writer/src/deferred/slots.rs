//! The values of a layer's live spans, by span id, beside the registry's extensions.
//!
//! Kept in a span's extensions, a request span's values cost a box (the extension's), a
//! hash-map insert, and a free when the span closes: about 450 of the ~1 500 user-space
//! instructions a `TraceLayer` request span cost in the service bench (callgrind, the
//! storage left out against kept). A slot here costs a compare-and-swap to claim, the
//! values' words stored and one store to publish; reading takes no lock, freeing is three
//! stores.
//!
//! Each slot is a sequence lock: its sequence is odd while the slot is claimed or freed
//! (the only writes), even otherwise, and moves on with each. A reader copies the words
//! between two reads of the sequence and keeps the copy only if both were the same even
//! value, so it never keeps a mix of two spans' values. A slot is claimed only while it is
//! free (id 0, or stale: still holding the new span's id, see [`SpanSlots::insert`]),
//! and only its span frees it (its close, or its values leaving for the
//! extensions, both serialized per span by the caller), so claims and frees never race on
//! one slot except through the compare-and-swap that claims it.
//!
//! A span whose values do not fit a slot, or whose few slots near its home are taken,
//! keeps its values in its extensions as before: the table bounds the memory, never what
//! is recorded.

use crate::sync::atomic::{fence, AtomicU64, Ordering};

/// Slots in a layer's table (128 KiB): more than the spans a busy service has open at once
/// in the service bench (about one per connection), so the extensions are the exception.
pub(crate) const SLOTS: usize = 1024;
/// Words of values a slot holds: 96 bytes, a request's method, URI and version with room.
pub(crate) const WORDS: usize = 12;
/// Slots a span may take, from its home on: a reader that misses looks at this many.
const PROBE: usize = 4;

/// One span's values: a sequence lock over its id, length and words.
#[derive(Debug)]
#[repr(align(64))]
struct Slot<const W: usize> {
    /// Odd while being claimed or freed; moves on by two with each.
    seq: AtomicU64,
    /// The span's id (`Id::into_u64`); 0: free.
    id: AtomicU64,
    /// The values' length in bytes.
    len: AtomicU64,
    words: [AtomicU64; W],
}

/// A copy of one span's values, read out of its slot.
#[derive(Debug)]
pub(crate) struct Copied<const W: usize = WORDS> {
    /// The words read, each as its eight bytes in little-endian order (as stored).
    words: [[u8; 8]; W],
    len: usize,
}

impl<const W: usize> Copied<W> {
    /// The values' bytes.
    pub(crate) fn with_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        f(&self.words.as_flattened()[..self.len])
    }
}

/// A table of slots, found by a hash of the span's id.
#[derive(Debug)]
pub(crate) struct SpanSlots<const W: usize = WORDS> {
    slots: Box<[Slot<W>]>,
    mask: usize,
}

impl SpanSlots<WORDS> {
    /// A table of [`SLOTS`] slots.
    pub(crate) fn new() -> Self {
        Self::with_slots(SLOTS)
    }
}

impl<const W: usize> SpanSlots<W> {
    /// A table of `n` slots (a power of two).
    pub(crate) fn with_slots(n: usize) -> Self {
        assert!(n.is_power_of_two(), "a power of two");
        SpanSlots {
            slots: (0..n)
                .map(|_| Slot {
                    seq: AtomicU64::new(0),
                    id: AtomicU64::new(0),
                    len: AtomicU64::new(0),
                    words: std::array::from_fn(|_| AtomicU64::new(0)),
                })
                .collect(),
            mask: n - 1,
        }
    }

    /// The slots span `id` may take, its home first.
    fn probe(&self, id: u64) -> impl Iterator<Item = &Slot<W>> {
        // The registry's ids differ mostly in their low bits (a slot index) and their
        // high bits (a generation): a multiplicative hash's top bits mix both.
        let home = (id.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as usize;
        (0..PROBE.min(self.slots.len())).map(move |i| &self.slots[(home + i) & self.mask])
    }

    /// Keeps `values` as span `id`'s; `false` if they are longer than a slot or no slot
    /// near the span's home is free (the caller keeps them elsewhere). `id` is not 0 and
    /// belongs to a span just opened.
    ///
    /// Costs a probe (two loads a slot), one compare-and-swap, a release fence, a store
    /// per eight bytes and three more.
    pub(crate) fn insert(&self, id: u64, values: &[u8]) -> bool {
        if values.len() > W * 8 {
            return false;
        }
        for slot in self.probe(id) {
            let seq = slot.seq.load(Ordering::Acquire);
            // A slot that still holds `id` is stale (a close this layer never saw, from
            // before the registry reused the id) and is taken like a free one, so a
            // reader, which takes the first slot holding the id, finds the live values.
            let held = slot.id.load(Ordering::Relaxed);
            if seq & 1 != 0 || (held != 0 && held != id) {
                continue;
            }
            if slot
                .seq
                .compare_exchange(seq, seq + 1, Ordering::Acquire, Ordering::Relaxed)
                .is_err()
            {
                continue;
            }
            // A reader that sees any store below also sees the odd sequence after it.
            fence(Ordering::Release);
            slot.id.store(id, Ordering::Relaxed);
            slot.len.store(values.len() as u64, Ordering::Relaxed);
            // Whole words read straight from the bytes; only the last, partial one is
            // copied (a copy of a length known only at run time is a call).
            let mut chunks = values.chunks_exact(8);
            for (word, chunk) in slot.words.iter().zip(&mut chunks) {
                let chunk: [u8; 8] = chunk.try_into().unwrap_or_default();
                word.store(u64::from_le_bytes(chunk), Ordering::Relaxed);
            }
            let rest = chunks.remainder();
            if !rest.is_empty() {
                let mut last = [0u8; 8];
                last[..rest.len()].copy_from_slice(rest);
                slot.words[values.len() / 8].store(u64::from_le_bytes(last), Ordering::Relaxed);
            }
            slot.seq.store(seq + 2, Ordering::Release);
            return true;
        }
        false
    }

    /// A copy of span `id`'s values, if it has a slot. A slot being written, or written
    /// while it was read, counts as none: only a span's own close or its values leaving
    /// for the extensions (which the caller puts there first) write a slot it holds.
    ///
    /// Costs the probe and, when found, a load per eight bytes, an acquire fence and one
    /// more load.
    pub(crate) fn get(&self, id: u64) -> Option<Copied<W>> {
        for slot in self.probe(id) {
            let seq = slot.seq.load(Ordering::Acquire);
            if seq & 1 != 0 || slot.id.load(Ordering::Relaxed) != id {
                continue;
            }
            // A torn length is caught by the sequence below; bounded first, so it cannot
            // index past the words.
            let len = (slot.len.load(Ordering::Relaxed) as usize).min(W * 8);
            let mut words = [[0u8; 8]; W];
            for (w, word) in words.iter_mut().zip(&slot.words).take(len.div_ceil(8)) {
                *w = word.load(Ordering::Relaxed).to_le_bytes();
            }
            fence(Ordering::Acquire);
            if slot.seq.load(Ordering::Relaxed) == seq {
                return Some(Copied { words, len });
            }
        }
        None
    }

    /// How many slots hold a span.
    #[cfg(all(test, not(backpressure_writer_loom)))]
    pub(crate) fn occupied(&self) -> usize {
        self.slots
            .iter()
            .filter(|s| s.id.load(Ordering::Relaxed) != 0)
            .count()
    }

    /// Frees span `id`'s slot; `false` if it had none. Called only by the span's close or
    /// by the caller moving its values out, never twice at once for one span.
    ///
    /// Costs the probe and three stores.
    pub(crate) fn remove(&self, id: u64) -> bool {
        for slot in self.probe(id) {
            let seq = slot.seq.load(Ordering::Acquire);
            if seq & 1 != 0 || slot.id.load(Ordering::Relaxed) != id {
                continue;
            }
            // Held by this span, so no claim can start here (claims need id 0) and no
            // other free can run: plain stores suffice.
            slot.seq.store(seq + 1, Ordering::Relaxed);
            fence(Ordering::Release);
            slot.id.store(0, Ordering::Relaxed);
            slot.seq.store(seq + 2, Ordering::Release);
            return true;
        }
        false
    }
}

#[cfg(all(test, not(backpressure_writer_loom)))]
mod tests {
    use super::*;

    fn bytes<const W: usize>(c: Option<Copied<W>>) -> Option<Vec<u8>> {
        c.map(|c| c.with_bytes(<[u8]>::to_vec))
    }

    /// The table's size as the layer's docs give it: 128 KiB, a slot per cache-line pair.
    #[test]
    fn a_layers_table_is_128_kib() {
        assert_eq!(std::mem::size_of::<Slot<WORDS>>(), 128);
        assert_eq!(SLOTS * std::mem::size_of::<Slot<WORDS>>(), 128 << 10);
    }

    #[test]
    fn values_are_kept_read_and_freed_by_id() {
        let t = SpanSlots::new();
        assert!(t.insert(7, b"method=GET uri=/"));
        assert!(t.insert(8, b""));
        assert_eq!(bytes(t.get(7)).as_deref(), Some(&b"method=GET uri=/"[..]));
        assert_eq!(bytes(t.get(8)).as_deref(), Some(&b""[..]));
        assert_eq!(bytes(t.get(9)), None);
        assert!(t.remove(7));
        assert!(!t.remove(7));
        assert_eq!(bytes(t.get(7)), None);
        assert_eq!(bytes(t.get(8)).as_deref(), Some(&b""[..]));
    }

    #[test]
    fn values_of_every_length_up_to_a_slot_round_trip() {
        let t = SpanSlots::new();
        let all: Vec<u8> = (0..=WORDS as u8 * 8).collect();
        for len in 0..=WORDS * 8 {
            let id = 1 + len as u64;
            assert!(t.insert(id, &all[..len]), "{len}");
            assert_eq!(bytes(t.get(id)).as_deref(), Some(&all[..len]), "{len}");
        }
        assert!(!t.insert(1000, &all), "longer than a slot");
        assert_eq!(bytes(t.get(1000)), None);
    }

    /// Ids that share a home take the next slots, up to the probe; past it the caller
    /// keeps the values elsewhere, and a freed slot is taken again.
    #[test]
    fn colliding_ids_probe_and_the_rest_are_refused() {
        let t: SpanSlots<1> = SpanSlots::with_slots(4);
        let ids = [1u64, 2, 3, 4];
        for id in ids {
            assert!(t.insert(id, &id.to_le_bytes()));
        }
        assert!(!t.insert(5, b"x"), "every slot is taken");
        for id in ids {
            assert_eq!(bytes(t.get(id)), Some(id.to_le_bytes().to_vec()));
        }
        assert!(t.remove(3));
        assert!(t.insert(5, b"five"));
        // A slot left holding an id whose close was never seen is taken by the id's next
        // span, and that span's values are the ones read.
        assert!(t.insert(2, b"again"));
        assert_eq!(bytes(t.get(2)).as_deref(), Some(&b"again"[..]));
        assert_eq!(bytes(t.get(5)).as_deref(), Some(&b"five"[..]));
        assert_eq!(bytes(t.get(3)), None);
    }

    /// Spans opened and closed on four threads while a fifth reads, until the reader has
    /// found 10 000 of them: every read is one span's own values, whole, or none.
    #[test]
    fn churn_never_shows_a_mix_of_two_spans() {
        use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
        use std::sync::Arc;
        let t: Arc<SpanSlots> = Arc::new(SpanSlots::with_slots(16));
        let seen = Arc::new(AtomicU64::new(0));
        let value =
            |id: u64| -> Vec<u8> { std::iter::repeat_n(id as u8, (id % 90) as usize).collect() };
        let writers: Vec<_> = (0..4u64)
            .map(|w| {
                let (t, seen) = (Arc::clone(&t), Arc::clone(&seen));
                std::thread::spawn(move || {
                    let ids: Vec<u64> = (0..8).map(|i| 1 + w + 4 * i).collect();
                    while seen.load(Relaxed) < 10_000 {
                        let opened: Vec<u64> = ids
                            .iter()
                            .copied()
                            .filter(|&id| t.insert(id, &value(id)))
                            .collect();
                        for id in opened {
                            assert!(t.remove(id));
                        }
                    }
                })
            })
            .collect();
        while seen.load(Relaxed) < 10_000 {
            for id in 1..=32 {
                if let Some(v) = bytes(t.get(id)) {
                    assert_eq!(v, value(id), "span {id}");
                    seen.fetch_add(1, Relaxed);
                }
            }
        }
        for w in writers {
            w.join().unwrap();
        }
        for id in 1..=32 {
            assert_eq!(bytes(t.get(id)), None, "every span closed");
        }
    }
}

/// The slot protocol under every interleaving (up to loom's preemption bound): a span
/// closed and its slot taken by the next while a reader looks for both.
#[cfg(all(test, backpressure_writer_loom))]
mod loom {
    use super::*;
    use crate::sync::{thread, Arc};

    fn read(t: &SpanSlots<2>, id: u64) -> Option<Vec<u8>> {
        t.get(id).map(|c| c.with_bytes(<[u8]>::to_vec))
    }

    fn model(f: impl Fn() + Sync + Send + 'static) {
        let mut b = ::loom::model::Builder::new();
        b.preemption_bound = Some(3);
        b.check(f);
    }

    #[test]
    fn loom_a_reader_sees_one_spans_values_whole_or_none() {
        model(|| {
            // One slot, so the second span takes the first one's.
            let t = Arc::new(SpanSlots::<2>::with_slots(1));
            let first = [1u8; 12];
            let second = [2u8; 9];
            assert!(t.insert(1, &first));
            let writer = {
                let t = Arc::clone(&t);
                thread::spawn(move || {
                    assert!(t.remove(1));
                    assert!(t.insert(2, &second));
                })
            };
            for id in [1, 2] {
                if let Some(v) = read(&t, id) {
                    let want: &[u8] = if id == 1 { &first } else { &second };
                    assert_eq!(v, want);
                }
            }
            writer.join().unwrap();
            assert_eq!(read(&t, 1), None);
            assert_eq!(read(&t, 2).as_deref(), Some(&second[..]));
        });
    }

    #[test]
    fn loom_two_claims_of_one_free_slot_take_it_once() {
        model(|| {
            let t = Arc::new(SpanSlots::<2>::with_slots(1));
            let other = {
                let t = Arc::clone(&t);
                thread::spawn(move || t.insert(2, b"two"))
            };
            let mine = t.insert(1, b"one");
            let theirs = other.join().unwrap();
            assert!(mine != theirs, "exactly one claim wins");
            let (won, want) = if mine {
                (1, &b"one"[..])
            } else {
                (2, &b"two"[..])
            };
            assert_eq!(read(&t, won).as_deref(), Some(want));
        });
    }
}
