//! One string for levels and rates: `"info,app::router=debug@0.05"`, split
//! into its `EnvFilter` part and its sampler part.

use tracing_subscriber::filter::Directive;

use super::{parse_item, Item};
use crate::error::{ParseError, ParseErrorKind};
use crate::limits::{MAX_DIRECTIVES_LEN, MAX_LEVEL_DIRECTIVES};

/// Splits a combined string into its `EnvFilter` part and its sampler part
/// (the rules are on [`split_directives`](crate::split_directives)). Each
/// `EnvFilter` item is checked on its own, so an error names it.
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
            // Capture: the sampler's, as written.
            Item::Capture(_) => push(&mut sample, format_args!("{item}")),
            // Repeat suppression is the sampler's, as written.
            Item::Repeat { .. } => push(&mut sample, format_args!("{item}")),
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
                // For budgets: `N/s` goes through as written, in place of a rate.
                let rate: &dyn std::fmt::Display = match &x.budget {
                    Some(b) => b,
                    None => &x.rate,
                };
                match (x.target, x.key) {
                    (None, _) => push(&mut sample, format_args!("{rate}")),
                    (Some(_), Some(k)) => push(&mut sample, format_args!("{target}[{k}]={rate}")),
                    (Some(_), None) => push(&mut sample, format_args!("{target}={rate}")),
                }
            }
        }
    }
    Ok((env, sample))
}

#[cfg(all(test, not(sampling_layer_loom)))]
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
