//! Per-callsite-key sampling for `tracing`: deterministic, probabilistic and consistent.
//!
//! A busy module keeps 1–5% of its chatty events while every warning and error
//! survives. [`SamplingFilter`] is a `tracing-subscriber` per-layer
//! [`Filter`](tracing_subscriber::layer::Filter) *and* a global
//! [`Layer`](tracing_subscriber::Layer), configured like `EnvFilter` with a
//! directive string, changeable at run time through a [`SamplingHandle`], and
//! bounded in memory.
//!
//! ```
//! use sampling_layer::{Annotated, SamplingFilter};
//! use tracing_subscriber::{fmt, prelude::*, EnvFilter};
//!
//! let sampler = SamplingFilter::try_new("0.5,app::router=1/20,app::ws[heartbeat]=1%")
//!     .expect("valid directives");
//! let handle = sampler.handle(); // Clone + Send + Sync
//! let subscriber = tracing_subscriber::registry()
//!     .with(EnvFilter::new("debug"))
//!     .with(
//!         fmt::layer()
//!             .event_format(Annotated::new(fmt::format())) // adds sample_rate=0.05
//!             .with_filter(sampler),
//!     );
//! tracing::subscriber::with_default(subscriber, || {
//!     for i in 0..40 {
//!         tracing::debug!(target: "app::router", i, "routed"); // 1st and 21st kept
//!         tracing::warn!(target: "app::router", "never sampled");
//!     }
//! });
//! let router = handle.stats().targets.into_iter().find(|t| t.target == "app::router").unwrap();
//! assert_eq!((router.seen, router.kept, router.dropped), (40, 2, 38));
//! handle.set_directives("app::router=0.5").unwrap(); // from the next event on
//! ```
//!
//! # Keys
//!
//! By default an event's key is its callsite: every `debug!(...)` line has its
//! own counter. A `sample_key` field (name set by
//! [`key_field`](SamplingFilterBuilder::key_field)) overrides it:
//! `debug!(sample_key = "tool_call", ...)`, or a dynamic value such as a client
//! id (`sample_key = %client`). Counters are per (target, key); keys are
//! stored as 64-bit xxh3 hashes, never as strings. The key store is indexed
//! by a keyed, invertible mix of those with a per-process random seed
//! (multiplies and shifts, not an XOR of the seed), so keys an attacker
//! crafted to collide in their unseeded bits do not crowd one shard or one
//! probe sequence; the consistent mode's decision hash stays unseeded, so
//! processes agree.
//!
//! # Modes ([`Mode`])
//!
//! - `Deterministic` (default): exactly `p` in every `q` events per key, the
//!   first kept: `1/20` keeps the 1st, 21st, ...; `0.3` keeps 3 in every 10.
//!   Exact under concurrent threads (one CAS per event on the key's word).
//! - `Probabilistic`: an independent draw per event from a thread-local
//!   counter-based generator; [`seed`](SamplingFilterBuilder::seed) makes it
//!   reproducible per thread. No per-key state.
//! - `Consistent { field }`: keep iff the unseeded xxh3 hash of the field's text
//!   (on the event, or on the nearest enclosing span that has it) is below
//!   `rate × 2^64`. Every process makes the same decision for the same value,
//!   across restarts, and a higher rate keeps a superset of what a lower one
//!   keeps (OpenTelemetry's trace-id-ratio property). An event with no such
//!   value anywhere gets an independent draw at the same rate.
//!
//! # Directives
//!
//! ```text
//! directives := directive ("," directive)*
//! directive  := rate                          the default for every target
//!             | target "=" rate                that target and its `::` children
//!             | target "[" key "]" "=" rate    one key under that target ("" = any target)
//!             | [target "="] level "@" rate    level for EnvFilter, rate for the sampler
//! rate       := decimal | decimal "%" | integer "/" integer      (in [0, 1])
//! ```
//!
//! The most specific directive wins: a `[key]` directive (longest target
//! first), then the longest matching target, then the bare default; an event
//! nothing matches is kept (rate 1). Rates are exact fractions: at most 7
//! decimal places, denominators up to 16 777 215. Rate 1 keeps everything with
//! no per-key state; rate 0 drops every sampled-level event. Bad input (`1.5`,
//! `-0.1`, `NaN`, `abc`, `1/0`, an unclosed `[`) is a [`ParseError`] naming the
//! directive and the problem; [`parse_lossy`](SamplingFilterBuilder::parse_lossy)
//! and [`from_env`](SamplingFilterBuilder::from_env) (variable
//! `RUST_LOG_SAMPLE`) skip bad items with a warning on stderr.
//! [`split_directives`] turns `"info,app::router=debug@0.05"` into an
//! `EnvFilter` and a sampler, so one variable configures both.
//!
//! # Levels, interest and cost
//!
//! Events at or above [`always_keep`](SamplingFilterBuilder::always_keep)
//! (`WARN` by default) are never sampled and their callsites answer
//! `Interest::always()`; sampled callsites answer `sometimes()`; spans are
//! never filtered. The sampler gives no `max_level_hint`, so the level hint of
//! your `EnvFilter`/`LevelFilter` stays in force and events disabled by level
//! cost what they cost without the sampler.
//!
//! Events whose callsite has no key field (outside consistent mode) are
//! decided in `enabled`, from the metadata alone, so a sampled-out event is
//! never built; the others in `event_enabled`, which sees the fields. Either
//! way the hot path takes no lock, allocates nothing and makes no syscall: a
//! lock-free callsite table probe, a cached rule checked against the directive
//! generation, and one CAS on a word that holds the key's position and its
//! figures together (`docs/benchmarks.md` has the measured costs).
//!
//! Because of the early decision, put dynamic filters that may still reject an
//! event *before* the sampler in evaluation order (for per-layer use
//! `fmt::layer().with_filter(env.and(sampler))`; for global use
//! `registry().with(sampler).with(env)`), or the sampler counts events those
//! filters drop afterwards. Level-only filtering is resolved by interest
//! caching first and is not affected.
//!
//! # Bounded memory
//!
//! At most [`max_keys`](SamplingFilterBuilder::max_keys) (default 10 000)
//! per-key counters for keyed events are live; past that the least recently
//! used eighth is evicted (approximate LRU) and counted in
//! [`SamplingStats::evicted_keys`]. The store costs at most [`BYTES_PER_KEY`]
//! bytes per unit of `max_keys` (measured: about 187). Eviction allocates
//! nothing, so under key churn the logging thread allocates only when a
//! shard's table grows to a new high (bounded by `max_keys`, not per event;
//! `tests/memory.rs` counts them). Counters never overflow:
//! positions wrap at the window, figures move to the stats bucket long before
//! their fields fill. Callsite keys live in a fixed table of 2048 slots
//! (32 KiB inline in each sampler, plus at most 128 bytes per registered callsite; at
//! most half the slots are used, further callsites go to an overflow map with
//! a shard lock) and are reported as [`SamplingStats::callsite_keys`].
//!
//! # Circuit breaker ([`Breaker`])
//!
//! When events at `ERROR` (configurable) arrive faster than a threshold (50/s
//! over a 10 s sliding window by default), sampling is suspended and
//! everything is kept, until the rate has stayed at or below the threshold for
//! the hold period (60 s). Each transition is logged once as a `WARN` event
//! with target `sampling_layer` and counted (`breaker_trips`,
//! `breaker_recoveries`). The clock is injectable ([`ManualClock`]).
//! The notice is emitted from a short-lived thread (a subscriber must not be
//! re-entered from its own filter) into the dispatcher the sampler is part of:
//! a global layer is told it; a per-layer filter is not, so it recognises its
//! dispatcher when a callsite registers (or a handle method runs) on a thread
//! where that dispatcher is the default, which does not always happen (with a
//! single scoped dispatcher `tracing-core` registers callsites from inside a
//! dispatch, where the default cannot be read; nor inside a filter combinator
//! or behind another `SamplingFilter` in the same stack). Then notices go to
//! the global default, unless you name the dispatcher with
//! [`SamplingHandle::set_notice_dispatch`]: do so when a per-layer sampler
//! runs under `with_default`.
//!
//! # Figures and composition
//!
//! [`SamplingHandle::stats`] returns a [`SamplingStats`] snapshot: live and
//! evicted keys, breaker state, and per directive target seen / kept / dropped
//! and the configured rate. Labels are the directive targets, `""` for the bare
//! default, and [`OTHER_TARGET`] for events no directive matches when there is
//! no default, so their number is bounded by the directive set.
//!
//! Every figure is monotonic per label over the sampler's life, whatever
//! runs concurrently (evictions, `set_directives`, other readers): figures
//! move between a callsite's or key's counter and the label's total only
//! under the lock a snapshot holds. At most 4 096 labels (targets, `""`,
//! `other`) can be configured *at once*; a set with more is refused. A label a
//! new set drops frees its place, and its figures are remembered (up to
//! 65 536 retired labels, under 150 bytes each; past that the longest retired
//! is forgotten, counted in [`SamplingStats::forgotten_targets`]): when it is
//! configured again it carries on from them. `set_directives` re-resolves
//! every callsite and live key at once (one pass, under the directive lock;
//! an event whose rule is being replaced waits for the pass to end).
//! `logmetrics` polls this snapshot; the sampler knows nothing of `metrics`
//! or of the writer.
//!
//! # `log` records
//!
//! Records of the `log` crate bridged by `tracing-log`'s `LogTracer` arrive
//! on five shared callsites (one per level, target `log`). The sampler
//! recognises them and samples each record by its own target (the
//! `log.target` field, as `tracing-log`'s normalized metadata reports it), so
//! `legacy_dep=0.1` applies, and by its own call site (`log.file` and
//! `log.line`), so each `log` call site has its own exact 1-in-N, in a table
//! of its own (up to [`MAX_LOG_SITES`]; never evicted). This is decided in
//! `event_enabled`, since `enabled` only sees `tracing-log`'s temporary
//! metadata; kept records get `sample_rate` like any event. To print the
//! record's own target, enable `tracing-subscriber`'s `tracing-log` feature.
//!
//! [`Annotated`] wraps any `fmt` event formatter and writes `sample_rate=0.05`
//! (text) or `"sample_rate":0.05` (JSON) on events kept at a rate below one.
//! Annotated lines are formatted without ANSI colours.
#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub
)]

mod annotate;
mod breaker;
mod builder;
mod callsites;
mod clock;
mod counts;
mod directive;
mod error;
mod fields;
mod figures;
mod filter;
mod handle;
mod keys;
mod ledger;
mod log_bridge;
#[cfg(all(test, loom))]
mod loom_models;
mod mode;
mod rate;
mod rule;
mod shared;
mod split;
mod stats;
mod sync;

pub use annotate::{sample_rate, Annotated};
pub use breaker::Breaker;
pub use builder::{SamplingFilterBuilder, DEFAULT_ENV};
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{ParseError, ParseErrorKind};
pub use filter::SamplingFilter;
pub use handle::SamplingHandle;
pub use keys::BYTES_PER_KEY;
pub use log_bridge::MAX_LOG_SITES;
pub use mode::Mode;
pub use rate::{Rate, MAX_DENOMINATOR};
pub use split::split_directives;
pub use stats::{SamplingStats, TargetStats, OTHER_TARGET};
