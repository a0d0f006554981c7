//! Memory bounds, counted by a global allocator (its own process: the counter is process-wide): one test binary, a module per topic.

use support::counting::Counting;

/// Counts every allocation of this process (see `support::counting`).
#[global_allocator]
static ALLOC: Counting = Counting;

#[path = "../support/mod.rs"]
mod support;

mod annotated;
mod capture;
mod keys;
