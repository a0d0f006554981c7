//! Waiting until what was submitted is in the sink: the handshake behind
//! [`WorkerGuard::flush`](crate::WorkerGuard::flush) and [`flush_all`](crate::panic_flush::flush_all),
//! in two halves so that a caller flushing several writers asks them all first and then
//! waits for them together, under one deadline.

use std::time::Instant;

use crate::error::FlushError;
use crate::shared::{Shared, State};
use crate::sync::{thread, MutexGuard, TryLockError};

/// A flush asked of one writer, to be waited for with [`Shared::wait_flushed`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct FlushTicket {
    /// Every line with a smaller sequence number must be durable.
    target: u64,
    /// Sink failures before the request, to tell whether the flush lost lines.
    errors_before: u64,
}

impl Shared {
    /// Asks the worker to write and flush every line submitted so far, waking it if it
    /// sleeps. Takes the lock for a few stores.
    pub(crate) fn request_flush(&self) -> FlushTicket {
        let mut st = self.lock();
        Self::request_flush_locked(&mut st, self)
    }

    /// As [`request_flush`](Self::request_flush), for callers that must not block on the
    /// lock: a panic hook runs on a thread that may hold it (a panic inside the writer) and
    /// on a writer's own worker thread (a panicking sink), where waiting for the worker
    /// would wait for ourselves. `None` in those cases: the writer is skipped. Spins on
    /// `try_lock` until `deadline`, since anyone else holds the lock for microseconds.
    pub(crate) fn try_request_flush(&self, deadline: Instant) -> Option<FlushTicket> {
        let mut st = loop {
            match self.state.try_lock() {
                Ok(st) => break st,
                Err(TryLockError::Poisoned(e)) => break e.into_inner(),
                Err(TryLockError::WouldBlock) if Instant::now() < deadline => thread::yield_now(),
                Err(TryLockError::WouldBlock) => return None,
            }
        };
        if st
            .worker_thread
            .is_some_and(|id| id == thread::current().id())
        {
            return None;
        }
        Some(Self::request_flush_locked(&mut st, self))
    }

    fn request_flush_locked(st: &mut MutexGuard<'_, State>, shared: &Shared) -> FlushTicket {
        let target = st.next_seq;
        if target > st.flush_target {
            st.flush_target = target;
        }
        if st.sleep.take_wake() {
            shared.wake_worker();
        }
        FlushTicket {
            target,
            errors_before: st.write_errors,
        }
    }

    /// Waits until the lines of `ticket` are written and the sink flushed (or dropped),
    /// the worker is gone, or `deadline` passes.
    pub(crate) fn wait_flushed(
        &self,
        ticket: FlushTicket,
        started: Instant,
        deadline: Instant,
    ) -> Result<(), FlushError> {
        let mut st = self.lock();
        while st.durable < ticket.target {
            if !st.lifecycle.worker_alive() {
                return Err(FlushError::WorkerGone);
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(FlushError::TimedOut {
                    waited: now - started,
                    pending: st.buffered() as u64,
                });
            }
            st = self
                .progress
                .wait_timeout(st, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        match st.write_errors - ticket.errors_before {
            0 => Ok(()),
            errors => Err(FlushError::SinkFailed { errors }),
        }
    }
}
