//! [`SamplingFilterBuilder`]: settings, then directives; and every way to
//! make a [`SamplingFilter`] (`SamplingFilter::builder`, `try_new`, `new`,
//! [`split_directives`]).
//!
//! This module sits above the filter: it validates the settings into one
//! [`Settings`], parses the directives, builds the [`Sampler`] and wraps it.

use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::time::Duration;

use tracing_core::Level;
use tracing_subscriber::EnvFilter;

use crate::budget::Budgets;
use crate::clock::{Clock, SystemClock};
use crate::directive::{split, DirectiveSet};
use crate::error::{ParseError, ParseErrorKind};
use crate::filter::SamplingFilter;
use crate::mode::Mode;
use crate::pressure::{Pressure, PressureState};
use crate::sampler::breaker::{Breaker, BreakerState};
use crate::sampler::{Sampler, Settings};

/// The environment variable [`SamplingFilterBuilder::from_env`] reads by default.
pub const DEFAULT_ENV: &str = "RUST_LOG_SAMPLE";

impl SamplingFilter {
    /// A builder with the default settings.
    pub fn builder() -> SamplingFilterBuilder {
        SamplingFilterBuilder::default()
    }

    /// Default settings and these directives; the first bad directive is the error.
    pub fn try_new(directives: &str) -> Result<Self, ParseError> {
        Self::builder().parse(directives)
    }

    /// Default settings and these directives, skipping bad ones with a warning on stderr.
    pub fn new(directives: &str) -> Self {
        Self::builder().parse_lossy(directives)
    }
}

/// Builds a [`SamplingFilter`]: consuming setters, then one of the parse or
/// env methods.
#[derive(Debug, Clone)]
pub struct SamplingFilterBuilder {
    mode: Mode,
    key_field: String,
    max_keys: usize,
    always_keep: Level,
    seed: Option<u64>,
    breaker: Breaker,
    env_var: String,
    budget_interval: Duration,
    budget_clock: Arc<dyn Clock>,
    pressure: Option<Pressure>,
}

impl Default for SamplingFilterBuilder {
    fn default() -> Self {
        SamplingFilterBuilder {
            mode: Mode::Deterministic,
            key_field: "sample_key".to_owned(),
            max_keys: 10_000,
            always_keep: Level::WARN,
            seed: None,
            breaker: Breaker::default(),
            env_var: DEFAULT_ENV.to_owned(),
            budget_interval: crate::budget::DEFAULT_INTERVAL,
            budget_clock: Arc::new(SystemClock::default()),
            pressure: None,
        }
    }
}

impl SamplingFilterBuilder {
    /// How events are picked. Default [`Mode::Deterministic`].
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// The field that overrides the callsite key. Default `sample_key`.
    pub fn key_field(mut self, name: &str) -> Self {
        self.key_field = name.to_owned();
        self
    }

    /// The most per-key counters alive at once (least recently used are
    /// evicted past it). Default 10 000.
    pub fn max_keys(mut self, n: usize) -> Self {
        self.max_keys = n;
        self
    }

    /// Events at this level or more severe are never sampled. Default `WARN`.
    pub fn always_keep(mut self, level: Level) -> Self {
        self.always_keep = level;
        self
    }

    /// Seeds the probabilistic mode's generator (reproducible runs per thread).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// The circuit breaker ([`Breaker::disabled`] turns it off).
    pub fn breaker(mut self, breaker: Breaker) -> Self {
        self.breaker = breaker;
        self
    }

    /// How often budgets (`target=200/s`) are shared out again among their
    /// keys. Default 1 s; between 1 ms and one hour.
    pub fn budget_interval(mut self, interval: Duration) -> Self {
        self.budget_interval = interval;
        self
    }

    /// The clock budgets are measured with (tests: a
    /// [`ManualClock`](crate::ManualClock)). Default the system clock.
    pub fn budget_clock(mut self, clock: impl Clock + 'static) -> Self {
        self.budget_clock = Arc::new(clock);
        self
    }

    /// Tighten sampled rates and budgets while a downstream queue is full
    /// (see [`Pressure`]): `.pressure(Pressure::new(move || writer.fill()))`.
    pub fn pressure(mut self, pressure: Pressure) -> Self {
        self.pressure = Some(pressure);
        self
    }

    /// Read directives from `name` instead of `RUST_LOG_SAMPLE`.
    pub fn with_env_var(mut self, name: impl Into<String>) -> Self {
        self.env_var = name.into();
        self
    }

    /// Builds from a directive string; the first bad directive or setting is the error.
    pub fn parse(self, directives: &str) -> Result<SamplingFilter, ParseError> {
        let (set, _) = DirectiveSet::parse(directives, false)?;
        self.build(set)
    }

    /// Builds from a directive string, skipping bad directives with a warning on
    /// stderr (as `EnvFilter` does). Bad settings fall back to their defaults,
    /// also with a warning.
    pub fn parse_lossy(self, directives: &str) -> SamplingFilter {
        let (set, skipped) = match DirectiveSet::parse(directives, true) {
            Ok(parsed) => parsed,
            Err(e) => unreachable!("lossy parsing reports bad items instead: {e}"),
        };
        for e in skipped {
            eprintln!("warning: ignoring {e}");
        }
        match self.clone().build(set.clone()) {
            Ok(f) => f,
            Err(e) => {
                eprintln!("warning: {e}; using the default settings");
                let defaults = SamplingFilterBuilder {
                    mode: match self.mode {
                        Mode::Consistent { field } if field.is_empty() => Mode::Deterministic,
                        m => m,
                    },
                    ..SamplingFilterBuilder::default()
                };
                defaults
                    .build(set)
                    .unwrap_or_else(|e| unreachable!("default settings are valid: {e}"))
            }
        }
    }

    /// Reads the environment variable (default `RUST_LOG_SAMPLE`), lossily.
    /// Unset or empty means no sampling (every event kept).
    pub fn from_env(self) -> SamplingFilter {
        let value = match std::env::var(&self.env_var) {
            Ok(v) => v,
            Err(std::env::VarError::NotPresent) => String::new(),
            Err(std::env::VarError::NotUnicode(_)) => {
                eprintln!(
                    "warning: {} is not valid Unicode; ignoring it",
                    self.env_var
                );
                String::new()
            }
        };
        self.parse_lossy(&value)
    }

    /// Reads the environment variable (default `RUST_LOG_SAMPLE`); bad content
    /// is an error. Unset means no sampling (every event kept).
    pub fn try_from_env(self) -> Result<SamplingFilter, ParseError> {
        match std::env::var(&self.env_var) {
            Ok(v) => self.parse(&v),
            Err(std::env::VarError::NotPresent) => self.parse(""),
            Err(e) => Err(
                ParseError::new("", ParseErrorKind::InvalidEnv(self.env_var.clone()))
                    .with_source(e),
            ),
        }
    }

    /// Splits one string of levels and rates (`"info,app::router=debug@0.05"`)
    /// into an `EnvFilter` (the level parts; `error` if there are none, as for
    /// an unset `RUST_LOG`) and a sampler with these settings (the rate parts).
    /// See [`split_directives`](crate::split_directives).
    pub fn split(self, directives: &str) -> Result<(EnvFilter, SamplingFilter), ParseError> {
        let (env, sample) = split::split(directives)?;
        // No level part: as `EnvFilter::from_default_env` does for an unset
        // `RUST_LOG`, enable ERROR (an `EnvFilter` with no directive enables nothing).
        let env = if env.is_empty() {
            "error".to_owned()
        } else {
            env
        };
        // Each item was checked alone; the whole can still be refused (e.g. by
        // a newer tracing-subscriber): keep its error, with the level part.
        let env = EnvFilter::builder()
            .parse(&env)
            .map_err(|e| ParseError::new(&env, ParseErrorKind::EnvFilter).with_source(e))?;
        Ok((env, self.parse(&sample)?))
    }

    fn build(self, set: DirectiveSet) -> Result<SamplingFilter, ParseError> {
        let bad = |s: String| Err(ParseError::new("", ParseErrorKind::InvalidSetting(s)));
        if self.max_keys == 0 {
            return bad("max_keys must be at least 1".into());
        }
        if self.key_field.is_empty() {
            return bad("key_field must not be empty".into());
        }
        if let Mode::Consistent { field } = &self.mode {
            if field.is_empty() {
                return bad("Mode::Consistent needs a field name".into());
            }
        }
        if self.budget_interval < Duration::from_millis(1)
            || self.budget_interval > Duration::from_secs(3600)
        {
            return bad("budget_interval must be between 1 ms and one hour".into());
        }
        if let Some(p) = &self.pressure {
            p.validate()?;
        }
        self.breaker.validate()?;
        let seed = self.seed.unwrap_or_else(|| {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u64(0x5eed);
            h.finish()
        });
        let breaker = self
            .breaker
            .enabled
            .then(|| BreakerState::new(&self.breaker));
        let settings = Settings {
            mode: self.mode,
            key_field: self.key_field,
            always_keep: self.always_keep,
            seed,
            max_keys: self.max_keys,
            breaker,
            budgets: Budgets::new(self.budget_interval, self.budget_clock),
            pressure: self.pressure.map(PressureState::new),
        };
        let sampler = Sampler::new(settings, set, SamplingFilter::recognise)?;
        Ok(SamplingFilter::from_sampler(sampler))
    }
}

/// Splits `"info,app::router=debug@0.05"` into an [`EnvFilter`] for the levels
/// and a [`SamplingFilter`] (default settings) for the rates, so one
/// environment variable can configure both. Use
/// [`SamplingFilterBuilder::split`](crate::SamplingFilterBuilder::split) for
/// other settings.
///
/// Each comma-separated item goes to one side by its right-hand side (the
/// text after the first `=` outside brackets, or the whole item if it has
/// none):
///
/// - a number (`0.05`, `5%`, `1/20`, also `0` and `1`) is a **rate**: `rate`,
///   `target=rate` and `target[key]=rate` go to the sampler;
/// - `level@rate` goes to both: `target=level` to `EnvFilter`, `target=rate`
///   to the sampler (`@rate` with no level is refused);
/// - everything else is `EnvFilter`'s and is handed over as written, after
///   `EnvFilter` has accepted it on its own: levels, targets, `target=`
///   (TRACE), span filters (`target[span]=level`, `[span]`, `target[span]`),
///   field filters (`target[span{field=value}]=level`). If `EnvFilter`
///   refuses it, the error names the item and its
///   [`source`](std::error::Error::source) is `EnvFilter`'s error.
///
/// **One difference from `EnvFilter`:** a number is always a rate, never
/// `EnvFilter`'s numeric level. `app=0` drops `app`'s sampled-level events
/// (warnings and errors are still kept; `EnvFilter` would read `app=off`),
/// `app=1` keeps them all (`EnvFilter`: `app=error`), and `app=2` .. `app=5`
/// are refused as rates above one. Write level names for levels.
///
/// **Brackets:** before a level, `[name]` is `EnvFilter`'s span filter (events
/// inside a span called `name`); before a rate, the sampler's key (events whose
/// `sample_key` is `name`). They are never combined: `app[name]=debug@0.1` is
/// refused; write `app[name]=debug` and `app[name]=0.1` as two items if both
/// are meant.
///
/// Targets match as in `EnvFilter` on both sides: `app` matches every target
/// that starts with `app` (`app::db`, also `apple`), the longest match wins.
///
/// Limits: the string is at most [`MAX_DIRECTIVES_LEN`](crate::MAX_DIRECTIVES_LEN)
/// bytes, the rates name at most [`MAX_TARGETS`](crate::MAX_TARGETS) targets,
/// and at most 4 096 items go to `EnvFilter` (whose own parsing is quadratic
/// in their number).
///
/// ```
/// use sampling_layer::split_directives;
/// use tracing_subscriber::{fmt, prelude::*};
///
/// let (levels, sampler) = split_directives("info,app::router=debug@0.05,app::db=1/20").unwrap();
/// assert_eq!(levels.to_string(), "app::router=debug,info");
/// assert_eq!(sampler.directives(), "app::router=0.05,app::db=0.05");
/// let _subscriber = tracing_subscriber::registry()
///     .with(levels)
///     .with(fmt::layer().with_filter(sampler));
/// ```
pub fn split_directives(s: &str) -> Result<(EnvFilter, SamplingFilter), ParseError> {
    SamplingFilter::builder().split(s)
}
