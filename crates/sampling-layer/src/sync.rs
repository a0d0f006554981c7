//! Atomics from `sampling_layer_loom` under `cfg(sampling_layer_loom)`, from `std` otherwise, so the
//! lock-free pieces (callsite table, rule cache, counters, breaker) can be
//! model-checked.

#[cfg(sampling_layer_loom)]
pub(crate) use loom::sync::atomic::{
    fence, AtomicBool, AtomicPtr, AtomicU64, AtomicU8, AtomicUsize, Ordering,
};
#[cfg(sampling_layer_loom)]
pub(crate) use loom::sync::Mutex;
#[cfg(not(sampling_layer_loom))]
pub(crate) use std::sync::atomic::{
    fence, AtomicBool, AtomicPtr, AtomicU64, AtomicU8, AtomicUsize, Ordering,
};
#[cfg(not(sampling_layer_loom))]
pub(crate) use std::sync::Mutex;

/// Lets a thread that waits on another's store make progress (loom needs an
/// explicit yield to explore the other thread).
#[inline]
pub(crate) fn spin_hint() {
    #[cfg(sampling_layer_loom)]
    loom::thread::yield_now();
    #[cfg(not(sampling_layer_loom))]
    std::hint::spin_loop();
}

/// A value on a cache line of its own (and nothing after it on that line):
/// for state one thread writes often beside state other threads read, which
/// would otherwise miss the cache on their cores after every write.
#[derive(Debug, Default)]
#[repr(align(64))]
pub(crate) struct OwnLine<T>(pub(crate) T);

impl<T> std::ops::Deref for OwnLine<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}
