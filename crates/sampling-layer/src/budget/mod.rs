//! Budgets: a target's lines per second, shared out among its keys.
//!
//! A directive `app::router=200/s` (or `=30/min`) gives the target a budget
//! instead of a rate. Each key under it (callsite or `sample_key` value) is
//! still decided by its own rate, cached in its rule exactly as a configured
//! rate is (so a sampled-out event costs what it costs in the same mode
//! without a budget); what changes is who writes that rate: once per
//! adjustment interval, a pass ([`crate::adjust`]) estimates each key's event
//! rate and gives it the rate that spends the budget.
//!
//! # The estimate
//!
//! Per key, an exponential moving average of events per second
//! ([`BudgetCell`]), fed with the events counted on its word since the last
//! pass (the pass moves them to the stats ledger, so it reads counts the
//! sampler keeps anyway). The average follows a rise at once and a fall
//! halfway per interval: a key whose traffic doubles is caught by the next
//! pass, while a brief lull does not let a busy key flood the next interval.
//!
//! # Sharing out (water filling)
//!
//! With estimates `e_i` and a budget `B`, the pass finds the level `c` with
//! `sum(min(e_i, c)) = B`: a key below `c` (a rare key, below its fair share)
//! keeps everything, a key above keeps `c / e_i`. The level is found from a
//! histogram of the estimates ([`Histogram`], fixed size, no sorting and no
//! allocation per key), so the pass stays linear in the number of keys.
//!
//! # Rates as fractions
//!
//! A rate below 1/16 becomes `1/N` (N rounded to nearest: at most 1/32
//! relative error, and the deterministic hot path, which handles `1/N` without
//! a division); above, `p/1024`. Every kept event carries the exact rate it
//! was kept at, so `sum(1 / sample_rate)` over kept lines estimates what was
//! emitted whatever the rounding.
//!
//! # New keys
//!
//! A key seen for the first time starts at rate 1 while its target's
//! allowance lasts (a tenth of the budget's lines per interval, at least one
//! key, counted per interval); later new keys in the same interval start at
//! the target's average rate (`B / sum(e_i)` at the last pass). So key churn
//! (dynamic client ids) costs at most a tenth of the budget extra.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};
use std::time::Duration;

use crate::clock::{Clock, SystemClock};
use crate::counts::Counts;
use crate::error::ParseErrorKind;
use crate::rate::Rate;
use crate::rule::Rule;
use crate::sync::{AtomicU64, Ordering};

/// The largest budget: a billion lines per unit.
const MAX_AMOUNT: u64 = 1_000_000_000;

/// How much of the budget (per interval) new keys may take at rate 1.
const FRESH_SHARE: f64 = 0.1;

/// A budget as written: `amount` lines per second or per minute.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Budget {
    amount: u32,
    per_minute: bool,
}

impl Budget {
    /// `Some` if `text` is a budget (`<integer>/s`, `<integer>/min`, any case
    /// of the unit), with the parse result; `None` if it is not written as one
    /// (a rate, `1/20`, has digits after the `/`).
    pub(crate) fn parse(text: &str) -> Option<Result<Budget, ParseErrorKind>> {
        let (amount, unit) = text.trim().split_once('/')?;
        let unit = unit.trim();
        let per_minute = if unit.eq_ignore_ascii_case("s") || unit.eq_ignore_ascii_case("sec") {
            false
        } else if unit.eq_ignore_ascii_case("min") || unit.eq_ignore_ascii_case("m") {
            true
        } else if unit.bytes().next().is_some_and(|b| b.is_ascii_alphabetic()) {
            return Some(Err(ParseErrorKind::InvalidBudget(text.trim().to_owned())));
        } else {
            return None;
        };
        let amount = amount.trim();
        let bad = || Some(Err(ParseErrorKind::InvalidBudget(text.trim().to_owned())));
        if amount.is_empty() || amount.len() > 10 || !amount.bytes().all(|b| b.is_ascii_digit()) {
            return bad();
        }
        match amount.parse::<u64>() {
            Ok(n) if (1..=MAX_AMOUNT).contains(&n) => Some(Ok(Budget {
                amount: n as u32,
                per_minute,
            })),
            _ => bad(),
        }
    }

    /// Lines per second.
    pub(crate) fn per_sec(self) -> f64 {
        if self.per_minute {
            f64::from(self.amount) / 60.0
        } else {
            f64::from(self.amount)
        }
    }
}

/// Written as parsed (`200/s`, `30/min`): parsing the output gives it back.
impl fmt::Display for Budget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = if self.per_minute { "min" } else { "s" };
        write!(f, "{}/{unit}", self.amount)
    }
}

impl fmt::Debug for Budget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Budget({self})")
    }
}

/// Per-key budget state, beside the key's counts word: the estimate (an
/// `f32` of events per second, high half; all ones = none yet) and the
/// events moved out of the word by anyone but the pass since the last pass
/// (low half). Written only under the stats ledger lock, which every move of
/// figures holds, so plain loads and stores suffice.
#[derive(Debug)]
pub(crate) struct BudgetCell(AtomicU64);

const NO_ESTIMATE: u64 = 0xFFFF_FFFF;

impl BudgetCell {
    pub(crate) fn new() -> Self {
        BudgetCell(AtomicU64::new(NO_ESTIMATE << 32))
    }

    /// Counts events moved out of the word by a flush or a re-resolution, for
    /// the next pass.
    pub(crate) fn carry(&self, (kept, dropped): (u64, u64)) {
        let cur = self.0.load(Ordering::Relaxed);
        let carried = (cur & 0xFFFF_FFFF).saturating_add(kept + dropped);
        self.0.store(
            (cur & !0xFFFF_FFFF) | carried.min(0xFFFF_FFFF),
            Ordering::Relaxed,
        );
    }

    /// Folds `counted` events over `secs` seconds (plus the carry) into the
    /// estimate; returns the new estimate (events per second) and the events
    /// it counted.
    pub(crate) fn observe(&self, counted: u64, secs: f64) -> (f64, u64) {
        let cur = self.0.load(Ordering::Relaxed);
        let n = counted + (cur & 0xFFFF_FFFF);
        let seen = n as f64 / secs;
        let estimate = match cur >> 32 {
            NO_ESTIMATE => seen,
            bits => {
                let old = f64::from(f32::from_bits(bits as u32));
                // Up at once, down halfway: never under-estimate a rise.
                if seen >= old {
                    seen
                } else {
                    0.5 * (seen + old)
                }
            }
        };
        let bits = u64::from((estimate as f32).to_bits());
        self.0.store(bits << 32, Ordering::Relaxed);
        (estimate, n)
    }

    /// The estimate of the last pass (events per second), if any.
    pub(crate) fn estimate(&self) -> Option<f64> {
        match self.0.load(Ordering::Relaxed) >> 32 {
            NO_ESTIMATE => None,
            bits => Some(f64::from(f32::from_bits(bits as u32))),
        }
    }
}

/// A target's budget at run time (one per budget label of the installed set).
#[derive(Debug)]
pub(crate) struct TargetBudget {
    pub(crate) budget: Budget,
    /// New keys started at rate 1 in this interval.
    fresh: AtomicU64,
    /// The packed rate later new keys start at.
    fresh_rate: AtomicU64,
    /// New keys per interval that start at rate 1.
    allowance: AtomicU64,
    /// The budget's lines per interval.
    per_interval: f64,
    /// The budget under pressure at the last pass (lines/s), and the share of
    /// the target's events kept in the interval before it (both `f64` bits).
    effective: AtomicU64,
    share: AtomicU64,
}

impl TargetBudget {
    pub(crate) fn new(budget: Budget, interval_secs: f64) -> Self {
        let per_interval = budget.per_sec() * interval_secs;
        TargetBudget {
            budget,
            fresh: AtomicU64::new(0),
            fresh_rate: AtomicU64::new(Rate::ONE.pack()),
            // Until the first pass knows how many lines a key brings: one each.
            allowance: AtomicU64::new(keys_for(per_interval * FRESH_SHARE, 1.0)),
            per_interval,
            effective: AtomicU64::new(budget.per_sec().to_bits()),
            share: AtomicU64::new(1f64.to_bits()),
        }
    }

    /// The rate a key seen for the first time starts at (see the module docs).
    pub(crate) fn start_rate(&self) -> Rate {
        if self.fresh.fetch_add(1, Ordering::Relaxed) < self.allowance.load(Ordering::Relaxed) {
            Rate::ONE
        } else {
            Rate::unpack(self.fresh_rate.load(Ordering::Relaxed))
        }
    }

    /// The budget under pressure at the last pass, in lines per second.
    pub(crate) fn effective(&self) -> f64 {
        f64::from_bits(self.effective.load(Ordering::Relaxed))
    }

    /// The share of the target's events kept in the last interval.
    pub(crate) fn share(&self) -> f64 {
        f64::from_bits(self.share.load(Ordering::Relaxed))
    }

    /// A new interval, after a pass that saw `h`'s keys over `secs`: the
    /// allowance refills (as many keys as bring a tenth of the budget's lines
    /// at the last interval's lines per active key), and later new keys start
    /// at the rate that would spend the budget on the whole target's traffic
    /// as counted (not as estimated: the estimates of keys that have gone
    /// quiet decay only by half per interval).
    /// `scale` is the pressure's (1 without).
    pub(crate) fn renew(&self, h: &Histogram, secs: f64, scale: f64) {
        let per_key = h.events as f64 / h.active.max(1) as f64;
        self.allowance.store(
            keys_for(self.per_interval * scale * FRESH_SHARE, per_key),
            Ordering::Relaxed,
        );
        self.effective
            .store((self.budget.per_sec() * scale).to_bits(), Ordering::Relaxed);
        let share = h.kept as f64 / h.events.max(1) as f64;
        self.share.store(
            if h.events == 0 { 1.0 } else { share }.to_bits(),
            Ordering::Relaxed,
        );
        let rate = if h.events == 0 {
            Rate::ONE
        } else {
            quantize(self.budget.per_sec() * scale * secs / h.events as f64)
        };
        self.fresh.store(0, Ordering::Relaxed);
        self.fresh_rate.store(rate.pack(), Ordering::Relaxed);
    }
}

/// How many keys of `per_key` lines make `lines` (at least one).
fn keys_for(lines: f64, per_key: f64) -> u64 {
    (lines / per_key.max(1.0)).floor().max(1.0) as u64
}

/// The adjustment's clock and schedule, owned by the sampler.
#[derive(Debug)]
pub(crate) struct Budgets {
    interval_nanos: u64,
    clock: Arc<dyn Clock>,
    /// Clock time (ns) of the next adjustment.
    next: AtomicU64,
    pass: Mutex<Pass>,
}

/// What the pass keeps between intervals (reused: no allocation per pass
/// once every budget target has its histogram).
#[derive(Debug, Default)]
pub(crate) struct Pass {
    /// Clock time (ns) of the last pass.
    pub(crate) last: u64,
    /// Per stats bucket of a budget target.
    pub(crate) histograms: HashMap<usize, Histogram>,
}

/// The default adjustment interval.
pub(crate) const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);

impl Default for Budgets {
    fn default() -> Self {
        Budgets::new(DEFAULT_INTERVAL, Arc::new(SystemClock::default()))
    }
}

impl Budgets {
    pub(crate) fn new(interval: Duration, clock: Arc<dyn Clock>) -> Self {
        let interval_nanos = interval.as_nanos().clamp(1, u128::from(u64::MAX / 4)) as u64;
        let now = clock.now().as_nanos() as u64;
        Budgets {
            interval_nanos,
            clock,
            next: AtomicU64::new(now.saturating_add(interval_nanos)),
            pass: Mutex::new(Pass {
                last: now,
                histograms: HashMap::new(),
            }),
        }
    }

    pub(crate) fn interval_secs(&self) -> f64 {
        self.interval_nanos as f64 / 1e9
    }

    /// On a kept event of a budget key: the pass's state and the time, if an
    /// adjustment is due and no other thread is making it. One clock read
    /// and one load when not due.
    pub(crate) fn due(&self) -> Option<(MutexGuard<'_, Pass>, u64)> {
        let now = self.clock.now().as_nanos() as u64;
        if now < self.next.load(Ordering::Relaxed) {
            return None;
        }
        let pass = match self.pass.try_lock() {
            Ok(p) => p,
            Err(TryLockError::Poisoned(p)) => p.into_inner(),
            Err(TryLockError::WouldBlock) => return None,
        };
        // Another thread may have adjusted meanwhile.
        (now >= self.next.load(Ordering::Relaxed) && now > pass.last).then_some((pass, now))
    }

    /// Makes the next budget kept event adjust (the pressure moved).
    pub(crate) fn force(&self) {
        self.next.store(0, Ordering::Relaxed);
    }

    /// Marks the adjustment made at `now`.
    pub(crate) fn done(&self, pass: &mut Pass, now: u64) {
        pass.last = now;
        self.next
            .store(now.saturating_add(self.interval_nanos), Ordering::Relaxed);
    }
}

/// A budget key's first rule was just published on `counts`: below rate 1,
/// start it at a random position of its first window. In deterministic mode
/// a key keeps the first event of each window; a key that lives for fewer
/// events than a window (key churn) would otherwise keep one event where it
/// should keep a fraction, so `sum(1 / sample_rate)` would over-count it and
/// churn would overspend the budget. With a random start each key keeps its
/// share in expectation, and exactly `p` in `q` after its first window.
pub(crate) fn start(counts: &Counts, rule: Rule, seed: u64) {
    let rate = rule.rate();
    if rule.is_budget() && !rate.is_one() && !rate.is_zero() {
        counts.set_position(crate::mode::draw(seed) % u64::from(rate.denominator()));
    }
}

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
        self.events += events;
        self.kept += kept;
        self.active += u64::from(events > 0);
        let i = bin(e);
        self.count[i] += 1;
        self.sum[i] += e;
        self.keys += 1;
        self.total += e;
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

/// The rate a key with estimate `e` gets under level `c`, as a fraction (see
/// the module docs); never 0, so every key still shows up.
pub(crate) fn rate_for(e: f64, c: f64) -> Rate {
    if e.is_nan() || e <= c {
        return Rate::ONE;
    }
    quantize(c / e)
}

/// `r` in (0, 1] as `1/N` below 1/16, else `p/1024`.
pub(crate) fn quantize(r: f64) -> Rate {
    if r.is_nan() || r >= 1.0 {
        return Rate::ONE;
    }
    if r < 1.0 / 16.0 {
        let n = (1.0 / r)
            .round()
            .clamp(16.0, f64::from(crate::rate::MAX_DENOMINATOR));
        return Rate::from_fraction(1, n as u32).unwrap_or(Rate::ONE);
    }
    let p = (r * 1024.0).round().clamp(64.0, 1024.0) as u32;
    Rate::from_fraction(p, 1024).unwrap_or(Rate::ONE)
}

#[cfg(all(test, not(sampling_layer_loom)))]
mod tests;
