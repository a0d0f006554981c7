//! The synchronization primitives the writer uses: std's, or loom's under
//! `cfg(backpressure_writer_loom)` so the flush and shutdown handshakes can be model-checked
//! (`tests/loom.rs`), and the one way every thread takes the writer's lock
//! ([`lock_yielding`]).

#[cfg(backpressure_writer_loom)]
pub(crate) use loom::{
    sync::{Arc, Condvar, Mutex, MutexGuard},
    thread::{self, JoinHandle, ThreadId},
};
#[cfg(not(backpressure_writer_loom))]
pub(crate) use std::{
    sync::{Arc, Condvar, Mutex, MutexGuard},
    thread::{self, JoinHandle, ThreadId},
};
// The atomics of the protocols modelled in-crate (`deferred`'s span slots).
#[cfg(backpressure_writer_loom)]
pub(crate) use loom::sync::atomic;
#[cfg(not(backpressure_writer_loom))]
pub(crate) use std::sync::atomic;
// loom's `try_lock` returns std's error type.
pub(crate) use std::sync::TryLockError;

/// Failed `try_lock`s spent spinning (a pause instruction each) before the taker starts
/// yielding its core.
#[cfg(not(backpressure_writer_loom))]
const SPINS: u32 = 8;
/// Failed `try_lock`s in all (spins included) before the taker parks in the mutex's own
/// `lock`. Each yield is one `sched_yield` (~0.1–1 µs); a holder that is running releases
/// the lock within a few hundred nanoseconds, so the budget runs out only when it is not.
#[cfg(not(backpressure_writer_loom))]
const TRIES: u32 = 100;
/// Under loom one failed try, one yield, then the plain `lock`: the model explores the path
/// without multiplying its state space by a hundred retries.
#[cfg(backpressure_writer_loom)]
const SPINS: u32 = 0;
#[cfg(backpressure_writer_loom)]
const TRIES: u32 = 1;

/// Takes `mutex` the way the writer's producers need it under contention: spin a little,
/// then yield the core between `try_lock`s, and park (the mutex's futex wait) only after
/// [`TRIES`] failures. Poisoning is ignored: the data a panicking holder left behind is
/// still the best there is (see `Shared::lock`).
///
/// Why not `Mutex::lock` alone: std's mutex spins about a hundred times and then sleeps on
/// a futex, and its unlock then pays a futex wake. The writer's lock is held for a few dozen
/// instructions, so on a machine with fewer cores than threads (eight producers and the
/// worker on two cores) the thread that holds it is usually one that was preempted, not
/// one that is running: spinning cannot help, and sleeping turns every contended line into
/// a sleep and a wake-up, two syscalls and two context switches. Yielding hands the core
/// to the preempted holder instead, which releases the lock within its next few
/// instructions. What it bought, measured against std's `lock` in the same build:
/// `docs/benchmarks.md` §4 (whole runs).
///
/// Cost: nothing when the lock is free (the first `try_lock` is the same compare-and-swap
/// `lock` does); a contended taker burns at most [`TRIES`] yields (tens of µs) of its own
/// CPU before it sleeps as it did before.
pub(crate) fn lock_yielding<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    for tried in 0..TRIES {
        match mutex.try_lock() {
            Ok(guard) => return guard,
            Err(TryLockError::Poisoned(e)) => return e.into_inner(),
            Err(TryLockError::WouldBlock) if tried < SPINS => std::hint::spin_loop(),
            Err(TryLockError::WouldBlock) => thread::yield_now(),
        }
    }
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(all(test, not(backpressure_writer_loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_poisoned_lock_is_still_taken() {
        let m = Arc::new(Mutex::new(5));
        let m2 = Arc::clone(&m);
        let _ = thread::spawn(move || {
            let _g = m2.lock().unwrap();
            panic!("poison it");
        })
        .join();
        assert!(m.is_poisoned());
        assert_eq!(*lock_yielding(&m), 5);
    }

    /// Four threads, each adding 1 000 times under the lock while the others contend:
    /// mutual exclusion holds on the try-spin-yield path and on the park after it.
    #[test]
    fn contended_takers_exclude_each_other() {
        let m = Arc::new(Mutex::new(0u64));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let m = Arc::clone(&m);
                thread::spawn(move || {
                    for _ in 0..1_000 {
                        let mut g = lock_yielding(&m);
                        let v = *g;
                        thread::yield_now();
                        *g = v + 1;
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(*lock_yielding(&m), 4_000);
    }
}
