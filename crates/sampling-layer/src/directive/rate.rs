//! Sampling rates as exact fractions.
//!
//! A rate is kept as a reduced fraction `p/q` rather than a float so that the
//! deterministic mode can keep *exactly* `p` events in every window of `q`
//! (`0.3` is `3/10`, `5%` is `1/20`). Both terms fit in 24 bits so that a
//! resolved rule (rate, stats bucket, flags) packs into one `AtomicU64`.

use std::fmt;

use crate::error::ParseErrorKind;

pub(crate) use crate::limits::MAX_DENOMINATOR;

/// Decimal places accepted in a decimal or percentage rate.
const MAX_DECIMALS: u32 = 7;

/// A sampling rate in `[0, 1]`, held as the reduced fraction `numerator / denominator`.
///
/// Crate-private: the public API takes rates as directive text and shows them
/// as `f64` ([`TargetStats::rate`](crate::stats::TargetStats::rate),
/// [`sample_rate`](crate::sample_rate)).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Rate {
    p: u32,
    q: u32,
}

impl Rate {
    /// Keep everything.
    pub(crate) const ONE: Rate = Rate { p: 1, q: 1 };
    /// Keep nothing (of the sampled levels).
    #[cfg(test)]
    pub(crate) const ZERO: Rate = Rate { p: 0, q: 1 };

    /// `p / q`, reduced. `None` if `q` is zero, `p > q` or `q` exceeds [`MAX_DENOMINATOR`].
    pub(crate) fn from_fraction(p: u32, q: u32) -> Option<Rate> {
        if q == 0 || p > q {
            return None;
        }
        let g = gcd(p, q);
        let (p, q) = (p / g, q / g);
        (q <= MAX_DENOMINATOR).then_some(Rate { p, q })
    }

    /// The numerator of the reduced fraction.
    pub(crate) fn numerator(self) -> u32 {
        self.p
    }

    /// The denominator of the reduced fraction.
    pub(crate) fn denominator(self) -> u32 {
        self.q
    }

    /// The rate as a float (what annotations and stats show).
    pub(crate) fn as_f64(self) -> f64 {
        f64::from(self.p) / f64::from(self.q)
    }

    /// Whether this rate keeps every event (no per-event state is needed).
    pub(crate) fn is_one(self) -> bool {
        self.p == self.q
    }

    /// Whether this rate drops every event.
    pub(crate) fn is_zero(self) -> bool {
        self.p == 0
    }

    /// `floor(rate * 2^64)`: a uniformly distributed `u64` below it is kept. Only
    /// meaningful for rates below one (callers treat `is_one` separately, as
    /// `2^64` does not fit).
    pub(crate) fn threshold(self) -> u64 {
        ((u128::from(self.p) << 64) / u128::from(self.q)) as u64
    }

    /// Packs into 48 bits (`p` high, `q` low).
    pub(crate) fn pack(self) -> u64 {
        (u64::from(self.p) << 24) | u64::from(self.q)
    }

    pub(crate) fn unpack(bits: u64) -> Rate {
        Rate {
            p: ((bits >> 24) & 0xFF_FFFF) as u32,
            q: (bits & 0xFF_FFFF) as u32,
        }
    }

    /// Parses `0.05`, `5%` or `1/20` (also `3/10`).
    pub(crate) fn parse(s: &str) -> Result<Rate, ParseErrorKind> {
        let s = s.trim();
        if s.is_empty() {
            return Err(ParseErrorKind::MissingRate);
        }
        if let Some(pct) = s.strip_suffix('%') {
            let (num, scale) = parse_decimal(pct.trim_end(), MAX_DECIMALS - 2, 3)?;
            // num / 10^scale percent == num / (100 * 10^scale)
            let den = 100u64 * 10u64.pow(scale);
            return reduce_checked(num, den, s);
        }
        if let Some((a, b)) = s.split_once('/') {
            let p = parse_int(a.trim(), s)?;
            let q = parse_int(b.trim(), s)?;
            if q == 0 {
                return Err(ParseErrorKind::ZeroDenominator);
            }
            return reduce_checked(p, q, s);
        }
        let (num, scale) = parse_decimal(s, MAX_DECIMALS, 1)?;
        reduce_checked(num, 10u64.pow(scale), s)
    }
}

fn reduce_checked(p: u64, q: u64, text: &str) -> Result<Rate, ParseErrorKind> {
    if p > q {
        return Err(ParseErrorKind::OutOfRange(text.to_owned()));
    }
    let g = gcd64(p, q);
    let (p, q) = (p / g, q / g);
    if q > u64::from(MAX_DENOMINATOR) {
        return Err(ParseErrorKind::DenominatorTooLarge(text.to_owned()));
    }
    Ok(Rate {
        p: p as u32,
        q: q as u32,
    })
}

/// Parses `digits[.digits]` into `(value * 10^scale, scale)`.
fn parse_decimal(
    s: &str,
    max_decimals: u32,
    max_int_digits: usize,
) -> Result<(u64, u32), ParseErrorKind> {
    let bad = || ParseErrorKind::NotARate(s.to_owned());
    if s.starts_with('-') && s.len() > 1 && s[1..].bytes().all(|b| b.is_ascii_digit() || b == b'.')
    {
        return Err(ParseErrorKind::OutOfRange(s.to_owned()));
    }
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i, f),
        None => (s, ""),
    };
    if (int.is_empty() && frac.is_empty())
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(bad());
    }
    // Trailing zeros carry no precision: `0.50000000` is fine.
    let frac = frac.trim_end_matches('0');
    let scale = frac.len() as u32;
    if scale > max_decimals {
        return Err(ParseErrorKind::TooPrecise(s.to_owned()));
    }
    let int = int.trim_start_matches('0');
    // More integer digits than a rate in range can have: out of range, and
    // rejected before the arithmetic below could overflow.
    if int.len() > max_int_digits {
        return Err(ParseErrorKind::OutOfRange(s.to_owned()));
    }
    let int_v: u64 = if int.is_empty() {
        0
    } else {
        int.parse().map_err(|_| bad())?
    };
    let frac_v: u64 = if frac.is_empty() {
        0
    } else {
        frac.parse().map_err(|_| bad())?
    };
    Ok((int_v * 10u64.pow(scale) + frac_v, scale))
}

fn parse_int(s: &str, whole: &str) -> Result<u64, ParseErrorKind> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ParseErrorKind::NotARate(whole.to_owned()));
    }
    // Longer than any denominator we accept: reject without overflowing.
    let s = s.trim_start_matches('0');
    if s.len() > 12 {
        return Err(ParseErrorKind::DenominatorTooLarge(whole.to_owned()));
    }
    Ok(if s.is_empty() {
        0
    } else {
        s.parse()
            .map_err(|_| ParseErrorKind::NotARate(whole.to_owned()))?
    })
}

fn gcd(a: u32, b: u32) -> u32 {
    gcd64(u64::from(a), u64::from(b)) as u32
}

fn gcd64(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a.max(1)
}

/// Writes the shortest exact form: a decimal when the denominator divides a
/// power of ten (`0.05`, `0.3`, `1`), else `p/q` (`1/3`). Parsing the output
/// gives the same rate back.
impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.p == 0 {
            return f.write_str("0");
        }
        if self.p == self.q {
            return f.write_str("1");
        }
        let mut q = self.q;
        let (mut twos, mut fives) = (0u32, 0u32);
        while q % 2 == 0 {
            q /= 2;
            twos += 1;
        }
        while q % 5 == 0 {
            q /= 5;
            fives += 1;
        }
        if q != 1 || twos.max(fives) > MAX_DECIMALS {
            return write!(f, "{}/{}", self.p, self.q);
        }
        let scale = twos.max(fives);
        let num = u64::from(self.p) * (10u64.pow(scale) / u64::from(self.q));
        let digits = format!("{num:0>width$}", width = scale as usize);
        f.write_str("0.")?;
        f.write_str(&digits)
    }
}

impl fmt::Debug for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Rate({}/{} = {})", self.p, self.q, self.as_f64())
    }
}

/// Parses `0.05`, `5%` or `1/20`, as in directives.
impl std::str::FromStr for Rate {
    type Err = crate::error::ParseError;

    fn from_str(s: &str) -> Result<Rate, Self::Err> {
        Rate::parse(s).map_err(|kind| crate::error::ParseError::new(s, kind))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> Rate {
        Rate::parse(s).unwrap_or_else(|e| panic!("{s}: {e:?}"))
    }

    #[test]
    fn parses_the_three_forms_as_reduced_fractions() {
        assert_eq!((r("0.3").p, r("0.3").q), (3, 10));
        assert_eq!((r("0.05").p, r("0.05").q), (1, 20));
        assert_eq!((r("5%").p, r("5%").q), (1, 20));
        assert_eq!((r("1/20").p, r("1/20").q), (1, 20));
        assert_eq!((r("2/6").p, r("2/6").q), (1, 3));
        assert_eq!(r("1"), Rate::ONE);
        assert_eq!(r("1.0"), Rate::ONE);
        assert_eq!(r("100%"), Rate::ONE);
        assert_eq!(r("0"), Rate::ZERO);
        assert_eq!(r(".5"), r("0.5"));
        assert_eq!(r("0.0000001").q, 10_000_000);
    }

    #[test]
    fn rejects_bad_rates_with_the_reason() {
        use ParseErrorKind::*;
        assert!(matches!(Rate::parse("1.5"), Err(OutOfRange(_))));
        assert!(matches!(Rate::parse("-0.1"), Err(OutOfRange(_))));
        assert!(matches!(Rate::parse("101%"), Err(OutOfRange(_))));
        assert!(matches!(Rate::parse("3/2"), Err(OutOfRange(_))));
        assert!(matches!(Rate::parse("NaN"), Err(NotARate(_))));
        assert!(matches!(Rate::parse("inf"), Err(NotARate(_))));
        assert!(matches!(Rate::parse("abc"), Err(NotARate(_))));
        assert!(matches!(Rate::parse("1e-3"), Err(NotARate(_))));
        assert!(matches!(Rate::parse("."), Err(NotARate(_))));
        assert!(matches!(Rate::parse("1/0"), Err(ZeroDenominator)));
        assert!(matches!(
            Rate::parse("1/99999999"),
            Err(DenominatorTooLarge(_))
        ));
        assert!(matches!(Rate::parse("0.00000001"), Err(TooPrecise(_))));
        assert!(matches!(Rate::parse(""), Err(MissingRate)));
    }

    #[test]
    fn display_round_trips() {
        for s in [
            "0",
            "1",
            "0.5",
            "0.05",
            "0.3",
            "1/3",
            "2/7",
            "0.0000001",
            "0.125",
        ] {
            assert_eq!(r(s).to_string(), s);
            assert_eq!(r(&r(s).to_string()), r(s));
        }
        assert_eq!(r("5%").to_string(), "0.05");
    }

    #[test]
    fn threshold_and_packing() {
        assert_eq!(r("0.5").threshold(), 1 << 63);
        assert_eq!(Rate::ZERO.threshold(), 0);
        let x = r("3/7");
        assert_eq!(Rate::unpack(x.pack()), x);
        let m = Rate::from_fraction(MAX_DENOMINATOR - 1, MAX_DENOMINATOR).unwrap();
        assert_eq!(Rate::unpack(m.pack()), m);
    }

    proptest::proptest! {
        #[test]
        fn fractions_round_trip(q in 1u32..=MAX_DENOMINATOR, p in proptest::prelude::any::<u32>()) {
            let p = p % (q + 1);
            let rate = Rate::from_fraction(p, q).unwrap();
            let back = r(&rate.to_string());
            proptest::prop_assert_eq!(back, rate);
            proptest::prop_assert!((back.as_f64() - f64::from(p) / f64::from(q)).abs() < 1e-12);
        }
    }
}
