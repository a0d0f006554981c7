//! Repeat suppression: keep the first copies of an event per window, write
//! how many were left out.
//!
//! `WARN` and `ERROR` are never sampled, so a storm of one error (a database
//! that is down) writes every copy, and the one different error that explains
//! the outage competes with ten thousand copies of the first. A repeat
//! directive, opt-in per target, collapses such repeats at any level:
//!
//! ```text
//! app::db=first 5/1s                keep the first 5 copies of each key per 1 s window
//! app::db=first 5/1s by peer+code   the key also holds the values of `peer` and `code`
//! app::db=first 1/250ms by message  ... the formatted message (see *The key*)
//! ```
//!
//! It is an item of the one directive string (`RUST_LOG_SAMPLE`, beside
//! rates, budgets and capture items), written `target "=" "first" N "/"
//! window ["by" field ("+" field)*]` (the grammar's full statement is in the
//! crate docs, *Directives*): `N` in 1 ..= 1 000 000; the window `s`, `min`,
//! or a whole number followed by `ms`, `s`, `sec`, `m` or `min` (any case),
//! 1 ms ..= 24 h. The word `first` is what makes it one: a rate starts with a
//! digit, a budget is `N/s` with no word before it, a capture item starts
//! with `+`, and no `EnvFilter` level is called `first`, so
//! [`split_directives`](crate::split_directives) hands it to the sampler. A
//! target matches as everywhere else (the longest directive target the event's
//! target starts with); one repeat directive per target, a later one
//! replaces it, and it does not replace the target's rate or budget: both
//! apply (`app::db=0.1,app::db=first 5/1s`). Bad forms are a
//! [`ParseError`](crate::ParseError) of kind
//! [`InvalidRepeat`](crate::ParseErrorKind::InvalidRepeat) that says what is
//! wrong (`first 0/1s`, a unit `h`, no target, a `[key]`, ...). Without a
//! repeat directive nothing changes: `WARN`/`ERROR` are never held back.
//!
//! # What is kept
//!
//! Windows are fixed slices of the sampler's [clock](crate::SamplingFilterBuilder::clock)
//! (`[k·w, (k+1)·w)`). In each, the first `N` copies of each key are kept,
//! whatever their level; the rest of that window's copies are suppressed.
//! A kept copy then goes through sampling as usual (repeats are judged
//! first), so at a sampled level it may still be sampled out and carries its
//! `sample_rate` when kept; at `WARN`/`ERROR` it is kept whole and carries
//! none. So `sum(1 / sample_rate)` over the written copies plus the
//! `suppressed=N` of the summaries is what was emitted, exactly at
//! `WARN`/`ERROR` and in deterministic mode, as an estimate where sampling
//! is probabilistic.
//!
//! # The key
//!
//! By default the callsite alone: its format string is fixed, so ids
//! interpolated into the message do not make every copy a new key. With
//! `by a+b` the values of the named fields are part of it (their text, hashed
//! with xxh3 as it is formatted, without allocating; a missing field counts
//! as a value of its own); `message` names the formatted message. A `log`
//! record bridged by `tracing-log` is keyed by its own call site (file and
//! line) and matched by its own target, not `log`. Live keys are bounded
//! ([`MAX_REPEAT_KEYS`]); a new key past the bound first drops every key
//! whose window ended with nothing to report, else one key, its open window
//! summarised at once (counted in `evicted_keys`; an evicted key that comes
//! back starts a new count). A known key costs no allocation; a new key
//! formats its message once, for its summaries.
//!
//! # The summary
//!
//! At the end of a window that suppressed anything, one `WARN` line per key,
//! target `sampling_layer` (as the breaker's notices, and like them never
//! sampled nor suppressed), written through the same subscriber, so its
//! format is the layer's (text, or JSON that parses):
//!
//! ```text
//! WARN sampling_layer: repeated event suppressed key_target="app::db" key_level="ERROR"
//!     key_message="connection refused" kept=5 suppressed=49995
//!     first_suppressed_ms=1765039201004 last_suppressed_ms=1765039201999 window_ms=1000
//! ```
//!
//! `kept` and `suppressed` are the window's copies of that key (`kept +
//! suppressed` is what was emitted in it, its end noticed up to
//! [`CLOCK_READ_EVERY`]` - 1` copies late); the times are Unix milliseconds of
//! the first and last suppressed copy. It is written (through the breaker's
//! notice thread, since a subscriber must not be re-entered from its own
//! filter) by the first event of a repeat target, or the first event the
//! sampler keeps, after the window's end; and by
//! [`SamplingHandle::flush_repeats`](crate::SamplingHandle::flush_repeats),
//! which writes every open window's summary on the calling thread and
//! returns when they are written: call it before dropping the writer's guard.
//! Summaries are counted ([`RepeatTargetStats::summaries`]); one that finds
//! 65 536 waiting (a notice thread that cannot keep up) is lost and counted
//! in [`RepeatStats::summaries_lost`].
//!
//! # With the rest
//!
//! - **Breaker:** suppressed copies at the breaker's level count in its
//!   judgement (the errors happened); an open breaker keeps every *sampled*
//!   event but does not lift repeat suppression, so a storm of one error stays
//!   `N` copies and a summary per window, and an error with another key is
//!   never held back by this key's repeats.
//! - **Capture:** a suppressed copy is not diverted into a capturing span's
//!   buffer; see the crate docs for triggers.
//! - [`set_enabled(false)`](crate::SamplingHandle::set_enabled) lifts
//!   suppression too (everything is kept).
//!
//! # Cost
//!
//! A copy keyed on its callsite is judged in `enabled`, from the metadata
//! (a suppressed copy is never built); keys with fields and `log` records in
//! `event_enabled`. Either costs a callsite-table probe, a check of the
//! thread's copy of the installed repeat set (one load; a directive change
//! makes each thread take a new copy once, under a read lock), the key (the
//! thread's last key if it is the same, else the key map's shard read lock)
//! and, kept, a clock read and one CAS on the key's word; suppressed, two
//! loads and one RMW, and a clock read only once per [`CLOCK_READ_EVERY`]
//! copies (the window's end is then noticed up to that many copies minus
//! one late; counts still add up). Named fields add hashing
//! their text as it is formatted. A known key allocates nothing
//! (`tests/memory/keys.rs` counts); the first copy after a window's end that has
//! summaries to write queues one boxed job for the notice thread. While no
//! repeat directive is installed events pay nothing for repeats (the
//! filter's one load of the sampler's engaged parts says so); while one is,
//! events of other targets pay a callsite probe and a load. Measured figures:
//! `docs/benchmarks.md`, *Repeat suppression*.

pub(crate) mod gate;
pub(crate) mod key;
mod rules;
pub(crate) mod state;
#[cfg(all(test, not(sampling_layer_loom)))]
mod tests;

pub(crate) use state::Repeats;

/// A key whose window is full reads the sampler's clock once per this many
/// suppressed copies and judges the others in the window it has open: a
/// clock read is most of what a suppressed copy costs. So a window's end
/// is noticed at most `CLOCK_READ_EVERY - 1` copies late (those copies are
/// counted, suppressed, in the window that ended: `kept + suppressed` still
/// adds up to what was emitted), and a summary's `last_suppressed_ms` is
/// the time of a copy at most `CLOCK_READ_EVERY - 1` copies before the
/// window's last. Kept copies and a window's first suppressed copy always
/// read it.
pub const CLOCK_READ_EVERY: u64 = 16;

/// Live repeat keys, at most, per sampler.
pub const MAX_REPEAT_KEYS: usize = 4096;

/// Repeat suppression's figures ([`SamplingStats::repeats`](crate::stats::SamplingStats::repeats)).
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct RepeatStats {
    /// Keys live now (at most [`max_keys`](Self::max_keys)).
    pub live_keys: usize,
    /// The bound on live keys ([`MAX_REPEAT_KEYS`]).
    pub max_keys: usize,
    /// Keys dropped to make room, over the sampler's life.
    pub evicted_keys: u64,
    /// Summaries lost because 65 536 were waiting to be written.
    pub summaries_lost: u64,
    /// Per target ever configured with a repeat directive, in order of first
    /// configuration; figures carry on through directive changes.
    pub targets: Vec<RepeatTargetStats>,
}

/// One repeat target's figures, monotonic over the sampler's life.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct RepeatTargetStats {
    /// The directive's target.
    pub target: String,
    /// Its directive now (`first 5/1s`), `None` if no longer configured.
    pub configured: Option<String>,
    /// Copies kept (the first `N` of each key's windows).
    pub kept: u64,
    /// Copies suppressed, those of open windows included.
    pub suppressed: u64,
    /// Summary lines written.
    pub summaries: u64,
    /// Keys of this target live now.
    pub live_keys: u64,
    /// Keys of this target evicted to make room.
    pub evicted_keys: u64,
}

impl RepeatTargetStats {
    /// Copies judged: `kept + suppressed`.
    pub fn seen(&self) -> u64 {
        self.kept + self.suppressed
    }
}
