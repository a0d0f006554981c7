//! One string for levels and rates: `"info,app::router=debug@0.05"`.

use tracing_subscriber::{filter::Directive, EnvFilter};

use crate::directive::{parse_item, Item};
use crate::error::{ParseError, ParseErrorKind};
use crate::filter::SamplingFilter;
use crate::limits::{MAX_DIRECTIVES_LEN, MAX_LEVEL_DIRECTIVES};

/// Splits a combined string into its `EnvFilter` part and its sampler part
/// (the rules are on [`split_directives`]). Each `EnvFilter` item is checked
/// on its own, so an error names it.
pub(crate) fn split(s: &str) -> Result<(String, String), ParseError> {
    if s.len() > MAX_DIRECTIVES_LEN {
        return Err(ParseError::new("", ParseErrorKind::TooLong(s.len())));
    }
    let mut env = String::new();
    let mut env_items = 0;
    let mut sample = String::new();
    let push = |out: &mut String, part: std::fmt::Arguments<'_>| {
        use std::fmt::Write;
        if !out.is_empty() {
            out.push(',');
        }
        let _ = out.write_fmt(part);
    };
    for raw in s.split(',') {
        let item = raw.trim();
        if item.is_empty() {
            continue;
        }
        let err = |kind| ParseError::new(item, kind);
        match parse_item(item).map_err(err)? {
            Item::Level(level) => {
                env_items += 1;
                if env_items > MAX_LEVEL_DIRECTIVES {
                    return Err(err(ParseErrorKind::TooManyLevelDirectives));
                }
                level
                    .parse::<Directive>()
                    .map_err(|e| err(ParseErrorKind::EnvFilter).with_source(e))?;
                push(&mut env, format_args!("{level}"));
            }
            Item::Sample(x) => {
                let target = x.target.unwrap_or_default();
                if let Some(level) = x.level {
                    env_items += 1;
                    if env_items > MAX_LEVEL_DIRECTIVES {
                        return Err(err(ParseErrorKind::TooManyLevelDirectives));
                    }
                    match x.target {
                        Some(t) => push(&mut env, format_args!("{t}={level}")),
                        None => push(&mut env, format_args!("{level}")),
                    }
                }
                // Budget hook: `N/s` goes through as written, in place of a rate.
                let rate: &dyn std::fmt::Display = match &x.budget {
                    Some(b) => b,
                    None => &x.rate,
                };
                match (x.target, x.key) {
                    (None, _) => push(&mut sample, format_args!("{rate}")),
                    (Some(_), Some(k)) => {
                        push(&mut sample, format_args!("{target}[{k}]={rate}"))
                    }
                    (Some(_), None) => push(&mut sample, format_args!("{target}={rate}")),
                }
            }
        }
    }
    Ok((env, sample))
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

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn routes_each_part() {
        let (env, sample) =
            split("info, app::router=debug@0.05 ,app::ws[hb]=0.01,app::db=1/20,warn@0.5,lib[span{id=1}]=trace,app=1").unwrap();
        assert_eq!(env, "info,app::router=debug,warn,lib[span{id=1}]=trace");
        assert_eq!(
            sample,
            "app::router=0.05,app::ws[hb]=0.01,app::db=0.05,0.5,app=1"
        );
    }

    #[test]
    fn errors_in_the_rate_part_are_reported() {
        let e = split("info,app=debug@1.5").unwrap_err();
        assert_eq!(e.directive(), "app=debug@1.5");
    }
}
