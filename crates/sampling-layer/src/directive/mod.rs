//! The directive parser and the rule lookup it drives.
//!
//! The grammar, the matching rules and the limits are written once, in the
//! crate docs ([`crate`], section *Directives*); this module implements them.
//! [`parse_item`] reads one comma-separated item and says whose it is: the
//! sampler's (a rate, possibly with a level) or `EnvFilter`'s (everything
//! else). [`DirectiveSet`](set::DirectiveSet) builds the lookup tables;
//! [`split`] divides a combined string between `EnvFilter` and the sampler;
//! [`edit`] changes one directive of a set.
//!
//! Every step is linear in the length of the string: one pass over the items,
//! one hash-map operation per item for "a later directive wins", no sorting of
//! targets (lookups probe the event target's prefixes by the lengths that
//! occur), and the labels come out of the table as built.

pub(crate) mod budget;
pub(crate) mod capture_spec;
pub(crate) mod edit;
pub(crate) mod rate;
pub(crate) mod repeat_spec;
pub(crate) mod set;
#[cfg(feature = "env-filter")]
pub(crate) mod split;
#[cfg(test)]
mod tests;

use tracing_core::LevelFilter;

use crate::{directive::budget::Budget, directive::rate::Rate, error::ParseErrorKind};

pub(crate) use set::DirectiveSet;

/// The label used for events that no directive's target matches. A directive
/// target never starts with `(`, so no target can share this label.
pub const OTHER_TARGET: &str = "(other)";

/// One comma-separated item, classified.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Item<'a> {
    /// The sampler's: a rate, possibly with a level for `EnvFilter`.
    Sample(Sample<'a>),
    /// `EnvFilter`'s: a level, a target, a span or field filter, as written.
    Level(&'a str),

    /// The sampler's `+name`, `+{field}` or `+name{field}`: which spans
    /// capture context (the text after `+`, already checked).
    Capture(&'a str),
    /// The sampler's `target=first N/WINDOW [by a+b]`: repeat suppression
    /// for `target` (the right-hand side, already checked; see [`crate::repeat`]).
    Repeat { target: &'a str, spec: &'a str },
}

/// A sampling item: `rate`, `target=rate`, `[target][key]=rate`, `[target=]level@rate`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Sample<'a> {
    /// `None` for a bare `rate` or `level@rate`; `Some("")` for `[key]=rate`.
    pub(crate) target: Option<&'a str>,
    pub(crate) key: Option<&'a str>,
    pub(crate) rate: Rate,
    /// `target=200/s`: a budget instead of the rate (`rate` is then 1).
    pub(crate) budget: Option<Budget>,
    pub(crate) level: Option<LevelFilter>,
}

/// The item split at its structure: `target`, `[bracket]`, `=value`.
struct Parts<'a> {
    target: &'a str,
    /// What is between `[` and `]`, braces included (`span{field}`).
    bracket: Option<&'a str>,
    /// After the first `=` outside the brackets.
    value: Option<&'a str>,
}

/// Splits at the first `=` outside brackets. A bracket ends at the first `]`,
/// or, with a field list, at the `]` right after its `}`: as `EnvFilter`
/// reads it, so span names may hold `=`, `@` or `[` and still be forwarded whole.
fn parts(item: &str) -> Result<Parts<'_>, ParseErrorKind> {
    let Some(first) = item.find(['[', '=']) else {
        return Ok(Parts {
            target: item,
            bracket: None,
            value: None,
        });
    };
    if item.as_bytes()[first] == b'=' {
        return Ok(Parts {
            target: &item[..first],
            bracket: None,
            value: Some(&item[first + 1..]),
        });
    }
    let inner = &item[first + 1..];
    let len = match inner.find([']', '{']) {
        Some(i) if inner.as_bytes()[i] == b']' => i,
        Some(i) => match inner[i..].find('}') {
            Some(j) if inner[i + j + 1..].starts_with(']') => i + j + 1,
            _ => return Err(ParseErrorKind::UnclosedBracket),
        },
        None => return Err(ParseErrorKind::UnclosedBracket),
    };
    // Whitespace between `]` and `=` is ignored, as it is before `=` in
    // `target = rate`: one rule for both forms.
    let after = &inner[len + 1..];
    let value = match after.trim_start().strip_prefix('=') {
        Some(v) => Some(v),
        None if after.trim().is_empty() => None,
        None => return Err(ParseErrorKind::UnclosedBracket),
    };
    Ok(Parts {
        target: &item[..first],
        bracket: Some(&inner[..len]),
        value,
    })
}

/// Whether a right-hand side is the sampler's: it has `@`, or it looks like a
/// number (a digit, `.` or `-` first). A number is always a rate here, never
/// `EnvFilter`'s numeric level: the one documented difference.
fn is_ours(value: &str) -> bool {
    value.contains('@')
        || value
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_digit() || b == b'.' || b == b'-')
}

/// Reads one trimmed, non-empty item. `Item::Level` is returned for every form
/// `EnvFilter` owns, whether or not it is valid there: the split helper hands
/// it over, the sampler's own parser turns it into [`level_item_error`].
pub(crate) fn parse_item(item: &str) -> Result<Item<'_>, ParseErrorKind> {
    // Capture: no target starts with `+`, nor any `EnvFilter` form.
    if let Some(rest) = item.strip_prefix('+') {
        capture_spec::CaptureSpec::parse(rest)?;
        return Ok(Item::Capture(rest));
    }
    let p = parts(item)?;
    if let Some(repeat) = repeat_item(item, &p) {
        return repeat;
    }
    // A bare item is its own value: `0.05`, `info@0.05`; `info`, `my_crate`.
    let (value, bare) = match p.value {
        Some(v) => (v.trim(), false),
        None if p.bracket.is_none() => (item, true),
        None => return Ok(Item::Level(item)),
    };
    if !is_ours(value) {
        return Ok(Item::Level(item));
    }
    let target = if bare { None } else { Some(p.target.trim()) };
    let key = match p.bracket {
        Some(b) if b.contains('{') => return Err(ParseErrorKind::FieldFilterWithRate),
        Some(_) if value.contains('@') => return Err(ParseErrorKind::KeyWithLevel),
        Some(b) if b.trim().is_empty() => return Err(ParseErrorKind::EmptyKey),
        Some(b) => Some(b.trim()),
        None => None,
    };
    // `[key]=rate` has the empty target (any target); `=rate` has none at all.
    let any_target = |t: &str| t.is_empty() && key.is_some();
    if let Some(t) = target.filter(|&t| !valid_target(t) && !any_target(t)) {
        return Err(ParseErrorKind::InvalidTarget(t.to_owned()));
    }
    let (level, rate) = match value.split_once('@') {
        Some((level, rate)) => (Some(parse_level(level.trim())?), rate),
        None => (None, value),
    };
    // For budgets: `N/s` or `N/min` (a unit, not digits, after the `/`).
    if let Some(budget) = Budget::parse(rate) {
        if key.is_some() {
            return Err(ParseErrorKind::BudgetOnKey);
        }
        return Ok(Item::Sample(Sample {
            target,
            key,
            rate: Rate::ONE,
            budget: Some(budget?),
            level,
        }));
    }
    let rate = Rate::parse(rate).map_err(|kind| match kind {
        ParseErrorKind::OutOfRange(r) if numeric_level(&r).is_some() => {
            ParseErrorKind::NumericLevel(r)
        }
        kind => kind,
    })?;
    Ok(Item::Sample(Sample {
        target,
        key,
        rate,
        budget: None,
        level,
    }))
}

/// `target=first N/WINDOW [by a+b]`, if `item` is one (or means to be one).
fn repeat_item<'a>(item: &'a str, p: &Parts<'a>) -> Option<Result<Item<'a>, ParseErrorKind>> {
    use crate::directive::repeat_spec::{is_repeat, RepeatSpec};
    let bad = |why: &str| Some(Err(ParseErrorKind::InvalidRepeat(why.to_owned())));
    let Some(value) = p.value.filter(|v| is_repeat(v)) else {
        return (p.value.is_none() && p.bracket.is_none() && is_repeat(item))
            .then(|| bad("it needs a target, as in `app::db=first 5/1s`"))
            .flatten();
    };
    if p.bracket.is_some() {
        return bad("it applies to a target, not to a `[key]` (name key fields with `by`)");
    }
    let target = p.target.trim();
    if target.is_empty() {
        return bad("it needs a target, as in `app::db=first 5/1s`");
    }
    if !valid_target(target) {
        return Some(Err(ParseErrorKind::InvalidTarget(target.to_owned())));
    }
    Some(match RepeatSpec::parse(value) {
        Ok(_) => Ok(Item::Repeat {
            target,
            spec: value.trim(),
        }),
        Err(why) => Err(ParseErrorKind::InvalidRepeat(why)),
    })
}

fn parse_level(level: &str) -> Result<LevelFilter, ParseErrorKind> {
    if level.is_empty() {
        // `LevelFilter` reads "" as ERROR: a level the user never wrote.
        return Err(ParseErrorKind::EmptyLevel);
    }
    level
        .parse()
        .map_err(|_| ParseErrorKind::InvalidLevel(level.to_owned()))
}

/// `EnvFilter` reads `2`..`5` as levels; here they are rates above one.
fn numeric_level(s: &str) -> Option<LevelFilter> {
    match s {
        "2" | "3" | "4" | "5" => s.parse().ok(),
        _ => None,
    }
}

/// A target as `EnvFilter` accepts it (a letter, digit, `_`, `-` or `:`
/// first), without the characters of the directive syntax. Because of the
/// first rule no target can equal a label that starts with `(`, such as
/// [`OTHER_TARGET`](crate::stats::OTHER_TARGET) or `logmetrics`' `(default)`.
pub(crate) fn valid_target(t: &str) -> bool {
    t.chars()
        .next()
        .is_some_and(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | ':'))
        && t.chars()
            .all(|c| !c.is_whitespace() && !matches!(c, '[' | ']' | '=' | '@' | ',' | '{' | '}'))
}

/// Why an `EnvFilter` item is not a sampling directive (the sampler's own
/// parser; [`split_directives`](crate::split_directives) forwards these).
pub(crate) fn level_item_error(item: &str) -> ParseErrorKind {
    let value = parts(item).ok().and_then(|p| p.value).map(str::trim);
    match value {
        Some("") => ParseErrorKind::MissingRate,
        Some(v) if v.parse::<LevelFilter>().is_ok() => {
            ParseErrorKind::LevelWithoutRate(v.to_owned())
        }
        Some(v) => ParseErrorKind::NotARate(v.to_owned()),
        None if item.parse::<LevelFilter>().is_ok() => {
            ParseErrorKind::LevelWithoutRate(item.to_owned())
        }
        None if item.contains('[') => ParseErrorKind::MissingRate,
        None => ParseErrorKind::NotARate(item.to_owned()),
    }
}
