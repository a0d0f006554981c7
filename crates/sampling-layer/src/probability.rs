//! OpenTelemetry's consistent probability sampling, as its specification
//! defines it (the `ProbabilitySampler` and the `th`/`rv` values of the `ot`
//! entry in the W3C `tracestate`), for
//! [`TracePolicy::Probability`](crate::extract::TracePolicy::Probability) and for the
//! head sampler's threshold read by
//! [`TracePolicy::FollowTrace`](crate::extract::TracePolicy::FollowTrace).
//!
//! - A trace's randomness R is a 56-bit number: `rv` from the `ot` entry
//!   when it holds exactly 14 lowercase hex digits, else the rightmost 56
//!   bits (the last 7 bytes) of the trace id.
//! - A sampler at probability p rejects below the threshold
//!   T = (1 − p) · 2^56 and keeps the trace iff R ≥ T
//!   ([`Threshold::keeps`]). A higher probability has a lower threshold, so
//!   what it keeps is a superset of what a lower one keeps, in every process
//!   and every language that follows the specification.
//! - `th` is T written as 14 hex digits with the trailing zeros removed
//!   (`th:0` keeps all, `th:8` half, `th:c` a quarter); a kept line's weight
//!   is 2^56 / (2^56 − T) ([`Threshold::probability`]).
//!
//! ```
//! use sampling_layer::probability::Threshold;
//!
//! let quarter = Threshold::from_probability(0.25).unwrap();
//! assert_eq!(quarter.to_string(), "c");
//! assert_eq!(quarter.value(), 0xc0_0000_0000_0000);
//! assert_eq!("c".parse::<Threshold>().unwrap(), quarter);
//! assert!(quarter.keeps(0xc0_0000_0000_0000) && !quarter.keeps(0xbf_ffff_ffff_ffff));
//! assert_eq!(quarter.probability(), 0.25);
//! ```

use std::fmt;
use std::str::FromStr;

/// 2^56: one more than the largest randomness value.
pub const MAX_ADJUSTED_COUNT: u64 = 1 << 56;

/// The mask of a trace id's rightmost 56 bits (its randomness).
const RANDOMNESS_MASK: u64 = MAX_ADJUSTED_COUNT - 1;

/// Hex digits in a full-precision threshold or randomness value.
const HEX_DIGITS: usize = 14;

/// Hex digits a threshold is rounded to by default (the specification's
/// default precision; more near 0 and 1, see [`Threshold::from_probability`]).
const DEFAULT_PRECISION: i32 = 4;

/// The W3C limit on a `tracestate` list member's value. A longer `ot` value
/// is ignored whole, so reading a hostile header costs one length check.
pub const MAX_OT_LEN: usize = 256;

/// A rejection threshold T in `[0, 2^56)`: a trace is kept iff its
/// randomness is at least T.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Threshold(u64);

impl Threshold {
    /// Keeps every trace (`th:0`).
    pub const ALWAYS: Threshold = Threshold(0);

    /// The threshold a sampler at probability `p` uses, rounded as the
    /// specification's `ProbabilitySampler` rounds it, so that a log sampler
    /// and any spec-compliant head sampler at the same probability keep the
    /// same traces:
    ///
    /// - `p ≥ 1` → [`ALWAYS`](Self::ALWAYS); `p` below 2^-56 (the smallest
    ///   probability a threshold can state), 0 or NaN → `None` (keep nothing).
    /// - Otherwise T = 2^56 − round(p · 2^56), then rounded to the nearest
    ///   multiple of 16^(14 − d), halves up, where d, the number of hex digits
    ///   kept, is 4, plus one for every 4 binary orders of magnitude that p
    ///   (or 1 − p) is below 1/2, at most 14. So a power of two p = 2^-k is
    ///   exact (T = 2^56 − 2^(56−k)), and p = 0.1 gives `th:e666` (T's
    ///   first four digits), as opentelemetry-go's sampler does.
    pub fn from_probability(p: f64) -> Option<Threshold> {
        if p.is_nan() || p < 1.0 / MAX_ADJUSTED_COUNT as f64 {
            return None;
        }
        if p >= 1.0 {
            return Some(Threshold::ALWAYS);
        }
        let precision = (DEFAULT_PRECISION + (-binary_exponent(p)) / 4)
            .max(DEFAULT_PRECISION + (-binary_exponent(1.0 - p)) / 4)
            .min(HEX_DIGITS as i32);
        // p · 2^56 is exact in f64 (a power-of-two scaling); only `round`
        // and the precision below round.
        let scaled = (p * MAX_ADJUSTED_COUNT as f64).round() as u64;
        let mut t = MAX_ADJUSTED_COUNT - scaled.min(MAX_ADJUSTED_COUNT);
        let shift = 4 * (HEX_DIGITS as u32 - precision as u32);
        if shift != 0 {
            t = ((t + (1 << (shift - 1))) >> shift) << shift;
        }
        // Cannot reach 2^56 (p ≥ 2^-56 rounds to at least one unit above
        // the half-step at every precision); refuse it all the same rather
        // than state a threshold outside the range.
        (t < MAX_ADJUSTED_COUNT).then_some(Threshold(t))
    }

    /// The threshold whose 56-bit value is `t`; `None` if `t ≥ 2^56`.
    pub const fn from_value(t: u64) -> Option<Threshold> {
        if t < MAX_ADJUSTED_COUNT {
            Some(Threshold(t))
        } else {
            None
        }
    }

    /// T, in `[0, 2^56)`.
    pub const fn value(self) -> u64 {
        self.0
    }

    /// Whether a trace of randomness `r` is kept: `r ≥ T`.
    #[inline]
    pub const fn keeps(self, r: u64) -> bool {
        r >= self.0
    }

    /// The probability this threshold keeps a trace with: (2^56 − T) / 2^56
    /// (its inverse is the specification's adjusted count). Exact for the
    /// thresholds of [`from_probability`](Self::from_probability) below 14
    /// digits of precision.
    pub fn probability(self) -> f64 {
        (MAX_ADJUSTED_COUNT - self.0) as f64 / MAX_ADJUSTED_COUNT as f64
    }
}

/// `th`'s value: T as 14 hex digits, trailing zeros removed (`0` for
/// [`Threshold::ALWAYS`]).
impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digits = format!("{:014x}", self.0);
        let trimmed = digits.trim_end_matches('0');
        f.write_str(if trimmed.is_empty() { "0" } else { trimmed })
    }
}

/// A `th` value that is not 1 to 14 lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ThresholdError {
    /// No digits.
    Empty,
    /// More than 14 digits (the length).
    TooLong(usize),
    /// A character that is not a lowercase hex digit (the value).
    NotLowercaseHex(String),
}

impl fmt::Display for ThresholdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ThresholdError::Empty => f.write_str("empty `th` value"),
            ThresholdError::TooLong(n) => {
                write!(f, "`th` value of {n} digits (at most 14)")
            }
            ThresholdError::NotLowercaseHex(s) => {
                write!(f, "`th` value {s:?} is not lowercase hex digits")
            }
        }
    }
}

impl std::error::Error for ThresholdError {}

/// Reads a `th` value (`"8"`, `"e666"`); the digits left out are zeros.
impl FromStr for Threshold {
    type Err = ThresholdError;

    fn from_str(s: &str) -> Result<Threshold, ThresholdError> {
        if s.is_empty() {
            return Err(ThresholdError::Empty);
        }
        if s.len() > HEX_DIGITS {
            return Err(ThresholdError::TooLong(s.len()));
        }
        let t = lower_hex(s).ok_or_else(|| ThresholdError::NotLowercaseHex(s.into()))?;
        Ok(Threshold(t << (4 * (HEX_DIGITS - s.len()))))
    }
}

/// The trace id's rightmost 56 bits.
#[inline]
pub(crate) fn trace_id_randomness(trace_id: &[u8; 16]) -> u64 {
    let mut low = [0; 8];
    low.copy_from_slice(&trace_id[8..]);
    u64::from_be_bytes(low) & RANDOMNESS_MASK
}

/// What the `ot` entry's value says: `rv` (randomness) and `th` (the
/// threshold the trace was sampled at), each `None` where absent or
/// malformed. A value longer than [`MAX_OT_LEN`] is ignored whole; the first
/// occurrence of a sub-key counts. One pass over at most 256 bytes, no
/// allocation.
pub(crate) fn parse_ot(ot: &str) -> (Option<u64>, Option<Threshold>) {
    let (mut rv, mut th) = (None, None);
    if ot.len() > MAX_OT_LEN {
        return (rv, th);
    }
    let (mut seen_rv, mut seen_th) = (false, false);
    for item in ot.split(';') {
        if let Some(v) = item.strip_prefix("rv:") {
            if !seen_rv {
                seen_rv = true;
                rv = (v.len() == HEX_DIGITS).then(|| lower_hex(v)).flatten();
            }
        } else if let Some(v) = item.strip_prefix("th:") {
            if !seen_th {
                seen_th = true;
                th = v.parse().ok();
            }
        }
    }
    (rv, th)
}

/// Lowercase hex digits (at most 16) as a number; `None` for anything else.
fn lower_hex(s: &str) -> Option<u64> {
    if s.len() > 16 {
        return None;
    }
    s.bytes().try_fold(0u64, |n, b| {
        let d = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            _ => return None,
        };
        Some(n << 4 | u64::from(d))
    })
}

/// e with x = m · 2^e, m in [0.5, 1), for a positive normal `x` (C's
/// `frexp`), read from the bits: the precision rule counts binary orders of
/// magnitude this way.
fn binary_exponent(x: f64) -> i32 {
    ((x.to_bits() >> 52) & 0x7ff) as i32 - 1022
}

#[cfg(all(test, not(sampling_layer_loom)))]
mod tests {
    use super::*;

    #[test]
    fn powers_of_two_are_exact_and_encode_as_the_spec_says() {
        for (p, th) in [(1.0, "0"), (0.5, "8"), (0.25, "c"), (0.125, "e")] {
            let t = Threshold::from_probability(p).unwrap();
            assert_eq!(t.to_string(), th, "p = {p}");
            assert_eq!(t.probability(), p);
        }
        for k in 0..=56 {
            let p = (0.5f64).powi(k);
            let t = Threshold::from_probability(p).unwrap();
            assert_eq!(
                t.value(),
                MAX_ADJUSTED_COUNT - (MAX_ADJUSTED_COUNT >> k),
                "k = {k}"
            );
        }
    }

    #[test]
    fn binary_exponent_is_frexp() {
        assert_eq!(binary_exponent(0.5), 0);
        assert_eq!(binary_exponent(0.1), -3);
        assert_eq!(binary_exponent(1.0), 1);
        assert_eq!(binary_exponent(1.0 / MAX_ADJUSTED_COUNT as f64), -55);
    }

    #[test]
    fn ot_values_are_read_strictly() {
        let rv = "rv:0123456789abcd";
        assert_eq!(parse_ot(rv).0, Some(0x0001_2345_6789_abcd));
        assert_eq!(
            parse_ot("th:8;rv:ffffffffffffff").1,
            Threshold::from_value(1 << 55)
        );
        // 13 or 15 digits, upper case, a sign: ignored.
        for bad in [
            "rv:0123456789abc",
            "rv:0123456789abcde",
            "rv:0123456789ABCD",
            "rv:+123456789abcd",
        ] {
            assert_eq!(parse_ot(bad).0, None, "{bad}");
        }
        assert_eq!(parse_ot("th:").1, None);
        assert_eq!(parse_ot("th:123456789abcdef").1, None);
        assert_eq!(parse_ot("th:G").1, None);
        // The first occurrence counts, even when malformed.
        assert_eq!(parse_ot("th:x;th:8").1, None);
        let long = format!("th:8;{}", "a".repeat(MAX_OT_LEN));
        assert_eq!(parse_ot(&long), (None, None));
    }
}
