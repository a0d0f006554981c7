//! The thread's capturing spans, and the marks the decision leaves for the writer.
//!
//! Both are thread-locals because everything they connect happens on one
//! thread: a span is entered and exited on the thread that polls it (an
//! `#[instrument]`-ed future enters its span on every poll, on whichever
//! worker runs it), and `fmt` calls its `MakeWriter` on the thread that
//! decided the event, right after formatting it.

use std::cell::{Cell, RefCell};

use tracing_core::Metadata;

/// (sampler, span id, owner span id): a span the thread is inside whose
/// events belong to `owner`'s buffer.
type Entry = (usize, u64, u64);

/// Marks pending at once on one thread: an event diverted by each of several
/// samplers in one stack. (An event logged while another is formatted never
/// reaches this dispatcher: tracing-core does not re-enter one.) Past that
/// the last slot is reused.
const MARKS: usize = 4;

/// (sampler, callsite metadata address, owner span id); all zero = free.
type Mark = (usize, usize, u64);

thread_local! {
    /// Entries on the thread's stack, of every sampler. A `const` `Cell` with no
    /// destructor: reading it is a load, with no lazy-init or destructor-state
    /// check, so an event outside capturing spans pays only that.
    static DEPTH: Cell<usize> = const { Cell::new(0) };
    /// The innermost entry (all zero when the stack is empty), in a `const` cell:
    /// the innermost owner of the usual one sampler is one load, and a span
    /// entered with no other capturing span around it (a request) is pushed
    /// and popped without reaching `BELOW`, a thread-local with a destructor
    /// behind a `RefCell` (about 60 instructions a span's enter and exit).
    static TOP: Cell<Entry> = const { Cell::new((0, 0, 0)) };
    /// The entries under `TOP`, outermost first.
    static BELOW: RefCell<Vec<Entry>> = const { RefCell::new(Vec::new()) };
    /// A cell per slot: a scan reads 24 bytes a slot and a change writes one
    /// slot, where one `Cell` of the array copied all of it out and back
    /// (about 65 instructions a captured event over the three calls).
    static MARK: [Cell<Mark>; MARKS] = const { [const { Cell::new((0, 0, 0)) }; MARKS] };
}

pub(crate) fn push(sampler: usize, span: u64, owner: u64) {
    let depth = DEPTH.get();
    // The old top moves under the new one (a thread past its thread-locals
    // pushes nothing, as its spans' events are never diverted).
    if depth != 0 && BELOW.try_with(|b| b.borrow_mut().push(TOP.get())).is_err() {
        return;
    }
    TOP.set((sampler, span, owner));
    DEPTH.set(depth + 1);
}

/// Removes the innermost entry of `span` (spans may exit out of order).
pub(crate) fn pop(sampler: usize, span: u64) {
    let depth = DEPTH.get();
    if depth == 0 {
        return;
    }
    let top = TOP.get();
    if top.0 == sampler && top.1 == span {
        let below = if depth == 1 {
            Some((0, 0, 0))
        } else {
            BELOW.try_with(|b| b.borrow_mut().pop()).ok().flatten()
        };
        if let Some(below) = below {
            TOP.set(below);
            DEPTH.set(depth - 1);
        }
        return;
    }
    let _ = BELOW.try_with(|b| {
        let mut b = b.borrow_mut();
        if let Some(i) = b.iter().rposition(|e| e.0 == sampler && e.1 == span) {
            b.remove(i);
            DEPTH.set(depth - 1);
        }
    });
}

/// Whether the thread is inside any capturing span (of any sampler).
#[inline(always)]
pub(crate) fn inside_any() -> bool {
    DEPTH.get() != 0
}

/// The owner of the innermost capturing span `sampler` has on this thread.
#[inline]
pub(crate) fn innermost_owner(sampler: usize) -> Option<u64> {
    if DEPTH.get() == 0 {
        return None;
    }
    let top = TOP.get();
    if top.0 == sampler {
        return Some(top.2);
    }
    BELOW
        .try_with(|b| {
            b.borrow()
                .iter()
                .rev()
                .find(|e| e.0 == sampler)
                .map(|e| e.2)
        })
        .ok()
        .flatten()
}

/// Every distinct owner `sampler` has on this thread, outermost first.
pub(crate) fn owners(sampler: usize) -> Vec<u64> {
    if DEPTH.get() == 0 {
        return Vec::new();
    }
    let top = TOP.get();
    BELOW
        .try_with(|b| {
            let mut out: Vec<u64> = Vec::new();
            for e in b.borrow().iter().chain([&top]).filter(|e| e.0 == sampler) {
                if !out.contains(&e.2) {
                    out.push(e.2);
                }
            }
            out
        })
        .unwrap_or_default()
}

fn addr(meta: &Metadata<'_>) -> usize {
    meta as *const Metadata<'_> as usize
}

/// Records that `sampler` diverted the event of `meta`'s callsite into `owner`.
#[inline]
pub(crate) fn set_mark(sampler: usize, meta: &Metadata<'_>, owner: u64) {
    let m = addr(meta);
    let _ = MARK.try_with(|marks| {
        let slot = marks
            .iter()
            .find(|k| {
                let k = k.get();
                k.0 == sampler && k.1 == m
            })
            .or_else(|| marks.iter().find(|k| k.get().0 == 0))
            .unwrap_or(&marks[MARKS - 1]);
        slot.set((sampler, m, owner));
    });
}

/// The slot holding `sampler`'s mark for the callsite at address `m`.
#[inline]
fn find_mark(marks: &[Cell<Mark>; MARKS], sampler: usize, m: usize) -> Option<&Cell<Mark>> {
    marks.iter().find(|k| {
        let k = k.get();
        k.0 == sampler && k.1 == m
    })
}

#[inline]
pub(crate) fn has_mark(sampler: usize, meta: &Metadata<'_>) -> bool {
    let m = addr(meta);
    MARK.try_with(|marks| find_mark(marks, sampler, m).is_some())
        .unwrap_or(false)
}

/// Takes the mark for `meta`'s callsite: the owner to divert its line to.
#[inline]
pub(crate) fn take_mark(sampler: usize, meta: &Metadata<'_>) -> Option<u64> {
    let m = addr(meta);
    MARK.try_with(|marks| find_mark(marks, sampler, m).map(|slot| slot.replace((0, 0, 0)).2))
        .ok()
        .flatten()
}

#[inline]
pub(crate) fn clear_mark(sampler: usize, meta: &Metadata<'_>) {
    let _ = take_mark(sampler, meta);
}

#[cfg(all(test, not(sampling_layer_loom)))]
mod tests {
    use super::{innermost_owner, owners, pop, push};

    /// The innermost owner of each sampler, read through the top entry, is the
    /// one a scan of the whole stack finds, and its owners are the stack's,
    /// whatever order spans of two samplers are entered and exited in (exits
    /// out of order included).
    #[test]
    fn the_cached_top_answers_as_a_scan_of_the_stack_does() {
        std::thread::spawn(|| {
            let mut model: Vec<(usize, u64, u64)> = Vec::new();
            let check = |model: &[(usize, u64, u64)]| {
                for sampler in [1, 2, 3] {
                    let scan = model.iter().rev().find(|e| e.0 == sampler).map(|e| e.2);
                    assert_eq!(innermost_owner(sampler), scan, "{sampler} in {model:?}");
                    let mut all: Vec<u64> = Vec::new();
                    for e in model.iter().filter(|e| e.0 == sampler) {
                        if !all.contains(&e.2) {
                            all.push(e.2);
                        }
                    }
                    assert_eq!(owners(sampler), all, "{sampler} in {model:?}");
                }
            };
            let steps: [(bool, usize, u64, u64); 10] = [
                (true, 1, 10, 10),
                (true, 2, 10, 10),
                (true, 1, 11, 10),
                (true, 2, 12, 12),
                (false, 1, 11, 0),
                (true, 1, 13, 13),
                (false, 2, 12, 0),
                (false, 1, 10, 0),
                (false, 1, 13, 0),
                (false, 2, 10, 0),
            ];
            for (enter, sampler, span, owner) in steps {
                if enter {
                    push(sampler, span, owner);
                    model.push((sampler, span, owner));
                } else {
                    pop(sampler, span);
                    let i = model.iter().rposition(|e| e.0 == sampler && e.1 == span);
                    model.remove(i.expect("entered"));
                }
                check(&model);
            }
            assert!(model.is_empty());
        })
        .join()
        .unwrap();
    }
}
