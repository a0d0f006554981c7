//! The `CaptureLayer` a sampler writes captured events through: registered
//! when a subscriber is built, read once per captured event.

use std::any::Any;
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock, TryLockError};

/// A registered layer's entry point, its type erased (it is a
/// `WriteCaptured<S>` for the subscriber type the layer was added to).
pub(crate) type AnyWrite = Arc<dyn Any + Send + Sync>;

/// How many copies of the registration the threads spread over.
const SHARDS: usize = 8;

/// One copy, on a cache line of its own.
#[derive(Default)]
#[repr(align(64))]
struct Shard(RwLock<Option<(u64, AnyWrite)>>);

/// The registration, one copy per shard. A captured event takes its thread's
/// shard's read lock and calls the layer under it, cloning nothing, so
/// threads that capture at once do not pass one lock's cache line (or one
/// reference count's) back and forth: with one lock and an `Arc` cloned per
/// event, a captured event cost about 200 ns more on each of two threads
/// capturing at once than on one thread alone. Registering and unregistering
/// (a subscriber built or dropped) take every shard's write lock, in order.
#[derive(Default)]
pub(crate) struct Registration {
    shards: [Shard; SHARDS],
}

thread_local! {
    /// This thread's shard, given out in turn on first use.
    static SHARD: Cell<usize> = const { Cell::new(usize::MAX) };
    /// How many registrations this thread is calling through now.
    static CALLING: Cell<u32> = const { Cell::new(0) };
}

fn shard() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    SHARD
        .try_with(|s| {
            if s.get() == usize::MAX {
                s.set(NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS);
            }
            s.get()
        })
        .unwrap_or(0)
}

/// Counts a call through a registration for as long as it lasts (also when
/// the layer panics).
struct Calling(bool);

impl Calling {
    fn enter() -> Self {
        let nested = CALLING
            .try_with(|c| {
                c.set(c.get() + 1);
                c.get() > 1
            })
            .unwrap_or(true);
        Calling(nested)
    }
}

impl Drop for Calling {
    fn drop(&mut self) {
        let _ = CALLING.try_with(|c| c.set(c.get() - 1));
    }
}

impl Registration {
    /// Sets `write` under `token` unless a registration is set; whether it was.
    pub(crate) fn set(&self, token: u64, write: AnyWrite) -> bool {
        let mut all: Vec<_> = self.shards.iter().map(|s| write_lock(&s.0)).collect();
        if all[0].is_some() {
            return false;
        }
        for slot in &mut all {
            **slot = Some((token, Arc::clone(&write)));
        }
        true
    }

    /// Clears the registration if it is `token`'s; whether it was.
    pub(crate) fn clear(&self, token: u64) -> bool {
        let mut all: Vec<_> = self.shards.iter().map(|s| write_lock(&s.0)).collect();
        if all[0].as_ref().is_none_or(|(t, _)| *t != token) {
            return false;
        }
        for slot in &mut all {
            **slot = None;
        }
        true
    }

    /// Calls `f` with the registered entry point under this thread's shard's
    /// read lock, or with `None`: none is registered, or this thread is
    /// already calling through one (a captured value's `Debug` that logs) and
    /// a subscriber being built or dropped waits for the lock, where a second
    /// blocking read would wait forever for the first.
    pub(crate) fn with<R>(&self, f: impl FnOnce(Option<&(dyn Any + Send + Sync)>) -> R) -> R {
        let lock = &self.shards[shard()].0;
        let calling = Calling::enter();
        let guard = if calling.0 {
            match lock.try_read() {
                Ok(g) => Some(g),
                Err(TryLockError::Poisoned(e)) => Some(e.into_inner()),
                Err(TryLockError::WouldBlock) => None,
            }
        } else {
            Some(lock.read().unwrap_or_else(PoisonError::into_inner))
        };
        f(guard.as_ref().and_then(|g| g.as_ref()).map(|(_, w)| &**w))
    }
}

fn write_lock<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(all(test, not(sampling_layer_loom)))]
mod tests {
    use super::*;

    #[test]
    fn one_registration_at_a_time_and_every_thread_sees_it() {
        let r = Arc::new(Registration::default());
        assert!(r.set(1, Arc::new(7u32)));
        assert!(
            !r.set(2, Arc::new(8u32)),
            "a second registration is refused"
        );
        // Threads spread over the shards; each sees the one registration.
        let seen: Vec<u32> = (0..2 * SHARDS)
            .map(|_| {
                let r = Arc::clone(&r);
                std::thread::spawn(move || r.with(|w| *w.unwrap().downcast_ref::<u32>().unwrap()))
            })
            .map(|t| t.join().unwrap())
            .collect();
        assert!(seen.iter().all(|&v| v == 7), "{seen:?}");
        assert!(!r.clear(2), "only its own token clears it");
        assert!(r.clear(1));
        assert!(r.with(|w| w.is_none()));
        assert!(r.set(2, Arc::new(8u32)));
    }

    /// A call through the registration that calls through it again (a value's
    /// `Debug` that logs) gets it, and gets `None` instead of waiting forever
    /// while a writer waits for the lock.
    #[test]
    fn a_nested_call_never_waits_behind_a_writer() {
        let r = Arc::new(Registration::default());
        assert!(r.set(1, Arc::new(7u32)));
        let nested = r.with(|outer| {
            assert!(outer.is_some());
            let inner = r.with(|w| w.is_some());
            // A writer now waits for this thread's read lock.
            let writer = {
                let r = Arc::clone(&r);
                std::thread::spawn(move || r.clear(1))
            };
            // Until the lock turns readers away for the waiting writer (Linux's
            // does; a lock that lets readers pass a waiting writer cannot hang a
            // nested read, and then there is nothing to check).
            let mut spins = 0u32;
            while r.shards[shard()].0.try_read().is_ok() && spins < 1_000_000 {
                std::thread::yield_now();
                spins += 1;
            }
            let writer_waits = r.shards[shard()].0.try_read().is_err();
            (inner, writer_waits, r.with(|w| w.is_some()), writer)
        });
        let (inner, writer_waits, while_waiting, writer) = nested;
        assert!(inner, "a nested call sees the registration");
        if writer_waits {
            assert!(
                !while_waiting,
                "a nested call gets None rather than waiting behind the writer"
            );
        }
        assert!(writer.join().unwrap());
        assert!(r.with(|w| w.is_none()));
    }
}
