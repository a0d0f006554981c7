//! How the decision path feeds the breaker and acts on its transitions.

use super::Sampler;
use super::BREAKER_OPEN;
use crate::control::breaker::{BreakerState, Transition};
use crate::sync::Ordering;

impl Sampler {
    /// Counts an event at or above the breaker's level (the check is
    /// [`observe_breaker`](Self::observe_breaker), on the decision's path).
    /// Out of line (events at the breaker's level are rare next to sampled
    /// ones), so the sampled-out path carries none of its code.
    #[inline(never)]
    pub(super) fn record_breaker(&self, b: &BreakerState) {
        if let Some(t) = b.record(&mut || self.traffic_total()) {
            self.transition(t);
        }
    }

    /// The state word after letting an open breaker close (out of line, as
    /// [`record_breaker`](Self::record_breaker)).
    #[cold]
    #[inline(never)]
    pub(super) fn poll_breaker(&self, state: u64) -> u64 {
        match self
            .breaker
            .as_ref()
            .and_then(|b| b.poll(&mut || self.traffic_total()))
        {
            Some(t) => {
                self.transition(t);
                self.state.load(Ordering::Acquire)
            }
            None => state,
        }
    }

    /// Lets an open breaker close if its hold period has passed with no
    /// events to notice it (a stats read does this).
    pub(super) fn close_breaker_if_due(&self) {
        if let Some(t) = self
            .breaker
            .as_ref()
            .filter(|b| b.is_open())
            .and_then(|b| b.poll(&mut || self.traffic_total()))
        {
            self.transition(t);
        }
    }

    /// Every sampled-level event this sampler has counted (the ratio
    /// trigger's traffic): the ledger's moved figures and every word's own.
    /// `None` if the ledger is busy (an install or a snapshot): the trigger
    /// tries again on a later event. A pass over the callsites and live keys.
    #[cold]
    fn traffic_total(&self) -> Option<u64> {
        let ledger = self.ledger.try_lock().ok()?;
        let mut total = ledger.moved;
        let mut add = |c: &crate::decide::entry::Counts| {
            let (k, d) = c.peek();
            total += k + d;
        };
        self.callsites.for_each(|cs| add(&cs.counts));
        self.keys.for_each(|e| add(&e.counts));
        self.log_sites.for_each(|s| add(&s.counts));
        drop(ledger);
        Some(total)
    }

    #[cold]
    fn transition(&self, t: Transition) {
        if t.opened {
            self.state.fetch_or(BREAKER_OPEN, Ordering::Release);
        } else {
            self.state.fetch_and(!BREAKER_OPEN, Ordering::Release);
        }
        self.notices.send(t);
    }
}
