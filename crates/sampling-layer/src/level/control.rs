//! Changes of the level table, their expiry, and [`LevelHandle`].
//!
//! Every change goes through one mutex (`edits`), builds a new table,
//! publishes it, and then, outside the mutex, rebuilds tracing's interest
//! cache once: every callsite is registered again and decided on the new
//! table, and the subscriber's level hint follows. Nothing of this runs on
//! the event path.
//!
//! A timed change ([`LevelHandle::set_target_level_for`]) follows the rules
//! of the sampler's timed rate changes: at its due time the target returns to
//! what it had before (its previous level, or none), unless it was changed
//! since; a later change without expiry cancels the return, a later timed
//! change replaces it but still returns to what the target had before the
//! first of them, and a whole new set cancels every return. Times are read
//! on the builder's [`Clock`]. Unlike the sampler, whose kept events apply
//! its reverts, a level cannot wait for an event: a callsite whose interest
//! is `always` or `never` never reaches the filter again. So a thread
//! (`sampling-layer-levels`) runs while a return is pending: it sleeps until
//! the earliest due time (waking at least every second to re-read the clock,
//! which may be a [`ManualClock`](crate::clock::ManualClock)), applies what is due,
//! and exits when nothing is pending. Every handle call applies what is due
//! too, so on a manual clock a test needs no thread.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU64 as StdAtomicU64, Ordering as StdOrdering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::time::Duration;

use crate::interest::{rebuild, Settle, Settler};
use tracing_core::dispatcher::WeakDispatch;
use tracing_core::{Dispatch, Level, LevelFilter, Metadata};

use super::sites::{Published, Sites};
use super::table::{check_target, parse_level, Table};
use crate::clock::Clock;
use crate::error::{ParseError, ParseErrorKind};
use crate::limits::{MAX_DIRECTIVES_LEN, MAX_LEVEL_DIRECTIVES};
use crate::sync::{AtomicU8, Ordering};

/// The longest a pending return's thread sleeps before reading the clock again.
const REAPER_TICK: Duration = Duration::from_secs(1);

/// State shared by a [`Levels`](super::Levels) filter and its handles.
#[derive(Debug)]
pub(crate) struct Shared {
    published: Published,
    sites: Sites,
    /// `code` of the table's most verbose level: the fast "below every
    /// directive" check, and the level hint.
    max: AtomicU8,
    clock: Arc<dyn Clock>,
    /// The dispatcher a global `Levels` was installed in (told by
    /// `on_register_dispatch`); rebuilds run with it as the default.
    dispatch: Mutex<Option<WeakDispatch>>,
    edits: Mutex<Edits>,
    wake: Condvar,
    settler: Settler,
    changes: StdAtomicU64,
    reverts: StdAtomicU64,
    rebuilds: StdAtomicU64,
    settles: StdAtomicU64,
}

#[derive(Debug)]
struct Edits {
    table: Table,
    /// Pending returns by target (`""`: the default).
    reverts: BTreeMap<String, Revert>,
    /// Whether the thread that applies returns is running.
    reaper: bool,
}

#[derive(Debug, Clone, Copy)]
struct Revert {
    at: Duration,
    level: LevelFilter,
    restore: Option<LevelFilter>,
}

/// `OFF` 0 .. `TRACE` 5.
fn code(l: LevelFilter) -> u8 {
    match l.into_level() {
        None => 0,
        Some(level) => level_code(&level),
    }
}

fn level_code(l: &Level) -> u8 {
    match *l {
        Level::ERROR => 1,
        Level::WARN => 2,
        Level::INFO => 3,
        Level::DEBUG => 4,
        Level::TRACE => 5,
    }
}

fn filter_of(code: u8) -> LevelFilter {
    match code {
        0 => LevelFilter::OFF,
        1 => LevelFilter::ERROR,
        2 => LevelFilter::WARN,
        3 => LevelFilter::INFO,
        4 => LevelFilter::DEBUG,
        _ => LevelFilter::TRACE,
    }
}

impl Shared {
    pub(crate) fn new(table: Table, clock: Arc<dyn Clock>) -> Self {
        Shared {
            max: AtomicU8::new(code(table.max())),
            published: Published::new(table.clone()),
            sites: Sites::new(),
            clock,
            dispatch: Mutex::new(None),
            edits: Mutex::new(Edits {
                table,
                reverts: BTreeMap::new(),
                reaper: false,
            }),
            wake: Condvar::new(),
            settler: Settler::default(),
            changes: StdAtomicU64::new(0),
            reverts: StdAtomicU64::new(0),
            rebuilds: StdAtomicU64::new(0),
            settles: StdAtomicU64::new(0),
        }
    }

    /// Whether `meta` is enabled. Hot path (per-layer filters, and global
    /// ones when another layer made the callsite `sometimes`): one relaxed
    /// load, then for a registered callsite a hash and two atomic loads; no
    /// lock, no allocation, no clock read.
    #[inline]
    pub(crate) fn enabled(&self, meta: &Metadata<'_>) -> bool {
        if level_code(meta.level()) > self.max.load(Ordering::Relaxed) {
            return false;
        }
        let addr = meta as *const Metadata<'_> as usize;
        match self.sites.get(addr) {
            Some(on) => on,
            None => self.published.with(|t| t.enabled(meta)),
        }
    }

    /// Decides a callsite on the current table (at registration, and again
    /// at every change).
    pub(crate) fn register(&self, meta: &'static Metadata<'static>) -> bool {
        self.sites.register(meta, &self.published)
    }

    /// Remembers the dispatcher a global `Levels` is part of.
    pub(crate) fn told(&self, dispatch: &Dispatch) {
        *self.dispatch.lock().unwrap_or_else(|e| e.into_inner()) = Some(dispatch.downgrade());
    }

    pub(crate) fn max(&self) -> LevelFilter {
        filter_of(self.max.load(Ordering::Relaxed))
    }

    fn lock_edits(&self) -> MutexGuard<'_, Edits> {
        self.edits.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Applies the returns that are due, then `op`; publishes the table and
    /// rebuilds the interest cache once if either changed it. If `op` fails,
    /// what was due is still applied.
    fn change<R>(
        self: &Arc<Self>,
        op: impl FnOnce(&mut Edits, Duration) -> Result<R, ParseError>,
    ) -> Result<R, ParseError> {
        let mut edits = self.lock_edits();
        let before = edits.table.clone();
        let now = self.clock.now();
        let due: Vec<String> = edits
            .reverts
            .iter()
            .filter(|(_, r)| r.at <= now)
            .map(|(t, _)| t.clone())
            .collect();
        for target in due {
            if let Some(r) = edits.reverts.remove(&target) {
                edits.table.set(&target, r.restore);
                self.reverts.fetch_add(1, StdOrdering::Relaxed);
            }
        }
        let result = op(&mut edits, now);
        let changed = edits.table != before;
        if changed {
            self.published.store(edits.table.clone());
            self.max.store(code(edits.table.max()), Ordering::Relaxed);
        }
        if !edits.reverts.is_empty() && !edits.reaper {
            edits.reaper = spawn_reaper(Arc::downgrade(self));
        }
        self.wake.notify_all();
        drop(edits);
        if changed {
            let dispatch = self
                .dispatch
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone();
            rebuild(dispatch.and_then(|d| d.upgrade()));
            self.rebuilds.fetch_add(1, StdOrdering::Relaxed);
        }
        result
    }

    /// The table as it stands, without applying what is due (for `Debug`,
    /// which must not rebuild the interest cache from wherever it is called).
    pub(crate) fn shown(&self) -> String {
        self.lock_edits().table.to_string()
    }

    fn next_due(&self) -> Option<Duration> {
        self.lock_edits().reverts.values().map(|r| r.at).min()
    }
}

/// Starts the thread that applies returns on time; `false` if it could not
/// be started (then handle calls still apply them, later).
fn spawn_reaper(shared: Weak<Shared>) -> bool {
    std::thread::Builder::new()
        .name("sampling-layer-levels".into())
        .spawn(move || reap(shared))
        .is_ok()
}

impl Settle for Shared {
    fn settler(&self) -> &Settler {
        &self.settler
    }

    /// Under the dispatcher a global `Levels` was told; a per-layer one
    /// needs a global default (see the module docs of `crate::level`).
    fn settle_under(&self) -> Option<Option<Dispatch>> {
        let told = self
            .dispatch
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        crate::interest::under(told.and_then(|w| w.upgrade()))
    }

    fn settled(&self) {
        self.settles.fetch_add(1, StdOrdering::Relaxed);
    }
}

fn reap(weak: Weak<Shared>) {
    // Holds the filter only while waiting (at most a tick), so a dropped
    // filter is freed within one.
    while let Some(shared) = weak.upgrade() {
        let edits = shared.lock_edits();
        let Some(at) = edits.reverts.values().map(|r| r.at).min() else {
            let mut edits = edits;
            edits.reaper = false;
            return;
        };
        let now = shared.clock.now();
        if at <= now {
            drop(edits);
            let _ = shared.change(|_, _| Ok(()));
            continue;
        }
        let wait = (at - now).min(REAPER_TICK);
        drop(shared.wake.wait_timeout(edits, wait));
    }
}

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
