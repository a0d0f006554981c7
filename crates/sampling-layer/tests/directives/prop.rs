//! Property tests: the parser never panics; valid rates round-trip.

use proptest::prelude::*;
use sampling_layer::SamplingFilter;

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn parser_never_panics_on_any_string(s in any::<String>()) {
        let _ = SamplingFilter::try_new(&s);
        let _ = SamplingFilter::builder().parse_lossy(&s);
        let _ = sampling_layer::split_directives(&s);
    }

    #[test]
    fn parser_never_panics_on_directive_like_strings(
        s in r"[a-z:_\[\]=@%/.,0-9 \-{}]{0,40}"
    ) {
        let _ = SamplingFilter::try_new(&s);
        let _ = sampling_layer::split_directives(&s);
    }

    /// Budgets, per process or per fleet: any amount in range, either unit in
    /// any case, spaces around the slashes; the budget reads back per second,
    /// and a fleet budget is shared out by the fleet's size.
    #[test]
    fn budgets_round_trip_and_fleet_budgets_share_by_size(
        amount in 1u32..=1_000_000_000,
        unit in prop_oneof![Just(("s", 1.0)), Just(("SEC", 1.0)), Just(("min", 60.0)), Just(("M", 60.0))],
        fleet in proptest::option::of((1u64..=1 << 20, "[fF][lL][eE][eE][tT]")),
        pad in proptest::collection::vec(0usize..3, 4),
    ) {
        let sp = |i: usize| " ".repeat(pad[i]);
        let scope = fleet.as_ref().map(|(_, word)| format!("{}/{}{word}", sp(2), sp(3))).unwrap_or_default();
        let text = format!("t={amount}{}/{}{}{scope}", sp(0), sp(1), unit.0);
        let size = fleet.as_ref().map_or(1, |(n, _)| *n);
        let f = SamplingFilter::builder().fleet_size(move || size).parse(&text);
        prop_assert!(f.is_ok(), "{text:?}: {:?}", f.err());
        let st = f.unwrap().handle().stats();
        let t = st.targets.iter().find(|t| t.target == "t").unwrap();
        let per_sec = f64::from(amount) / unit.1;
        prop_assert_eq!(t.budget, Some(per_sec));
        let goal = t.effective_budget.unwrap();
        prop_assert!((goal - per_sec / size as f64).abs() <= goal * 1e-12, "{text:?}: {goal}");
    }

    #[test]
    fn decimals_round_trip(num in 0u32..=10_000_000, scale in 0u32..=7) {
        let den = 10u32.pow(scale);
        let num = num % (den + 1);
        let text = if scale == 0 { num.to_string() } else { format!("{}.{:0>w$}", num / den, num % den, w = scale as usize) };
        // target=rate resolves to exactly that rate.
        let f = SamplingFilter::try_new(&format!("t={text}")).unwrap();
        let shown = f.stats().targets.iter().find(|t| t.target == "t").unwrap().rate;
        prop_assert_eq!(shown, f64::from(num) / f64::from(den));
    }

    /// One whitespace rule: spaces around `=`, `[` and `]` change nothing,
    /// in `target=rate` and `target[key]=rate` alike.
    #[test]
    fn spaces_around_the_separators_change_nothing(
        target in "[a-z]{1,6}(::[a-z]{1,6})?",
        key in proptest::option::of("[a-z0-9_]{1,6}"),
        num in 0u32..=1000,
        pad in proptest::collection::vec(0usize..3, 6),
    ) {
        let rate = format!("{}", f64::from(num) / 1000.0);
        let sp = |i: usize| " ".repeat(pad[i]);
        let (plain, spaced) = match &key {
            Some(k) => (
                format!("{target}[{k}]={rate}"),
                format!("{}{target}{}[{}{k}{}]{}={}{rate}", sp(0), sp(1), sp(2), sp(3), sp(4), sp(5)),
            ),
            None => (
                format!("{target}={rate}"),
                format!("{}{target}{}={}{rate}", sp(0), sp(1), sp(2)),
            ),
        };
        let a = SamplingFilter::try_new(&plain).unwrap();
        let b = SamplingFilter::try_new(&spaced);
        prop_assert!(b.is_ok(), "{spaced:?}: {:?}", b.err());
        let rows = |f: &SamplingFilter| {
            f.stats().targets.into_iter().map(|t| (t.target, t.rate)).collect::<Vec<_>>()
        };
        prop_assert_eq!(rows(&a), rows(&b.unwrap()));
        let split = sampling_layer::split_directives(&spaced);
        prop_assert!(split.is_ok(), "{spaced:?}");
    }

    #[test]
    fn repeat_directives_never_panic(s in r"[a-z:_=+/ ]{0,6}first[a-z0-9:_=+/ .\-]{0,24}") {
        let _ = SamplingFilter::try_new(&s);
        let _ = SamplingFilter::builder().parse_lossy(&s);
        let _ = sampling_layer::split_directives(&s);
    }

    #[test]
    fn repeat_directives_round_trip(
        n in 1u32..=1_000_000,
        ms in 1u64..=86_400_000,
        fields in proptest::collection::vec("[a-z_][a-z0-9_.]{0,8}", 0..=8),
        upper in any::<bool>(),
    ) {
        let by = if fields.is_empty() { String::new() } else { format!(" by {}", fields.join("+")) };
        let word = if upper { "FIRST" } else { "first" };
        let text = format!("app::db={word} {n}/{ms}ms{by}");
        let f = SamplingFilter::try_new(&text).unwrap();
        let shown = f.stats().repeats.targets[0].configured.clone().unwrap();
        // The canonical form (display) parses to itself, and so does the set's string.
        let again = SamplingFilter::try_new(&format!("app::db={shown}")).unwrap();
        prop_assert_eq!(again.stats().repeats.targets[0].configured.clone().unwrap(), shown.clone());
        let back = SamplingFilter::try_new(&f.directives()).unwrap();
        prop_assert_eq!(back.stats().repeats.targets[0].configured.clone().unwrap(), shown.clone());
        let prefix = format!("first {}/", n);
        prop_assert!(shown.starts_with(&prefix));
    }

    #[test]
    fn repeat_windows_out_of_range_are_rejected(n in 0u32..3, ms in 86_400_001u64..1_000_000_000_000) {
        let zero = format!("t=first {n}/0ms");
        let long = format!("t=first {}/{ms}ms", n + 1);
        prop_assert!(SamplingFilter::try_new(&zero).is_err());
        prop_assert!(SamplingFilter::try_new(&long).is_err());
    }

    #[test]
    fn out_of_range_is_always_rejected(x in 1.0000001f64..1e9) {
        let above = format!("{x}");
        let below = format!("-{x}");
        prop_assert!(SamplingFilter::try_new(&above).is_err());
        prop_assert!(SamplingFilter::try_new(&below).is_err());
    }
}
