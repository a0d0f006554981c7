//! When the budget adjustment runs: at the end of each interval, or earlier
//! when the budgets' targets have kept more lines than their pace allows.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};
use std::time::Duration;

use super::{Fleet, Histogram};
use crate::clock::{Clock, SystemClock};
use crate::directive::rate::Rate;
use crate::sync::{AtomicBool, AtomicU64, Ordering};

/// The adjustment's clock and schedule, owned by the sampler.
///
/// The pace: `kept` counts the budget lines kept since the last pass; once
/// it is more than `slack` (the allowance's lines) ahead of `pace` lines per
/// second over the time since that pass, the adjustment is due at once (not
/// before a thousandth of an interval: a pass needs some time to measure).
/// Summed over every budget: one target's surplus can hide behind another's
/// shortfall, at most until the interval ends. An early pass only measures
/// keys with no settled estimate; one that finds none holds early passes off
/// until the interval's end (a known key's rise is caught there), so a
/// surplus it cannot fix costs one pass, not one per slack's worth of lines.
#[derive(Debug)]
pub(crate) struct Budgets {
    interval_nanos: u64,
    clock: Arc<dyn Clock>,
    /// Clock time (ns) of the next adjustment.
    next: AtomicU64,
    /// Clock time (ns) of the last pass (what `pass.last` holds, readable
    /// without the lock).
    since: AtomicU64,
    /// Budget lines kept since the last pass.
    kept: AtomicU64,
    /// Lines per second and slack (lines) of every budget, `f64` bits.
    pace: AtomicU64,
    slack: AtomicU64,
    /// The installed set has a budget.
    active: AtomicBool,
    /// An early pass found nothing to measure (the surplus comes from keys
    /// with settled estimates, caught at the interval's end): no more early
    /// passes until then.
    held: AtomicBool,
    /// Where a budget's new keys start before its first pass.
    pub(crate) initial: Rate,
    /// The fleet `/fleet` budgets are shared out over, if the builder was
    /// given its size.
    pub(crate) fleet: Option<Fleet>,
    /// Consistent mode: passes only at the end of wall-clock-aligned
    /// intervals (no early ones), so every process changes its rates on the
    /// same boundaries.
    aligned: bool,
    pass: Mutex<Pass>,
}

/// What the pass keeps between intervals (reused: no allocation per pass
/// once every budget target has its histogram).
#[derive(Debug, Default)]
pub(crate) struct Pass {
    /// Clock time (ns) of the last pass, and of the last at an interval's end.
    pub(crate) last: u64,
    pub(crate) last_full: u64,
    /// Per stats bucket of a budget target.
    pub(crate) histograms: HashMap<usize, Histogram>,
}

/// The default adjustment interval.
pub(crate) const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);

impl Default for Budgets {
    fn default() -> Self {
        Budgets::new(
            DEFAULT_INTERVAL,
            Arc::new(SystemClock::default()),
            Rate::ONE,
            None,
        )
    }
}

impl Budgets {
    pub(crate) fn new(
        interval: Duration,
        clock: Arc<dyn Clock>,
        initial: Rate,
        fleet: Option<Fleet>,
    ) -> Self {
        let interval_nanos = interval.as_nanos().clamp(1, u128::from(u64::MAX / 4)) as u64;
        let now = clock.now().as_nanos() as u64;
        Budgets {
            interval_nanos,
            clock,
            next: AtomicU64::new(now.saturating_add(interval_nanos)),
            since: AtomicU64::new(now),
            kept: AtomicU64::new(0),
            pace: AtomicU64::new(0f64.to_bits()),
            slack: AtomicU64::new(0f64.to_bits()),
            active: AtomicBool::new(false),
            held: AtomicBool::new(false),
            initial,
            fleet,
            aligned: false,
            pass: Mutex::new(Pass {
                last: now,
                last_full: now,
                histograms: HashMap::new(),
            }),
        }
    }

    /// Makes passes come at the end of wall-clock-aligned intervals only
    /// (consistent mode; before the sampler is shared).
    pub(crate) fn align_to_wall_clock(&mut self) {
        self.aligned = true;
        let now = self.clock.now().as_nanos() as u64;
        self.next.store(self.interval_end(now), Ordering::Relaxed);
    }

    /// Whether passes are aligned (and never early).
    pub(crate) fn aligned(&self) -> bool {
        self.aligned
    }

    /// When the interval that runs at `now` ends: `interval` later, or
    /// aligned, at the next multiple of the interval in wall-clock time.
    fn interval_end(&self, now: u64) -> u64 {
        let wall = self.aligned.then(|| self.clock.wall()).flatten();
        let rest = match wall {
            Some(w) => {
                let into = (w.as_nanos() % u128::from(self.interval_nanos)) as u64;
                self.interval_nanos - into
            }
            None => self.interval_nanos,
        };
        now.saturating_add(rest)
    }

    /// The fleet's size as last read (1 without a fleet: a process is its
    /// own fleet).
    pub(crate) fn fleet_size(&self) -> u64 {
        self.fleet.as_ref().map_or(1, Fleet::size)
    }

    /// Reads the fleet's size again (at the start of a pass).
    pub(crate) fn refresh_fleet(&self) -> u64 {
        self.fleet.as_ref().map_or(1, Fleet::refresh)
    }

    pub(crate) fn interval_secs(&self) -> f64 {
        self.interval_nanos as f64 / 1e9
    }

    /// Whether the installed set has a budget (else nothing is ever due).
    #[inline]
    pub(crate) fn active(&self) -> bool {
        self.active.load(Ordering::Relaxed)
    }

    /// The installed budgets' lines per second and slack (see the type's docs).
    pub(crate) fn set_pace(&self, active: bool, (pace, slack): (f64, f64)) {
        self.pace.store(pace.to_bits(), Ordering::Relaxed);
        self.slack.store(slack.to_bits(), Ordering::Relaxed);
        if active && !self.active.swap(active, Ordering::Relaxed) {
            // The first budget since none: its first interval starts now
            // (the figures of before were not counted for it).
            if let Ok(mut pass) = self.pass.try_lock() {
                let now = self.clock.now().as_nanos() as u64;
                self.done(&mut pass, now, false);
            }
        }
        self.active.store(active, Ordering::Relaxed);
    }

    /// A budget line was kept.
    pub(crate) fn kept_line(&self) {
        self.kept.fetch_add(1, Ordering::Relaxed);
    }

    /// Whether the budgets kept more than their pace allows by `now`.
    fn ahead(&self, now: u64) -> bool {
        if self.aligned || self.held.load(Ordering::Relaxed) {
            return false;
        }
        let kept = self.kept.load(Ordering::Relaxed) as f64;
        let slack = f64::from_bits(self.slack.load(Ordering::Relaxed));
        if kept <= slack {
            return false;
        }
        let elapsed = now.saturating_sub(self.since.load(Ordering::Relaxed));
        if elapsed < self.interval_nanos / 1000 {
            return false;
        }
        let pace = f64::from_bits(self.pace.load(Ordering::Relaxed));
        kept > slack + pace * elapsed as f64 / 1e9
    }

    /// The pass's state, the time and whether the pass is early (ahead of
    /// the pace, before the interval's end), if an adjustment is due and no
    /// other thread is making it. One clock read and two loads when not due.
    pub(crate) fn due(&self) -> Option<(MutexGuard<'_, Pass>, u64, bool)> {
        let now = self.clock.now().as_nanos() as u64;
        if now < self.next.load(Ordering::Relaxed) && !self.ahead(now) {
            return None;
        }
        let pass = match self.pass.try_lock() {
            Ok(p) => p,
            Err(TryLockError::Poisoned(p)) => p.into_inner(),
            Err(TryLockError::WouldBlock) => return None,
        };
        // Another thread may have adjusted meanwhile.
        let early = now < self.next.load(Ordering::Relaxed);
        if early && !self.ahead(now) {
            return None;
        }
        (now > pass.last).then_some((pass, now, early))
    }

    /// No more early passes this interval (see `held`).
    pub(crate) fn hold(&self) {
        self.held.store(true, Ordering::Relaxed);
    }

    /// Makes the next check adjust (the pressure moved).
    pub(crate) fn force(&self) {
        self.next.store(0, Ordering::Relaxed);
    }

    /// Marks the adjustment made at `now`; an early one leaves the
    /// interval's end where it was.
    pub(crate) fn done(&self, pass: &mut Pass, now: u64, early: bool) {
        pass.last = now;
        self.since.store(now, Ordering::Relaxed);
        self.kept.store(0, Ordering::Relaxed);
        if !early {
            self.held.store(false, Ordering::Relaxed);
            pass.last_full = now;
            self.next.store(self.interval_end(now), Ordering::Relaxed);
        }
    }
}
