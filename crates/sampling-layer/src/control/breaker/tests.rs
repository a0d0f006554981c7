use super::*;
use crate::clock::ManualClock;

fn state(clock: &ManualClock) -> BreakerState {
    BreakerState::new(
        &Breaker::default()
            .threshold_per_sec(5.0)
            .window(Duration::from_secs(1))
            .hold(Duration::from_secs(60))
            .threshold_only(),
        Arc::new(clock.clone()),
    )
}

#[test]
fn trips_once_above_threshold_and_recovers_after_hold() {
    let clock = ManualClock::new();
    let b = state(&clock);
    // 5 per second is the threshold: 5 events in the window do not trip.
    for _ in 0..5 {
        assert_eq!(b.record(&mut || None), None);
    }
    let t = b.record(&mut || None).expect("the sixth event trips");
    assert!(t.opened && t.rate == 6.0);
    for _ in 0..100 {
        assert_eq!(
            b.record(&mut || None),
            None,
            "an open breaker does not trip again"
        );
    }
    assert!(b.is_open());
    assert_eq!(b.trips(), 1);
    // The window empties at 1 s; the hold period counts from then, although the first
    // check to see it comes later.
    clock.advance(Duration::from_secs(2));
    assert_eq!(b.poll(&mut || None), None);
    clock.advance(Duration::from_secs(58));
    assert_eq!(b.poll(&mut || None), None, "59 s below is not enough");
    // A burst restarts the hold period (at 60 s; its window empties at 61 s).
    for _ in 0..10 {
        b.record(&mut || None);
    }
    clock.advance(Duration::from_secs(2));
    assert_eq!(b.poll(&mut || None), None);
    clock.advance(Duration::from_secs(58));
    assert_eq!(b.poll(&mut || None), None);
    clock.advance(Duration::from_secs(1));
    let t = b.poll(&mut || None).expect("60 s below closes");
    assert!(!t.opened);
    assert!(!b.is_open());
    assert_eq!((b.trips(), b.recoveries()), (1, 1));
    assert_eq!(b.poll(&mut || None), None);
}

/// Another thread may mark the start of the hold with a clock read later
/// than this thread's: the check must not underflow (it did, in the demo,
/// once the triggers' judgement widened the gap between the two reads).
#[test]
fn a_hold_marked_later_than_this_threads_clock_read_is_not_an_underflow() {
    let clock = ManualClock::new();
    let b = state(&clock);
    for _ in 0..6 {
        b.record(&mut || None);
    }
    assert!(b.is_open());
    clock.advance(Duration::from_secs(2));
    b.below_since.store(b.now() + 1_000, Ordering::Relaxed);
    assert_eq!(b.poll(&mut || None), None);
    assert!(b.is_open());
}

#[test]
fn old_slots_leave_the_window() {
    let clock = ManualClock::new();
    let b = state(&clock);
    // Six events (more than the threshold of 5) spread over 1.5 s: never
    // more than four in the window, so the breaker stays closed.
    for _ in 0..6 {
        assert_eq!(b.record(&mut || None), None);
        assert!(b.rate(b.now()) <= 4.0);
        clock.advance(Duration::from_millis(300));
    }
    assert!(!b.is_open());
}

/// Errors that come in bursts: 100 at the start of every tenth slot (a
/// 1 s window of ten 100 ms slots), so each burst's slot is overwritten by
/// the next burst before any event folds it into the baseline. The
/// baseline still learns their mean (100 per second); read from the ring
/// alone it would stay at zero and every burst would be a spike. It is fed
/// while the breaker is open too.
#[test]
fn bursts_that_left_the_ring_still_feed_the_baseline() {
    let clock = ManualClock::new();
    let b = BreakerState::new(
        &Breaker::default()
            .threshold_per_sec(1_000.0)
            .window(Duration::from_secs(1))
            .without_ratio(),
        Arc::new(clock.clone()),
    );
    for _ in 0..60 {
        for _ in 0..100 {
            b.record(&mut || None);
        }
        clock.advance(Duration::from_secs(1));
    }
    let mean = b.triggers.baseline().expect("armed");
    assert!((80.0..=120.0).contains(&mean), "baseline {mean}/s");
    assert_eq!(b.trips(), 0);
}

/// Nothing logged and nothing read for a long stretch after a storm: the first check
/// closes the breaker if the rate fell a hold period ago, and otherwise counts the hold
/// from the fall, not from itself.
#[test]
fn the_hold_counts_from_when_the_rate_fell_not_from_the_first_check() {
    let clock = ManualClock::new();
    let b = state(&clock);
    for _ in 0..20 {
        b.record(&mut || None);
    }
    assert!(b.is_open());
    // The window (1 s) empties at 1 s; 300 s later one read closes it.
    clock.advance(Duration::from_secs(300));
    assert!(b.poll(&mut || None).is_some_and(|t| !t.opened));
    assert!(!b.is_open());

    // Again, from 300 s: the rate falls at 301 s, the first check is at 331 s.
    for _ in 0..20 {
        b.record(&mut || None);
    }
    assert!(b.is_open());
    clock.advance(Duration::from_secs(31));
    assert_eq!(b.poll(&mut || None), None, "30 s below");
    clock.advance(Duration::from_millis(29_900));
    assert_eq!(b.poll(&mut || None), None, "59.9 s below");
    clock.advance(Duration::from_millis(100));
    assert!(
        b.poll(&mut || None).is_some_and(|t| !t.opened),
        "60 s below"
    );
}

/// Errors that go on below the threshold after a storm: the rate fell when the storm's
/// slots left the window, and each later error is no reason to wait longer.
#[test]
fn errors_below_the_threshold_after_a_storm_do_not_move_the_fall() {
    let clock = ManualClock::new();
    let b = state(&clock);
    for _ in 0..20 {
        b.record(&mut || None);
    }
    assert!(b.is_open());
    // One error every 500 ms (2 a second, under 5): the one at 1 s finds the storm's
    // slot gone and the window at 2/s.
    for _ in 0..121 {
        clock.advance(Duration::from_millis(500));
        assert_eq!(b.record(&mut || None), None);
    }
    assert!(b.is_open(), "59.5 s after the fall");
    clock.advance(Duration::from_millis(500));
    let t = b.record(&mut || None).expect("closes 60 s after the fall");
    assert!(!t.opened);
}
