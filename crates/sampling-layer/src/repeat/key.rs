//! [`KeyState`]: one repeat key's window, in one word, and the figures of
//! its open window.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use tracing_core::Level;

use super::state::{Figures, Repeats};

/// The low bits of a key's word count the copies kept in its window (at
/// most `MAX_FIRST`, below 2^24); the high 40 hold the window's index, which
/// wraps after 2^40 windows (35 years of 1 ms windows).
pub(super) const KEPT_BITS: u32 = 24;
pub(super) const KEPT_MASK: u64 = (1 << KEPT_BITS) - 1;
const WINDOW_MASK: u64 = (1 << (64 - KEPT_BITS)) - 1;

/// One repeat key: its window word and the figures of its current window.
#[derive(Debug)]
pub(crate) struct KeyState {
    /// `window index << KEPT_BITS | copies kept in that window`.
    pub(super) word: AtomicU64,
    pub(super) suppressed: AtomicU64,
    pub(super) first_at: AtomicU64,
    pub(super) last_at: AtomicU64,
    /// In `pending` (a window with suppressed copies not yet summarised).
    pub(super) listed: AtomicBool,
    /// No longer in the map (evicted, or its set replaced): a thread's
    /// cached copy must look it up again.
    pub(super) gone: AtomicBool,
    pub(super) first: u32,
    pub(super) window_ns: u64,
    pub(super) figures: Arc<Figures>,
    /// What the summary says the key is.
    pub(crate) target: Box<str>,
    pub(crate) level: Level,
    /// Set by the first copy seen with its fields (a copy judged in
    /// `enabled` has none; its first kept copy reaches `event_enabled`).
    pub(crate) message: OnceLock<Box<str>>,
}

/// The verdict on one copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Keep,
    Suppress,
}

impl KeyState {
    /// A copy at `now`: kept while the window has room, else suppressed.
    #[inline]
    pub(super) fn judge(self: &Arc<Self>, repeats: &Repeats, now: u64) -> Verdict {
        let window = window_of(now, self.window_ns);
        let mut word = self.word.load(Ordering::Acquire);
        loop {
            let open = word >> KEPT_BITS;
            let kept = word & KEPT_MASK;
            let next = if open != window {
                window << KEPT_BITS | 1
            } else if kept < u64::from(self.first) {
                word + 1
            } else {
                return self.suppress(repeats, now, open);
            };
            match self
                .word
                .compare_exchange_weak(word, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => {
                    if open != window {
                        // This copy opened a new window: the old one's summary.
                        repeats.take(self, Some(kept));
                    }
                    self.figures.kept.fetch_add(1, Ordering::Relaxed);
                    return Verdict::Keep;
                }
                Err(now_word) => word = now_word,
            }
        }
    }

    #[inline]
    fn suppress(self: &Arc<Self>, repeats: &Repeats, now: u64, open: u64) -> Verdict {
        if self.suppressed.fetch_add(1, Ordering::SeqCst) == 0 {
            self.first_at.store(now, Ordering::Relaxed);
            if !self.listed.swap(true, Ordering::SeqCst) {
                repeats.list(self, open);
            }
        }
        // A store, not `fetch_max`: one RMW fewer per suppressed copy; two
        // threads racing may leave the earlier of two near-equal times.
        self.last_at.store(now, Ordering::Relaxed);
        Verdict::Suppress
    }
}

#[inline]
pub(super) fn window_of(now: u64, window_ns: u64) -> u64 {
    (now / window_ns.max(1)) & WINDOW_MASK
}

pub(super) fn window_end(open: u64, window_ns: u64) -> u64 {
    open.saturating_add(1).saturating_mul(window_ns)
}
