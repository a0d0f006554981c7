//! [`Capture`]: which spans capture context, and how much they keep.

use tracing_core::Level;

use crate::directive::capture_spec::{CaptureSettings, CaptureSpec};
use crate::error::SettingError;

/// Error-triggered context, as given to
/// [`SamplingFilterBuilder::capture`](crate::SamplingFilterBuilder::capture):
/// which spans capture the sampled-out lines written inside them, what writes
/// them, and the bounds on what they hold. Checked by the builder's `parse`
/// (or `from_env`, `split`): a bad name or a bound of 0 is a
/// [`SettingError`] naming the setting.
///
/// Spans can also be named in the directives (`+request`, `+{request_id}`,
/// `+request{request_id}`); both lists apply. Nothing is captured unless a
/// [`CaptureWriter`](super::CaptureWriter) wraps the filtered layer's writer
/// and a [`CaptureLayer`](super::CaptureLayer) the layer (see [the module
/// docs](super)).
///
/// ```
/// use sampling_layer::{capture::Capture, SamplingFilter};
/// use tracing::Level;
///
/// let sampler = SamplingFilter::builder()
///     .capture(Capture::default().span("request").trigger(Level::WARN).span_lines(200))
///     .parse("app=0.01")
///     .unwrap();
/// # drop(sampler);
/// let e = SamplingFilter::builder()
///     .capture(Capture::default().span("request").span_lines(0))
///     .parse("app=0.01")
///     .unwrap_err();
/// assert!(e.to_string().contains("capture.span_lines"));
/// ```
#[derive(Debug, Clone, Default)]
#[must_use = "capture does nothing until it is given to `SamplingFilterBuilder::capture`"]
pub struct Capture {
    specs: Vec<(Option<String>, Option<String>)>,
    settings: CaptureSettings,
}

impl Capture {
    /// Spans named `name` capture; the directive `+name` does the same.
    pub fn span(mut self, name: &str) -> Self {
        self.specs.push((Some(name.to_owned()), None));
        self
    }

    /// Spans that carry the field `field` (say `request_id`) capture; the
    /// directive `+{field}` does the same.
    pub fn field(mut self, field: &str) -> Self {
        self.specs.push((None, Some(field.to_owned())));
        self
    }

    /// Spans named `name` that carry the field `field` capture; the directive
    /// `+name{field}` does the same.
    pub fn span_with_field(mut self, name: &str, field: &str) -> Self {
        self.specs
            .push((Some(name.to_owned()), Some(field.to_owned())));
        self
    }

    /// A line at this level or more severe, written inside a capturing span,
    /// writes the span's captured lines ahead of it. Default `ERROR`.
    pub fn trigger(mut self, level: Level) -> Self {
        self.settings.trigger = level;
        self
    }

    /// The most lines one span keeps (the newest; older ones are dropped and
    /// counted). Default 1 000.
    pub fn span_lines(mut self, n: usize) -> Self {
        self.settings.span_lines = n;
        self
    }

    /// The most bytes one span's lines hold (the newest). Default 256 KiB.
    pub fn span_bytes(mut self, n: usize) -> Self {
        self.settings.span_bytes = n;
        self
    }

    /// The most bytes all spans' buffers hold together; past it the oldest
    /// spans' buffers are dropped whole (counted). Default 16 MiB.
    pub fn total_bytes(mut self, n: usize) -> Self {
        self.settings.total_bytes = n;
        self
    }

    /// The settings the sampler runs with, or the first bad one.
    pub(crate) fn validate(self) -> Result<CaptureSettings, SettingError> {
        let mut settings = self.settings;
        for (name, field) in &self.specs {
            let spec = CaptureSpec::new(name.as_deref(), field.as_deref()).map_err(|_| {
                SettingError::new(
                    "capture.span / capture.field",
                    "a non-empty name without whitespace or any of [ ] = @ , { } +",
                )
            })?;
            if !settings.specs.contains(&spec) {
                settings.specs.push(spec);
            }
        }
        let bounds = [
            ("capture.span_lines", settings.span_lines),
            ("capture.span_bytes", settings.span_bytes),
            ("capture.total_bytes", settings.total_bytes),
        ];
        if let Some((setting, _)) = bounds.iter().find(|(_, n)| *n == 0) {
            return Err(SettingError::new(setting, "must be at least 1"));
        }
        Ok(settings)
    }
}
