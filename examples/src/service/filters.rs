//! Levels and rates from the environment, validated before anything is installed.
//!
//! A bad value stops start-up with an error naming the variable and the directive, rather
//! than being skipped with a warning that scrolls past in a container log: a service whose
//! `RUST_LOG` silently lost a directive is a service whose incident logs are missing.

use std::fmt;

use sampling_layer::level::Levels;
use sampling_layer::{otel, Mode, SamplingFilter};
use tracing_subscriber::filter::{Directive, EnvFilter};

/// The level variable: `EnvFilter` directives for everything the service logs.
pub const RUST_LOG: &str = "RUST_LOG";
/// The rate variable: `sampling-layer` directives for the JSON file.
pub const RUST_LOG_SAMPLE: &str = "RUST_LOG_SAMPLE";
/// Levels when `RUST_LOG` is unset or empty.
pub const DEFAULT_LEVELS: &str = "info";
/// Rates when `RUST_LOG_SAMPLE` is unset: a quarter of the requests' chatty lines, a tenth
/// of the `log`-crate dependency's; and the context of a failed request: its sampled-out
/// lines are held in its span and written before its ERROR (`+{request_id}`: every span
/// that carries the field captures).
pub const DEFAULT_RATES: &str = "app::handlers=0.25,legacy_dep=0.1,+{request_id}";
/// Rates when `RUST_LOG_SAMPLE` is unset and `--sampling per-event` is chosen: at most
/// 200 of the handlers' lines a second whatever the traffic (a budget), a tenth of the
/// dependency's, and the same capture.
pub const DEFAULT_BUDGET_RATES: &str = "app::handlers=200/s,legacy_dep=0.1,+{request_id}";
/// The span field that consistent sampling keys on: a request is kept whole or not at all,
/// in this process and in every other one that samples by the same id.
pub const REQUEST_ID: &str = "request_id";

/// A directive that could not be parsed, with the variable (or admin route) it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Where the value came from: `RUST_LOG`, `RUST_LOG_SAMPLE`, `--stdout-log`.
    pub source: String,
    /// The rejected directive (one comma-separated item), or the whole value when the
    /// problem is not in one item.
    pub directive: String,
    /// Why.
    pub reason: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: invalid directive {:?}: {}",
            self.source, self.directive, self.reason
        )
    }
}

impl std::error::Error for ConfigError {}

/// The three filters of the pipeline, parsed and checked.
#[derive(Debug)]
pub struct Filters {
    /// `RUST_LOG`: the levels of everything, changed per target at run time through
    /// `/admin/level` (`target=level` directives and a default level).
    pub levels: Levels,
    /// `RUST_LOG_SAMPLE`: what the JSON file keeps of the sampled levels.
    pub sampler: SamplingFilter,
    /// The stdout layer's own levels (within `RUST_LOG`'s).
    pub stdout: EnvFilter,
}

impl Filters {
    /// Reads `RUST_LOG` and `RUST_LOG_SAMPLE` from the environment. With
    /// [`Keys::FollowTrace`] (`--otel`) the sampler keeps the logs of sampled OpenTelemetry traces, falling back
    /// to `request_id` outside a trace ([`Keys`]).
    pub fn from_env(stdout_levels: &str, keys: Keys) -> Result<Filters, ConfigError> {
        let rust_log = env_var(RUST_LOG)?;
        let rust_log_sample = env_var(RUST_LOG_SAMPLE)?;
        let rates = rust_log_sample.as_deref().unwrap_or(match keys {
            Keys::PerEvent => DEFAULT_BUDGET_RATES,
            Keys::RequestId | Keys::FollowTrace => DEFAULT_RATES,
        });
        Ok(Filters {
            levels: parse_run_time_levels(RUST_LOG, levels_or_default(rust_log.as_deref()))?,
            sampler: parse_rates_with(RUST_LOG_SAMPLE, rates, keys)?,
            stdout: parse_levels("--stdout-log", stdout_levels)?,
        })
    }

    /// Parses the values as given; `None` (unset) takes the defaults. An empty
    /// `RUST_LOG_SAMPLE` means no sampling; an empty `RUST_LOG` means the default levels.
    pub fn parse(
        rust_log: Option<&str>,
        rust_log_sample: Option<&str>,
        stdout_levels: &str,
    ) -> Result<Filters, ConfigError> {
        Ok(Filters {
            levels: parse_run_time_levels(RUST_LOG, levels_or_default(rust_log))?,
            sampler: parse_rates(RUST_LOG_SAMPLE, rust_log_sample.unwrap_or(DEFAULT_RATES))?,
            stdout: parse_levels("--stdout-log", stdout_levels)?,
        })
    }
}

fn levels_or_default(rust_log: Option<&str>) -> &str {
    match rust_log {
        Some(v) if !v.trim().is_empty() => v,
        _ => DEFAULT_LEVELS,
    }
}

/// What the file's sampler keys its decisions on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Keys {
    /// Each callsite (or `sample_key`) on its own, deterministic 1-in-N: requests are not
    /// kept whole, and a budget (`app::handlers=200/s`) is shared out among the callsites
    /// (rare ones kept in full); under the consistent keys a budget is one rate for the
    /// whole target, so requests stay whole.
    PerEvent,
    /// The `request_id` span field (xxh3 of its text): the same requests in every process
    /// that samples by it.
    #[default]
    RequestId,
    /// The current OpenTelemetry trace: an event is kept iff its trace is sampled (then
    /// thinned further by whole traces at its directive's rate); outside a trace, the
    /// `request_id` field as above.
    FollowTrace,
}

/// An `EnvFilter` from `value`, or the first directive it rejects. `EnvFilter` itself says
/// what is wrong but not where, so each comma-separated item is tried on its own first (it
/// splits the string at commas the same way).
pub fn parse_levels(source: &str, value: &str) -> Result<EnvFilter, ConfigError> {
    for item in value.split(',').filter(|s| !s.trim().is_empty()) {
        if let Err(e) = item.trim().parse::<Directive>() {
            return Err(ConfigError {
                source: source.to_owned(),
                directive: item.to_owned(),
                reason: e.to_string(),
            });
        }
    }
    EnvFilter::builder().parse(value).map_err(|e| ConfigError {
        source: source.to_owned(),
        directive: value.to_owned(),
        reason: e.to_string(),
    })
}

/// The run-time levels from `value`: `target=level` items and a default level. Span and
/// field filters (`target[span{field=v}]=level`) are refused with what to do instead: they
/// are decided per span, which run-time levels leave to an `EnvFilter`.
pub fn parse_run_time_levels(source: &str, value: &str) -> Result<Levels, ConfigError> {
    Levels::try_new(value).map_err(|e| ConfigError {
        source: source.to_owned(),
        directive: e.directive().to_owned(),
        reason: e.kind().to_string(),
    })
}

/// The file's sampler: consistent by `request_id`, rates from `value`.
pub fn parse_rates(source: &str, value: &str) -> Result<SamplingFilter, ConfigError> {
    parse_rates_with(source, value, Keys::RequestId)
}

/// [`parse_rates`] keyed as `keys` says.
pub fn parse_rates_with(
    source: &str,
    value: &str,
    keys: Keys,
) -> Result<SamplingFilter, ConfigError> {
    let consistent = SamplingFilter::builder().mode(Mode::Consistent {
        field: REQUEST_ID.into(),
    });
    let builder = match keys {
        Keys::PerEvent => match std::env::var_os(FLEET_SIZE) {
            // Read at every budget pass: a value that is not a count is refused
            // there (counted, the last good size held), and at start-up here.
            Some(_) => SamplingFilter::builder().fleet_size(fleet_size_from_env),
            None => SamplingFilter::builder(),
        },
        Keys::RequestId => consistent,
        Keys::FollowTrace => consistent.key_extractor(otel::follow_trace()),
    };
    builder.parse(value).map_err(|e| {
        // A directive error names its item; a setting error has none.
        let (directive, reason) = match e.parse_error() {
            Some(p) => (p.directive().to_owned(), p.kind().to_string()),
            None => (String::new(), e.to_string()),
        };
        ConfigError {
            source: source.to_owned(),
            directive,
            reason,
        }
    })
}

/// The replicas a fleet budget (`/fleet`) is shared out by.
pub const FLEET_SIZE: &str = "FLEET_SIZE";

/// `FLEET_SIZE` as a count; 0 (refused by the sampler) when it is not one.
fn fleet_size_from_env() -> u64 {
    std::env::var(FLEET_SIZE)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

fn env_var(name: &str) -> Result<Option<String>, ConfigError> {
    match std::env::var(name) {
        Ok(v) => Ok(Some(v)),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(v)) => Err(ConfigError {
            source: name.to_owned(),
            directive: v.to_string_lossy().into_owned(),
            reason: "not valid Unicode".to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `FLEET_SIZE` gives a per-event sampler its fleet (one test: the variable is the
    /// process's).
    #[test]
    fn fleet_size_comes_from_the_environment_and_a_bad_one_fails_start_up() {
        let fleet = "app::handlers=2000/s/fleet";
        std::env::remove_var(FLEET_SIZE);
        let e = parse_rates_with("RUST_LOG_SAMPLE", fleet, Keys::PerEvent).unwrap_err();
        assert!(e.reason.contains("fleet's size"), "{}", e.reason);
        std::env::set_var(FLEET_SIZE, "4");
        let s = parse_rates_with("RUST_LOG_SAMPLE", fleet, Keys::PerEvent).unwrap();
        let st = s.handle().stats();
        assert_eq!(st.fleet_size, Some(4));
        let t = st
            .targets
            .iter()
            .find(|t| t.target == "app::handlers")
            .unwrap();
        assert_eq!(t.effective_budget, Some(500.0));
        std::env::set_var(FLEET_SIZE, "four");
        let e = parse_rates_with("RUST_LOG_SAMPLE", fleet, Keys::PerEvent).unwrap_err();
        assert!(e.reason.contains("fleet_size"), "{}", e.reason);
        std::env::remove_var(FLEET_SIZE);
    }
}
