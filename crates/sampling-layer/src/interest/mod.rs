//! Rebuilding `tracing`'s interest cache through the right dispatcher.
//!
//! A change that alters what a callsite must answer (a level raised, a repeat
//! target covering `ERROR` callsites) needs `rebuild_interest_cache`. With
//! one dispatcher in the process, `tracing-core` rebuilds through the calling
//! thread's default only: called from a thread with no default (a progress
//! thread, an admin handler on another runtime), every callsite is asked a
//! no-op subscriber and switched off, and events are lost. So the rebuild runs
//! with the layer's own dispatcher as the default when it is known.
//!
//! An interest is only safe to answer as `always` or `never` inside such a
//! rebuild. Anywhere else (a callsite's first registration, a new
//! dispatcher's rebuild) `tracing-core` stores the answer after
//! `register_callsite` returned, with nothing ordering that store after a
//! concurrent change's rebuild: a decision read before the change can be
//! stored after it and stand until the next rebuild. There a filter whose
//! answer a change can alter answers `sometimes` (never wrong: `enabled`
//! decides), and [`rebuilding`] tells the two apart; a rebuild of the
//! filter's own soon after ([`settle`]) decides those callsites for good.

mod settle;

use std::cell::Cell;
use std::sync::Mutex;

pub(crate) use settle::{under, unsettled, Settle, Settler};

use tracing_core::callsite::rebuild_interest_cache;
use tracing_core::Dispatch;

/// Rebuilds every callsite's interest, under `dispatch` if given, one
/// rebuild at a time in the process.
///
/// Two rebuilds that overlap race inside `tracing-core`: each computes a
/// callsite's interest (and the level hint) and stores it, so the one that
/// read the older table can store last and leave a callsite stale. Each
/// rebuild here reads the table after its own change was published, so
/// whichever runs last stores the newest decisions.
pub(crate) fn rebuild(dispatch: Option<Dispatch>) {
    static REBUILD: Mutex<()> = Mutex::new(());
    let _one = REBUILD.lock().unwrap_or_else(|e| e.into_inner());
    let _inside = Inside::enter();
    match dispatch {
        Some(d) => tracing_core::dispatcher::with_default(&d, rebuild_interest_cache),
        None => rebuild_interest_cache(),
    }
}

thread_local! {
    static INSIDE: Cell<bool> = const { Cell::new(false) };
}

/// Whether the calling thread is inside [`rebuild`], where each interest it
/// answers is stored before a later rebuild can start.
pub(crate) fn rebuilding() -> bool {
    INSIDE.try_with(Cell::get).unwrap_or(false)
}

/// Marks the thread as inside [`rebuild`] until dropped (on unwind too).
struct Inside;

impl Inside {
    fn enter() -> Self {
        INSIDE.with(|i| i.set(true));
        Inside
    }
}

impl Drop for Inside {
    fn drop(&mut self) {
        let _ = INSIDE.try_with(|i| i.set(false));
    }
}
