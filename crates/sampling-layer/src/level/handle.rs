//! [`LevelHandle`]: the calls that change a [`Levels`](super::Levels)
//! filter at run time and read it back. Each change goes through the one
//! path in `super::control` (edit, publish, rebuild once).

use std::fmt;
use std::sync::atomic::Ordering as StdOrdering;
use std::sync::Arc;
use std::time::Duration;

use tracing_core::LevelFilter;

use super::control::{Revert, Shared};
use super::table::{check_target, parse_level, Table};
use crate::error::{ParseError, ParseErrorKind};
use crate::limits::{MAX_DIRECTIVES_LEN, MAX_LEVEL_DIRECTIVES};

/// Controls a [`Levels`](super::Levels) filter after it was installed.
/// Cheap to clone; `Send + Sync`. Each change is in force for every thread's
/// next event once the call returns.
#[derive(Clone)]
pub struct LevelHandle {
    pub(crate) shared: Arc<Shared>,
}

impl fmt::Debug for LevelHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LevelHandle")
            .field("directives", &self.shared.shown())
            .finish()
    }
}

/// A timed change waiting to return ([`LevelHandle::pending`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PendingLevel {
    /// The target (`""`: the default level).
    pub target: String,
    /// The level in force until then.
    pub level: LevelFilter,
    /// What it returns to (`None`: the target's directive is removed).
    pub restore: Option<LevelFilter>,
    /// When, on the filter's clock (time since the clock's origin).
    pub due: Duration,
    /// How long from now.
    pub due_in: Duration,
}

/// Counts of what a [`Levels`](super::Levels) filter did ([`LevelHandle::stats`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LevelStats {
    /// Successful calls that set, remove or replace levels.
    pub changes: u64,
    /// Timed changes that returned (each once).
    pub reverts: u64,
    /// Interest-cache rebuilds: one per call (or return) that changed the table.
    pub rebuilds: u64,
    /// Rebuilds of the filter's own that decided callsites first registered
    /// since the last rebuild (see [`Levels`](super::Levels), *Cost*).
    pub settles: u64,
}

impl LevelHandle {
    /// Replaces the whole table with `directives` (`"info,app=debug"`) and
    /// cancels every pending return. On error nothing changes.
    pub fn set_directives(&self, directives: &str) -> Result<(), ParseError> {
        let table = Table::parse(directives)?;
        self.shared.change(|edits, _| {
            edits.table = table;
            edits.reverts.clear();
            Ok(())
        })?;
        self.count();
        Ok(())
    }

    /// Sets the level of one target (`""`: the default), leaving the others;
    /// cancels the target's pending return. `level` is a level as `EnvFilter`
    /// reads one (`debug`, `INFO`, `off`, `0` .. `5`). On error nothing changes.
    ///
    /// ```
    /// use sampling_layer::level::Levels;
    ///
    /// let handle = Levels::try_new("info").unwrap().handle();
    /// handle.set_target_level("app::db", "debug").unwrap();
    /// assert_eq!(handle.directives(), "info,app::db=debug");
    /// assert!(handle.set_target_level("app::db", "verbose").is_err());
    /// ```
    pub fn set_target_level(&self, target: &str, level: &str) -> Result<(), ParseError> {
        self.set(target, level, None)
    }

    /// [`set_target_level`](Self::set_target_level) for `duration`, then back
    /// to what the target had before (see the module docs for how returns
    /// stack). [`pending`](Self::pending) lists the returns to come.
    ///
    /// ```
    /// use std::time::Duration;
    /// use sampling_layer::{level::Levels, clock::ManualClock};
    ///
    /// let clock = ManualClock::new();
    /// let handle = Levels::builder().clock(clock.clone()).parse("info").unwrap().handle();
    /// handle.set_target_level_for("app::db", "debug", Duration::from_secs(600)).unwrap();
    /// assert_eq!(handle.pending()[0].due_in, Duration::from_secs(600));
    /// clock.advance(Duration::from_secs(600));
    /// assert_eq!(handle.directives(), "info");
    /// ```
    pub fn set_target_level_for(
        &self,
        target: &str,
        level: &str,
        duration: Duration,
    ) -> Result<(), ParseError> {
        self.set(target, level, Some(duration))
    }

    /// Removes one target's level (`""`: the default), leaving the others;
    /// its events fall to the next matching directive. Cancels its pending
    /// return. Returns whether it had a level.
    pub fn remove_target_level(&self, target: &str) -> Result<bool, ParseError> {
        let target = checked(target, "")?;
        let had = self.shared.change(|edits, _| {
            edits.reverts.remove(target);
            Ok(edits.table.set(target, None).is_some())
        })?;
        self.count();
        Ok(had)
    }

    fn set(&self, target: &str, level: &str, expiry: Option<Duration>) -> Result<(), ParseError> {
        let item = || format!("{target}={level}");
        let target = checked(target, level)?;
        let level =
            parse_level(level.trim()).map_err(|k| ParseError::new(&item(), k).in_levels())?;
        self.shared.change(|edits, now| {
            if edits.table.get(target).is_none() && edits.table.len() >= MAX_LEVEL_DIRECTIVES {
                let kind = ParseErrorKind::TooManyLevelDirectives;
                return Err(ParseError::new(&item(), kind).in_levels());
            }
            let previous = edits.table.set(target, Some(level));
            match expiry {
                Some(d) => {
                    // On top of a pending return, return to what it returns to.
                    let restore = edits.reverts.remove(target).map_or(previous, |r| r.restore);
                    let at = now.saturating_add(d);
                    let revert = Revert { at, level, restore };
                    edits.reverts.insert(target.to_owned(), revert);
                }
                None => {
                    edits.reverts.remove(target);
                }
            }
            Ok(())
        })?;
        self.count();
        Ok(())
    }

    fn count(&self) {
        self.shared.changes.fetch_add(1, StdOrdering::Relaxed);
    }

    /// Applies the returns that are due (as every handle call does).
    fn apply_due(&self) {
        self.shared.find_dispatch();
        let due = self.shared.next_due();
        if due.is_some_and(|at| at <= self.shared.clock.now()) {
            let _ = self.shared.change(|_, _| Ok(()));
        }
    }

    /// The current levels: the default first, then the targets in order
    /// (`info,app=debug,app::db=trace`). Parsing the string gives the same
    /// table, so it can be set back or given to
    /// [`Levels::try_new`](super::Levels::try_new).
    pub fn directives(&self) -> String {
        self.apply_due();
        self.shared.lock_edits().table.to_string()
    }

    /// The level events of `target` get now (the most specific directive's,
    /// else the default, else `OFF`).
    pub fn level_for(&self, target: &str) -> LevelFilter {
        self.apply_due();
        self.shared.lock_edits().table.level_for(target)
    }

    /// The pending returns of timed changes, earliest first.
    pub fn pending(&self) -> Vec<PendingLevel> {
        self.apply_due();
        let now = self.shared.clock.now();
        let edits = self.shared.lock_edits();
        let mut out: Vec<PendingLevel> = edits
            .reverts
            .iter()
            .map(|(target, r)| PendingLevel {
                target: target.clone(),
                level: r.level,
                restore: r.restore,
                due: r.at,
                due_in: r.at.saturating_sub(now),
            })
            .collect();
        out.sort_by_key(|p| p.due);
        out
    }

    /// What the filter did so far.
    pub fn stats(&self) -> LevelStats {
        self.apply_due();
        LevelStats {
            changes: self.shared.changes.load(StdOrdering::Relaxed),
            reverts: self.shared.reverts.load(StdOrdering::Relaxed),
            rebuilds: self.shared.rebuilds.load(StdOrdering::Relaxed),
            settles: self.shared.settles.load(StdOrdering::Relaxed),
        }
    }
}

/// A handle call's target, checked as a directive's would be.
fn checked<'a>(target: &'a str, level: &str) -> Result<&'a str, ParseError> {
    let item = || format!("{target}={level}");
    if target.len() > MAX_DIRECTIVES_LEN {
        let kind = ParseErrorKind::TooLong(target.len());
        return Err(ParseError::new("", kind).in_levels());
    }
    let target = target.trim();
    check_target(target).map_err(|k| ParseError::new(&item(), k).in_levels())
}
