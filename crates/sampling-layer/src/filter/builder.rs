//! [`SamplingFilterBuilder`]: settings, then directives, then a
//! [`SamplingFilter`].
//!
//! The builder validates the settings into one [`Settings`], parses the
//! directives, builds the [`Sampler`] and wraps it. The shorthand
//! constructors (`SamplingFilter::try_new`, `new`, `from_str`) are with the
//! filter and call this builder.

use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::time::Duration;

use tracing_core::Level;

use crate::capture::Capture;
use crate::clock::{Clock, SystemClock};
use crate::control::breaker::{Breaker, BreakerState};
use crate::control::budget::{Budgets, Fleet, FleetProvider};
use crate::control::pressure::{Pressure, PressureState};
use crate::decide::extract::KeyExtractor;
use crate::decide::mode::Mode;
use crate::directive::DirectiveSet;
use crate::error::{BuildError, SettingError};
use crate::filter::SamplingFilter;
use crate::sampler::{Sampler, Settings};

/// The environment variable [`SamplingFilterBuilder::from_env`] reads by default.
pub const DEFAULT_ENV: &str = "RUST_LOG_SAMPLE";

/// Builds a [`SamplingFilter`]: consuming setters, then one of the parse or
/// env methods.
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `parse`, `from_env` or `split` builds the sampler"]
pub struct SamplingFilterBuilder {
    mode: Mode,
    key_field: String,
    max_keys: usize,
    keep_level: Level,
    seed: Option<u64>,
    breaker: Breaker,
    env_var: String,
    budget_interval: Duration,
    budget_initial_rate: f64,
    fleet_size: Option<FleetProvider>,
    pressure: Option<Pressure>,

    capture: Capture,
    // The key extractor, if one is set.
    extractor: Option<KeyExtractor>,
    clock: Option<Arc<dyn Clock>>,
    recent_interval: Duration,
}

impl Default for SamplingFilterBuilder {
    fn default() -> Self {
        SamplingFilterBuilder {
            mode: Mode::Deterministic,
            key_field: "sample_key".to_owned(),
            max_keys: 10_000,
            keep_level: Level::WARN,
            seed: None,
            breaker: Breaker::default(),
            env_var: DEFAULT_ENV.to_owned(),
            budget_interval: crate::control::budget::DEFAULT_INTERVAL,
            budget_initial_rate: 1.0,
            fleet_size: None,
            pressure: None,
            capture: Capture::default(),
            extractor: None,
            clock: None,
            recent_interval: Duration::from_secs(10),
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

    /// Events at this level or more severe are never sampled (always kept,
    /// never counted as sampled). Default `WARN`. The same name and meaning as
    /// the writer's `keep_level` (lines never dropped by its overflow policy).
    pub fn keep_level(mut self, level: Level) -> Self {
        self.keep_level = level;
        self
    }

    /// Seeds the probabilistic mode's generator. What it reproduces: on each
    /// thread, the decisions of this sampler, given the order in which
    /// threads first draw (each thread's stream is salted by that order) and
    /// the same sequence of probabilistic draws on that thread by every
    /// sampler (they share one per-thread draw counter; each mixes its own
    /// seed into every draw). Unseeded, each sampler takes a random seed.
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

    /// The rate a new budget's keys start at, until its first adjustment
    /// has measured them (Refinery's `InitialSampleRate`, as a fraction), in
    /// (0, 1]. Default 1: the first keys, within the allowance (a tenth of
    /// the budget's lines), are kept in full, and as soon as they run ahead
    /// of the budget's pace an early adjustment sets their rates. A lower
    /// rate holds even the first milliseconds of a busy new target, at the
    /// price of thinning its rare keys until then. Applies to budgets
    /// installed later too (`set_directives`, `set_target_rate`), not to a
    /// target switched from a rate (it starts from that rate).
    ///
    /// ```
    /// use sampling_layer::SamplingFilter;
    ///
    /// let s = SamplingFilter::builder().budget_initial_rate(0.01).parse("app=200/s");
    /// assert!(s.is_ok());
    /// let e = SamplingFilter::builder().budget_initial_rate(0.0).parse("app=200/s");
    /// assert!(e.unwrap_err().to_string().contains("budget_initial_rate"));
    /// ```
    pub fn budget_initial_rate(mut self, rate: f64) -> Self {
        self.budget_initial_rate = rate;
        self
    }

    /// The fleet's size, for budgets stated for the whole fleet
    /// (`app=10000/s/fleet`): each process keeps `budget / size` lines per
    /// second of them, so autoscaling does not multiply the bill. `size` is
    /// read at build (it must give 1 to 1 048 576, else the build is refused)
    /// and then once per budget pass, so the goal follows the fleet within an
    /// interval; a later read of 0 or above the bound (or one that panics) is
    /// counted ([`SamplingStats::fleet_size_refused`](crate::stats::SamplingStats::fleet_size_refused))
    /// and the last good size held (a panic is caught, except under
    /// `panic = "abort"`, where nothing is). Give it what your platform knows: a
    /// value your service-discovery callback updates, a replica count from
    /// the environment. With members of unequal traffic, the fleet keeps
    /// less than the budget: a member below its share keeps all it has, and
    /// no member takes up another's unspent share.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// use std::sync::Arc;
    /// use sampling_layer::SamplingFilter;
    ///
    /// let members = Arc::new(AtomicU64::new(4));
    /// let m = members.clone();
    /// let sampler = SamplingFilter::builder()
    ///     .fleet_size(move || m.load(Ordering::Relaxed))
    ///     .parse("app=10000/s/fleet") // 2 500/s in this process while there are 4
    ///     .unwrap();
    /// assert_eq!(sampler.handle().stats().fleet_size, Some(4));
    /// members.store(8, Ordering::Relaxed); // read at the next budget pass
    ///
    /// let e = SamplingFilter::builder().fleet_size(|| 0).parse("app=10000/s/fleet");
    /// assert!(e.unwrap_err().to_string().contains("fleet_size"));
    /// ```
    pub fn fleet_size(mut self, size: impl Fn() -> u64 + Send + Sync + 'static) -> Self {
        self.fleet_size = Some(FleetProvider(Arc::new(size)));
        self
    }

    /// Tighten sampled rates and budgets while a downstream queue is full
    /// (see [`Pressure`]): `.pressure(Pressure::new(move || writer.fill()))`.
    pub fn pressure(mut self, pressure: Pressure) -> Self {
        self.pressure = Some(pressure);
        self
    }

    /// Decide events inside a trace by the trace, read from the current
    /// context by `extractor` (see [`KeyExtractor`]; with the `opentelemetry`
    /// feature, `otel::follow_trace()` or `otel::trace_id_ratio()`). The
    /// [`mode`](Self::mode) then decides only events outside any trace.
    pub fn key_extractor(mut self, extractor: KeyExtractor) -> Self {
        self.extractor = Some(extractor);
        self
    }

    /// The one clock the sampler reads: the breaker's window and hold,
    /// pressure reads, budget adjustments, repeat windows, expiring changes
    /// ([`SamplingHandle::set_target_rate_for`](crate::SamplingHandle::set_target_rate_for))
    /// and recent figures. Tests give a [`ManualClock`](crate::clock::ManualClock)
    /// and need no sleeps. Default: the system's monotonic clock.
    pub fn clock(mut self, clock: impl Clock + 'static) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// The interval the recent figures cover
    /// ([`TargetStats::recent_seen`](crate::stats::TargetStats::recent_seen)).
    /// Default 10 s; must be more than zero.
    pub fn recent_interval(mut self, interval: Duration) -> Self {
        self.recent_interval = interval;
        self
    }

    /// Error-triggered context (see [`Capture`]): which spans keep their
    /// sampled-out lines until a trigger line writes them. Default: none
    /// besides those the directives name (`+request`).
    pub fn capture(mut self, capture: Capture) -> Self {
        self.capture = capture;
        self
    }

    /// Read directives from `name` instead of `RUST_LOG_SAMPLE`.
    pub fn with_env_var(mut self, name: impl Into<String>) -> Self {
        self.env_var = name.into();
        self
    }

    /// Builds from a directive string; the first bad directive or setting is the error.
    pub fn parse(self, directives: &str) -> Result<SamplingFilter, BuildError> {
        let (set, _) = DirectiveSet::parse(directives, false)?;
        self.build(set)
    }

    /// Builds from a directive string, skipping bad directives with a warning on
    /// stderr (as `EnvFilter` does). Bad settings fall back to their defaults,
    /// also with a warning.
    ///
    /// # Examples
    ///
    /// ```
    /// use sampling_layer::SamplingFilter;
    ///
    /// // `1.5` is not a rate: skipped, with a warning on stderr.
    /// let sampler = SamplingFilter::builder().parse_lossy("app=1.5,app::db=0.1,0.5");
    /// assert_eq!(sampler.directives(), "app::db=0.1,0.5");
    /// ```
    pub fn parse_lossy(self, directives: &str) -> SamplingFilter {
        self.lossy(directives, None)
    }

    fn lossy(self, directives: &str, env_var: Option<&str>) -> SamplingFilter {
        let from = env_var.map(|v| format!("{v}: ")).unwrap_or_default();
        let (set, skipped) = match DirectiveSet::parse(directives, true) {
            Ok(parsed) => parsed,
            Err(e) => unreachable!("lossy parsing reports bad items instead: {e}"),
        };
        for e in skipped {
            eprintln!("warning: {from}ignoring {e}");
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

    /// Reads the environment variable (default `RUST_LOG_SAMPLE`, see
    /// [`with_env_var`](Self::with_env_var)); bad content is an error that
    /// names the variable ([`BuildError::env_var`]) and the directive. Unset
    /// or empty means no sampling (every event kept). As
    /// `EnvFilter::builder().from_env()`.
    ///
    /// # Examples
    ///
    /// ```
    /// use sampling_layer::SamplingFilter;
    ///
    /// std::env::set_var("MY_APP_SAMPLE", "app=0.25,app::db=abc");
    /// let e = SamplingFilter::builder()
    ///     .with_env_var("MY_APP_SAMPLE")
    ///     .from_env()
    ///     .unwrap_err();
    /// assert_eq!(e.env_var(), Some("MY_APP_SAMPLE"));
    /// assert_eq!(e.parse_error().unwrap().directive(), "app::db=abc");
    /// assert!(e.to_string().starts_with("MY_APP_SAMPLE: invalid sampling directive `app::db=abc`"));
    ///
    /// std::env::set_var("MY_APP_SAMPLE", "app=0.25");
    /// let sampler = SamplingFilter::builder().with_env_var("MY_APP_SAMPLE").from_env().unwrap();
    /// assert_eq!(sampler.directives(), "app=0.25");
    /// ```
    pub fn from_env(self) -> Result<SamplingFilter, BuildError> {
        let var = self.env_var.clone();
        match std::env::var(&var) {
            Ok(v) => self.parse(&v).map_err(|e| e.in_env(&var)),
            Err(std::env::VarError::NotPresent) => self.parse(""),
            Err(e) => Err(BuildError::not_unicode(&var, e)),
        }
    }

    /// Reads the environment variable (default `RUST_LOG_SAMPLE`), skipping
    /// bad directives with a warning on stderr that names the variable (as
    /// `EnvFilter::builder().from_env_lossy()`); a variable that is not
    /// Unicode is ignored with a warning. Unset or empty means no sampling.
    pub fn from_env_lossy(self) -> SamplingFilter {
        let var = self.env_var.clone();
        let value = match std::env::var(&var) {
            Ok(v) => v,
            Err(std::env::VarError::NotPresent) => String::new(),
            Err(std::env::VarError::NotUnicode(_)) => {
                eprintln!("warning: {var} is not valid Unicode; ignoring it");
                String::new()
            }
        };
        self.lossy(&value, Some(&var))
    }

    /// The settings, validated.
    fn settings(mut self) -> Result<Settings, SettingError> {
        if self.max_keys == 0 {
            return Err(SettingError::new("max_keys", "must be at least 1"));
        }
        if self.key_field.is_empty() {
            return Err(SettingError::new("key_field", "must not be empty"));
        }
        if let Mode::Consistent { field } = &self.mode {
            if field.is_empty() {
                return Err(SettingError::new(
                    "mode",
                    "Mode::Consistent needs a field name",
                ));
            }
        }
        if self.budget_interval < Duration::from_millis(1)
            || self.budget_interval > Duration::from_secs(3600)
        {
            return Err(SettingError::new(
                "budget_interval",
                "must be between 1 ms and one hour",
            ));
        }
        let initial = Some(self.budget_initial_rate)
            .filter(|r| r.is_finite() && *r > 0.0 && *r <= 1.0)
            .map(crate::control::budget::quantize)
            .ok_or_else(|| {
                SettingError::new(
                    "budget_initial_rate",
                    "must be a rate in (0, 1]: the share of a new budget's first events kept",
                )
            })?;
        if let Some(p) = &self.pressure {
            p.validate()?;
        }
        if self.recent_interval.is_zero() {
            return Err(SettingError::new(
                "recent_interval",
                "must be more than zero",
            ));
        }
        self.breaker.validate()?;
        let seed = self.seed.unwrap_or_else(|| {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u64(0x5eed);
            h.finish()
        });
        let clock = self
            .clock
            .unwrap_or_else(|| Arc::new(SystemClock::default()));
        let breaker = self
            .breaker
            .enabled
            .then(|| BreakerState::new(&self.breaker, clock.clone()));
        let fleet = match self.fleet_size.take() {
            None => None,
            Some(provider) => {
                let size =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (provider.0)()))
                        .map_err(|_| {
                            SettingError::new("fleet_size", "the size provider panicked")
                        })?;
                if !crate::control::budget::fleet_valid(size) {
                    return Err(SettingError::new(
                        "fleet_size",
                        "must give a fleet of 1 to 1048576 members",
                    ));
                }
                Some(Fleet::new(provider, size))
            }
        };
        let capture = self.capture.validate()?;
        let mut budgets = Budgets::new(self.budget_interval, clock.clone(), initial, fleet);
        // Consistent mode: budgets change their one rate per target only at
        // wall-clock-aligned interval ends, so processes agree on requests.
        if matches!(self.mode, Mode::Consistent { .. }) {
            budgets.align_to_wall_clock();
        }
        Ok(Settings {
            capture,
            mode: self.mode,
            key_field: self.key_field,
            keep_level: self.keep_level,
            seed,
            max_keys: self.max_keys,
            breaker,
            budgets,
            pressure: self.pressure.map(|p| PressureState::new(p, clock.clone())),
            extractor: self.extractor,
            clock,
            recent_interval: self.recent_interval,
        })
    }

    fn build(self, set: DirectiveSet) -> Result<SamplingFilter, BuildError> {
        let sampler = Sampler::new(self.settings()?, set, SamplingFilter::recognise)?;
        Ok(SamplingFilter::from_sampler(sampler))
    }
}
