//! One atomic word per callsite or key: the deterministic position and the
//! kept/dropped figures, so a decision costs a single atomic RMW.
//!
//! Layout: bits 0..24 the position in the current window of `q` events (`q`
//! fits in 24 bits, see [`MAX_DENOMINATOR`](crate::limits::MAX_DENOMINATOR)), bits
//! 24..44 kept, bits 44..64 dropped. The position wraps at `q`. When counting
//! an event would bring either figure to [`FLUSH_AT`], nothing is counted and
//! the caller moves the figures out ([`take`](Counts::take)) into the stats
//! bucket, under the stats lock (at most once per 2^19 events of one key), and
//! counts again. Figures are only ever moved under that lock, so a stats
//! snapshot taken under it sees every event exactly once (in a word or in a
//! bucket), and no field ever overflows, whatever value the word starts from.

use crate::decide::mode::keep_position;
use crate::directive::rate::Rate;
use crate::sync::{AtomicU64, Ordering};

const POS_MASK: u64 = (1 << 24) - 1;
const CNT_MASK: u64 = (1 << 20) - 1;
const KEPT_SHIFT: u32 = 24;
const DROPPED_SHIFT: u32 = 44;
/// A figure this large is moved out to the stats bucket.
pub(crate) const FLUSH_AT: u64 = 1 << 19;

/// Every this many sampled-out events of one word, the decision does the
/// sampler's timed duties (budget adjustment, pressure read; see
/// `Sampler::on_time`): a clock read per 128 sampled-out events of a key
/// instead of none, about 0.2 ns each, tested on a figure the decision
/// computes anyway.
pub(crate) const TICK_EVERY: u64 = 128;
const _: () = assert!(FLUSH_AT % TICK_EVERY == 0);

/// Kept and dropped counts moved out of a word.
pub(crate) type Flushed = (u64, u64);

#[derive(Debug)]
pub(crate) struct Counts(AtomicU64);

impl Counts {
    pub(crate) fn new() -> Self {
        Counts(AtomicU64::new(0))
    }

    #[cfg(test)]
    pub(crate) fn from_raw(raw: u64) -> Self {
        Counts(AtomicU64::new(raw))
    }

    #[cfg(all(test, not(sampling_layer_loom)))]
    pub(crate) fn raw(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    /// Counts one event. With `rate`, decides it deterministically (exactly
    /// `p` kept per window of `q`, exact under concurrency); with `None`, the
    /// caller already decided `keep`. Returns the decision, or `None` (and
    /// counts nothing) when counting would fill a figure: the caller moves
    /// the figures out and calls again.
    ///
    /// Cost: one load and one successful CAS (uncontended); a division only
    /// for rates `p/q` with `p > 1`.
    // The decision uses `count_ticked`; tests and models count plainly.
    #[cfg(any(test, sampling_layer_loom))]
    pub(crate) fn count(&self, rate: Option<Rate>, keep: bool) -> Option<bool> {
        self.count_ticked(rate, keep).map(|(keep, _)| keep)
    }

    /// [`count`](Self::count), also telling whether this event is a
    /// sampled-out one that brings the dropped figure to a multiple of
    /// [`TICK_EVERY`] (the caller then does the timed duties).
    // Inlined into the decision: a call here costs as much as the CAS's setup.
    #[inline(always)]
    pub(crate) fn count_ticked(&self, rate: Option<Rate>, keep: bool) -> Option<(bool, bool)> {
        let mut cur = self.0.load(Ordering::Relaxed);
        loop {
            let (keep, next_pos, kept, dropped) = step(cur, rate, keep);
            if kept >= FLUSH_AT || dropped >= FLUSH_AT {
                return None;
            }
            let next = next_pos | (kept << KEPT_SHIFT) | (dropped << DROPPED_SHIFT);
            match self
                .0
                .compare_exchange_weak(cur, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return Some((keep, !keep && dropped % TICK_EVERY == 0)),
                Err(c) => cur = c,
            }
        }
    }

    /// [`count`](Self::count) for the common case only: counts the event and
    /// returns the decision, unless counting it would fill a figure or the
    /// position lies outside the window (the rate changed), or the dropped
    /// figure would be a multiple of [`TICK_EVERY`] with this event (the
    /// timed duties are due); then it counts nothing and returns `None`, and
    /// the caller calls `count_ticked`. The dropped figure never passes
    /// `FLUSH_AT` here: it grows by one, from below, and `FLUSH_AT` is such a
    /// multiple.
    ///
    /// The same transition as `count` (same [`step`]), so the two mix freely.
    /// It exists for the hot path: the window check keeps the fold's division
    /// out of it (with rates 1/N or `None`, as the hot path passes, there is
    /// none at all), which leaves the caller's registers (and stack) alone.
    #[inline(always)]
    pub(crate) fn try_count(&self, rate: Option<Rate>, keep: bool) -> Option<bool> {
        let mut cur = self.0.load(Ordering::Relaxed);
        loop {
            if let Some(rate) = rate {
                if cur & POS_MASK >= u64::from(rate.denominator()) {
                    return None;
                }
            }
            let (keep, next_pos, kept, dropped) = step(cur, rate, keep);
            // One test for two bail-outs: `FLUSH_AT` is a multiple of
            // `TICK_EVERY` and the figure grows by one, so a dropped figure
            // reaching it is caught here too. (A kept event when the dropped
            // figure is a multiple bails out as well: rare, and harmless.)
            if kept >= FLUSH_AT || dropped % TICK_EVERY == 0 {
                return None;
            }
            let next = next_pos | (kept << KEPT_SHIFT) | (dropped << DROPPED_SHIFT);
            match self
                .0
                .compare_exchange_weak(cur, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return Some(keep),
                Err(c) => cur = c,
            }
        }
    }

    /// Moves the position to `pos` (a budget key's random start, see
    /// `control::budget::start`), keeping the figures.
    pub(crate) fn set_position(&self, pos: u64) {
        let _ = self
            .0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |c| {
                Some((c & !POS_MASK) | (pos & POS_MASK))
            });
    }

    /// The figures not yet moved out.
    pub(crate) fn peek(&self) -> Flushed {
        let cur = self.0.load(Ordering::Relaxed);
        (
            (cur >> KEPT_SHIFT) & CNT_MASK,
            (cur >> DROPPED_SHIFT) & CNT_MASK,
        )
    }

    /// Moves the figures out (zeroing them), keeping the position.
    pub(crate) fn take(&self) -> Flushed {
        let prev = self
            .0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |c| Some(c & POS_MASK))
            .unwrap_or_else(|c| c);
        (
            (prev >> KEPT_SHIFT) & CNT_MASK,
            (prev >> DROPPED_SHIFT) & CNT_MASK,
        )
    }
}

/// One event counted on the word `cur`: the decision, the next position, and
/// the kept and dropped figures with this event (not yet checked against
/// [`FLUSH_AT`]). With `rate`, decided by the position; with `None`, `keep`.
#[inline(always)]
fn step(cur: u64, rate: Option<Rate>, keep: bool) -> (bool, u64, u64, u64) {
    let (keep, next_pos) = match rate {
        Some(rate) => {
            let q = u64::from(rate.denominator());
            let mut pos = cur & POS_MASK;
            if pos >= q {
                // The rate changed (or the word started anywhere): fold into the window.
                pos %= q;
            }
            let next = if pos + 1 == q { 0 } else { pos + 1 };
            (keep_position(pos, u64::from(rate.numerator()), q), next)
        }
        None => (keep, cur & POS_MASK),
    };
    let mut kept = (cur >> KEPT_SHIFT) & CNT_MASK;
    let mut dropped = (cur >> DROPPED_SHIFT) & CNT_MASK;
    if keep {
        kept += 1;
    } else {
        dropped += 1;
    }
    (keep, next_pos, kept, dropped)
}

#[cfg(all(test, not(sampling_layer_loom)))]
mod tests {
    use super::*;

    /// Counts `n` events, moving the figures out whenever `count` asks to
    /// (as the sampler does under its stats lock); returns what was moved.
    fn run(c: &Counts, rate: &str, n: usize) -> (Vec<bool>, Flushed) {
        let rate: Rate = rate.parse().unwrap();
        let mut flushed = (0, 0);
        let keeps = (0..n)
            .map(|_| loop {
                match c.count(Some(rate), false) {
                    Some(k) => break k,
                    None => {
                        let (a, b) = c.take();
                        flushed.0 += a;
                        flushed.1 += b;
                    }
                }
            })
            .collect();
        (keeps, flushed)
    }

    fn kept_at(keeps: &[bool]) -> Vec<usize> {
        keeps
            .iter()
            .enumerate()
            .filter(|(_, k)| **k)
            .map(|(i, _)| i)
            .collect()
    }

    #[test]
    fn one_in_n_keeps_first_and_every_nth() {
        let (keeps, _) = run(&Counts::new(), "1/4", 12);
        assert_eq!(kept_at(&keeps), vec![0, 4, 8]);
    }

    #[test]
    fn non_unit_fraction_keeps_exactly_p_per_window() {
        let (keeps, _) = run(&Counts::new(), "0.3", 10);
        assert_eq!(kept_at(&keeps), vec![0, 3, 6]);
        for rate in ["0.3", "2/7", "0.05", "5/6", "1", "0"] {
            let r: Rate = rate.parse().unwrap();
            let q = r.denominator() as usize;
            let c = Counts::new();
            let (keeps, _) = run(&c, rate, q * 5);
            for w in keeps.chunks(q) {
                assert_eq!(
                    w.iter().filter(|k| **k).count(),
                    r.numerator() as usize,
                    "{rate}"
                );
            }
            let (kept, dropped) = c.peek();
            assert_eq!(
                (kept, dropped),
                (
                    5 * r.numerator() as u64,
                    5 * (q as u64 - r.numerator() as u64)
                )
            );
        }
    }

    #[test]
    fn figures_are_moved_out_before_they_can_overflow() {
        let c = Counts::new();
        let n = 3 * FLUSH_AT as usize + 5;
        let (keeps, flushed) = run(&c, "1/2", n);
        let kept = keeps.iter().filter(|k| **k).count() as u64;
        let (k, d) = c.peek();
        assert_eq!(flushed.0 + k, kept);
        assert_eq!(
            flushed.0 + k + flushed.1 + d,
            n as u64,
            "nothing lost, nothing twice"
        );
        assert!(k < FLUSH_AT && d < FLUSH_AT);
    }

    #[test]
    fn a_word_starting_near_u64_max_wraps_harmlessly() {
        for start in [u64::MAX, u64::MAX - 1, u64::MAX - 7, u64::MAX - (1 << 24)] {
            let c = Counts::from_raw(start);
            let (pos0, k0, d0) = (start & POS_MASK, (start >> 24) & CNT_MASK, start >> 44);
            let (keeps, flushed) = run(&c, "3/10", 1000);
            // The position is folded into the window on first use (pos0 % 10) and
            // then every full window keeps exactly 3.
            let skip = (10 - (pos0 % 10) as usize) % 10;
            for w in keeps[skip..].chunks_exact(10) {
                assert_eq!(w.iter().filter(|k| **k).count(), 3, "start {start:#x}");
            }
            // The full figures were moved out on the first event, not wrapped.
            let kept = keeps.iter().filter(|k| **k).count() as u64;
            let (k, d) = c.peek();
            assert_eq!(flushed.0 + k, k0 + kept);
            assert_eq!(flushed.1 + d, d0 + (1000 - kept));
            assert!(c.raw() & POS_MASK < 10);
        }
    }

    #[test]
    fn try_count_makes_the_same_transition_as_count() {
        let starts = [
            0,
            5,
            (7 << KEPT_SHIFT) | (11 << DROPPED_SHIFT) | 2,
            ((FLUSH_AT - 3) << DROPPED_SHIFT) | 999,
            ((FLUSH_AT - 2) << KEPT_SHIFT) | 3,
        ];
        for start in starts {
            for rate in ["1/1000", "1/4", "0"] {
                let r: Rate = rate.parse().unwrap();
                let arg = (!r.is_zero()).then_some(r);
                let (fast, full) = (Counts::from_raw(start), Counts::from_raw(start));
                for i in 0..2000 {
                    let before = fast.raw();
                    match fast.try_count(arg, false) {
                        Some(keep) => {
                            let k = full.count(arg, false);
                            assert_eq!(Some(keep), k, "{rate} {start:#x} #{i}");
                            assert_eq!(fast.raw(), full.raw(), "{rate} {start:#x} #{i}");
                        }
                        None => {
                            assert_eq!(fast.raw(), before, "a bail-out counts nothing");
                            // Only a full figure, a position outside the
                            // window or a sampled-out event due for the timed
                            // duties makes it bail out.
                            let outside = arg
                                .is_some_and(|r| before & POS_MASK >= u64::from(r.denominator()));
                            // (or a kept event while the dropped figure is a multiple)
                            let multiple = ((before >> DROPPED_SHIFT) & CNT_MASK) % TICK_EVERY == 0;
                            let counted = full.count_ticked(arg, false);
                            let ticked = counted == Some((false, true));
                            assert!(
                                outside || ticked || multiple || counted.is_none(),
                                "{rate} {start:#x} #{i}"
                            );
                            if counted.is_none() {
                                assert_eq!(full.raw(), before, "nothing counted when full");
                                full.take();
                                fast.take();
                                full.count(arg, false).unwrap();
                            }
                            fast.count(arg, false).unwrap();
                            assert_eq!(fast.raw(), full.raw());
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn every_128th_sampled_out_event_is_left_to_count_ticked() {
        let c = Counts::new();
        let r: Rate = "1/1000".parse().unwrap();
        assert_eq!(c.count_ticked(Some(r), false), Some((true, false)), "kept");
        let mut ticks = Vec::new();
        for i in 1..=300u64 {
            match c.try_count(Some(r), false) {
                Some(keep) => assert!(!keep),
                None => {
                    assert_eq!(c.count_ticked(Some(r), false), Some((false, true)));
                    ticks.push(i);
                }
            }
        }
        assert_eq!(ticks, [128, 256], "the 128th and 256th dropped");
    }

    #[test]
    fn try_count_leaves_a_position_outside_the_window_to_count() {
        // Position 7 under a rate of 1/4 (the rate was 1/10 before).
        let c = Counts::from_raw(7);
        let r: Rate = "1/4".parse().unwrap();
        assert_eq!(c.try_count(Some(r), false), None);
        assert_eq!(c.raw(), 7, "nothing counted");
        assert_eq!(c.count(Some(r), false), Some(false), "7 % 4 = 3: dropped");
        assert_eq!(c.try_count(Some(r), false), Some(true), "back at 0: kept");
    }

    #[test]
    fn take_keeps_the_position() {
        let c = Counts::new();
        let (keeps, _) = run(&c, "1/3", 4);
        assert_eq!(kept_at(&keeps), vec![0, 3]);
        assert_eq!(c.take(), (2, 2));
        assert_eq!(c.peek(), (0, 0));
        let (keeps, _) = run(&c, "1/3", 3);
        assert_eq!(
            kept_at(&keeps),
            vec![2],
            "the window carries on where it was"
        );
    }
}
