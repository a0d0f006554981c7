//! The writer's behaviour through its public API, one module per topic, in one test
//! binary: admission and the overflow policies, the keep room, the byte bound, batching,
//! flush and shutdown, sink faults, the writer's own lines, flushed context, and
//! tracing-appender compatibility.
//!
//! Tests that need a process of their own stay separate binaries: a counting global
//! allocator (`no_alloc.rs`, `memory.rs`, `keep_memory.rs`), the process-wide panic hook
//! and writer list (`panic_flush.rs`), re-running the test binary as a child
//! (`shutdown.rs`), and the loom models (`loom.rs`).

#[path = "../support/mod.rs"]
mod support;

mod appender_compat;
mod batching;
mod byte_bound;
mod config;
mod context;
mod context_capture;
mod deferred;
mod drop_report;
mod faults;
mod flush_shutdown;
mod fmt_layer;
mod forever;
mod keep_level;
mod keep_reserve;
mod keep_runtime;
mod keep_wait;
mod own_lines;
mod partial_writes;
mod policies;
mod threads;
mod wakeups;
