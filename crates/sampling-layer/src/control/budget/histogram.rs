//! The estimates of one target's keys, binned by `log2`: the water level
//! without sorting and without allocation per key.

/// Bins per doubling of a key's estimate, and doublings covered (from
/// 2^-8 to 2^24 events per second).
const PER_OCTAVE: f64 = 8.0;
const LOWEST_LOG2: f64 = -8.0;
pub(crate) const BINS: usize = 256;

/// The estimates of one target's keys, binned by `log2` (fixed size).
#[derive(Debug, Clone)]
pub(crate) struct Histogram {
    count: [u32; BINS],
    sum: [f64; BINS],
    keys: u64,
    total: f64,
    /// Events counted in the pass (and kept of them), and keys that had any.
    events: u64,
    kept: u64,
    active: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            count: [0; BINS],
            sum: [0.0; BINS],
            keys: 0,
            total: 0.0,
            events: 0,
            kept: 0,
            active: 0,
        }
    }
}

fn bin(e: f64) -> usize {
    if e <= 0.0 || !e.is_finite() {
        return 0;
    }
    ((e.log2() - LOWEST_LOG2) * PER_OCTAVE).clamp(0.0, (BINS - 1) as f64) as usize
}

fn bin_low(i: usize) -> f64 {
    if i == 0 {
        0.0
    } else {
        (i as f64 / PER_OCTAVE + LOWEST_LOG2).exp2()
    }
}

impl Histogram {
    pub(crate) fn clear(&mut self) {
        *self = Histogram::default();
    }

    /// A key with estimate `e` that had `events` events (`kept` kept) in the pass.
    pub(crate) fn add(&mut self, e: f64, events: u64, kept: u64) {
        self.add_many(e, 1, events, kept);
    }

    /// `keys` keys of estimate `e` each that had `events` events (`kept`
    /// kept) in the pass between them: keys evicted since the last pass,
    /// counted at their mean.
    pub(crate) fn add_many(&mut self, e: f64, keys: u64, events: u64, kept: u64) {
        if keys == 0 {
            return;
        }
        self.events += events;
        self.kept += kept;
        self.active += if events > 0 { keys } else { 0 };
        let i = bin(e);
        self.count[i] = self.count[i].saturating_add(keys.min(u64::from(u32::MAX)) as u32);
        self.sum[i] += e * keys as f64;
        self.keys += keys;
        self.total += e * keys as f64;
    }

    /// Events counted in the pass, kept of them, and keys that had any.
    pub(crate) fn events(&self) -> (u64, u64, u64) {
        (self.events, self.kept, self.active)
    }

    /// The level `c` with `sum(min(e_i, c)) = budget` (infinite when the
    /// whole traffic fits). Keys of the bin the level falls in count as below
    /// it when their mean is.
    pub(crate) fn level(&self, budget: f64) -> f64 {
        if self.total <= budget {
            return f64::INFINITY;
        }
        let (mut below_sum, mut below_keys) = (0.0, 0u64);
        for i in 0..BINS {
            let n = u64::from(self.count[i]);
            if n == 0 {
                continue;
            }
            let c = (budget - below_sum) / (self.keys - below_keys) as f64;
            let mean = self.sum[i] / n as f64;
            if c <= bin_low(i) || c < mean {
                return c.max(0.0);
            }
            below_sum += self.sum[i];
            below_keys += n;
        }
        f64::INFINITY
    }
}
