//! One string for levels and rates: `"info,app::router=debug@0.05"`.

use tracing_subscriber::EnvFilter;

use crate::directive::{parse_item, Item};
use crate::error::ParseError;
use crate::filter::SamplingFilter;

/// Splits a combined string into its `EnvFilter` part and its sampler part.
///
/// - `level` or `target=level` (and anything else that is not a rate, such as
///   `target[span{field=value}]=level`) goes to `EnvFilter` as it is;
/// - `rate`, `target=rate` and `target[key]=rate` go to the sampler;
/// - `target=level@rate` goes to both: `target=level` and `target=rate`.
///
/// A numeric right-hand side is a rate (`app=1` keeps everything), never
/// `EnvFilter`'s numeric level.
pub(crate) fn split(s: &str) -> Result<(String, String), ParseError> {
    let mut env = Vec::new();
    let mut sample = Vec::new();
    for raw in s.split(',') {
        let item = raw.trim();
        if item.is_empty() {
            continue;
        }
        match parse_item(item)? {
            Item::Other(o) => env.push(o),
            Item::Sample {
                target,
                key,
                rate,
                level,
                has_target,
            } => {
                let lhs = match &key {
                    Some(k) => format!("{target}[{k}]"),
                    None => target.clone(),
                };
                if let Some(level) = level {
                    env.push(if has_target {
                        format!("{target}={level}")
                    } else {
                        level.to_string()
                    });
                }
                sample.push(if has_target {
                    format!("{lhs}={rate}")
                } else {
                    rate.to_string()
                });
            }
        }
    }
    Ok((env.join(","), sample.join(",")))
}

/// Splits `"info,app::router=debug@0.05"` into an [`EnvFilter`] for the levels
/// and a [`SamplingFilter`] (default settings) for the rates, so one
/// environment variable can configure both. Use
/// [`SamplingFilterBuilder::split`](crate::SamplingFilterBuilder::split) for
/// other settings.
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
