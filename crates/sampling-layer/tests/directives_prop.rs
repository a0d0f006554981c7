//! Property tests: the parser never panics; valid rates round-trip.

use proptest::prelude::*;
use sampling_layer::{Rate, SamplingFilter, MAX_DENOMINATOR};

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn parser_never_panics_on_any_string(s in any::<String>()) {
        let _ = SamplingFilter::try_new(&s);
        let _ = SamplingFilter::builder().parse_lossy(&s);
        let _ = sampling_layer::split_directives(&s);
        let _ = s.parse::<Rate>();
    }

    #[test]
    fn parser_never_panics_on_directive_like_strings(
        s in r"[a-z:_\[\]=@%/.,0-9 \-{}]{0,40}"
    ) {
        let _ = SamplingFilter::try_new(&s);
        let _ = sampling_layer::split_directives(&s);
    }

    #[test]
    fn fractions_round_trip(q in 1u32..=MAX_DENOMINATOR, p in any::<u32>()) {
        let p = p % (q + 1);
        let r = Rate::from_fraction(p, q).unwrap();
        let back: Rate = r.to_string().parse().unwrap();
        prop_assert_eq!(back, r);
        prop_assert!((back.as_f64() - f64::from(p) / f64::from(q)).abs() < 1e-12);
    }

    #[test]
    fn decimals_round_trip(num in 0u32..=10_000_000, scale in 0u32..=7) {
        let den = 10u32.pow(scale);
        let num = num % (den + 1);
        let text = if scale == 0 { num.to_string() } else { format!("{}.{:0>w$}", num / den, num % den, w = scale as usize) };
        let r: Rate = text.parse().unwrap();
        prop_assert_eq!(r, Rate::from_fraction(num, den).unwrap());
        // The directive form too: target=rate resolves to the same rate.
        let f = SamplingFilter::try_new(&format!("t={text}")).unwrap();
        let shown = f.stats().targets.iter().find(|t| t.target == "t").unwrap().rate;
        prop_assert_eq!(shown, r.as_f64());
    }

    #[test]
    fn out_of_range_is_always_rejected(x in 1.0000001f64..1e9) {
        let above = format!("{x}");
        let below = format!("-{x}");
        prop_assert!(SamplingFilter::try_new(&above).is_err());
        prop_assert!(SamplingFilter::try_new(&below).is_err());
    }
}
