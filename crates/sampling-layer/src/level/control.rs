//! Changes of the level table and their expiry, behind
//! [`LevelHandle`](super::LevelHandle).
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
use std::sync::atomic::{AtomicU64 as StdAtomicU64, Ordering as StdOrdering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::time::Duration;

use crate::interest::{rebuild, Settle, Settler};
use tracing_core::dispatcher::WeakDispatch;
use tracing_core::{Dispatch, Level, LevelFilter, Metadata};

use super::sites::{Published, Sites};
use super::table::Table;
use crate::clock::Clock;
use crate::error::ParseError;
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
    pub(super) clock: Arc<dyn Clock>,
    /// The dispatcher the `Levels` is part of: told by `on_register_dispatch`
    /// (a global layer), or found by a handle call made inside it (a
    /// per-layer filter is not told); rebuilds run with it as the default.
    dispatch: Mutex<Option<WeakDispatch>>,
    /// Finds the `Levels` a dispatcher holds (the first, as a per-layer filter
    /// or a layer), as its `Shared`.
    recognise: fn(&Dispatch) -> Option<*const Shared>,
    edits: Mutex<Edits>,
    wake: Condvar,
    settler: Settler,
    pub(super) changes: StdAtomicU64,
    pub(super) reverts: StdAtomicU64,
    pub(super) rebuilds: StdAtomicU64,
    pub(super) settles: StdAtomicU64,
}

#[derive(Debug)]
pub(super) struct Edits {
    pub(super) table: Table,
    /// Pending returns by target (`""`: the default).
    pub(super) reverts: BTreeMap<String, Revert>,
    /// Whether the thread that applies returns is running.
    reaper: bool,
}

#[derive(Debug, Clone, Copy)]
pub(super) struct Revert {
    pub(super) at: Duration,
    pub(super) level: LevelFilter,
    pub(super) restore: Option<LevelFilter>,
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
    pub(crate) fn new(
        table: Table,
        clock: Arc<dyn Clock>,
        recognise: fn(&Dispatch) -> Option<*const Shared>,
    ) -> Self {
        Shared {
            recognise,
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

    /// A handle call: if the dispatcher is not known yet and the calling
    /// thread's default holds this very filter, remember it (a per-layer
    /// filter is never told; after this its rebuilds run under it from any
    /// thread, as a global one's do).
    pub(super) fn find_dispatch(self: &Arc<Self>) {
        let mut known = self.dispatch.lock().unwrap_or_else(|e| e.into_inner());
        if known.is_some() {
            return;
        }
        tracing_core::dispatcher::get_default(|d| {
            if (self.recognise)(d) == Some(Arc::as_ptr(self)) {
                *known = Some(d.downgrade());
            }
        });
    }

    pub(crate) fn max(&self) -> LevelFilter {
        filter_of(self.max.load(Ordering::Relaxed))
    }

    pub(super) fn lock_edits(&self) -> MutexGuard<'_, Edits> {
        self.edits.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Applies the returns that are due, then `op`; publishes the table and
    /// rebuilds the interest cache once if either changed it. If `op` fails,
    /// what was due is still applied.
    pub(super) fn change<R>(
        self: &Arc<Self>,
        op: impl FnOnce(&mut Edits, Duration) -> Result<R, ParseError>,
    ) -> Result<R, ParseError> {
        self.find_dispatch();
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

    pub(super) fn next_due(&self) -> Option<Duration> {
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

    /// Under the dispatcher told or found; else a global default is needed
    /// (see the module docs of `crate::level`).
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
