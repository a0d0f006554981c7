//! One string for `EnvFilter` and the sampler: [`split_directives`] and
//! [`SamplingFilterBuilder::split`] (the `env-filter` feature).

use tracing_subscriber::EnvFilter;

use super::builder::SamplingFilterBuilder;
use super::{defaults_are_valid, SamplingFilter};
use crate::directive::split;
use crate::error::{BuildError, ParseError, ParseErrorKind};

impl SamplingFilterBuilder {
    /// Splits one string of levels and rates (`"info,app::router=debug@0.05"`)
    /// into an `EnvFilter` (the level parts; `error` if there are none, as for
    /// an unset `RUST_LOG`) and a sampler with these settings (the rate parts).
    /// See [`split_directives`](crate::split_directives). Needs the `env-filter`
    /// feature (on by default).
    pub fn split(self, directives: &str) -> Result<(EnvFilter, SamplingFilter), BuildError> {
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
/// Limits: the string is at most [`MAX_DIRECTIVES_LEN`](crate::limits::MAX_DIRECTIVES_LEN)
/// bytes, the rates name at most [`MAX_TARGETS`](crate::limits::MAX_TARGETS) targets,
/// and at most 4 096 items go to `EnvFilter` (whose own parsing is quadratic
/// in their number).
///
/// # Examples
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
    SamplingFilter::builder()
        .split(s)
        .map_err(defaults_are_valid)
}
