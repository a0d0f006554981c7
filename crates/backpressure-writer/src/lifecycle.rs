//! The worker's two state machines, as the producers and the guard see them: where the
//! writer is in its life ([`Lifecycle`]) and how the worker waits for work ([`Sleep`]).
//! Both live in the locked state; each value is one state, so that no code can write a
//! combination that means nothing (a closing writer that accepts lines, an exited worker
//! that naps).

/// Where the writer is in its life. It only moves forward:
///
/// ```text
/// Running ──guard dropped──▶ Closing ──drain timed out──▶ Abandoned
///    │                          │                             │
///    └──────────────────────────┴──── worker thread ends ─────┴──▶ Exited
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lifecycle {
    /// New lines are taken in.
    Running,
    /// The guard asked the worker to drain what was submitted before, flush and exit; new
    /// lines count as `worker_gone`.
    Closing,
    /// The guard gave up waiting for the drain and counted what was left as `shutdown`:
    /// the worker must exit without touching the accounting, except to settle the chunk
    /// inside the sink when its write returns.
    Abandoned,
    /// The worker thread is gone (normally, or by an unexpected exit); nobody writes what
    /// is still buffered.
    Exited,
}

impl Lifecycle {
    /// New lines are taken in.
    pub(crate) fn accepts(self) -> bool {
        self == Lifecycle::Running
    }

    pub(crate) fn worker_alive(self) -> bool {
        self != Lifecycle::Exited
    }

    /// The guard's drop. A worker that already exited stays exited.
    pub(crate) fn close(&mut self) {
        if *self == Lifecycle::Running {
            *self = Lifecycle::Closing;
        }
    }

    /// The guard's drain timed out while the worker was still alive.
    pub(crate) fn abandon(&mut self) {
        debug_assert_eq!(
            *self,
            Lifecycle::Closing,
            "only a draining worker is abandoned"
        );
        *self = Lifecycle::Abandoned;
    }

    /// The worker thread ends, whatever the state.
    pub(crate) fn exit(&mut self) {
        *self = Lifecycle::Exited;
    }
}

/// How the worker waits, which decides who must wake it. Only the worker puts itself to
/// sleep; whoever wakes it sets [`Sleep::Awake`] under the lock, so that only the first of
/// several producers pays the futex wake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sleep {
    /// Working, or already woken: nobody needs to notify it.
    Awake,
    /// After a batch it polls (naps of 1 ms to `max_poll`, for up to `park_after`) for the
    /// next one to build up, so that a burst's first line does not pay a futex wake: it
    /// wants a notification only for what should not wait (a half-full queue, a producer
    /// about to block, a flush or shutdown).
    Napping,
    /// Asleep without a deadline (or until the next drop report): any new line wakes it.
    Idle,
}

impl Sleep {
    /// Whether the caller must wake the worker for something urgent (it waits, napping or
    /// idle); marks it awake, so only the first caller pays the syscall.
    pub(crate) fn take_wake(&mut self) -> bool {
        std::mem::replace(self, Sleep::Awake) != Sleep::Awake
    }

    /// Whether the caller must wake the worker for an ordinary new line (it is idle);
    /// marks it awake if so.
    pub(crate) fn take_idle(&mut self) -> bool {
        if *self == Sleep::Idle {
            *self = Sleep::Awake;
            true
        } else {
            false
        }
    }
}
