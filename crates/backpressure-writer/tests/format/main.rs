//! The promise of the `format` and `deferred` modules: the same bytes as `fmt`'s own
//! formatters.
//!
//! `corpus.rs` holds a corpus of events and spans; `lines.rs` runs it through `fmt`'s
//! formatters and through the `format` drop-ins side by side in one subscriber and
//! compares the output line by line, and `deferred.rs` does the same for lines laid out on
//! the writer's thread; `timer.rs` holds the timer against `fmt`'s `SystemTime` on the
//! real clock and against known dates; `options.rs` compares the deferred layer with
//! `fmt` with each of their line options switched; `exit.rs` formats from a
//! thread-local destructor, after the per-thread buffers are gone.

mod clock;
mod corpus;
mod deferred;
mod exit;
mod lines;
mod options;
mod timer;
