//! Deadlines a caller-given wait away.
//!
//! Every wait the writer takes from its user (a flush or shutdown timeout, a producer's
//! block or keep timeout, a context's wait, `flush_all`'s bound) becomes an `Instant`
//! through [`after`]. `Instant + Duration` panics when the sum does not fit, and
//! `Duration::MAX` is the usual way to say "wait as long as it takes": such a wait ends a
//! century away instead, which no process reaches.

use std::time::{Duration, Instant};

/// What a wait too long for an `Instant` becomes.
const CENTURY: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);

/// `from + wait`, or a century after `from` when that does not fit.
pub(crate) fn after(from: Instant, wait: Duration) -> Instant {
    from.checked_add(wait)
        .or_else(|| from.checked_add(CENTURY))
        // An `Instant` a century from now fits on every platform std supports; should one
        // not, the furthest deadline that fits is still a deadline, not a panic.
        .unwrap_or_else(|| furthest(from))
}

/// The latest `Instant` after `from` that fits: each step, from `Duration::MAX` down by
/// halves, taken if it still fits (about a hundred tries).
#[cold]
fn furthest(from: Instant) -> Instant {
    let mut at = from;
    let mut step = Duration::MAX;
    while step > Duration::ZERO {
        if let Some(later) = at.checked_add(step) {
            at = later;
        }
        step /= 2;
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wait_that_fits_is_added_and_one_that_does_not_is_a_century() {
        let now = Instant::now();
        assert_eq!(
            after(now, Duration::from_secs(5)),
            now + Duration::from_secs(5)
        );
        assert_eq!(after(now, Duration::MAX), now + CENTURY);
        assert_eq!(after(now, Duration::ZERO), now);
    }

    #[test]
    fn the_furthest_deadline_is_past_a_century_and_fits() {
        let now = Instant::now();
        let far = furthest(now);
        assert!(far > now + CENTURY);
        // Within a microsecond of the last `Instant` there is (each halving rounds down
        // by at most a nanosecond).
        assert!(far.checked_add(Duration::from_micros(1)).is_none());
    }
}
