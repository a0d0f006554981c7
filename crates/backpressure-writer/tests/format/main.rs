//! The `format` module's promise: the same bytes as `fmt`'s own formatters.
//!
//! `lines.rs` runs a corpus of events and spans through `fmt`'s formatters and through
//! ours side by side in one subscriber and compares the output line by line; `timer.rs`
//! holds the timer against `fmt`'s `SystemTime` on the real clock and against known dates;
//! `exit.rs` formats from a thread-local destructor, after the per-thread buffers are gone.

mod clock;
mod exit;
mod lines;
mod timer;
