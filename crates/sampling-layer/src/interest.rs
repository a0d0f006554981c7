//! Rebuilding `tracing`'s interest cache through the right dispatcher.
//!
//! A change that alters what a callsite must answer (a level raised, a repeat
//! target covering `ERROR` callsites) needs `rebuild_interest_cache`. With
//! one dispatcher in the process, `tracing-core` rebuilds through the calling
//! thread's default only: called from a thread with no default (a progress
//! thread, an admin handler on another runtime), every callsite is asked a
//! no-op subscriber and switched off, and events are lost. So the rebuild runs
//! with the layer's own dispatcher as the default when it is known.

use std::sync::Mutex;

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
    match dispatch {
        Some(d) => tracing_core::dispatcher::with_default(&d, rebuild_interest_cache),
        None => rebuild_interest_cache(),
    }
}
