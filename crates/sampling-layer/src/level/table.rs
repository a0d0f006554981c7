//! The level table: `EnvFilter`'s `target=level` directives and a bare
//! default, parsed, printed back and looked up.
//!
//! A table is immutable once published; a change builds a new one. It is read
//! when a callsite registers (once per callsite and per change) and, for
//! metadata that is not a registered callsite, per event (see `sites`).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use tracing_core::{LevelFilter, Metadata};

use crate::error::{ParseError, ParseErrorKind};
use crate::limits::{MAX_DIRECTIVES_LEN, MAX_LEVEL_DIRECTIVES};

/// Below this many targets a lookup scans them all; above, it tries each
/// prefix of the event's target in the map (cost in the target's length,
/// not in the number of directives).
const SCAN_BELOW: usize = 32;

/// The levels in force: a default and one level per target prefix.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Table {
    default: Option<LevelFilter>,
    targets: BTreeMap<Box<str>, LevelFilter>,
}

impl Table {
    /// Parses a comma-separated list of `level` and `target=level` items;
    /// a later item for the same target replaces an earlier one.
    pub(crate) fn parse(s: &str) -> Result<Table, ParseError> {
        if s.len() > MAX_DIRECTIVES_LEN {
            return Err(ParseError::new("", ParseErrorKind::TooLong(s.len())).in_levels());
        }
        let mut table = Table::default();
        for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (target, level) = parse_item(item)?;
            table.set(target, Some(level));
            if table.targets.len() > MAX_LEVEL_DIRECTIVES {
                return Err(
                    ParseError::new(item, ParseErrorKind::TooManyLevelDirectives).in_levels(),
                );
            }
        }
        Ok(table)
    }

    /// Sets (`Some`) or removes (`None`) the level of `target` (`""`: the
    /// default); returns the level it had.
    pub(crate) fn set(&mut self, target: &str, level: Option<LevelFilter>) -> Option<LevelFilter> {
        if target.is_empty() {
            return std::mem::replace(&mut self.default, level);
        }
        match level {
            Some(l) => self.targets.insert(target.into(), l),
            None => self.targets.remove(target),
        }
    }

    /// The level `target` has a directive of its own for (`""`: the default).
    pub(crate) fn get(&self, target: &str) -> Option<LevelFilter> {
        if target.is_empty() {
            self.default
        } else {
            self.targets.get(target).copied()
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.targets.len() + usize::from(self.default.is_some())
    }

    /// The most verbose level any directive enables (`OFF` if none).
    pub(crate) fn max(&self) -> LevelFilter {
        self.targets
            .values()
            .copied()
            .chain(self.default)
            .max()
            .unwrap_or(LevelFilter::OFF)
    }

    /// The level for events of `target`: the longest directive target it
    /// starts with (as `EnvFilter` matches), else the default, else `OFF`.
    pub(crate) fn level_for(&self, target: &str) -> LevelFilter {
        let found = if self.targets.len() < SCAN_BELOW {
            self.targets
                .iter()
                .filter(|(t, _)| target.starts_with(&***t))
                .max_by_key(|(t, _)| t.len())
                .map(|(_, l)| *l)
        } else {
            (1..=target.len())
                .rev()
                .filter(|&i| target.is_char_boundary(i))
                .find_map(|i| self.targets.get(&target[..i]).copied())
        };
        found.or(self.default).unwrap_or(LevelFilter::OFF)
    }

    pub(crate) fn enabled(&self, meta: &Metadata<'_>) -> bool {
        self.level_for(meta.target()) >= *meta.level()
    }
}

/// The default first, then the targets in order: `info,app=debug,app::db=trace`.
/// Parsing the text gives the same table.
impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut sep = "";
        if let Some(l) = self.default {
            write!(f, "{}", name(l))?;
            sep = ",";
        }
        for (t, l) in &self.targets {
            write!(f, "{sep}{t}={}", name(*l))?;
            sep = ",";
        }
        Ok(())
    }
}

/// Lower case, as `EnvFilter` prints and as it is usually written.
pub(crate) fn name(l: LevelFilter) -> &'static str {
    match l {
        LevelFilter::OFF => "off",
        LevelFilter::ERROR => "error",
        LevelFilter::WARN => "warn",
        LevelFilter::INFO => "info",
        LevelFilter::DEBUG => "debug",
        _ => "trace",
    }
}

/// `level` (the default, `target` `""`) or `target=level`.
pub(crate) fn parse_item(item: &str) -> Result<(&str, LevelFilter), ParseError> {
    let err = |kind| ParseError::new(item, kind).in_levels();
    match item.split_once('=') {
        Some((target, level)) => {
            let target = check_target(target.trim()).map_err(err)?;
            if target.is_empty() {
                return Err(err(ParseErrorKind::EmptyTarget));
            }
            Ok((target, parse_level(level.trim()).map_err(err)?))
        }
        None => match parse_level(item) {
            Ok(level) => Ok(("", level)),
            Err(_) => {
                check_target(item).map_err(err)?;
                Err(err(ParseErrorKind::TargetWithoutLevel(item.to_owned())))
            }
        },
    }
}

/// A level as `EnvFilter` reads one: a name in any case or `0` (off) .. `5` (trace).
pub(crate) fn parse_level(s: &str) -> Result<LevelFilter, ParseErrorKind> {
    if s.is_empty() {
        // `LevelFilter` reads "" as ERROR: a level nobody wrote.
        return Err(ParseErrorKind::InvalidLevel(String::new()));
    }
    LevelFilter::from_str(s).map_err(|_| ParseErrorKind::InvalidLevel(s.to_owned()))
}

/// A directive's target for the level table: `""` (the default), or text
/// with no whitespace and none of `, = ] }`; `[` and `{` start `EnvFilter`'s
/// span and field filters, which are refused with what to do instead.
pub(crate) fn check_target(t: &str) -> Result<&str, ParseErrorKind> {
    if t.contains(['[', '{']) {
        return Err(ParseErrorKind::SpanFilterInLevels);
    }
    if t.contains(|c: char| c.is_whitespace() || matches!(c, ',' | '=' | ']' | '}')) {
        return Err(ParseErrorKind::InvalidTarget(t.to_owned()));
    }
    Ok(t)
}

#[cfg(all(test, not(sampling_layer_loom)))]
mod tests {
    use super::*;

    #[test]
    fn most_specific_target_wins_and_nothing_matching_is_off() {
        let t = Table::parse("warn, app=info ,app::db=trace,app=debug").unwrap();
        assert_eq!(t.level_for("app::db::pool"), LevelFilter::TRACE);
        assert_eq!(t.level_for("app::http"), LevelFilter::DEBUG);
        assert_eq!(t.level_for("lib"), LevelFilter::WARN);
        assert_eq!(t.max(), LevelFilter::TRACE);
        assert_eq!(t.to_string(), "warn,app=debug,app::db=trace");
        assert_eq!(
            Table::parse("app=info").unwrap().level_for("lib"),
            LevelFilter::OFF
        );
    }

    #[test]
    fn many_targets_match_by_prefix_like_few() {
        let mut s: Vec<String> = (0..100).map(|i| format!("t{i}=error")).collect();
        s.push("app=debug".into());
        s.push("app::db=trace".into());
        let t = Table::parse(&s.join(",")).unwrap();
        assert!(t.targets.len() >= SCAN_BELOW);
        assert_eq!(t.level_for("app::db::x"), LevelFilter::TRACE);
        assert_eq!(t.level_for("apple"), LevelFilter::DEBUG);
        assert_eq!(t.level_for("t10x"), LevelFilter::ERROR);
        assert_eq!(t.level_for("zzz"), LevelFilter::OFF);
    }

    #[test]
    fn bad_items_are_named() {
        let cases = [
            (
                "app=verbose",
                ParseErrorKind::InvalidLevel("verbose".into()),
            ),
            ("=debug", ParseErrorKind::EmptyTarget),
            ("app=", ParseErrorKind::InvalidLevel(String::new())),
            ("app[req{id=1}]=debug", ParseErrorKind::SpanFilterInLevels),
            ("[{id}]=debug", ParseErrorKind::SpanFilterInLevels),
            ("inf", ParseErrorKind::TargetWithoutLevel("inf".into())),
            ("a b=debug", ParseErrorKind::InvalidTarget("a b".into())),
        ];
        for (s, kind) in cases {
            let e = Table::parse(&format!("info,{s}")).unwrap_err();
            assert_eq!((e.directive(), e.kind()), (s, &kind), "{s}");
            assert!(e.to_string().starts_with("invalid level directive"), "{e}");
        }
    }
}
