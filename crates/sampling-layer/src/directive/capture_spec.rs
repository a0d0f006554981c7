//! Which spans capture, and the builder's capture settings.

use std::fmt;

use tracing_core::{Level, Metadata};

use crate::error::ParseErrorKind;

/// A kind of span that captures: by name, by a field it carries, or both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CaptureSpec {
    name: Option<Box<str>>,
    field: Option<Box<str>>,
}

impl CaptureSpec {
    pub(crate) fn new(name: Option<&str>, field: Option<&str>) -> Result<Self, ParseErrorKind> {
        let ok = |s: &str| {
            !s.is_empty()
                && s.chars().all(|c| {
                    !c.is_whitespace()
                        && !matches!(c, '[' | ']' | '=' | '@' | ',' | '{' | '}' | '+')
                })
        };
        if (name.is_none() && field.is_none()) || !name.is_none_or(ok) || !field.is_none_or(ok) {
            let text = match (name, field) {
                (n, Some(f)) => format!("{}{{{f}}}", n.unwrap_or_default()),
                (n, None) => n.unwrap_or_default().to_owned(),
            };
            return Err(ParseErrorKind::InvalidCapture(text));
        }
        Ok(CaptureSpec {
            name: name.map(Into::into),
            field: field.map(Into::into),
        })
    }

    /// Parses what follows the `+` of a capture item: `name`, `{field}` or
    /// `name{field}`.
    pub(crate) fn parse(rest: &str) -> Result<Self, ParseErrorKind> {
        let bad = || ParseErrorKind::InvalidCapture(rest.to_owned());
        match rest.split_once('{') {
            None => CaptureSpec::new(Some(rest), None),
            Some((name, tail)) => {
                let field = tail.strip_suffix('}').ok_or_else(bad)?;
                let name = (!name.is_empty()).then_some(name);
                CaptureSpec::new(name, Some(field)).map_err(|_| bad())
            }
        }
    }

    /// Whether a span with this metadata captures.
    pub(crate) fn matches(&self, meta: &Metadata<'_>) -> bool {
        self.name.as_deref().is_none_or(|n| meta.name() == n)
            && self
                .field
                .as_deref()
                .is_none_or(|f| meta.fields().field(f).is_some())
    }
}

impl fmt::Display for CaptureSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("+")?;
        if let Some(n) = &self.name {
            f.write_str(n)?;
        }
        if let Some(x) = &self.field {
            write!(f, "{{{x}}}")?;
        }
        Ok(())
    }
}

/// The builder's capture settings.
#[derive(Debug, Clone)]
pub(crate) struct CaptureSettings {
    /// Specs set with the builder (directive specs come with each set).
    pub(crate) specs: Vec<CaptureSpec>,
    /// A line at this level or more severe flushes the span's buffer.
    pub(crate) trigger: Level,
    /// Lines kept per span (the newest).
    pub(crate) span_lines: usize,
    /// Bytes kept per span (the newest lines), as counted by the store.
    pub(crate) span_bytes: usize,
    /// Bytes across every span's buffer; past it the oldest buffers go.
    pub(crate) total_bytes: usize,
}

/// Default [`CaptureSettings::span_lines`].
pub(crate) const DEFAULT_SPAN_LINES: usize = 1_000;
/// Default [`CaptureSettings::span_bytes`]: 256 KiB.
pub(crate) const DEFAULT_SPAN_BYTES: usize = 256 << 10;
/// Default [`CaptureSettings::total_bytes`]: 16 MiB.
pub(crate) const DEFAULT_TOTAL_BYTES: usize = 16 << 20;

impl Default for CaptureSettings {
    fn default() -> Self {
        CaptureSettings {
            specs: Vec::new(),
            trigger: Level::ERROR,
            span_lines: DEFAULT_SPAN_LINES,
            span_bytes: DEFAULT_SPAN_BYTES,
            total_bytes: DEFAULT_TOTAL_BYTES,
        }
    }
}

#[cfg(all(test, not(sampling_layer_loom)))]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_forms_and_refuses_the_rest() {
        for ok in ["request", "{request_id}", "request{request_id}"] {
            assert_eq!(
                CaptureSpec::parse(ok).unwrap().to_string(),
                format!("+{ok}")
            );
        }
        for bad in ["", "{}", "a b", "req{id", "req{id}x", "a=b", "{a}{b}", "+x"] {
            assert_eq!(
                CaptureSpec::parse(bad),
                Err(ParseErrorKind::InvalidCapture(bad.to_owned())),
                "{bad}"
            );
        }
    }
}
