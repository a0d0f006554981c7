//! Where the sampler judges repeats: before sampling, in `enabled` for a
//! callsite key (from the metadata alone, so a suppressed copy is never
//! built), in `event_enabled` for keys with fields and for `log` records.
//! A covered callsite answers `Interest::sometimes()` at every level: with
//! `always`, `enabled` is never asked, and tracing-subscriber does not expect
//! a per-layer filter to disable an event of such a callsite in
//! `event_enabled`.

use std::cell::Cell;
use std::fmt;
use std::sync::atomic::Ordering;

use tracing_core::field::{Field, Visit};
use tracing_core::{Event, Metadata};
use xxhash_rust::xxh3::xxh3_64;

use super::state::{Rules, Summary};
use crate::decide::callsites::CallsiteState;
use crate::decide::keys::hash_debug;
use crate::decide::keys::KeySeed;
use crate::decide::mode::splitmix64;
use crate::decide::NOTICE_TARGET;
use crate::directive::repeat_spec::MAX_FIELDS;

pub(crate) const NO_RULE: u64 = 0xFFFF;
/// A `tracing-log` callsite: each record is matched by its own target.
pub(crate) const LOG_RECORD: u64 = 0xFFFE;

/// The longest message a key keeps for its summaries, in bytes.
const MAX_MESSAGE: usize = 512;

/// What `enabled` does with an event (see [`Sampler::repeat_early`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Early {
    /// Not judged (no repeat rule covers it): sampling decides.
    Pass,
    /// Judged and kept, and marked so for `event_enabled` (see
    /// [`mark_judged`]): sampling decides. If the copy goes no further than
    /// `enabled`, the mark is taken back.
    Kept,
    Suppress,
    /// Judged in `event_enabled`, which sees the fields.
    Defer,
}

const JUDGED_SLOTS: usize = 4;

thread_local! {
    /// Copies of callsite keys judged and kept in `enabled`: (sampler,
    /// metadata address), taken by `event_enabled`, which must judge a copy
    /// `enabled` did not (its callsite was being registered with tracing
    /// when the copy came, or it has a cached `Interest::always()`).
    /// A slot per sampler, as for the sampling decision's pending keeps.
    /// A cell per slot, so a change writes one slot, not the array.
    static JUDGED: [Cell<(usize, usize)>; JUDGED_SLOTS] =
        const { [const { Cell::new((0, 0)) }; JUDGED_SLOTS] };
}

/// Marks `meta`'s copy as judged and kept by `sampler` in `enabled`.
pub(crate) fn mark_judged(sampler: usize, meta: &Metadata<'_>) {
    let entry = (sampler, meta as *const Metadata<'_> as usize);
    let _ = JUDGED.try_with(|slots| {
        // This sampler's slot, else a free one, else the last (more than
        // JUDGED_SLOTS samplers in one stack: that one judges a copy twice).
        let slot = slots
            .iter()
            .find(|s| s.get().0 == sampler)
            .or_else(|| slots.iter().find(|s| s.get().0 == 0))
            .unwrap_or(&slots[JUDGED_SLOTS - 1]);
        slot.set(entry);
    });
}

/// Takes `sampler`'s mark for `meta`'s copy: whether `enabled` judged it.
pub(crate) fn take_judged(sampler: usize, meta: &Metadata<'_>) -> bool {
    let addr = meta as *const Metadata<'_> as usize;
    JUDGED
        .try_with(|slots| {
            let slot = slots.iter().find(|s| s.get() == (sampler, addr))?;
            slot.set((0, 0));
            Some(())
        })
        .ok()
        .flatten()
        .is_some()
}

/// The callsite's rule in `rules`: its cached code if of this set.
#[inline]
pub(crate) fn callsite_rule(cs: &CallsiteState, rules: &Rules) -> Option<usize> {
    let cached = cs.repeat.0.load(Ordering::Acquire);
    if cached >> 16 == rules.generation {
        Some((cached & 0xFFFF) as usize).filter(|&i| i < rules.list.len())
    } else {
        rules.find(cs.meta.target()) // installed since the code was read
    }
}

/// A callsite key's map key.
#[inline]
pub(crate) fn key_hash(meta: &'static Metadata<'static>, index: usize, generation: u64) -> u64 {
    mix(
        meta as *const Metadata<'static> as usize as u64,
        index,
        generation,
    )
}

/// The map key of `base` under rule `index`: mixed with the process's seed,
/// so field values crafted to collide do not crowd one shard.
#[inline]
pub(crate) fn mix(base: u64, index: usize, generation: u64) -> u64 {
    KeySeed::process().mix(base ^ splitmix64(index as u64 ^ generation << 20))
}

/// A missing field's hash: a value of its own.
pub(crate) const MISSING: u64 = 0x5bd1_e995_9e37_79b9;

/// Hashes the values of the fields a rule names, without allocating.
pub(crate) struct KeyFields<'a> {
    pub(crate) names: &'a [Box<str>],
    pub(crate) hashes: [u64; MAX_FIELDS],
}

impl KeyFields<'_> {
    fn slot(&mut self, field: &Field) -> Option<&mut u64> {
        let i = self.names.iter().position(|n| **n == *field.name())?;
        self.hashes.get_mut(i)
    }
}

impl Visit for KeyFields<'_> {
    // Numbers and flags hash their bytes (tagged by type): no formatting.
    fn record_i64(&mut self, field: &Field, value: i64) {
        if let Some(h) = self.slot(field) {
            *h = splitmix64(value as u64 ^ 0x1);
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if let Some(h) = self.slot(field) {
            *h = splitmix64(value ^ 0x2);
        }
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        if let Some(h) = self.slot(field) {
            *h = splitmix64(u64::from(value) ^ 0x3);
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if let Some(h) = self.slot(field) {
            *h = xxh3_64(value.as_bytes());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if let Some(h) = self.slot(field) {
            *h = hash_debug(value);
        }
    }
}

/// A new key's message, for its summaries (once per key).
pub(crate) fn message(event: &Event<'_>) -> Box<str> {
    struct Message(String);
    impl Visit for Message {
        fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
            if field.name() == "message" {
                use fmt::Write;
                let _ = write!(self.0, "{value:?}");
            }
        }
        fn record_str(&mut self, field: &Field, value: &str) {
            if field.name() == "message" {
                self.0.push_str(value);
            }
        }
    }
    let mut m = Message(String::new());
    event.record(&mut m);
    if m.0.len() > MAX_MESSAGE {
        let mut end = MAX_MESSAGE;
        while !m.0.is_char_boundary(end) {
            end -= 1;
        }
        m.0.truncate(end);
    }
    m.0.into_boxed_str()
}

/// One summary line, through whichever dispatcher is current.
pub(crate) fn emit(s: &Summary) {
    tracing::warn!(
        target: NOTICE_TARGET,
        key_target = &*s.target,
        key_level = %s.level,
        key_message = &*s.message,
        kept = s.kept,
        suppressed = s.suppressed,
        first_suppressed_ms = s.first_ms,
        last_suppressed_ms = s.last_ms,
        window_ms = s.window_ms,
        "repeated event suppressed"
    );
}
