//! The bounds on a directive string: one place for the numbers the parser,
//! the splitter and the error messages share.
//!
#![doc = include_str!("limits.md")]

/// Stats buckets (labels live at once): a rule carries its bucket in 12 bits.
pub(crate) const MAX_BUCKETS: usize = 1 << 12;

/// The longest directive string accepted, in bytes (1 MiB).
///
/// Parsing is linear, so this bounds the work of one
/// [`set_directives`](crate::SamplingHandle::set_directives) call (an admin
/// endpoint may pass it user input): a string this long parses in a few
/// milliseconds (`docs/benchmarks.md`).
pub const MAX_DIRECTIVES_LEN: usize = 1 << 20;

/// The most distinct targets one directive set may name (4 095).
///
/// Each target counts under a stats row of its own, and a rule carries its row
/// in 12 bits; one of the 4 096 rows is the bare default's (or
/// [`OTHER_TARGET`](crate::stats::OTHER_TARGET)'s). Keys under a target do not count.
pub const MAX_TARGETS: usize = MAX_BUCKETS - 1;

/// The most items `split_directives` hands to `EnvFilter`. tracing-subscriber
/// 0.3's `DirectiveSet::add` keeps its directives in a sorted `Vec` and inserts
/// each one in place, so building an `EnvFilter` is quadratic in their number
/// (16 000 distinct targets take ~70 ms); this bound keeps it to a few
/// milliseconds.
pub(crate) const MAX_LEVEL_DIRECTIVES: usize = 4096;

/// Repeat directives in one set, at most.
pub(crate) const MAX_REPEATS: usize = 256;

/// The documented bound on the heap bytes the key store may use per unit of
/// `max_keys` (the derivation is in the key store's docs).
pub const BYTES_PER_KEY: usize = 300;

/// `log` call sites with a counter of their own, at most.
pub const MAX_LOG_SITES: usize = 16_384;

/// The largest denominator a rate may have (`2^24 - 1`): `1/16777215` is the
/// smallest non-zero rate. Seven decimal places (`0.0000001`) fit.
pub const MAX_DENOMINATOR: u32 = (1 << 24) - 1;
