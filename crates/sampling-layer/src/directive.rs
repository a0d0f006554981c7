//! The directive syntax, its parser, and the rule lookup it drives.
//!
//! ```text
//! directives := directive ("," directive)*
//! directive  := rate                      the default for every target
//!             | target "=" rate            that target and its `::` children
//!             | target "[" key "]" "=" rate    one key under that target
//!             | [target "="] level "@" rate    level for EnvFilter, rate for us
//! rate       := decimal | decimal "%" | integer "/" integer      (in [0, 1])
//! ```
//!
//! Lookup order, most specific first: a `[key]` directive whose target matches
//! (longest target first), then the longest matching target directive, then the
//! bare default, then "keep everything" (counted under [`OTHER_TARGET`]).

use tracing_core::LevelFilter;
use xxhash_rust::xxh3::xxh3_64;

use crate::{
    error::{ParseError, ParseErrorKind},
    rate::Rate,
    stats::OTHER_TARGET,
};

/// One parsed item of a directive string.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Item {
    /// A sampling directive, possibly carrying a level (`target=debug@0.05`).
    Sample {
        target: String,
        key: Option<String>,
        rate: Rate,
        level: Option<LevelFilter>,
        /// Whether the target part was written (`=` present). `false` for a bare rate.
        has_target: bool,
    },
    /// Anything that is not a rate: passed to `EnvFilter` by the split helper.
    Other(String),
}

/// Parses one comma-separated item. `Item::Other` is returned for a level-only
/// or unrecognised right-hand side so that the split helper can hand it to
/// `EnvFilter`; the sampler's own parser turns it into an error.
pub(crate) fn parse_item(item: &str) -> Result<Item, ParseError> {
    let err = |kind| ParseError::new(item, kind);
    if item.contains('{') {
        // `target[span{field=value}]=level`: EnvFilter's span syntax, not ours.
        return Ok(Item::Other(item.trim().to_owned()));
    }
    let (lhs, rhs, has_target) = match item.split_once('=') {
        Some((l, r)) => (l.trim(), r.trim(), true),
        None => ("", item.trim(), false),
    };
    // Left side: `target` or `target[key]`.
    let (target, key) = match lhs.find('[') {
        None => {
            if lhs.contains(']') {
                return Err(err(ParseErrorKind::InvalidTarget(lhs.to_owned())));
            }
            (lhs, None)
        }
        Some(open) => {
            let rest = &lhs[open + 1..];
            let Some(inner) = rest.strip_suffix(']') else {
                // `target[span{..}]=level` is EnvFilter's syntax: let it judge.
                return if rhs_is_level(rhs) {
                    Ok(Item::Other(item.trim().to_owned()))
                } else {
                    Err(err(ParseErrorKind::UnclosedBracket))
                };
            };
            if inner.contains('[') || inner.contains(']') {
                return Err(err(ParseErrorKind::UnclosedBracket));
            }
            if inner.trim().is_empty() {
                return Err(err(ParseErrorKind::EmptyKey));
            }
            (&lhs[..open], Some(inner.trim().to_owned()))
        }
    };
    if !target
        .chars()
        .all(|c| !c.is_whitespace() && !matches!(c, '[' | ']' | '=' | '@' | ',' | '{' | '}'))
    {
        return Err(err(ParseErrorKind::InvalidTarget(target.to_owned())));
    }
    if has_target && target.is_empty() && key.is_none() {
        return Err(err(ParseErrorKind::InvalidTarget(String::new())));
    }
    // Right side: `rate`, `level@rate`, or something else.
    if let Some((level, rate)) = rhs.split_once('@') {
        if key.is_some() {
            return Err(err(ParseErrorKind::KeyWithLevel));
        }
        let level: LevelFilter = level
            .trim()
            .parse()
            .map_err(|_| err(ParseErrorKind::InvalidLevel(level.trim().to_owned())))?;
        let rate = Rate::parse(rate).map_err(err)?;
        return Ok(Item::Sample {
            target: target.to_owned(),
            key,
            rate,
            level: Some(level),
            has_target,
        });
    }
    match Rate::parse(rhs) {
        Ok(rate) => Ok(Item::Sample {
            target: target.to_owned(),
            key,
            rate,
            level: None,
            has_target,
        }),
        Err(kind) if key.is_none() && (rhs_is_level(rhs) || !has_target) => {
            if rhs_is_level(rhs) {
                Ok(Item::Other(item.trim().to_owned()))
            } else if matches!(kind, ParseErrorKind::NotARate(_)) && looks_like_target(rhs) {
                // A bare word: EnvFilter reads it as a target; we cannot.
                Ok(Item::Other(item.trim().to_owned()))
            } else {
                Err(err(kind))
            }
        }
        Err(kind) => Err(err(kind)),
    }
}

fn rhs_is_level(rhs: &str) -> bool {
    !rhs.is_empty()
        && !rhs.bytes().all(|b| b.is_ascii_digit())
        && rhs.parse::<LevelFilter>().is_ok()
}

fn looks_like_target(s: &str) -> bool {
    s.chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_')
        && s.chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == ':' || c == '-')
}

/// Turns an `Item::Other` into the error the sampler's own parser reports.
pub(crate) fn other_as_error(item: &str) -> ParseError {
    let rhs = item.split_once('=').map_or(item, |(_, r)| r).trim();
    if item.contains('{') {
        ParseError::new(item, ParseErrorKind::InvalidTarget(item.to_owned()))
    } else if rhs_is_level(rhs) {
        ParseError::new(item, ParseErrorKind::LevelWithoutRate(rhs.to_owned()))
    } else if item.contains('[') {
        ParseError::new(item, ParseErrorKind::UnclosedBracket)
    } else {
        ParseError::new(item, ParseErrorKind::NotARate(rhs.to_owned()))
    }
}

#[derive(Debug, Clone, PartialEq)]
struct TargetRule {
    target: String,
    rate: Rate,
}

#[derive(Debug, Clone, PartialEq)]
struct KeyRule {
    target: String,
    key: String,
    key_hash: u64,
    rate: Rate,
}

/// A parsed, validated directive string, ordered for lookup.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct DirectiveSet {
    default: Option<Rate>,
    /// Longest target first, so the first match is the most specific.
    targets: Vec<TargetRule>,
    /// Longest target first.
    keys: Vec<KeyRule>,
    /// The original items, re-rendered (for `Debug`/`Display` of the filter).
    source: String,
}

/// What a lookup found: the rate and the stats label it counts under.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Resolved<'a> {
    pub(crate) rate: Rate,
    pub(crate) label: &'a str,
}

impl DirectiveSet {
    /// Parses a whole string. With `lossy`, bad items are skipped and returned
    /// as the second element; otherwise the first bad item is the error.
    pub(crate) fn parse(
        s: &str,
        lossy: bool,
    ) -> Result<(DirectiveSet, Vec<ParseError>), ParseError> {
        let mut set = DirectiveSet::default();
        let mut skipped = Vec::new();
        let mut rendered = Vec::new();
        for raw in s.split(',') {
            let item = raw.trim();
            if item.is_empty() {
                continue;
            }
            let parsed = parse_item(item).and_then(|it| match it {
                Item::Other(o) => Err(other_as_error(&o)),
                sample => Ok(sample),
            });
            match parsed {
                Ok(Item::Sample {
                    target, key, rate, ..
                }) => {
                    rendered.push(item.to_owned());
                    set.add(target, key, rate);
                }
                Ok(Item::Other(_)) => unreachable!("mapped to an error above"),
                Err(e) if lossy => skipped.push(e),
                Err(e) => return Err(e),
            }
        }
        // Stable sort: among equal lengths the order of first appearance stays.
        set.targets
            .sort_by_key(|t| std::cmp::Reverse(t.target.len()));
        set.keys.sort_by_key(|k| std::cmp::Reverse(k.target.len()));
        set.source = rendered.join(",");
        Ok((set, skipped))
    }

    /// Adds a directive; a later one for the same target (and key) replaces the earlier.
    fn add(&mut self, target: String, key: Option<String>, rate: Rate) {
        match key {
            None if target.is_empty() => self.default = Some(rate),
            None => {
                self.targets.retain(|t| t.target != target);
                self.targets.push(TargetRule { target, rate });
            }
            Some(key) => {
                self.keys.retain(|k| !(k.target == target && k.key == key));
                let key_hash = xxh3_64(key.as_bytes());
                self.keys.push(KeyRule {
                    target,
                    key,
                    key_hash,
                    rate,
                });
            }
        }
    }

    /// The rule for events at `target` that carry no key a `[key]` directive names.
    pub(crate) fn resolve_target(&self, target: &str) -> Resolved<'_> {
        if let Some(t) = self
            .targets
            .iter()
            .find(|t| target_matches(&t.target, target))
        {
            return Resolved {
                rate: t.rate,
                label: &t.target,
            };
        }
        match self.default {
            Some(rate) => Resolved { rate, label: "" },
            None => Resolved {
                rate: Rate::ONE,
                label: OTHER_TARGET,
            },
        }
    }

    /// Whether some `[key]` directive could apply to events at `target`.
    pub(crate) fn has_key_rules_for(&self, target: &str) -> bool {
        self.keys.iter().any(|k| target_matches(&k.target, target))
    }

    /// The rule for an event at `target` whose key hashes (xxh3) to `key_hash`.
    pub(crate) fn resolve_key(&self, target: &str, key_hash: u64) -> Resolved<'_> {
        self.keys
            .iter()
            .find(|k| k.key_hash == key_hash && target_matches(&k.target, target))
            .map(|k| Resolved {
                rate: k.rate,
                label: &k.target,
            })
            .unwrap_or_else(|| self.resolve_target(target))
    }

    /// Every stats label this set can produce, with the target-wide rate shown
    /// for it: `""` for the default, each directive target, and `other` when
    /// there is no default.
    pub(crate) fn labels(&self) -> Vec<(String, Rate)> {
        let mut out: Vec<(String, Rate)> = Vec::new();
        if let Some(rate) = self.default {
            out.push((String::new(), rate));
        } else {
            out.push((OTHER_TARGET.to_owned(), Rate::ONE));
        }
        for t in &self.targets {
            // A target literally named `other` shares the catch-all's row.
            if !out.iter().any(|(l, _)| *l == t.target) {
                out.push((t.target.clone(), t.rate));
            }
        }
        for k in &self.keys {
            if !out.iter().any(|(l, _)| *l == k.target) {
                let rate = self.resolve_target(&k.target).rate;
                out.push((k.target.clone(), rate));
            }
        }
        out
    }

    /// The directives as given (bad ones skipped), comma-joined.
    pub(crate) fn source(&self) -> &str {
        &self.source
    }
}

/// `filter` matches `target` if equal or if `target` continues with `::`.
/// The empty filter (only used by `[key]=rate`) matches everything.
fn target_matches(filter: &str, target: &str) -> bool {
    filter.is_empty()
        || (target.starts_with(filter)
            && (target.len() == filter.len() || target[filter.len()..].starts_with("::")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(s: &str) -> DirectiveSet {
        DirectiveSet::parse(s, false).unwrap().0
    }

    #[test]
    fn most_specific_directive_wins() {
        let s = set("0.5,app=0.25,app::router=0.05,app::ws[heartbeat]=0.01,[tool_call]=1/3");
        assert_eq!(s.resolve_target("zzz").rate.to_string(), "0.5");
        assert_eq!(s.resolve_target("zzz").label, "");
        assert_eq!(s.resolve_target("app").rate.to_string(), "0.25");
        assert_eq!(s.resolve_target("app::db").label, "app");
        assert_eq!(s.resolve_target("app::router").rate.to_string(), "0.05");
        assert_eq!(s.resolve_target("app::router::inner").label, "app::router");
        // `::`-aware: `app::routerx` is not under `app::router`.
        assert_eq!(s.resolve_target("app::routerx").label, "app");
        assert_eq!(s.resolve_target("apple").label, "");
        let hb = xxh3_64(b"heartbeat");
        assert_eq!(s.resolve_key("app::ws", hb).rate.to_string(), "0.01");
        assert_eq!(s.resolve_key("app::ws::x", hb).label, "app::ws");
        assert_eq!(s.resolve_key("app::db", hb).label, "app");
        assert_eq!(
            s.resolve_key("other", xxh3_64(b"tool_call"))
                .rate
                .to_string(),
            "1/3"
        );
        assert!(s.has_key_rules_for("anything"));
    }

    #[test]
    fn without_default_unmatched_is_other_at_rate_one() {
        let s = set("app=0.1");
        let r = s.resolve_target("lib");
        assert_eq!((r.rate, r.label), (Rate::ONE, OTHER_TARGET));
        assert!(!s.has_key_rules_for("app"));
    }

    #[test]
    fn later_duplicate_replaces_earlier() {
        let s = set("app=0.1,app=0.2,0.3,0.4");
        assert_eq!(s.resolve_target("app").rate.to_string(), "0.2");
        assert_eq!(s.resolve_target("x").rate.to_string(), "0.4");
    }

    #[test]
    fn level_at_rate_is_accepted_and_level_ignored() {
        let s = set("info@0.5,app::router=debug@0.05");
        assert_eq!(s.resolve_target("app::router").rate.to_string(), "0.05");
        assert_eq!(s.resolve_target("x").rate.to_string(), "0.5");
    }

    #[test]
    fn bad_directives_name_the_directive_and_the_problem() {
        let cases: &[(&str, &str)] = &[
            (
                "app=1.5",
                "invalid sampling directive `app=1.5`: rate `1.5` is outside [0, 1]",
            ),
            (
                "app=-0.1",
                "invalid sampling directive `app=-0.1`: rate `-0.1` is outside [0, 1]",
            ),
            (
                "abc",
                "invalid sampling directive `abc`: `abc` is not a rate",
            ),
            (
                "app=NaN",
                "invalid sampling directive `app=NaN`: `NaN` is not a rate",
            ),
            (
                "app=1/0",
                "invalid sampling directive `app=1/0`: the fraction has a zero denominator",
            ),
            (
                "app[key=0.1",
                "invalid sampling directive `app[key=0.1`: `[` is not closed",
            ),
            ("app[]=0.1", "the key between `[` and `]` is empty"),
            ("app=", "no rate after `=`"),
            ("info", "`info` is a level with no `@rate`"),
            ("app=debug", "`debug` is a level with no `@rate`"),
            ("app=loud@0.1", "`loud` is not a level"),
            ("app[k]=debug@0.1", "a `[key]` directive takes a rate only"),
            ("a b=0.1", "`a b` is not a valid target"),
            ("=0.1", "`` is not a valid target"),
        ];
        for (input, want) in cases {
            let e = DirectiveSet::parse(&format!("0.5,{input}"), false).unwrap_err();
            assert_eq!(e.directive(), *input);
            assert!(
                e.to_string().contains(want),
                "{input}: got `{e}`, want `{want}`"
            );
        }
    }

    #[test]
    fn lossy_skips_bad_items_and_keeps_the_rest() {
        let (s, skipped) = DirectiveSet::parse("app=2,lib=0.5,abc,0.1", true).unwrap();
        assert_eq!(skipped.len(), 2);
        assert_eq!(skipped[0].directive(), "app=2");
        assert_eq!(skipped[1].directive(), "abc");
        assert_eq!(s.resolve_target("lib").rate.to_string(), "0.5");
        assert_eq!(s.resolve_target("app").rate.to_string(), "0.1");
        assert_eq!(s.source(), "lib=0.5,0.1");
    }

    #[test]
    fn labels_cover_every_target_once() {
        let s = set("0.5,app=0.1,app::ws[hb]=0.01,lib[x]=0.2");
        let labels: Vec<String> = s.labels().into_iter().map(|(l, _)| l).collect();
        assert_eq!(labels, vec!["", "app", "app::ws", "lib"]);
        let s = set("app=0.1");
        assert_eq!(s.labels()[0].0, OTHER_TARGET);
    }
}
