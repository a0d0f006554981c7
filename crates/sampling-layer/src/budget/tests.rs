//! Unit tests of the budget arithmetic: parsing, water filling, rounding,
//! the estimate, the allowance.
use super::*;

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
    assert_eq!(c.observe(100, 1.0), (100.0, 100));
    assert_eq!(c.observe(400, 2.0), (200.0, 400));
    assert_eq!(c.observe(0, 1.0), (100.0, 0));
    c.carry((10, 30));
    assert_eq!(c.observe(60, 1.0), (100.0, 100), "the carry counts");
    assert_eq!(c.estimate(), Some(100.0));
}

#[test]
fn new_keys_start_at_one_within_the_allowance() {
    let t = TargetBudget::new(Budget::parse("200/s").unwrap().unwrap(), 1.0);
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
    t.renew(&h, 1.0, 1.0);
    assert_eq!(t.start_rate(), Rate::ONE);
    assert_eq!(t.start_rate(), Rate::ONE);
    assert_eq!(t.start_rate(), Rate::from_fraction(1, 2).unwrap());
}
