//! The budget state each callsite, key and `log` site carries beside its
//! counts word; the budget pass (`control::budget`) reads and renews it.

use crate::sync::{AtomicU64, Ordering};

/// Per-key budget state, beside the key's counts word: the estimate (an
/// `f32` of events per second, high half; all ones = none yet), how far it
/// can be trusted ([`Footing`], bits 30..32) and the events moved out of the
/// word by anyone but the pass since the last pass (bits 0..30). Written only
/// under the stats ledger lock, which every move of figures holds, so plain
/// loads and stores suffice.
#[derive(Debug)]
pub(crate) struct BudgetCell(AtomicU64);

const NO_ESTIMATE: u64 = 0xFFFF_FFFF;
const CARRY_MASK: u64 = (1 << 30) - 1;
const FOOTING_SHIFT: u32 = 30;

/// What an estimate was measured over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Footing {
    /// A full interval after an earlier estimate: it falls only halfway.
    Settled = 0,
    /// The key's first pass, which may have begun long before the key: it
    /// can under-estimate, so the key's rate stays at least its target's
    /// average rate (where a new key starts), and the next pass replaces it.
    First = 1,
    /// A stretch shorter than half an interval (an early pass): a few
    /// events' noise, replaced by the next pass.
    Short = 2,
}

impl BudgetCell {
    pub(crate) fn new() -> Self {
        BudgetCell(AtomicU64::new(NO_ESTIMATE << 32))
    }

    /// Counts events moved out of the word by a flush or a re-resolution, for
    /// the next pass.
    pub(crate) fn carry(&self, (kept, dropped): (u64, u64)) {
        let cur = self.0.load(Ordering::Relaxed);
        let carried = (cur & CARRY_MASK).saturating_add(kept + dropped);
        self.0.store(
            (cur & !CARRY_MASK) | carried.min(CARRY_MASK),
            Ordering::Relaxed,
        );
    }

    /// Folds `counted` events over `secs` seconds (plus the carry) into the
    /// estimate, for an interval of `interval` seconds; returns the new
    /// estimate (events per second) and the events it counted.
    pub(crate) fn observe(&self, counted: u64, secs: f64, interval: f64) -> (f64, u64) {
        let cur = self.0.load(Ordering::Relaxed);
        let n = counted + (cur & CARRY_MASK);
        let seen = n as f64 / secs;
        let short = secs < 0.5 * interval;
        let (estimate, footing) = match self.get() {
            None => (seen, Footing::First),
            Some((old, footing)) => {
                // Up at once, down halfway per interval (never under-estimate
                // a rise, and a brief lull does not flood the next interval);
                // an estimate that was not settled is replaced.
                let e = if seen >= old || footing != Footing::Settled {
                    seen
                } else {
                    old + (seen - old) * 0.5 * (secs / interval).min(1.0)
                };
                (
                    e,
                    if short {
                        Footing::Short
                    } else {
                        Footing::Settled
                    },
                )
            }
        };
        let bits = u64::from((estimate as f32).to_bits());
        self.0.store(
            bits << 32 | (footing as u64) << FOOTING_SHIFT,
            Ordering::Relaxed,
        );
        (estimate, n)
    }

    /// Events moved out of the word since the last pass (an evicted key's
    /// carry).
    pub(crate) fn carried(&self) -> u64 {
        self.0.load(Ordering::Relaxed) & CARRY_MASK
    }

    /// The estimate of the last pass (events per second), if any.
    #[cfg(test)]
    pub(crate) fn estimate(&self) -> Option<f64> {
        self.get().map(|(e, _)| e)
    }

    /// The estimate of the last pass and its footing, if any.
    pub(crate) fn get(&self) -> Option<(f64, Footing)> {
        let cur = self.0.load(Ordering::Relaxed);
        let footing = match (cur >> FOOTING_SHIFT) & 3 {
            1 => Footing::First,
            2 => Footing::Short,
            _ => Footing::Settled,
        };
        match cur >> 32 {
            NO_ESTIMATE => None,
            bits => Some((f64::from(f32::from_bits(bits as u32)), footing)),
        }
    }
}
