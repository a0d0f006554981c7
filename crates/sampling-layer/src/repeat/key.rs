//! [`KeyState`]: one repeat key's window, in one word, and the figures of
//! its open window.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use tracing_core::Level;

use super::state::{Figures, Repeats};
use super::CLOCK_READ_EVERY as READ_EVERY;

// `suppress` takes the copy count modulo it with a mask.
const _: () = assert!(READ_EVERY.is_power_of_two());

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
    /// The next copy reads the clock: set by a kept copy (so a window's
    /// first suppressed copy is timed exactly), by every `READ_EVERY`-th
    /// suppressed copy, and by a sweep that summarised the key's window.
    pub(super) read_due: AtomicBool,
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
    /// A copy now: kept while the window has room, else suppressed; the
    /// clock reading, if this copy took one.
    ///
    /// Cost of a suppressed copy between two readings: a load of the word
    /// and of `read_due`, one RMW (the window's suppressed count), no clock
    /// read (about 26 ns with the system clock), no store of the time.
    #[inline]
    pub(super) fn judge(self: &Arc<Self>, repeats: &Repeats) -> (Verdict, Option<u64>) {
        let word = self.word.load(Ordering::Acquire);
        if word & KEPT_MASK >= u64::from(self.first) && !self.read_due.load(Ordering::Relaxed) {
            return (self.suppress(repeats, None, word >> KEPT_BITS), None);
        }
        let now = repeats.now_ns();
        (self.judge_at(repeats, now, word), Some(now))
    }

    /// A copy at `now` (a fresh reading), `word` as last loaded.
    fn judge_at(self: &Arc<Self>, repeats: &Repeats, now: u64, mut word: u64) -> Verdict {
        if self.read_due.load(Ordering::Relaxed) {
            self.read_due.store(false, Ordering::Relaxed);
        }
        let window = window_of(now, self.window_ns);
        loop {
            let open = word >> KEPT_BITS;
            let kept = word & KEPT_MASK;
            let next = if open != window {
                window << KEPT_BITS | 1
            } else if kept < u64::from(self.first) {
                word + 1
            } else {
                return self.suppress(repeats, Some(now), open);
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
                    self.read_due.store(true, Ordering::Relaxed);
                    self.figures.kept.fetch_add(1, Ordering::Relaxed);
                    return Verdict::Keep;
                }
                Err(now_word) => word = now_word,
            }
        }
    }

    /// A suppressed copy in window `open`, at `now` if it read the clock.
    #[inline]
    fn suppress(self: &Arc<Self>, repeats: &Repeats, now: Option<u64>, open: u64) -> Verdict {
        let n = self.suppressed.fetch_add(1, Ordering::SeqCst);
        if n == 0 {
            // The window's first suppressed copy is timed exactly; without a
            // reading only if another thread cleared `read_due` meanwhile.
            let now = now.unwrap_or_else(|| repeats.now_ns());
            self.first_at.store(now, Ordering::Relaxed);
            self.last_at.store(now, Ordering::Relaxed);
            if !self.listed.swap(true, Ordering::SeqCst) {
                repeats.list(self, open);
            }
        } else if let Some(now) = now {
            // A store, not `fetch_max`: one RMW fewer; two threads racing
            // may leave the earlier of two near-equal times.
            self.last_at.store(now, Ordering::Relaxed);
        }
        if (n + 1) & (READ_EVERY - 1) == 0 {
            self.read_due.store(true, Ordering::Relaxed);
        }
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
