//! The cached rule and the counts word, alone.

use super::*;

#[test]
fn rule_packs_rate_bucket_and_flag() {
    let rate = Rate::parse("3/7").unwrap();
    let r = Rule::new(rate, MAX_BUCKETS - 1, true);
    assert_eq!(
        (r.rate(), r.bucket(), r.key_rules()),
        (rate, MAX_BUCKETS - 1, true)
    );
    let r = Rule::new(Rate::ONE, 0, false);
    assert_eq!((r.rate(), r.bucket(), r.key_rules()), (Rate::ONE, 0, false));
}

#[test]
fn cache_hits_only_for_its_generation_and_never_goes_back() {
    let c = RuleCache::new();
    let a = Rule::new(Rate::parse("0.5").unwrap(), 1, false);
    let b = Rule::new(Rate::parse("0.25").unwrap(), 2, false);
    assert_eq!(c.get(1), None);
    let mut seen = Vec::new();
    assert!(c.publish(1, a, |old| seen.push(old)));
    assert_eq!(c.get(1), Some(a));
    assert_eq!(c.get(2), None);
    assert!(c.publish(3, b, |old| seen.push(old)));
    assert!(!c.publish(2, a, |_| unreachable!()));
    assert_eq!(c.get(3), Some(b));
    assert_eq!(seen, vec![None, Some(a)]);
    assert_eq!(c.current(), (3, b));
    // A budget's retune changes the rate of the current generation only.
    let tuned = b.with_budget().with_rate(Rate::parse("1/8").unwrap());
    assert_eq!((tuned.bucket(), tuned.is_budget()), (2, true));
    assert!(!c.retune(2, tuned), "not the cached generation");
    assert!(c.retune(3, tuned));
    assert_eq!(c.get(3), Some(tuned));
    assert!(c.publish(4, a, |_| {}));
    assert!(!c.retune(3, tuned), "never over a newer generation");
    assert_eq!(c.get(4), Some(a));
}

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
                        let outside =
                            arg.is_some_and(|r| before & POS_MASK >= u64::from(r.denominator()));
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
