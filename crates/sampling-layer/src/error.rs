//! Errors: bad directive strings ([`ParseError`]), bad builder settings
//! ([`SettingError`]), and what a builder reports, naming the environment
//! variable it read ([`BuildError`]).

use std::{error::Error, fmt, sync::Arc};

/// A directive string that could not be parsed. Names the offending directive and
/// what is wrong with it; [`source`](Error::source) is the error of another
/// parser where one was involved (`EnvFilter`'s, for
/// [`split_directives`](crate::split_directives)).
#[derive(Debug, Clone)]
pub struct ParseError {
    directive: String,
    kind: ParseErrorKind,
    /// Refused by the run-time level parser (`level::Levels`), not the sampler's.
    levels: bool,
    source: Option<Arc<dyn Error + Send + Sync>>,
}

/// What was wrong with a directive.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// `target=`, `target[key]` or `level@` with no rate. (`EnvFilter` reads
    /// `target=` as `target=trace`; [`split_directives`](crate::split_directives)
    /// forwards it there.)
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
    /// `target[name]=level@rate`: brackets before a level are `EnvFilter`'s span
    /// filter, before a rate the sampler's key; one item cannot be both.
    KeyWithLevel,
    /// `@rate` or `target=@rate`: no level before the `@`.
    EmptyLevel,
    /// `target=2` .. `target=5`: a number is always a rate here, never
    /// `EnvFilter`'s numeric level.
    NumericLevel(String),
    /// `target[{field}]=rate`: field filters are `EnvFilter`'s and take a level.
    FieldFilterWithRate,
    /// The whole string is longer than [`MAX_DIRECTIVES_LEN`](crate::limits::MAX_DIRECTIVES_LEN)
    /// bytes (its length).
    TooLong(usize),
    /// The directive would be the [`MAX_TARGETS`](crate::limits::MAX_TARGETS)` + 1`th distinct target.
    TooManyTargets,
    /// More level directives than `split_directives` hands to `EnvFilter` (4 096).
    TooManyLevelDirectives,
    /// `EnvFilter` refused the directive; its error is the [`source`](Error::source).
    EnvFilter,
    /// A budget that is not `<integer>/s` or `<integer>/min` (optionally
    /// followed by `/fleet`) with an integer from 1 to 1 000 000 000 (`0/s`,
    /// `1.5/s`, `5/hour`, `5/s/pod`).
    InvalidBudget(String),
    /// `target[key]=200/s`: a budget applies to a whole target (shared out
    /// among its keys); a `[key]` directive takes a rate.
    BudgetOnKey,
    /// A budget in a set decided by a [`KeyExtractor`](crate::extract::KeyExtractor)
    /// (the trace decides; a budget would drop logs of traces the policy keeps).
    /// The policy's name is the field.
    BudgetWithKeyExtractor(String),
    /// A fleet budget (`app=10000/s/fleet`) in a sampler built without a fleet
    /// size ([`SamplingFilterBuilder::fleet_size`](crate::SamplingFilterBuilder::fleet_size)).
    FleetBudgetWithoutSize,
    // Capture: the `+span{field}` item.
    /// `+…` that is not `+name`, `+{field}` or `+name{field}` (the text after `+`).
    InvalidCapture(String),
    /// More than 64 distinct capture items in one set.
    TooManyCaptures,
    /// A run-time level directive (`level::Levels`) with an empty target
    /// (`=debug`).
    EmptyTarget,
    /// A run-time level directive with a span or field filter
    /// (`target[span{field=v}]=level`, `[{field}]=level`): those match per
    /// span and stay with an `EnvFilter`.
    SpanFilterInLevels,
    /// A run-time level directive that names a target and no level (`app`;
    /// `EnvFilter` reads it as `app=trace`, which a typo of a level would
    /// turn into).
    TargetWithoutLevel(String),
    /// A repeat directive (`target=first 5/1s`) that cannot be read; the
    /// text says what is wrong (see [`repeat`](crate::repeat)).
    InvalidRepeat(String),
}

impl ParseError {
    pub(crate) fn new(directive: &str, kind: ParseErrorKind) -> Self {
        ParseError {
            directive: directive.to_owned(),
            kind,
            levels: false,
            source: None,
        }
    }

    /// An error of the run-time level parser: its message says "level directive".
    pub(crate) fn in_levels(mut self) -> Self {
        self.levels = true;
        self
    }

    #[cfg_attr(not(feature = "env-filter"), allow(dead_code))] // only the splitter wraps
    pub(crate) fn with_source(mut self, source: impl Error + Send + Sync + 'static) -> Self {
        self.source = Some(Arc::new(source));
        self
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
            MissingRate => f.write_str("no rate (write `target=rate`, such as `app=0.05`)"),
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
            InvalidCapture(c) => write!(
                f,
                "`+{c}` is not a capture directive (write `+span_name`, `+{{field}}` or `+span_name{{field}}`)"
            ),
            TooManyCaptures => f.write_str("more than 64 capture items (`+…`) in one directive set"),
            InvalidRepeat(why) => write!(f, "repeat directive: {why}"),
            InvalidLevel(l) => write!(
                f,
                "`{l}` is not a level (trace, debug, info, warn, error or off)"
            ),
            LevelWithoutRate(l) => write!(
                f,
                "`{l}` is a level with no `@rate`; level directives belong to EnvFilter (see split_directives)"
            ),
            KeyWithLevel => f.write_str(
                "a `[key]` directive takes a rate only, not `level@rate`: before a level, \
                 `[name]` is EnvFilter's span filter; write `target[name]=level` and \
                 `target[key]=rate` as two items",
            ),
            EmptyLevel => f.write_str(
                "no level before `@` (write `info@0.05`, or `0.05` alone for a rate)",
            ),
            NumericLevel(n) => write!(
                f,
                "rate `{n}` is outside [0, 1]: a number is a sampling rate here, not \
                 EnvFilter's numeric level (write `{}` for the level)",
                n.parse::<tracing_core::LevelFilter>()
                    .map_or_else(|_| n.clone(), |l| l.to_string())
            ),
            FieldFilterWithRate => f.write_str(
                "field filters (`[{field}]`, `[span{field=value}]`) belong to EnvFilter \
                 and take a level, not a rate",
            ),
            TooLong(len) => write!(
                f,
                "the directive string is {len} bytes, more than the {} accepted",
                crate::limits::MAX_DIRECTIVES_LEN
            ),
            TooManyTargets => write!(
                f,
                "more than {} distinct targets in one directive set (each needs one of \
                 the sampler's 4096 stats rows; one is the default's)",
                crate::limits::MAX_TARGETS
            ),
            TooManyLevelDirectives => write!(
                f,
                "more than {} level directives",
                crate::limits::MAX_LEVEL_DIRECTIVES
            ),
            InvalidBudget(b) => write!(
                f,
                "`{b}` is not a budget (write lines per second or per minute as an integer \
                 from 1 to 1000000000: `200/s`, `30/min`, or `10000/s/fleet` for the fleet)"
            ),
            BudgetOnKey => f.write_str(
                "a budget applies to a target, not to one `[key]` (write `target=200/s`; \
                 a `[key]` directive takes a rate)",
            ),
            FleetBudgetWithoutSize => f.write_str(
                "a fleet budget (`/fleet`) is shared out by the fleet's size, and this sampler \
                 has none: give the builder `fleet_size(|| members)`, or write a budget for \
                 this process (`200/s`)",
            ),
            EnvFilter => f.write_str("EnvFilter refused it"),
            EmptyTarget => {
                f.write_str("the target before `=` is empty (write `target=level`, or a level alone for the default)")
            }
            SpanFilterInLevels => f.write_str(
                "span and field filters (`target[span{field=value}]=level`) are not run-time \
                 levels: keep them in an EnvFilter layered beside the levels, and change \
                 plain `target=level` directives here",
            ),
            TargetWithoutLevel(t) => write!(
                f,
                "`{t}` is neither a level (trace, debug, info, warn, error, off) nor \
                 `target=level` (write `{t}=trace` to enable every level of a target)"
            ),
            BudgetWithKeyExtractor(policy) => write!(
                f,
                "a budget cannot be combined with a key extractor ({policy}): it would \
                 drop logs of traces the policy keeps"
            ),
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            _ if self.levels && self.directive.is_empty() => {
                write!(f, "level directives refused: {}", self.kind)
            }
            ParseErrorKind::TooLong(_) | ParseErrorKind::TooManyTargets
                if self.directive.is_empty() =>
            {
                write!(f, "directive string refused: {}", self.kind)
            }
            _ if self.levels || self.kind == ParseErrorKind::EnvFilter => {
                write!(
                    f,
                    "invalid level directive `{}`: {}",
                    self.directive, self.kind
                )
            }
            _ => write!(
                f,
                "invalid sampling directive `{}`: {}",
                self.directive, self.kind
            ),
        }
    }
}

impl Error for ParseError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.source.as_deref().map(|e| e as &(dyn Error + 'static))
    }
}

/// Equal if the directive and the kind are (the sources are not compared).
impl PartialEq for ParseError {
    fn eq(&self, other: &Self) -> bool {
        self.directive == other.directive && self.kind == other.kind
    }
}

impl Eq for ParseError {}

/// A builder setting out of range (`max_keys(0)`, a breaker threshold of 0):
/// names the setting and what it must be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingError {
    setting: &'static str,
    requirement: &'static str,
}

impl SettingError {
    pub(crate) fn new(setting: &'static str, requirement: &'static str) -> Self {
        SettingError {
            setting,
            requirement,
        }
    }

    /// The setting, as the builder method is named (`max_keys`,
    /// `breaker.threshold_per_sec`).
    pub fn setting(&self) -> &str {
        self.setting
    }
}

impl fmt::Display for SettingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid sampler setting `{}`: {}",
            self.setting, self.requirement
        )
    }
}

impl Error for SettingError {}

/// Why a [`SamplingFilterBuilder`](crate::SamplingFilterBuilder) could not
/// build a sampler: a directive, a setting, or the environment variable
/// itself. When the directives came from the environment
/// ([`from_env`](crate::SamplingFilterBuilder::from_env)), the message starts
/// with the variable's name and [`env_var`](Self::env_var) returns it.
#[derive(Debug, Clone)]
pub struct BuildError {
    kind: BuildErrorKind,
    env_var: Option<String>,
    source: Option<Arc<dyn Error + Send + Sync>>,
}

/// What a [`BuildError`] is about.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BuildErrorKind {
    /// A directive was refused.
    Directive(ParseError),
    /// A setting is out of range.
    Setting(SettingError),
    /// The environment variable is set but is not valid Unicode.
    NotUnicode,
}

impl BuildError {
    pub(crate) fn in_env(mut self, var: &str) -> Self {
        self.env_var = Some(var.to_owned());
        self
    }

    pub(crate) fn not_unicode(var: &str, source: std::env::VarError) -> Self {
        BuildError {
            kind: BuildErrorKind::NotUnicode,
            env_var: Some(var.to_owned()),
            source: Some(Arc::new(source)),
        }
    }

    /// What went wrong.
    pub fn kind(&self) -> &BuildErrorKind {
        &self.kind
    }

    /// The environment variable the directives were read from, if they were.
    pub fn env_var(&self) -> Option<&str> {
        self.env_var.as_deref()
    }

    /// The directive error, if this is one.
    pub fn parse_error(&self) -> Option<&ParseError> {
        match &self.kind {
            BuildErrorKind::Directive(e) => Some(e),
            _ => None,
        }
    }
}

impl From<ParseError> for BuildError {
    fn from(e: ParseError) -> Self {
        BuildError {
            kind: BuildErrorKind::Directive(e),
            env_var: None,
            source: None,
        }
    }
}

impl From<SettingError> for BuildError {
    fn from(e: SettingError) -> Self {
        BuildError {
            kind: BuildErrorKind::Setting(e),
            env_var: None,
            source: None,
        }
    }
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.kind, &self.env_var) {
            (BuildErrorKind::NotUnicode, var) => write!(
                f,
                "environment variable `{}` is not valid Unicode",
                var.as_deref().unwrap_or_default()
            ),
            (BuildErrorKind::Directive(e), Some(var)) => write!(f, "{var}: {e}"),
            (BuildErrorKind::Directive(e), None) => e.fmt(f),
            (BuildErrorKind::Setting(e), _) => e.fmt(f),
        }
    }
}

impl Error for BuildError {
    /// The directive's own source (`EnvFilter`'s error), or the `VarError`.
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match &self.kind {
            BuildErrorKind::Directive(e) => e.source(),
            _ => self.source.as_deref().map(|e| e as &(dyn Error + 'static)),
        }
    }
}
