//! The three ways to decide whether an event at rate `p/q` is kept.

use std::cell::Cell;

use crate::directive::rate::Rate;

/// How the sampler decides, per key, which events to keep.
///
#[doc = include_str!("modes.md")]
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Mode {
    /// Exactly `p` in every `q` events per key, the first one kept (1st, N+1th, ...
    /// at `1/N`). Exact under concurrent threads.
    #[default]
    Deterministic,
    /// An independent draw per event from a fast thread-local generator
    /// (see [`seed`](crate::SamplingFilterBuilder::seed) for what a seed
    /// reproduces). No per-key state.
    Probabilistic,
    /// Keep iff the unseeded xxh3 hash of `field`'s value (on the event or any
    /// span it is in) is below `rate * 2^64`: every process makes the same
    /// decision for the same value, and a higher rate keeps a superset.
    Consistent {
        /// The field whose value decides (`request_id`, `trace_id`).
        field: String,
    },
}

/// Keep iff `x` (uniform over `u64`) falls under the rate.
#[inline]
pub(crate) fn below(x: u64, rate: Rate) -> bool {
    rate.is_one() || x < rate.threshold()
}

thread_local! {
    /// Per-thread draw counter and thread salt. Draws are `splitmix64` of
    /// `seed ^ salt ^ counter`: a counter-based generator, so every sampler on
    /// the thread shares one cheap state and a seeded sampler is reproducible
    /// per thread (salt = the order in which threads first drew).
    static DRAWS: Cell<(u64, u64)> = const { Cell::new((0, u64::MAX)) };
}

static NEXT_SALT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// A uniform `u64` for the probabilistic mode. Cost: a thread-local read and
/// write and a few multiplications; no shared state.
///
/// Hand-written on purpose: `rand`'s `SmallRng` (xoshiro256++, seeded with
/// `seed_from_u64`) in the same thread-local was measured side by side on
/// the hot path (a sampled-out probabilistic event, callgrind): 150–155
/// instructions in the decision instead of 137 (+13 to +18 per event, +3–4%
/// of the whole event; ~4 ns slower in interleaved timed runs). It also has
/// one state per thread for every seed, where this counter-based stream lets
/// each sampler mix its own seed into every draw. The `seed` contract is on
/// [`SamplingFilterBuilder::seed`](crate::SamplingFilterBuilder::seed).
#[inline]
pub(crate) fn draw(seed: u64) -> u64 {
    DRAWS.with(|d| {
        let (mut n, mut salt) = d.get();
        if salt == u64::MAX {
            salt = splitmix64(NEXT_SALT.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        }
        n = n.wrapping_add(1);
        d.set((n, salt));
        splitmix64(seed ^ salt ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15))
    })
}

/// Resets this thread's draw stream (tests: reproducible sequences).
#[cfg(all(test, not(sampling_layer_loom)))]
pub(crate) fn reset_draws() {
    DRAWS.with(|d| d.set((0, 0)));
}

#[inline]
pub(crate) fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(all(test, not(sampling_layer_loom)))]
mod tests {
    use super::*;

    #[test]
    fn seeded_draws_are_reproducible_per_thread() {
        reset_draws();
        let a: Vec<u64> = (0..5).map(|_| draw(42)).collect();
        reset_draws();
        let b: Vec<u64> = (0..5).map(|_| draw(42)).collect();
        assert_eq!(a, b);
        reset_draws();
        let c: Vec<u64> = (0..5).map(|_| draw(43)).collect();
        assert_ne!(a, c);
    }

    #[test]
    fn below_threshold_edges() {
        assert!(below(u64::MAX, Rate::ONE));
        assert!(!below(0, Rate::ZERO));
        let half = Rate::parse("0.5").unwrap();
        assert!(below((1 << 63) - 1, half));
        assert!(!below(1 << 63, half));
    }
}
