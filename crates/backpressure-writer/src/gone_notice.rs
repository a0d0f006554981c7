//! The one stderr line a writer prints when it is used after it stopped taking lines: a
//! `let _ = guard` (or a guard returned from a helper and discarded) drops the guard at
//! once, and every line after that is lost without a word. The lines still count as
//! `worker_gone`; this only says why, once per writer.

use std::io::Write as _;
use std::sync::atomic::{AtomicU8, Ordering::Relaxed};

use crate::report::PREFIX;

/// Nothing to say yet; a refused line now means the worker thread exited on its own.
const RUNNING: u8 = 0;
/// The guard's drop began: refused lines were written after it.
const GUARD_DROPPED: u8 = 1;
/// The notice was printed; nothing more is said.
const SAID: u8 = 2;

/// Whether, and why, the notice is still to be printed. The stores happen under the
/// writer's lock (the guard's drop) or after a refusal under it, so the lock orders them
/// and relaxed atomics suffice; the producer's path reads this only for a refused line.
#[derive(Debug)]
pub(crate) struct GoneNotice(AtomicU8);

impl GoneNotice {
    pub(crate) const fn new() -> Self {
        GoneNotice(AtomicU8::new(RUNNING))
    }

    /// The guard's drop began: lines refused from now on were written after it.
    pub(crate) fn guard_dropped(&self) {
        let _ = self
            .0
            .compare_exchange(RUNNING, GUARD_DROPPED, Relaxed, Relaxed);
    }

    /// A line was refused as `worker_gone`: the first time, say why on stderr.
    pub(crate) fn line_refused(&self) {
        if self.0.load(Relaxed) == SAID {
            return;
        }
        let cause = match self.0.swap(SAID, Relaxed) {
            SAID => return,
            GUARD_DROPPED => {
                "a line was written after this writer's WorkerGuard was dropped. A guard \
                 bound with `let _ = ...`, or returned from a function and discarded, is \
                 dropped at once and shuts the writer down: keep it alive (`let _guard = \
                 ...` in main) for as long as the program logs"
            }
            _ => "a line was written after this writer's worker thread had exited unexpectedly",
        };
        // The loom models explore thousands of interleavings, each with a writer of its
        // own: printing there would only bury their output.
        if cfg!(backpressure_writer_loom) {
            return;
        }
        // Never `eprintln!`: it panics if stderr is closed, and this runs on the caller's
        // thread, inside its logging call.
        let _ = writeln!(
            std::io::stderr(),
            "{PREFIX}{cause}; it and later lines are not written (counted as worker_gone; \
             said once)"
        );
    }
}
