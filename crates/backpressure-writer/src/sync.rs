//! The synchronization primitives the writer uses: std's, or backpressure_writer_loom's under `cfg(backpressure_writer_loom)` so
//! the flush and shutdown handshakes can be model-checked (`tests/loom.rs`).

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
// loom's `try_lock` returns std's error type.
pub(crate) use std::sync::TryLockError;
