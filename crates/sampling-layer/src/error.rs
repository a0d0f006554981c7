//! Errors: bad directive strings and bad builder settings.

use std::{error::Error, fmt};

/// A directive string that could not be parsed. Names the offending directive and
/// what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    directive: String,
    kind: ParseErrorKind,
}

/// What was wrong with a directive (or with a builder setting).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// `target=` with nothing after the `=`, or an empty rate.
    MissingRate,
    /// Not a decimal, percentage or fraction (`abc`, `NaN`, `1e-3`).
    NotARate(String),
    /// Below 0 or above 1 (`1.5`, `-0.1`, `101%`, `3/2`).
    OutOfRange(String),
    /// `1/0`.
    ZeroDenominator,
    /// More decimal places than the sampler can count exactly (7).
    TooPrecise(String),
    /// A fraction whose reduced denominator is above `2^24 - 1`.
    DenominatorTooLarge(String),
    /// `target[key` without the closing bracket, or text after it.
    UnclosedBracket,
    /// `target[]=rate`.
    EmptyKey,
    /// A target containing characters no target has (spaces, brackets, `=`).
    InvalidTarget(String),
    /// `x@rate` where `x` is not a level (`trace` .. `error`, `off`).
    InvalidLevel(String),
    /// A level with no rate (`info`, `app=debug`): that is an `EnvFilter`
    /// directive; use [`split_directives`](crate::split_directives) to
    /// configure both from one string.
    LevelWithoutRate(String),
    /// `target[key]=level@rate`: levels apply to targets, not to keys.
    KeyWithLevel,
    /// A builder setting out of range (`max_keys(0)`, a breaker threshold of 0).
    InvalidSetting(String),
    /// The environment variable is set but is not valid Unicode.
    InvalidEnv(String),
}

impl ParseError {
    pub(crate) fn new(directive: &str, kind: ParseErrorKind) -> Self {
        ParseError {
            directive: directive.to_owned(),
            kind,
        }
    }

    /// The directive (one comma-separated item) that was rejected.
    pub fn directive(&self) -> &str {
        &self.directive
    }

    /// What was wrong with it.
    pub fn kind(&self) -> &ParseErrorKind {
        &self.kind
    }
}

impl fmt::Display for ParseErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use ParseErrorKind::*;
        match self {
            MissingRate => f.write_str("no rate after `=`"),
            NotARate(s) => write!(
                f,
                "`{s}` is not a rate (use a decimal like 0.05, a percentage like 5% or a fraction like 1/20)"
            ),
            OutOfRange(s) => write!(f, "rate `{s}` is outside [0, 1]"),
            ZeroDenominator => f.write_str("the fraction has a zero denominator"),
            TooPrecise(s) => write!(f, "rate `{s}` has more than 7 decimal places"),
            DenominatorTooLarge(s) => write!(
                f,
                "rate `{s}` needs a denominator above 16777215 (the smallest rate is 1/16777215)"
            ),
            UnclosedBracket => f.write_str("`[` is not closed by a `]` at the end of the target"),
            EmptyKey => f.write_str("the key between `[` and `]` is empty"),
            InvalidTarget(t) => write!(f, "`{t}` is not a valid target"),
            InvalidLevel(l) => write!(
                f,
                "`{l}` is not a level (trace, debug, info, warn, error or off)"
            ),
            LevelWithoutRate(l) => write!(
                f,
                "`{l}` is a level with no `@rate`; level directives belong to EnvFilter (see split_directives)"
            ),
            KeyWithLevel => f.write_str("a `[key]` directive takes a rate only, not `level@rate`"),
            InvalidSetting(s) => f.write_str(s),
            InvalidEnv(v) => write!(f, "environment variable `{v}` is not valid Unicode"),
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            ParseErrorKind::InvalidSetting(_) | ParseErrorKind::InvalidEnv(_) => {
                write!(f, "invalid sampler configuration: {}", self.kind)
            }
            _ => write!(
                f,
                "invalid sampling directive `{}`: {}",
                self.directive, self.kind
            ),
        }
    }
}

impl Error for ParseError {}
