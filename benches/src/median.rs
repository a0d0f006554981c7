//! The median of paired ratios and how far it can be trusted: what the service bench
//! reports for its interleaved rounds, where the spread between rounds is larger than the
//! differences it measures.

/// The median of `values` (sorted in place); `None` when there are none.
pub fn median(values: &mut [f64]) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(values[n / 2]),
        _ => Some((values[n / 2 - 1] + values[n / 2]) / 2.0),
    }
}

/// The 0-based positions, in `n` sorted values, of a distribution-free interval for the
/// true median with at least 95% confidence: the `k`-th value from each end, for the
/// largest `k` with P(Binomial(n, 1/2) < k) ≤ 2.5%. It holds whatever the values'
/// distribution, provided the values are independent draws. `None` below six values:
/// even the smallest and the largest would cover the median less than 95% of the time.
pub fn median_interval(n: usize) -> Option<(usize, usize)> {
    // P(B = i) built up in logs, so that no term underflows in long runs.
    let ln_half = 0.5f64.ln();
    let mut ln_choose = 0.0f64;
    let mut below = 0.0f64;
    let mut k = 0;
    for i in 0..n {
        let p = (ln_choose + n as f64 * ln_half).exp();
        if below + p > 0.025 {
            break;
        }
        below += p;
        k = i + 1;
        ln_choose += ((n - i) as f64).ln() - ((i + 1) as f64).ln();
    }
    (k >= 1).then(|| (k - 1, n - k))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// P(Binomial(n, 1/2) ≤ j), exactly, as a numerator over 2^n.
    fn tail(n: u32, j: u32) -> u128 {
        let mut choose = 1u128;
        let mut sum = 0u128;
        for i in 0..=j {
            sum += choose;
            choose = choose * u128::from(n - i) / u128::from(i + 1);
        }
        sum
    }

    #[test]
    fn the_interval_is_the_widest_k_with_enough_coverage_exactly() {
        assert_eq!(median_interval(0), None);
        assert_eq!(median_interval(5), None);
        for n in 6..=120u32 {
            let (lo, hi) = median_interval(n as usize).expect("an interval from six values");
            let k = lo as u32 + 1;
            assert_eq!(hi, (n - k) as usize, "symmetric at n = {n}");
            let total = 1u128 << n;
            // Coverage 1 − 2·P(B ≤ k − 1) ≥ 95%, and one step narrower would fall short.
            assert!(40 * tail(n, k - 1) <= total, "n = {n}: coverage under 95%");
            assert!(
                40 * tail(n, k) > total,
                "n = {n}: a narrower interval also covers"
            );
        }
    }

    #[test]
    fn known_intervals_from_the_tables() {
        // The order statistics a binomial table gives for the 95% interval (1-based:
        // the 1st and 6th of 6, the 4th and 13th of 16, the 40th and 61st of 100).
        assert_eq!(median_interval(6), Some((0, 5)));
        assert_eq!(median_interval(16), Some((3, 12)));
        assert_eq!(median_interval(100), Some((39, 60)));
        // Long runs stay finite and symmetric where the plain product would underflow.
        let (lo, hi) = median_interval(2_000).expect("interval");
        assert_eq!(lo + hi, 1_999);
        assert!((955..=957).contains(&lo), "{lo}");
    }

    #[test]
    fn medians_odd_even_and_empty() {
        assert_eq!(median(&mut []), None);
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), Some(2.5));
    }
}
