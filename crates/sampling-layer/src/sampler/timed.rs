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
//! revert is pending, a kept event pays one relaxed load; while one is, a kept
//! event reads the clock. A sampled-out event never does either.
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
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};
use std::time::Duration;

use super::Sampler;
use crate::clock::Clock;
use crate::directive::edit::{self, Selector};
use crate::directive::DirectiveSet;
use crate::error::ParseError;
use crate::stats::TargetStats;
use crate::sync::{AtomicU64, Ordering};

/// No revert pending.
const NONE: u64 = u64::MAX;

/// The sampler's timed state.
#[derive(Debug)]
pub(crate) struct Timed {
    clock: Arc<dyn Clock>,
    interval: Duration,
    /// The earliest pending expiry in nanoseconds on the clock, or [`NONE`].
    next_expiry: AtomicU64,
    /// Serialises every change of the directive set; holds the reverts due.
    edits: Mutex<HashMap<Selector, Revert>>,
    marks: Mutex<Marks>,
}

/// What a selector returns to, and when.
#[derive(Debug)]
struct Revert {
    at: Duration,
    /// The directive in force before the change (`None`: there was none).
    restore: Option<String>,
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

    /// Whether a revert is pending (one relaxed load: the kept-event check).
    #[inline]
    pub(crate) fn armed(&self) -> bool {
        self.next_expiry.load(Ordering::Relaxed) != NONE
    }

    fn lock_edits(&self) -> MutexGuard<'_, HashMap<Selector, Revert>> {
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

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(NONE - 1)
}

impl Sampler {
    /// Installs a whole new set; cancels every pending revert.
    pub(crate) fn replace_directives(&self, set: DirectiveSet) -> Result<(), ParseError> {
        let mut reverts = self.timed.lock_edits();
        self.install(set)?;
        reverts.clear();
        self.timed.next_expiry.store(NONE, Ordering::Relaxed);
        Ok(())
    }

    /// Sets (`item`) or removes (`None`) the directive for `sel`, with an
    /// optional expiry; returns whether `sel` had a directive before. On
    /// error nothing changes.
    pub(crate) fn edit(
        &self,
        sel: &Selector,
        item: Option<&str>,
        expires_in: Option<Duration>,
    ) -> Result<bool, ParseError> {
        let mut reverts = self.timed.lock_edits();
        let now = self.timed.now();
        let (set, previous, due) =
            self.parse_after_due(&reverts, now, |base| edit::replace(base, sel, item))?;
        self.install(set)?;
        for s in &due {
            reverts.remove(s);
        }
        let had = previous.is_some();
        match expires_in {
            Some(d) => {
                // On top of a pending revert, return to what it returns to.
                let restore = match reverts.remove(sel) {
                    Some(r) => r.restore,
                    None => previous,
                };
                let at = now.saturating_add(d);
                reverts.insert(sel.clone(), Revert { at, restore });
            }
            None => {
                reverts.remove(sel);
            }
        }
        self.arm(&reverts);
        Ok(had)
    }

    /// Applies the reverts that are due, if any (kept events, handle calls).
    /// Unless `wait`, the edit lock is only tried: a kept event that finds it
    /// taken leaves the work to the holder or to the next kept event.
    #[cold]
    #[inline(never)]
    pub(crate) fn expire_due(&self, wait: bool) {
        let next = self.timed.next_expiry.load(Ordering::Relaxed);
        if next == NONE {
            return;
        }
        let now = self.timed.now();
        if nanos(now) < next {
            return;
        }
        let mut reverts = match self.timed.edits.try_lock() {
            Ok(g) => g,
            Err(TryLockError::Poisoned(e)) => e.into_inner(),
            Err(TryLockError::WouldBlock) if wait => self.timed.lock_edits(),
            Err(TryLockError::WouldBlock) => return,
        };
        if let Ok((set, _, due)) =
            self.parse_after_due(&reverts, now, |base| (base.to_owned(), None))
        {
            if !due.is_empty() && self.install(set).is_ok() {
                for s in &due {
                    reverts.remove(s);
                }
            }
        }
        self.arm(&reverts);
    }

    /// The current set with the reverts due at `now` applied, then `edit`
    /// (which also returns the directive it replaced); the selectors
    /// reverted. A revert restores its directive; if that cannot be (the
    /// set would name more than `MAX_TARGETS` targets), the selector's
    /// directive is removed instead, so an expired change never stays.
    fn parse_after_due(
        &self,
        reverts: &HashMap<Selector, Revert>,
        now: Duration,
        edit: impl Fn(&str) -> (String, Option<String>),
    ) -> Result<(DirectiveSet, Option<String>, Vec<Selector>), ParseError> {
        let current = self.current().set.source().to_owned();
        let due: Vec<(&Selector, &Revert)> = reverts.iter().filter(|(_, r)| r.at <= now).collect();
        let attempt = |restore: bool| {
            let mut base = current.clone();
            for (sel, r) in &due {
                let item = if restore { r.restore.as_deref() } else { None };
                base = edit::replace(&base, sel, item).0;
            }
            let (source, previous) = edit(&base);
            DirectiveSet::parse(&source, false).map(|(set, _)| (set, previous))
        };
        let (set, previous) = match attempt(true) {
            Ok(done) => done,
            Err(e) if due.is_empty() => return Err(e),
            Err(_) => attempt(false)?,
        };
        let due = due.into_iter().map(|(s, _)| s.clone()).collect();
        Ok((set, previous, due))
    }

    fn arm(&self, reverts: &HashMap<Selector, Revert>) {
        let next = reverts.values().map(|r| nanos(r.at)).min().unwrap_or(NONE);
        self.timed.next_expiry.store(next, Ordering::Relaxed);
    }
}
