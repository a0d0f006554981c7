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
//!   counter-based generator (splitmix64; measured faster on the hot path
//!   than `rand`'s `SmallRng`, see `docs/benchmarks.md`);
//!   [`seed`](SamplingFilterBuilder::seed) makes it reproducible per thread
//!   (its docs say exactly what is reproduced). No per-key state.
//! - `Consistent { field }`: keep iff the unseeded xxh3 hash of the field's text
//!   (on the event, or on the nearest enclosing span that has it) is below
//!   `rate × 2^64`. Every process makes the same decision for the same value,
//!   across restarts, and a higher rate keeps a superset of what a lower one
//!   keeps (OpenTelemetry's trace-id-ratio property). An event with no such
//!   value anywhere gets an independent draw at the same rate.
//! - With a [`KeyExtractor`] ([`key_extractor`](SamplingFilterBuilder::key_extractor)),
//!   events inside a trace are decided by the trace the extractor reads from the
//!   current context ([`TracePolicy`]: follow its sampled flag, or test its
//!   randomness as the specification's `ProbabilitySampler` does ([`probability`]),
//!   or as the legacy `TraceIdRatioBased` does); the mode decides the events outside any
//!   trace. The `opentelemetry` feature (off by default) adds the `otel` module, extractors for
//!   `opentelemetry` 0.33 / `tracing-opentelemetry` 0.34, so the logs kept are those of
//!   the traces exported; decided in `enabled` where the callsite needs no field.
//!
//! # Feature flags
//!
//! - `env-filter` (on by default): [`split_directives`] and
//!   [`SamplingFilterBuilder::split`], one string for `EnvFilter` and the
//!   sampler. Without it the crate does not build tracing-subscriber's
//!   `env-filter` (and its regex engine).
//! - `opentelemetry` (off by default): the `otel` module (see above), and
//!   `otel::logs`, the sample rate on the OpenTelemetry log bridge's records.
//!
//! The crate asks tracing-subscriber for `registry` (per-layer filters, span
//! lookups) and `fmt` ([`Annotated`], the capture writer) and nothing else.
//!
//! # Directives
//!
//! This is the one statement of the syntax; the parser (`src/directive/`)
//! and [`split_directives`] implement it.
//!
//! ```text
//! directives := item ("," item)*               at most MAX_DIRECTIVES_LEN (1 MiB); spaces
//!                                              around an item are ignored
//! item       := limit                          the default for every target
//!             | target "=" limit               events whose target starts with `target`
//!             | [target] "[" key "]" "=" rate  events with that key under `target` (none: any target)
//!             | [target "="] level "@" limit   the level for EnvFilter, the limit for the sampler
//!             | "+" name | "+{" field "}" | "+" name "{" field "}"
//!                                              spans that capture context (see Context capture)
//!             | target "=" "first" N "/" window ["by" field ("+" field)*]
//!                                              repeat suppression (see the `repeat` module)
//! limit      := rate | budget
//! rate       := decimal | decimal "%" | integer "/" integer          in [0, 1]
//! budget     := integer "/" unit               lines per second or per minute, 1 .. 10^9
//! unit       := "s" | "sec" | "min" | "m"     any case; s and sec per second, min and m per minute
//! level      := trace | debug | info | warn | error | off | 0 .. 5   any case, as EnvFilter
//! target     := a letter, digit, "_", "-" or ":" first (as EnvFilter), then no
//!               whitespace and none of  [ ] = @ , { }
//! key        := any text without  ] { ,  (spaces around it ignored): the text the
//!               `sample_key` field's value is recorded as (below)
//! name, field := no whitespace and none of  [ ] = @ , { } +
//! ```
//!
//! Whitespace: spaces around `=`, `@`, `[`, `]`, the `/` of a fraction or
//! budget and before `%` are ignored in every form (`app [k] = 0.5` is
//! `app[k]=0.5`, `app = 200 / s` is `app=200/s`); a space inside a target
//! or a number is an error. [`split_directives`] hands the sampler's items
//! on without the spaces, and `EnvFilter`'s items as written.
//!
//! A `[key]` matches the `sample_key` field's value by its text, exactly: a
//! string's own text (`sample_key = "k"` and `sample_key = %k` match `[k]`),
//! a number's decimal text (`sample_key = 42` matches `[42]`), and for a
//! value recorded with `?` its `Debug` text, which for a string has quotes:
//! `sample_key = ?"k"` matches `["k"]`, not `[k]`. Record keys with `%` (or
//! as plain strings) to match them by their bare text.
//!
//! A capture item starts with `+`, which no target and no `EnvFilter` form
//! starts with, so it never collides with `target[key]=rate` nor with
//! `EnvFilter`'s `[span]` and `{field}` filters (which sit inside brackets);
//! [`split_directives`] hands it to the sampler as written.
//!
//! A repeat item's right-hand side starts with the word `first` (any case),
//! which no rate, budget or `EnvFilter` level does; `N` is 1 ..= 1 000 000,
//! `window` is `s`, `min` or a whole number and `ms`, `s`, `sec`, `m` or
//! `min` (1 ms ..= 24 h). What it keeps, its key and its summary line:
//! [`repeat`]. [`split_directives`] hands it to the sampler as written.
//!
//! Targets match as in `EnvFilter`: a directive's target matches every event
//! target that starts with it (`app` matches `app::db`, and also `apple`), so
//! one string means the same on both sides of [`split_directives`]. The most
//! specific directive wins: a `[key]` directive (longest target first), then
//! the longest matching target, then the bare default; an event nothing
//! matches is kept (rate 1) and counted under [`OTHER_TARGET`]. A later
//! directive for the same target (and key) replaces an earlier one.
//!
//! A target (or the default) has a rate or a [budget](#budgets), whichever
//! its later directive gives: `app=0.5,app=200/s` is a budget. A budget has a
//! unit after the `/` (`s`, `sec`, `min` or `m`, any case), a rate has digits
//! (`1/20`), so the two never read alike. A `[key]` takes a rate only (a
//! budget is shared out among a target's keys), and budgets are refused in
//! consistent mode (see [Budgets](#budgets)).
//!
//! Rates are exact fractions: at most 7 decimal places, denominators up to
//! 16 777 215. Rate 1 keeps everything with no per-key state; rate 0 drops
//! every sampled-level event. A number is always a rate, never `EnvFilter`'s
//! numeric level (`app=0` is rate 0 here, OFF for `EnvFilter`; `app=3` is
//! refused). Before a rate, `[key]` names a sample key; before a level (only
//! in [`split_directives`]) it is `EnvFilter`'s span filter.
//!
//! Bad input (`1.5`, `-0.1`, `NaN`, `abc`, `1/0`, an unclosed `[`, `@0.5`) is
//! a [`ParseError`] naming the directive and the problem. Parsing is linear in
//! the length of the string and bounded: at most [`MAX_DIRECTIVES_LEN`] bytes
//! and [`MAX_TARGETS`] distinct targets (each has a stats row), refused with
//! an error that says so. As with `EnvFilter`'s builder,
//! [`from_env`](SamplingFilterBuilder::from_env) (variable `RUST_LOG_SAMPLE`)
//! returns an error naming the variable and the directive, while
//! [`parse_lossy`](SamplingFilterBuilder::parse_lossy) and
//! [`from_env_lossy`](SamplingFilterBuilder::from_env_lossy) skip bad items
//! with a warning on stderr. A builder setting out of range is a
//! [`SettingError`] (naming the setting), not a directive error; the
//! builder's methods return a [`BuildError`] that is one or the other.
//! [`split_directives`] turns `"info,app::router=debug@0.05"` into an
//! `EnvFilter` and a sampler, so one variable configures both; it hands every
//! form it does not own (levels, targets, span and field filters) to
//! `EnvFilter`.
//!
//! # Budgets
//!
//! `app::router=200/s` keeps about 200 lines per second of `app::router`'s
//! sampled-level events however busy it is, spread over its keys (callsites
//! or `sample_key` values) so that rare keys keep everything: once per
//! adjustment interval ([`budget_interval`](SamplingFilterBuilder::budget_interval),
//! 1 s by default) each key's event rate is estimated (a moving average
//! that follows a rise at once and a fall halfway per interval), and each key
//! gets the rate that spends the budget: a key below its fair share keeps
//! all, the others keep `level / their rate` (water filling). A key's rate is
//! cached in its rule beside its counter, exactly where a configured rate is,
//! so a sampled-out event costs what it costs without a budget
//! (`docs/benchmarks.md`); rates are `1/N` below 1/16 and `p/1024` above.
//!
//! - Every kept event carries the rate it was kept at ([`sample_rate`],
//!   [`Annotated`]), so `sum(1 / sample_rate)` over kept lines estimates what
//!   was emitted. In probabilistic mode that is unbiased; in deterministic
//!   mode each key keeps exactly `p` in `q` per window, its first window
//!   starting at a random point (so short-lived keys are not all kept on
//!   their first event). `tests/budget.rs` checks both to within 5%.
//! - A key seen for the first time starts at rate 1 (or
//!   [`budget_initial_rate`](SamplingFilterBuilder::budget_initial_rate)
//!   before the budget's first adjustment) while its target's allowance
//!   lasts (as many new keys per interval as bring a tenth of the budget's
//!   lines), then at the rate that spends the budget on the target's counted
//!   traffic: key churn costs about that tenth extra (1.09-1.15x the budget
//!   measured with 1 000 new keys an interval), also with more
//!   keys than `max_keys` (evicted keys' events still count in their
//!   target's traffic). Keys that stopped stop taking a share at the next
//!   adjustment.
//! - Traffic that rises is caught by the next adjustment: a key whose rate
//!   doubles within an interval overspends that interval (by up to 2×) and
//!   the next by at most the share of its rise the estimate did not see.
//!   Lines kept by keys with no estimate yet (a new budget, keys back after
//!   eviction) are held to a pace: once the budgets have kept a tenth of an
//!   interval's lines more than their lines per second allow since the last
//!   adjustment, the next one comes at once. So the first interval of a new
//!   budget keeps about its budget plus a tenth, and a target switched from
//!   a rate to a budget starts from that rate.
//! - Run-time edits (`set_directives`, `set_target_rate`, `remove_target`,
//!   an expiring change) keep what every budget they leave unchanged has
//!   learned; a budget whose amount changes scales its keys' rates by the
//!   ratio.
//! - No thread: the adjustment runs on the thread of a kept event of a budget
//!   key, or of every 128th sampled-out event of a key or callsite (a clock
//!   read per 128 sampled-out events, none on the others), so it comes on
//!   time even when the rates make kept events rare. When the interval is
//!   over it adjusts, in two linear passes over the callsites and the live
//!   keys (bounded by `max_keys`), behind try-locks (if another thread is
//!   adjusting, or a snapshot or install holds a lock, a later event does
//!   it). The per-key state is one more word per key ([`BYTES_PER_KEY`]).
//! - `WARN`/`ERROR` (see [`keep_level`](SamplingFilterBuilder::keep_level))
//!   are outside every budget; an open [breaker](#circuit-breaker-breaker)
//!   keeps everything, budget or not.
//! - Consistent mode refuses budgets ([`ParseErrorKind::BudgetInConsistentMode`]):
//!   a rate that follows each process's own traffic would make processes with
//!   different traffic disagree on the same value, which is the point of that
//!   mode.
//!
//! [`TargetStats::budget`] shows a target's budget in lines per second, and
//! [`TargetStats::effective_rate`] the share of its events kept in the last
//! interval (its `rate` is 1: a budget has no fixed rate).
//!
//! # Pressure
//!
//! [`SamplingFilterBuilder::pressure`] wires in a fill signal in `[0, 1]`
//! (a closure or a [`PressureSignal`]; with `backpressure-writer`,
//! `Pressure::new(move || writer.fill())`): while it is at or above
//! [`high`](Pressure::high) (0.5) the sampler multiplies every sampled rate
//! and budget by [`step`](Pressure::step) (½) per read, down to
//! [`floor`](Pressure::floor); at or below [`low`](Pressure::low) (0.25) it
//! relaxes by the same step, up to the configured rates; in between it holds.
//! The signal is read at most every 50 ms ([`every`](Pressure::every)), by a
//! kept event of a sampled rule or by every 128th sampled-out event of a key
//! or callsite (no thread; a clock read per 128 sampled-out events), so the
//! scale recovers on time even when it made kept events rare; a move
//! rewrites the cached rates in one pass and re-adjusts the budgets at once. Rates of 1 and 0 are not scaled (pressure tightens
//! sampling, it does not start it: a flood from a target the sampler keeps
//! in full is not its to relieve), and `WARN`/`ERROR` are never sampled. Kept
//! events carry the rate they were kept at. [`SamplingStats::pressure_scale`],
//! [`TargetStats::effective_rate`] and [`TargetStats::effective_budget`] show
//! where it stands.
//!
//! With a [`KeyExtractor`] pressure does not thin events inside a trace
//! (they are decided at their directive rate, so the logs of a kept trace
//! are all kept, as budgets are refused there for the same reason); events
//! outside any trace follow the scale.
//!
//! **Precedence:** breaker > pressure > budget or rate. An open breaker keeps
//! everything; otherwise the target's rate or budget decides, multiplied by
//! the pressure scale.
//!
//! # Levels, interest and cost
//!
//! Events at or above [`keep_level`](SamplingFilterBuilder::keep_level)
//! (`WARN` by default) are never sampled and their callsites answer
//! `Interest::always()` (unless a [`repeat`] directive covers them: then
//! `sometimes()`); sampled callsites answer `sometimes()`; spans are
//! never filtered. The sampler gives no `max_level_hint` (`None`), so the
//! level hint of your `EnvFilter`/`LevelFilter` stays in force and events
//! disabled by level cost what they cost without the sampler (see
//! [Composition](#composition) for the one combinator where that needs
//! [`SamplingFilter::and`]).
//!
//! Events whose callsite has no key field (outside consistent mode) are
//! decided in `enabled`, from the metadata alone, so a sampled-out event is
//! never built; the others in `event_enabled`, which sees the fields. Either
//! way the hot path takes no lock, allocates nothing and makes no syscall: a
//! lock-free callsite table probe, a cached rule checked against the directive
//! generation, and one CAS on a word that holds the key's position and its
//! figures together (`docs/benchmarks.md` has the measured costs).
//!
//! Probes are not events: `tracing::event_enabled!` and `enabled!` ask with
//! hint metadata (`Kind::HINT`), which the sampler recognises once per
//! callsite, at registration, and never counts or samples; a probe gets the
//! answer it would get without the sampler ("may be enabled").
//!
//! # Composition
//!
//! Every composition below is tested with exact counts (`tests/combinators.rs`,
//! `tests/placement.rs`). Upstream behaviour is that of tracing-subscriber
//! 0.3.23.
//!
//! **Per-layer** (`fmt::layer().with_filter(..)`):
//!
//! - `sampler`: samples what that one layer writes.
//! - `sampler.and(env)` ([`SamplingFilter::and`], recommended with a level
//!   filter): `env` is asked first in every method, so the sampler counts only
//!   what `env` passes, and the level hint is `env`'s.
//!   `env.and(sampler)` (`FilterExt::and`) samples the same, but
//!   `And::max_level_hint` is the smaller of two `Option`s, so the subscriber
//!   gets no hint (`None`) and loses its level fast path; and
//!   `FilterExt::and(sampler, env)` asks the sampler first, so it counts
//!   events `env` rejects later.
//! - `sampler.or(x)` ([`SamplingFilter::or`]): keeps what the sampler keeps,
//!   and else what `x` enables; the sampler is asked first, and callsites `x`
//!   enables outright (`Interest::always`) are kept without asking it. Not
//!   `x.or(sampler)` or `FilterExt::or(sampler, x)`: `Or::event_enabled` is
//!   `a || b`, and the side that does not decide there answers its default
//!   `true`, so every keyed event (decided in `event_enabled`) is kept.
//! - `sampler.not()` ([`SamplingFilter::not`]): keeps exactly what the sampler
//!   drops. Not `FilterExt::not(sampler)`: `Not::event_enabled` never asks, so
//!   every keyed event is dropped.
//! - `Some(sampler)` / `None` (`Option<_>`), `Box<dyn Filter<S> + Send +
//!   Sync>`: forward every method; exact.
//! - `reload::Layer<SamplingFilter, S>` as a filter: **not supported** for
//!   keyed events. Its `Filter` impl forwards `enabled` but not
//!   `event_enabled`, so keyed and consistent-mode events pass uncounted
//!   (callsite-keyed ones sample exactly, without `sample_rate`). There is no
//!   need for it: [`SamplingHandle::set_directives`] and
//!   [`set_enabled`](SamplingHandle::set_enabled) change a live sampler.
//!
//! **Global** (`registry().with(..)`, or on top of a built subscriber):
//!
//! - `registry().with(sampler).with(env)` (recommended): `env` is asked first
//!   (outer layers first); the hint is `env`'s.
//! - The sampler above another subscriber or layer:
//!   `registry().with(env).with(sampler)`,
//!   `fmt().with_env_filter(env).finish().with(sampler)`. The layers below are
//!   asked after it in `enabled` and may still reject (per-target levels), so
//!   there it leaves the callsite's interest to them (`Interest::always()`)
//!   and decides in `event_enabled`, which runs only for events the whole
//!   stack enabled: exact counts, the hint of the layers below, but a
//!   sampled-out event is built before it is dropped.
//! - `reload::Layer<SamplingFilter, S>`, `Option<SamplingFilter>`,
//!   `Box<dyn Layer<S> + Send + Sync>`: forward every method; exact.
//! - Under layers with per-layer filters: per-layer filters do not filter
//!   global layers (tracing-subscriber's design), so the sampler decides and
//!   counts every event the global filters enable, also those every layer
//!   then skips; filter levels globally to spare it those. The subscriber's
//!   hint is `None` here (`Layered::max_level_hint` returns `None` when a
//!   per-layer-filtered layer sits above a layer without a hint).
//! - Two global samplers: the outer one decides on what the inner one kept
//!   (the rates multiply). Two per-layer samplers are independent.
//!
//! No constant `max_level_hint` serves both a per-layer `env.and(sampler)`
//! (which needs a hint from the sampler) and a sampler-only per-layer filter
//! beside a global level filter (where any hint from the sampler would
//! override the global one): the sampler answers `None` and
//! [`SamplingFilter::and`] carries the other filter's hint.
//!
//! # Bounded memory
//!
//! At most [`max_keys`](SamplingFilterBuilder::max_keys) (default 10 000)
//! per-key counters for keyed events are live; past that the least recently
//! used eighth is evicted (approximate LRU) and counted in
//! [`SamplingStats::evicted_keys`]. The store costs at most [`BYTES_PER_KEY`]
//! bytes per unit of `max_keys` (measured: about 213). Eviction allocates
//! nothing, so under key churn the logging thread allocates only when a
//! shard's table grows to a new high (bounded by `max_keys`, not per event;
//! `tests/memory.rs` counts them). Counters never overflow:
//! positions wrap at the window, figures move to the stats bucket long before
//! their fields fill. Callsite keys live in a fixed table of 2048 slots
//! (32 KiB inline in each sampler, plus at most 192 bytes per registered callsite; at
//! most half the slots are used, further callsites go to an overflow map with
//! a shard lock) and are reported as [`SamplingStats::callsite_keys`].
//!
//! # Circuit breaker ([`Breaker`])
//!
//! When events at `ERROR` (configurable) arrive faster than a threshold (50/s
//! over a 10 s sliding window by default) **and** a trigger says this is a
//! storm, sampling is suspended and everything is kept, until no trigger has
//! held for the hold period (60 s). The triggers, over the same window:
//!
//! - **ratio**: errors make more than 1% of all events of the sampled
//!   targets (`errors / (errors + sampled-level events)`: the window's error
//!   rate against the traffic's rate, measured over a window where the
//!   figures allow, so errors that arrive in one burst count against the
//!   window's traffic, not the few milliseconds around them; the events
//!   counted from the figures the sampler keeps anyway: no counter on the
//!   sampled-out path);
//! - **spike**: the error rate is more than 10× its own baseline (a moving
//!   average over about six windows, fed while open too, so errors that
//!   recur in bursts become the baseline instead of re-firing it at every
//!   burst).
//!
//! Why: a busy, healthy service errs at a steady small ratio: 0.1% of
//! 100 000 events/s is 100 ERROR/s, twice the threshold, and on the threshold
//! alone that kept the breaker open (every event kept) for as long as the
//! load lasted. A storm differs in kind: its ratio jumps (the demo's: 1.4%
//! against 0.1%) or its rate jumps against its past (36×). So the default
//! opens on neither the healthy busy service nor a quiet one's few errors
//! (the threshold stays a floor), and on both kinds of storm, once the storm
//! fills enough of the window (`tests/triggers.rs` has each case with exact
//! counts). Errors that come in bursts on a healthy service (0.1% of 100 000
//! events/s arriving as 1 000 every 10 s) do not hold it open: a first burst
//! after a quiet stretch may trip it once (a spike against a baseline of
//! almost nothing), and it closes a hold period later; the later bursts are
//! the baseline by then (`tests/breaker_bursts.rs`). A trip costs at least
//! the hold period (60 s) of keeping everything. [`Breaker::ratio`], [`Breaker::spike`], `without_ratio`,
//! `without_spike` tune them; [`Breaker::threshold_only`] is the absolute
//! threshold alone, as before. The notice names the trigger
//! (`trigger="ratio"`) and [`SamplingStats::breaker_trigger`] shows the last. Each transition is logged once as a `WARN` event
//! with target `sampling_layer` and counted (`breaker_trips`,
//! `breaker_recoveries`). The clock is injectable ([`ManualClock`]).
//! Notices are emitted from one notice thread (started with the first
//! transition in the process, fed by a bounded channel of 256: a subscriber
//! must not be re-entered from its own filter; a notice that finds the
//! channel full is lost, the transition is still counted) into the
//! dispatcher the sampler is part of: a global layer is told it; a per-layer
//! filter is not, so it recognises its dispatcher when a callsite registers
//! (or a handle method runs) on a thread where that dispatcher is the
//! default, which does not always happen (with a single scoped dispatcher
//! `tracing-core` registers callsites from inside a dispatch, where the
//! default cannot be read; nor inside a filter combinator or behind another
//! `SamplingFilter` in the same stack). Then notices go to the global
//! default, unless you name the dispatcher with
//! [`SamplingHandle::set_notice_dispatch`]: do so when a per-layer sampler
//! runs under `with_default`. A notice emitted after its dispatcher was
//! dropped goes to the global default.
//!
//! # Figures
//!
//! [`SamplingHandle::stats`] returns a [`SamplingStats`] snapshot: live and
//! evicted keys, breaker state, and per directive target seen / kept / dropped
//! and the configured rate. Labels are the directive targets, `""` for the bare
//! default, and [`OTHER_TARGET`] (`(other)`) for events no directive matches
//! when there is no default, so their number is bounded by the directive set.
//! No target can be named `""` or start with `(`, so no directive shares a
//! row with the default or the catch-all.
//!
//! Every figure is monotonic per label over the sampler's life, whatever
//! runs concurrently (evictions, `set_directives`, other readers): figures
//! move between a callsite's or key's counter and the label's total only
//! under the lock a snapshot holds. At most 4 096 labels (targets, `""`,
//! `(other)`) can be configured *at once*; a set with more is refused. A label a
//! new set drops frees its place, and its figures are remembered (up to
//! 65 536 retired labels, under 150 bytes each; past that the longest retired
//! is forgotten, counted in [`SamplingStats::forgotten_targets`]): when it is
//! configured again it carries on from them. `set_directives` re-resolves
//! every callsite and live key at once (one pass, under the directive lock;
//! an event whose rule is being replaced waits for the pass to end).
//! `logmetrics` polls this snapshot; the sampler knows nothing of `metrics`
//! or of the writer. Beside the lifetime figures, each target has the figures
//! of the last complete interval (10 s by default,
//! [`recent_interval`](SamplingFilterBuilder::recent_interval)) and its
//! [`recent_rate`](TargetStats::recent_rate), so a rate change shows within
//! one interval.
//!
//! # Run-time control
//!
//! [`SamplingHandle::set_directives`] replaces the whole set;
//! [`set_target_rate`](SamplingHandle::set_target_rate) and
//! [`remove_target`](SamplingHandle::remove_target) change one directive and
//! leave the others; [`set_target_rate_for`](SamplingHandle::set_target_rate_for)
//! changes one until an expiry, then returns it to what it was (applied
//! lazily, at the first kept event or handle call after the expiry, on the
//! builder's [`clock`](SamplingFilterBuilder::clock); no thread, and no clock
//! read on the sampled-out path). [`directives`](SamplingHandle::directives)
//! reads the set back as a string that builds the same set.
//!
//! Levels change the same way, per target and with an expiry, through
//! [`level::Levels`] and its [`LevelHandle`](level::LevelHandle) (no
//! `reload::Layer`; decided per callsite, no lock on a callsite's events);
//! [`level::set_target`] sets a level and a rate or budget with one
//! `target=level@limit` item.
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
//! # Annotation
//!
//! [`Annotated`] wraps any `fmt` event formatter and writes `sample_rate=0.05`
//! (text) or `"sample_rate":0.05` (JSON) on events kept at a rate below one.
//! With more than one sampler in a subscriber, bind each formatter to the
//! sampler of its layer ([`Annotated::for_sampler`]), so each line carries
//! its own sampler's rate; unbound, it writes the rate of the sampler that
//! decided the event last, which is right only when there is one. Annotated lines are formatted
//! without ANSI colours: tracing-subscriber 0.3's public API cannot make a
//! `Writer` over a buffer keep them (`Writer::with_ansi` is crate-private).
//!
//! # Context capture
//!
//! A sampler at 1% throws away the DEBUG lines around a failure, which are
//! the ones you need. With capture, events the sampler drops inside a
//! *capturing span* are kept in a bounded buffer of that span; when a line at
//! the trigger level (`ERROR` by default, [`capture_trigger`](SamplingFilterBuilder::capture_trigger))
//! is written inside it, the buffer is written first, in the order its lines
//! were logged, then the trigger line. A span that closes without a trigger
//! has its buffer discarded (or handed to the capturing span around it, see
//! below). Nothing reaches the sink unless triggered: the layer's writer must
//! be wrapped in a [`CaptureWriter`]; while the sampler has none, it captures
//! nothing and samples as usual (see *Where it works*).
//!
//! ```
//! use sampling_layer::{CaptureWriter, SamplingFilter};
//! use tracing_subscriber::{fmt, prelude::*};
//!
//! // Spans named `request` capture; so would `+request` in the directives,
//! // or `+{request_id}` for every span that carries that field.
//! let sampler = SamplingFilter::builder().capture_span("request").parse("0.01").unwrap();
//! let handle = sampler.handle();
//! let writer = CaptureWriter::new(std::io::stdout, &handle);
//! let subscriber = tracing_subscriber::registry()
//!     .with(fmt::layer().with_writer(writer).with_filter(sampler));
//! tracing::subscriber::with_default(subscriber, || {
//!     let span = tracing::info_span!("request", id = 7);
//!     let _e = span.enter();
//!     for i in 0..50 {
//!         tracing::debug!(i, "step"); // the 1st written now, 49 captured
//!     }
//!     tracing::error!("failed"); // the 49 are written first, ` captured=true`
//! });
//! let c = handle.capture_stats();
//! assert_eq!((c.captured, c.flushed), (49, 49));
//! ```
//!
//! - **Which spans:** by name (`+request`,
//!   [`capture_span`](SamplingFilterBuilder::capture_span)), by a field they
//!   carry (`+{request_id}`, [`capture_field`](SamplingFilterBuilder::capture_field)),
//!   or both (`+request{request_id}`). Directive items change with
//!   [`set_directives`](SamplingHandle::set_directives); the builder's stay.
//!   Events in child spans belong to the nearest capturing ancestor
//!   (recorded when the child is created, so a task spawned with a child
//!   span is covered too). Nested capturing spans each have their own
//!   buffer; a trigger writes the lines of every capturing span the thread
//!   is inside, merged into the order they were logged (`e1 e2 e3 e4`
//!   interleaved between an outer and an inner span come out `e1 e2 e3 e4`).
//! - **Nested spans that end well:** a capturing span that closes without a
//!   trigger inside a capturing span hands its lines to that span (merged in
//!   logged order, within that span's bounds: its oldest lines go first,
//!   counted as `evicted_span_cap`), so an error later in the outer span
//!   writes the inner span's story too. A capturing span with no capturing
//!   span around it discards its lines (`discarded`).
//! - **Where:** a capturing span counts for the thread that has entered it:
//!   `span.enter()`, `in_scope`, and `#[instrument]`-ed futures, which enter
//!   their span on every poll, on whichever thread polls them. An event with
//!   an explicit `parent:` is judged by the thread's entered spans, not by
//!   that parent.
//! - **Marked:** captured lines end with ` captured=true` (text) or start with
//!   `"captured":true` (JSON), carry no `sample_rate`, and keep the timestamp
//!   of when they were logged, so weighted counts (`sum(1/sample_rate)`) can
//!   leave them out. The sampler's own figures count them as dropped.
//! - **Bounded:** per span, the newest
//!   [`capture_span_lines`](SamplingFilterBuilder::capture_span_lines) (1 000)
//!   lines within [`capture_span_bytes`](SamplingFilterBuilder::capture_span_bytes)
//!   (256 KiB) are kept; across spans, past
//!   [`capture_total_bytes`](SamplingFilterBuilder::capture_total_bytes)
//!   (16 MiB) the oldest spans' buffers are dropped whole. Bytes are memory
//!   (capacity, headers, a fixed cost per span), measured against a counting
//!   allocator in `tests/capture_bounds.rs`. Every dropped line is counted:
//!   [`CaptureStats`] from [`SamplingHandle::capture_stats`], where
//!   `captured == flushed + discarded + evicted_span_cap + evicted_total_cap + buffered_lines`.
//! - **Breaker:** while it is open everything is kept, so nothing is captured.
//!
//! **How it works, and why this way.** `fmt` formats an event only if its
//! per-layer filter enabled it, and a `MakeWriter` sees only the metadata. So
//! the filter's span hooks (`on_enter`, `on_exit`, `on_close`) keep a
//! thread-local stack of the capturing spans the thread is inside; when the
//! sampler drops an event and that stack is not empty, the filter enables
//! the event anyway and leaves a thread-local mark (sampler, callsite,
//! span); [`CaptureWriter`], which `fmt` calls on the same thread right after
//! formatting, takes the mark and returns a writer into the span's buffer.
//! For a line at the trigger level it first writes the buffers of the spans
//! the thread is inside. The buffers sit behind one mutex, taken once per
//! captured line (which has just paid for a formatting) and once per trigger
//! or capturing span's close. A captured event costs one formatting and a
//! copy into its buffer; an event outside capturing spans, one load of a
//! `const` thread-local (`docs/benchmarks.md`, *Context capture*).
//!
//! **Where it works:** as a per-layer filter, alone or as
//! [`sampler.and(other)`](SamplingFilter::and). Not as a global layer (a
//! captured event would reach every layer; a global sampler with capture
//! configured says so on stderr and captures nothing), nor under
//! [`or`](SamplingFilter::or) / [`not`](SamplingFilter::not) (a diverted
//! event would read as kept, or as dropped): those capture nothing.
//!
//! **Only into a diverting writer:** a `Filter` never sees its layer's
//! writer, and the event it enables reaches every layer under it. So:
//! - The sampler diverts only while a [`CaptureWriter`] made with its handle
//!   exists. With none (a capture directive, but the layer writes to a plain
//!   writer), an event it would have captured stays sampled out: written
//!   nowhere, counted in [`CaptureStats::no_writer`] (and as dropped in the
//!   sampler's figures), and the sampler says once on stderr that the
//!   layer's writer needs a `CaptureWriter`. Wrap the writer of the layer the
//!   sampler filters, and no other: the sampler cannot see which layer a
//!   `CaptureWriter` of its own sits on, only that one exists.
//! - A second layer under the same sampler (`fmt_layer.and_then(other)`, an
//!   OpenTelemetry log exporter, a counter) is given the captured events as
//!   if kept, since the filter cannot tell it apart from the `fmt` layer.
//!   Give it [`NotCaptured`] as its filter (`other.with_filter(NotCaptured::new(&handle))`):
//!   it then sees what the sampler kept and the trigger, never a captured
//!   event (flushed context goes to the writer as bytes).
//!
//! **Through the writer:** flushed lines are written with the trigger's
//! metadata (`make_writer_for(trigger)`), so a level-aware writer such as
//! `backpressure-writer`'s gives them the trigger's class (its keep-level
//! lines are not dropped by the overflow policy).
//! [`CaptureWriter::with_context_writer`] sends them through a `MakeWriter`
//! of their own instead. The sampler does not depend on the writer: capping
//! the share of the writer's reserved keep capacity that context may take,
//! and a wait bound of its own, are the writer's to offer, as such a
//! `MakeWriter`: `backpressure-writer`'s `NonBlocking::context_writer` (its
//! crate docs, *Flushed context*).
#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub
)]

mod annotate;
mod capture;
mod clock;
mod control;
mod decide;
mod directive;
mod error;
mod figures;
mod filter;
pub mod level;
mod limits;
#[cfg(all(test, sampling_layer_loom))]
mod loom_models;
#[cfg(feature = "opentelemetry")]
pub mod otel;
pub mod probability;
pub mod repeat;
mod sampler;
mod sync;

pub use annotate::{sample_rate, Annotated};
pub use capture::CaptureStats;
pub use clock::{Clock, ManualClock, SystemClock};
pub use control::breaker::Breaker;
pub use control::pressure::{Pressure, PressureSignal};
pub use decide::extract::{KeyExtractor, TraceKey, TracePolicy};
pub use decide::keys::BYTES_PER_KEY;
pub use decide::log_sites::MAX_LOG_SITES;
pub use decide::mode::Mode;
pub use directive::rate::MAX_DENOMINATOR;
pub use error::{BuildError, BuildErrorKind, ParseError, ParseErrorKind, SettingError};
pub use figures::stats::{SamplingStats, TargetStats, OTHER_TARGET};
#[cfg(feature = "env-filter")]
pub use filter::builder::split_directives;
pub use filter::builder::{SamplingFilterBuilder, DEFAULT_ENV};
pub use filter::capture_writer::{CaptureSink, CaptureWriter};
pub use filter::combinator::{SamplerAnd, SamplerNot, SamplerOr};
pub use filter::handle::SamplingHandle;
pub use filter::not_captured::NotCaptured;
pub use filter::SamplingFilter;
pub use limits::{MAX_DIRECTIVES_LEN, MAX_TARGETS};
