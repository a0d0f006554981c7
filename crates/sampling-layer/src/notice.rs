//! The breaker's notices: one lazily started thread, fed by a bounded channel.
//!
//! A subscriber must not be re-entered from inside its own filtering (the
//! per-layer filter state is thread-local and would be overwritten, and a
//! scoped dispatcher hands nested events to a no-op), so a notice is emitted
//! from another thread, into the dispatcher the sampler is part of (told to a
//! global layer; found for a per-layer filter by
//! [`capture_dispatch`](crate::filter::capture_dispatch)), else into the global
//! default.
//!
//! One thread serves every sampler in the process. It starts with the first
//! transition and then waits on the channel for the life of the process (an
//! idle thread costs a stack and nothing else). The channel holds at most
//! [`CAPACITY`] notices: a transition that finds it full loses its notice, not
//! the transition itself, which is counted in the stats either way. Sending
//! never blocks, so a notice emitted from the notice thread that trips another
//! breaker cannot deadlock.

use std::sync::OnceLock;

use tracing_core::dispatcher::WeakDispatch;

use crate::breaker::Transition;
use crate::shared::NOTICE_TARGET;

/// Notices waiting for the notice thread, at most.
pub(crate) const CAPACITY: usize = 256;

/// The notice thread's name (short enough to survive Linux's 15-byte limit).
pub(crate) const THREAD_NAME: &str = "sampler-notice";

struct Notice {
    dispatch: Option<WeakDispatch>,
    transition: Transition,
}

/// `None` if the thread could not be started (then notices are lost, counted
/// transitions are not).
static NOTICES: OnceLock<Option<flume::Sender<Notice>>> = OnceLock::new();

/// Queues one WARN notice (target `sampling_layer`) for transition `t`.
pub(crate) fn notify(dispatch: Option<WeakDispatch>, t: Transition) {
    let notice = Notice {
        dispatch,
        transition: t,
    };
    if let Some(tx) = NOTICES.get_or_init(start) {
        // Full (or no thread): the notice is lost, never the caller's time.
        let _ = tx.try_send(notice);
    }
}

fn start() -> Option<flume::Sender<Notice>> {
    let (tx, rx) = flume::bounded::<Notice>(CAPACITY);
    std::thread::Builder::new()
        .name(THREAD_NAME.into())
        .spawn(move || {
            for n in rx.iter() {
                match n.dispatch.and_then(|d| d.upgrade()) {
                    Some(d) => tracing::dispatcher::with_default(&d, || emit(n.transition)),
                    None => emit(n.transition),
                }
            }
        })
        .ok()?;
    Some(tx)
}

fn emit(t: Transition) {
    if t.opened {
        tracing::warn!(
            target: NOTICE_TARGET,
            error_rate = t.rate,
            threshold = t.threshold,
            "circuit breaker opened: errors above threshold, sampling suspended (keeping every event)"
        );
    } else {
        tracing::warn!(
            target: NOTICE_TARGET,
            error_rate = t.rate,
            threshold = t.threshold,
            "circuit breaker closed: error rate below threshold for the hold period, sampling resumed"
        );
    }
}
