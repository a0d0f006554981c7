//! Unit tests of the budget arithmetic: parsing, water filling, rounding,
//! the estimate, the allowance.
use super::*;
use crate::error::ParseErrorKind;

#[test]
fn fleet_budgets_parse_round_trip_and_near_misses_are_refused() {
    let p =
        |s: &str| Budget::parse(s).map(|r| r.map(|b| (b.per_sec(), b.is_fleet(), b.to_string())));
    assert_eq!(
        p("10000/s/fleet"),
        Some(Ok((10000.0, true, "10000/s/fleet".into())))
    );
    assert_eq!(
        p(" 60 / MIN / Fleet "),
        Some(Ok((1.0, true, "60/min/fleet".into())))
    );
    assert_eq!(p("200/s"), Some(Ok((200.0, false, "200/s".into()))));
    for bad in [
        "10/s/pod",
        "10/s/",
        "10/fleet",
        "10/s/fleet/fleet",
        "0/s/fleet",
    ] {
        assert!(
            matches!(
                Budget::parse(bad),
                Some(Err(ParseErrorKind::InvalidBudget(_)))
            ),
            "{bad}"
        );
    }
}

#[test]
fn budgets_parse_apart_from_fractions() {
    let b = |s| Budget::parse(s).map(|r| r.map(Budget::per_sec));
    assert_eq!(b("200/s"), Some(Ok(200.0)));
    assert_eq!(b("30/min"), Some(Ok(0.5)));
    assert_eq!(b(" 7 / S "), Some(Ok(7.0)));
    assert_eq!(b("1/20"), None, "a fraction is a rate");
    assert_eq!(b("0.05"), None);
    assert!(matches!(
        b("0/s"),
        Some(Err(ParseErrorKind::InvalidBudget(_)))
    ));
    assert!(matches!(
        b("1.5/s"),
        Some(Err(ParseErrorKind::InvalidBudget(_)))
    ));
    assert!(matches!(
        b("5/hour"),
        Some(Err(ParseErrorKind::InvalidBudget(_)))
    ));
    assert!(matches!(
        b("/s"),
        Some(Err(ParseErrorKind::InvalidBudget(_)))
    ));
    assert!(matches!(
        b("99999999999/s"),
        Some(Err(ParseErrorKind::InvalidBudget(_)))
    ));
    for s in ["200/s", "30/min", "1/s"] {
        assert_eq!(Budget::parse(s).unwrap().unwrap().to_string(), s);
    }
}

#[test]
fn the_level_spends_the_budget_and_spares_rare_keys() {
    let mut h = Histogram::default();
    for e in [20_000.0, 2_000.0, 20.0] {
        h.add(e, e as u64, 0);
    }
    let c = h.level(500.0);
    assert!((c - 240.0).abs() < 1e-9, "{c}");
    assert_eq!(rate_for(20.0, c), Rate::ONE);
    let kept: f64 = [20_000.0, 2_000.0, 20.0]
        .iter()
        .map(|&e| e * rate_for(e, c).as_f64())
        .sum();
    assert!((kept - 500.0).abs() < 5.0, "{kept}");
    // Everything fits: no level.
    assert_eq!(h.level(30_000.0), f64::INFINITY);
    // Equal keys share equally.
    let mut h = Histogram::default();
    for _ in 0..100 {
        h.add(50.0, 50, 0);
    }
    assert!((h.level(1_000.0) - 10.0).abs() < 1e-9);
}

#[test]
fn rates_are_fractions_close_to_the_ideal() {
    for r in [0.9, 0.5, 0.12, 0.07, 0.05, 0.012, 0.001, 1e-7] {
        let q = quantize(r).as_f64();
        assert!((q - r).abs() / r < 1.0 / 30.0, "{r} -> {q}");
    }
    assert_eq!(quantize(0.01).numerator(), 1, "below 1/16: 1/N");
    assert_eq!(quantize(2.0), Rate::ONE);
}

#[test]
fn the_estimate_rises_at_once_and_falls_halfway() {
    let c = BudgetCell::new();
    assert_eq!(c.estimate(), None);
    assert_eq!(c.observe(100, 1.0, 1.0), (100.0, 100));
    assert_eq!(c.observe(400, 2.0, 1.0), (200.0, 400));
    assert_eq!(c.observe(0, 1.0, 1.0), (100.0, 0));
    c.carry((10, 30));
    assert_eq!(c.observe(60, 1.0, 1.0), (100.0, 100), "the carry counts");
    assert_eq!(c.estimate(), Some(100.0));
}

#[test]
fn new_keys_start_at_one_within_the_allowance() {
    let t = TargetBudget::new(
        Budget::parse("200/s").unwrap().unwrap(),
        1.0,
        Rate::ONE,
        1,
        false,
    );
    for _ in 0..20 {
        assert_eq!(t.start_rate(), Rate::ONE);
    }
    assert_eq!(t.start_rate(), Rate::ONE, "no pass yet: the last rate");
    // A pass saw 400 lines from 40 keys (10 each): the allowance is a
    // tenth of 200 lines, 2 keys; later ones start at 200/400.
    let mut h = Histogram::default();
    for _ in 0..40 {
        h.add(10.0, 10, 0);
    }
    t.renew(&h, 1.0, 1.0, false);
    assert_eq!(t.start_rate(), Rate::ONE);
    assert_eq!(t.start_rate(), Rate::ONE);
    assert_eq!(t.start_rate(), Rate::from_fraction(1, 2).unwrap());
}

#[test]
fn first_and_short_estimates_are_replaced_settled_ones_fall_halfway() {
    let c = BudgetCell::new();
    // First: one event over a whole interval (the key came at its end).
    assert_eq!(c.observe(1, 1.0, 1.0), (1.0, 1));
    assert_eq!(c.get(), Some((1.0, Footing::First)));
    // Replaced by what an early pass saw over 10 ms (up at once anyway).
    assert_eq!(c.observe(10, 0.01, 1.0), (1_000.0, 10));
    assert_eq!(c.get().unwrap().1, Footing::Short);
    // A short estimate is replaced, even downwards.
    assert_eq!(c.observe(500, 1.0, 1.0), (500.0, 500));
    assert_eq!(c.get().unwrap().1, Footing::Settled);
    // Settled: a fall over 10 ms moves it by a hundredth of a halving.
    let (e, _) = c.observe(3, 0.01, 1.0);
    assert!((e - (500.0 - 200.0 * 0.5 * 0.01)).abs() < 1e-3, "{e}");
}

#[test]
fn an_early_pass_does_not_refill_the_allowance() {
    let t = TargetBudget::new(
        Budget::parse("20/s").unwrap().unwrap(),
        1.0,
        Rate::from_fraction(1, 10).unwrap(),
        1,
        false,
    );
    // Before any pass: the initial rate within the allowance (2 keys).
    assert_eq!(t.start_rate(), Rate::from_fraction(1, 10).unwrap());
    assert_eq!(t.start_rate(), Rate::from_fraction(1, 10).unwrap());
    let mut h = Histogram::default();
    h.add(100.0, 100, 0);
    t.renew(&h, 1.0, 1.0, true);
    // Spent, and not refilled early: the average rate 20/100.
    assert_eq!(t.start_rate(), quantize(0.2));
    t.renew(&h, 1.0, 1.0, false);
    assert_eq!(t.start_rate(), Rate::ONE, "refilled at the interval's end");
}

#[test]
fn evicted_keys_count_at_their_mean() {
    let mut h = Histogram::default();
    h.add(1_000.0, 1_000, 0);
    h.add_many(1.0, 9_000, 9_000, 0);
    assert_eq!(h.events(), (10_000, 0, 9_001));
    // 9 000 keys at 1/s below the level, the busy key takes the rest.
    assert_eq!(h.level(10_000.0), f64::INFINITY);
    let c = h.level(9_500.0);
    assert!((c - 500.0).abs() < 1e-6, "{c}");
}

#[test]
fn the_pace_calls_an_early_pass_and_a_futile_one_holds_them_off() {
    use crate::clock::ManualClock;
    use std::sync::Arc;
    use std::time::Duration;
    let clock = ManualClock::new();
    let b = Budgets::new(
        Duration::from_secs(1),
        Arc::new(clock.clone()),
        Rate::ONE,
        None,
    );
    b.set_pace(true, (200.0, 20.0));
    let ms = |n| clock.advance(Duration::from_millis(n));
    // 20 lines: within the slack.
    for _ in 0..20 {
        b.kept_line();
    }
    ms(10);
    assert!(b.due().is_none());
    // 40 lines after 10 ms: 20 + 2 allowed.
    for _ in 0..20 {
        b.kept_line();
    }
    let (mut pass, now, early) = b.due().expect("ahead of the pace");
    assert!(early);
    b.done(&mut pass, now, true);
    b.hold();
    drop(pass);
    for _ in 0..100 {
        b.kept_line();
    }
    ms(10);
    assert!(b.due().is_none(), "held until the interval's end");
    ms(980);
    let (mut pass, now, early) = b.due().expect("the interval is over");
    assert!(!early);
    b.done(&mut pass, now, false);
    drop(pass);
    // Released: ahead again means early again.
    for _ in 0..100 {
        b.kept_line();
    }
    ms(10);
    assert!(b.due().is_some_and(|(_, _, early)| early));
}

#[test]
fn whole_rates_are_powers_of_two_at_most_the_ideal_and_hold_near_it() {
    let p = |r: f64| power_of_two_below(r).as_f64();
    assert_eq!(p(1.5), 1.0);
    assert_eq!(p(f64::NAN), 1.0);
    assert_eq!(p(0.5), 0.5, "exactly a power of two");
    assert_eq!(p(0.49), 0.25);
    assert_eq!(p(0.0625), 0.0625);
    assert_eq!(p(0.0), 1.0 / f64::from(1u32 << 23), "the smallest");
    let t = TargetBudget::new(
        Budget::parse("50/s").unwrap().unwrap(),
        1.0,
        Rate::ONE,
        1,
        true,
    );
    assert_eq!(
        t.whole_rate(),
        Some(Rate::ONE),
        "the initial rate until a pass"
    );
    assert_eq!(t.start_rate(), Rate::ONE);
    // 600 events a second against 50: ideal 1/12, kept 1/16.
    t.renew_whole(600, 1.0, 50.0);
    assert_eq!(t.whole_rate().unwrap().as_f64(), 1.0 / 16.0);
    assert_eq!(t.start_rate().as_f64(), 1.0 / 16.0, "new words start at it");
    // Hovering at the power of two (ideal 0.059 .. 0.137): held.
    for events in [840, 365, 800] {
        t.renew_whole(events, 1.0, 50.0);
        assert_eq!(t.whole_rate().unwrap().as_f64(), 1.0 / 16.0, "{events}");
    }
    // Well below (ideal 1/40): down to 1/64; well above (ideal 0.3): up to 1/4.
    t.renew_whole(2_000, 1.0, 50.0);
    assert_eq!(t.whole_rate().unwrap().as_f64(), 1.0 / 64.0);
    t.renew_whole(166, 1.0, 50.0);
    assert_eq!(t.whole_rate().unwrap().as_f64(), 0.25);
    // No traffic: stays.
    t.renew_whole(0, 1.0, 50.0);
    assert_eq!(t.whole_rate().unwrap().as_f64(), 0.25);
    assert_eq!(
        TargetBudget::new(
            Budget::parse("50/s").unwrap().unwrap(),
            1.0,
            Rate::ONE,
            1,
            false
        )
        .whole_rate(),
        None
    );
}
