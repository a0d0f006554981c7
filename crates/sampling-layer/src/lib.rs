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
//! # Feature flags
//!
//! - `env-filter` (on by default): [`split_directives`] and
//!   [`SamplingFilterBuilder::split`], one string for `EnvFilter` and the
//!   sampler. Without it the crate does not build tracing-subscriber's
//!   `env-filter` (and its regex engine).
//! - `opentelemetry` (off by default): the `otel` module, extractors for
//!   `opentelemetry` 0.33 / `tracing-opentelemetry` 0.34 (the logs kept are
//!   those of the traces exported), and `otel::logs`, the sample rate on the
//!   OpenTelemetry log bridge's records.
//!
//! The crate asks tracing-subscriber for `registry` (per-layer filters, span
//! lookups) and `fmt` ([`Annotated`], the capture writer) and nothing else.
//!
//! # Where to read
//!
//! | Topic | Where |
//! |---|---|
//! | The directive grammar, keys, budgets | [`SamplingFilter`] |
//! | What an event costs; levels and interest; `log` records | [`SamplingFilter`] (*Levels, interest and cost*) |
//! | Deterministic, probabilistic and consistent modes | [`Mode`] |
//! | Every setting and its default | [`SamplingFilterBuilder`] |
//! | Changing rates at run time, expiring changes | [`SamplingHandle`] |
//! | The circuit breaker | [`Breaker`] |
//! | Pressure from the writer | [`Pressure`] |
//! | Error-triggered context | [`capture`] |
//! | Repeats collapsed at any level | [`repeat`] |
//! | Levels changed at run time | [`level`] |
//! | `and`, `or`, `not` with the sampler | [`combinator`] |
//! | Figures and what they guarantee | [`stats`] |
//! | Memory and input bounds | [`limits`] |
//! | Traces: keys from the trace, the specification's sampling | [`extract`], [`probability`], `otel` |
//! | `sample_rate=` on kept lines | [`Annotated`] |
//!
//! Inside, the crate is grouped by role, each layer importing only those below
//! it: `filter/` (the `Filter` and `Layer` impls, builder, handle, combinators)
//! above `sampler/` (the state one sampler shares, and the short passes that
//! run after a decision), above `control/` (breaker, pressure, budgets, timed
//! edits), `figures/`, `capture/`, `repeat/`, `decide/` (the per-event
//! decision's tables, what each entry decides with, and the modes) and
//! `directive/` (the grammar).
//! The path of one event is written out in `sampler/decide.rs`.

mod annotate;
pub mod capture;
pub mod clock;
mod control;
mod decide;
mod directive;
mod error;
mod figures;
mod filter;
mod interest;
pub mod level;
pub mod limits;
#[cfg(all(test, sampling_layer_loom))]
mod loom_models;
#[cfg(feature = "opentelemetry")]
pub mod otel;
pub mod probability;
pub mod repeat;
mod sampler;
mod sync;

pub use annotate::{sample_rate, Annotated};
pub use control::breaker::Breaker;
pub use control::pressure::{Pressure, PressureSignal};
pub use decide::extract;
pub use decide::mode::Mode;
pub use error::{BuildError, BuildErrorKind, ParseError, ParseErrorKind, SettingError};
pub use figures::stats;
pub use filter::builder::{SamplingFilterBuilder, DEFAULT_ENV};
pub use filter::combinator;
pub use filter::handle::SamplingHandle;
#[cfg(feature = "env-filter")]
pub use filter::split::split_directives;
pub use filter::SamplingFilter;
