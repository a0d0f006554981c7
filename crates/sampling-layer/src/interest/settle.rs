//! Settling callsites registered outside a rebuild of ours.
//!
//! A filter whose answer a change can alter answers `sometimes` to a
//! registration outside [`super::rebuild`] (a callsite's first event, a new
//! dispatcher; see [`super`] for why). `sometimes` is right but not free:
//! `enabled` then runs for every event of the callsite, where `always` or
//! `never` runs nothing. So the first such registration schedules one
//! rebuild, [`SETTLE_AFTER`] later on a thread (`sampling-layer-settle`),
//! which decides every such callsite once and for all; registrations during
//! the wait share it, and one during the rebuild schedules the next. The
//! event thread never rebuilds: a rebuild registers every callsite again,
//! and inside a dispatch `tracing-core` would ask a no-op subscriber.

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tracing_core::dispatcher::get_default;
use tracing_core::subscriber::NoSubscriber;
use tracing_core::Dispatch;

/// How long a first registration waits for its rebuild: long enough that a
/// burst of first registrations (a service starting) shares one rebuild,
/// short enough that few events pay for `enabled` meanwhile.
const SETTLE_AFTER: Duration = Duration::from_millis(100);

/// What a filter that settles its callsites provides.
pub(crate) trait Settle: Send + Sync + 'static {
    /// Its schedule.
    fn settler(&self) -> &Settler;
    /// The dispatcher its rebuild runs under, as [`under`] finds it (called
    /// on the settling thread).
    fn settle_under(&self) -> Option<Option<Dispatch>>;
    /// One settling rebuild ran.
    fn settled(&self) {}
}

/// Where a settling rebuild can run, given the filter's own dispatcher if it
/// knows it: `Some(Some(_))` under that one; `Some(None)` under none, since a
/// global default exists (`tracing-core` then rebuilds through it, or
/// through every dispatcher); `None` nowhere: with only scoped dispatchers
/// in the process, `tracing-core` would rebuild through the settling
/// thread's no-op default and switch every callsite off.
///
/// Asked on the settling thread, which has no scoped default of its own, so
/// the dispatcher it sees is the global default or none. (Not
/// `has_been_set`: a scoped default sets that too.)
pub(crate) fn under(known: Option<Dispatch>) -> Option<Option<Dispatch>> {
    match known {
        Some(d) => Some(Some(d)),
        None if get_default(|d| !d.is::<NoSubscriber>()) => Some(None),
        None => None,
    }
}

/// A callsite of `owner` was answered `sometimes` outside a rebuild:
/// schedules the rebuild that settles it. Cold (once per callsite and
/// dispatcher): a lock, and a thread started per burst, which finds out
/// there whether a rebuild can run (here, inside a dispatch, it cannot tell).
pub(crate) fn unsettled<T: Settle>(owner: &Arc<T>) {
    if !owner.settler().request() {
        return;
    }
    let weak = Arc::downgrade(owner);
    let started = std::thread::Builder::new()
        .name("sampling-layer-settle".into())
        .spawn(move || run(weak))
        .is_ok();
    if !started {
        owner.settler().not_started();
    }
}

/// Rebuilds [`SETTLE_AFTER`] after a callsite was answered `sometimes`, and
/// again while more were meanwhile; holds the owner only while rebuilding,
/// so a dropped filter ends the thread at its next wake.
fn run<T: Settle>(weak: Weak<T>) {
    loop {
        std::thread::sleep(SETTLE_AFTER);
        let Some(owner) = weak.upgrade() else { return };
        owner.settler().begin();
        if let Some(dispatch) = owner.settle_under() {
            super::rebuild(dispatch);
            owner.settled();
        }
        if !owner.settler().again() {
            return;
        }
    }
}

/// Whether a settling rebuild is scheduled or running.
#[derive(Debug, Default)]
pub(crate) struct Settler(Mutex<State>);

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum State {
    /// No thread; nothing waits to be settled.
    #[default]
    Idle,
    /// A thread sleeps and will rebuild when it wakes.
    Scheduled,
    /// A thread is rebuilding; nothing registered since.
    Rebuilding,
}

impl Settler {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A callsite was answered `sometimes`: `true` if the caller must start
    /// the thread (then [`Settler::not_started`] if it could not).
    fn request(&self) -> bool {
        let mut state = self.state();
        let start = *state == State::Idle;
        *state = State::Scheduled;
        start
    }

    /// The thread could not be started: the callsites stay `sometimes` until
    /// the next change, or the next registration tries again.
    fn not_started(&self) {
        *self.state() = State::Idle;
    }

    /// The thread woke and rebuilds now.
    fn begin(&self) {
        *self.state() = State::Rebuilding;
    }

    /// The thread's rebuild returned: `true` if it must wait and rebuild
    /// again (a callsite was registered meanwhile), `false` if it exits.
    fn again(&self) -> bool {
        let mut state = self.state();
        match *state {
            State::Scheduled => true,
            State::Idle | State::Rebuilding => {
                *state = State::Idle;
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registrations_while_scheduled_share_one_rebuild() {
        let s = Settler::default();
        assert!(s.request(), "the first starts the thread");
        assert!(!s.request());
        assert!(!s.request());
        s.begin();
        assert!(!s.again(), "nothing registered during the rebuild: exit");
        assert!(s.request(), "idle again: the next one starts a thread");
    }

    #[test]
    fn a_registration_during_the_rebuild_schedules_another() {
        let s = Settler::default();
        assert!(s.request());
        s.begin();
        assert!(!s.request(), "the running thread will see it");
        assert!(s.again());
        s.begin();
        assert!(!s.again());
    }

    #[test]
    fn a_thread_that_could_not_start_lets_the_next_registration_try() {
        let s = Settler::default();
        assert!(s.request());
        s.not_started();
        assert!(s.request());
    }
}
