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
