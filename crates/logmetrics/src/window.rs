//! The health window: what the counters that health judges by difference (drops, write
//! errors, breaker trips) were at moments in the recent past, so that a check can compare
//! against the start of a fixed window of time instead of against the previous check.
//!
//! Observations come from every export and every health check, at most one per `spacing`
//! (the export interval). A check at `now` compares with the latest observation taken at
//! or before `now - window`: every change within the window counts, and one older than the
//! window counts at most until the next observation is older than the window too. Keeping
//! an observation changes no answer about a change inside the window, so two callers that
//! check at the same moment get the same answer, however often either checks.
//!
//! The ring of observations is allocated once, at build: an export records without
//! allocating.

use std::time::{Duration, Instant};

use backpressure_writer::stats::{Dropped, Stats};
use sampling_layer::stats::SamplingStats;

/// One writer's counters that health reads as differences.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct WriterCounts {
    pub(crate) dropped: Dropped,
    pub(crate) write_errors: u64,
}

impl WriterCounts {
    pub(crate) fn of(s: &Stats) -> Self {
        WriterCounts {
            dropped: s.dropped,
            write_errors: s.write_errors,
        }
    }
}

/// Every registered source's counters at one moment, in registration order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub(crate) writers: Vec<WriterCounts>,
    /// Breaker trips per sampler.
    pub(crate) samplers: Vec<u64>,
}

impl Counts {
    pub(crate) fn zeros(writers: usize, samplers: usize) -> Self {
        Counts {
            writers: vec![WriterCounts::default(); writers],
            samplers: vec![0; samplers],
        }
    }

    pub(crate) fn set_sampler(&mut self, i: usize, s: &SamplingStats) {
        self.samplers[i] = s.breaker_trips;
    }

    fn copy_from(&mut self, other: &Counts) {
        self.writers.copy_from_slice(&other.writers);
        self.samplers.copy_from_slice(&other.samplers);
    }
}

/// A ring of observations, oldest first.
#[derive(Debug)]
pub(crate) struct History {
    window: Duration,
    spacing: Duration,
    /// Preallocated slots; `len` of them, from `start`, hold observations.
    slots: Vec<(Instant, Counts)>,
    start: usize,
    len: usize,
}

impl History {
    /// Slots needed: observations at least `spacing` apart inside the window, one at or
    /// before its start, and room to push before pruning.
    pub(crate) fn slots_for(window: Duration, spacing: Duration) -> u128 {
        window.as_nanos().div_ceil(spacing.as_nanos().max(1)) + 2
    }

    pub(crate) fn new(
        window: Duration,
        spacing: Duration,
        writers: usize,
        samplers: usize,
        epoch: Instant,
    ) -> Self {
        let n = Self::slots_for(window, spacing) as usize;
        History {
            window,
            spacing,
            slots: vec![(epoch, Counts::zeros(writers, samplers)); n],
            start: 0,
            len: 0,
        }
    }

    pub(crate) fn window(&self) -> Duration {
        self.window
    }

    fn get(&self, i: usize) -> &(Instant, Counts) {
        &self.slots[(self.start + i) % self.slots.len()]
    }

    /// Keeps `counts` as observed at `now`, unless the newest observation is less than
    /// `spacing` old; then forgets what no later check can need.
    pub(crate) fn record(&mut self, now: Instant, counts: &Counts) {
        if self.len > 0 {
            let newest = self.get(self.len - 1).0;
            // `saturating_duration_since`: a clock that steps back records nothing.
            if now.saturating_duration_since(newest) < self.spacing {
                return;
            }
        }
        if self.len == self.slots.len() {
            // Unreachable with `slots_for`'s bound; losing the oldest is the safe side.
            self.start = (self.start + 1) % self.slots.len();
            self.len -= 1;
        }
        let n = self.slots.len();
        let slot = &mut self.slots[(self.start + self.len) % n];
        slot.0 = now;
        slot.1.copy_from(counts);
        self.len += 1;
        self.prune(now);
    }

    /// Drops observations older than the latest one at or before the window's start.
    fn prune(&mut self, now: Instant) {
        let Some(start) = now.checked_sub(self.window) else {
            return;
        };
        while self.len >= 2 && self.get(1).0 <= start {
            self.start = (self.start + 1) % self.slots.len();
            self.len -= 1;
        }
    }

    /// The counters to compare with at `now`: the latest observation at or before
    /// `now - window`, or `None` while there is none (then everything since the sources
    /// started counts).
    pub(crate) fn baseline(&self, now: Instant) -> Option<&Counts> {
        let start = now.checked_sub(self.window)?;
        (0..self.len)
            .rev()
            .map(|i| self.get(i))
            .find(|(at, _)| *at <= start)
            .map(|(_, c)| c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(dropped: u64) -> Counts {
        let mut c = Counts::zeros(1, 0);
        c.writers[0].dropped.newest = dropped;
        c
    }

    fn newest(c: Option<&Counts>) -> Option<u64> {
        c.map(|c| c.writers[0].dropped.newest)
    }

    #[test]
    fn the_baseline_is_the_latest_observation_at_or_before_the_window_start() {
        let t0 = Instant::now();
        let s = |secs| t0 + Duration::from_secs(secs);
        let mut h = History::new(Duration::from_secs(30), Duration::from_secs(5), 1, 0, t0);
        assert_eq!(
            History::slots_for(Duration::from_secs(30), Duration::from_secs(5)),
            8
        );
        h.record(s(0), &counts(0));
        h.record(s(3), &counts(1)); // too soon after the last: not kept
        h.record(s(5), &counts(2));
        h.record(s(12), &counts(4));
        assert_eq!(newest(h.baseline(s(29))), None);
        assert_eq!(newest(h.baseline(s(30))), Some(0));
        assert_eq!(newest(h.baseline(s(34))), Some(0));
        assert_eq!(newest(h.baseline(s(35))), Some(2));
        assert_eq!(newest(h.baseline(s(42))), Some(4));
        assert_eq!(newest(h.baseline(s(1000))), Some(4));
    }

    #[test]
    fn the_ring_stays_within_its_slots_and_prunes_what_no_check_needs() {
        let t0 = Instant::now();
        let mut h = History::new(Duration::from_secs(30), Duration::from_secs(5), 1, 0, t0);
        for i in 0..1000 {
            h.record(t0 + Duration::from_secs(5 * i), &counts(i));
            assert!(h.len <= 8);
        }
        // Observations every 5 s up to 4995 s: the window of a check at 4995 s starts at
        // 4965 s, which is the observation it compares with.
        assert_eq!(h.len, 7);
        let now = t0 + Duration::from_secs(4995);
        assert_eq!(newest(h.baseline(now)), Some(993));
    }
}
