//! Changes one directive at a time, changes that expire, and recent figures:
//! what the sampler does at a time on its clock, without a thread.
//!
//! # Edits and expiry
//!
//! Every change of the directive set goes through the edit lock: a whole new
//! set ([`Sampler::replace_directives`]) or one directive
//! ([`Sampler::edit`], see `directive::edit`). A change may carry an expiry:
//! at that time its selector returns to what it held before the change (its
//! previous directive, or none), unless it was changed again since: a later
//! change without expiry cancels the revert, a later change with one replaces
//! it (and still returns, at its own expiry, to what the selector held before
//! the first of them, so a temporary value is never restored as a lasting
//! one), and a new whole set cancels every revert.
//!
//! Reverts happen lazily: the first kept event, handle call or stats read at
//! or after the expiry applies every revert due, in one install. While no
//! revert is pending, a kept event pays nothing for them (its one load of
//! the sampler's engaged parts says so); while one is, a kept event reads
//! the clock. A sampled-out event never does either.
//!
//! # Recent figures
//!
//! Time is cut in buckets of `recent_interval` on the sampler's clock. The
//! figures of each label are marked at the first stats read in each bucket
//! (and once at creation); a snapshot's recent figures are the difference
//! between the last two marks: the last complete bucket when something reads
//! at least once per interval (as `logmetrics` does), else the time between
//! the two reads. Reading returns the same recent figures until the next
//! bucket starts, whoever reads: it never resets anything.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::clock::Clock;
use crate::directive::edit::Selector;
use crate::figures::stats::TargetStats;
use crate::sync::AtomicU64;

/// No revert pending.
pub(crate) const NONE: u64 = u64::MAX;

/// The sampler's timed state.
#[derive(Debug)]
pub(crate) struct Timed {
    clock: Arc<dyn Clock>,
    interval: Duration,
    /// The earliest pending expiry in nanoseconds on the clock, or [`NONE`].
    pub(crate) next_expiry: AtomicU64,
    /// Serialises every change of the directive set; holds the reverts due.
    pub(crate) edits: Mutex<HashMap<Selector, Revert>>,
    marks: Mutex<Marks>,
}

/// What a selector returns to, and when.
#[derive(Debug)]
pub(crate) struct Revert {
    pub(crate) at: Duration,
    /// The directive in force before the change (`None`: there was none).
    pub(crate) restore: Option<String>,
}

#[derive(Debug)]
struct Marks {
    /// The mark before `cur`, once there are two.
    prev: Option<Mark>,
    cur: Mark,
}

/// Each label's (kept, dropped) at the first read of a bucket.
#[derive(Debug)]
struct Mark {
    bucket: u64,
    figures: HashMap<String, (u64, u64)>,
    /// The creation mark: every label stood at zero.
    zero: bool,
}

impl Mark {
    fn get(&self, label: &str) -> Option<(u64, u64)> {
        match self.figures.get(label) {
            Some(&f) => Some(f),
            None => self.zero.then_some((0, 0)),
        }
    }
}

impl Timed {
    pub(crate) fn new(clock: Arc<dyn Clock>, interval: Duration) -> Self {
        let bucket = bucket_of(clock.now(), interval);
        Timed {
            clock,
            interval,
            next_expiry: AtomicU64::new(NONE),
            edits: Mutex::new(HashMap::new()),
            marks: Mutex::new(Marks {
                prev: None,
                cur: Mark {
                    bucket,
                    figures: HashMap::new(),
                    zero: true,
                },
            }),
        }
    }

    pub(crate) fn interval(&self) -> Duration {
        self.interval
    }

    pub(crate) fn now(&self) -> Duration {
        self.clock.now()
    }

    pub(crate) fn lock_edits(&self) -> MutexGuard<'_, HashMap<Selector, Revert>> {
        self.edits.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets the recent figures of `targets` (a snapshot taken at `now`),
    /// marking them first if `now` is in a bucket not marked yet.
    pub(crate) fn fill_recent(&self, now: Duration, targets: &mut [TargetStats]) {
        let bucket = bucket_of(now, self.interval);
        let mut marks = self.marks.lock().unwrap_or_else(|e| e.into_inner());
        if marks.cur.bucket < bucket {
            let figures = targets
                .iter()
                .map(|t| (t.target.clone(), (t.kept, t.dropped)))
                .collect();
            let cur = Mark {
                bucket,
                figures,
                zero: false,
            };
            marks.prev = Some(std::mem::replace(&mut marks.cur, cur));
        }
        let Some(prev) = &marks.prev else {
            return;
        };
        for t in targets.iter_mut() {
            if let (Some(p), Some(c)) = (prev.get(&t.target), marks.cur.get(&t.target)) {
                t.recent_kept = c.0.saturating_sub(p.0);
                t.recent_seen = (c.0 + c.1).saturating_sub(p.0 + p.1);
            }
        }
    }
}

fn bucket_of(now: Duration, interval: Duration) -> u64 {
    (now.as_nanos() / interval.as_nanos().max(1)) as u64
}

pub(crate) fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(NONE - 1)
}
