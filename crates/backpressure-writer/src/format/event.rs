//! A drop-in for `fmt::format()` (the full text format) without the ANSI machinery.

use std::fmt;

use tracing_core::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::{Format, Full, Writer};
use tracing_subscriber::fmt::time::FormatTime;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

use super::CachedSystemTime;

/// `fmt`'s default event format, [`fmt::format()`](tracing_subscriber::fmt::format()),
/// printing the same bytes — timestamp, level, the span scope with each span's fields,
/// target, fields — with less work per line when ANSI colours are off.
///
/// Off, a line is written as its parts: no `nu_ansi_term` styles that print nothing, no
/// padding machinery for the level, the span names and the target as plain strings. The
/// timer is [`CachedSystemTime`] unless [`with_timer`](Self::with_timer) says otherwise.
///
/// It prints the default layout only: the options of `fmt::format()` that change it
/// (thread names and ids, file and line, no target, no level, no time) are not offered;
/// use `fmt::format()` for those. Two kinds of line are handed to `fmt::format()` with the
/// same timer, so they cannot differ either: every line when the writer has ANSI colours
/// on, and `log` records seen through `tracing-log` (whose metadata `fmt` takes from
/// the record).
///
/// ```
/// use backpressure_writer::format::{PlainFields, PlainFull};
/// use tracing_subscriber::fmt;
///
/// let _layer = fmt::layer::<tracing_subscriber::Registry>()
///     .with_ansi(false)
///     .fmt_fields(PlainFields::new())
///     .event_format(PlainFull::new());
/// ```
#[derive(Debug, Clone)]
pub struct PlainFull<T = CachedSystemTime> {
    timer: T,
    /// `fmt`'s own format with the same timer, for the lines handed to it.
    stock: Format<Full, T>,
}

impl PlainFull {
    /// The full text format with the [`CachedSystemTime`] timer.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Default for PlainFull {
    fn default() -> Self {
        PlainFull {
            timer: CachedSystemTime::new(),
            stock: Format::default().with_timer(CachedSystemTime::new()),
        }
    }
}

impl<T> PlainFull<T> {
    /// The same format with another timer (any of `fmt::time`'s, or your own).
    pub fn with_timer<T2: FormatTime + Clone>(self, timer: T2) -> PlainFull<T2> {
        PlainFull {
            stock: Format::default().with_timer(timer.clone()),
            timer,
        }
    }
}

/// The level as `fmt` pads it to five columns, and the space after it.
fn level(level: &Level) -> &'static str {
    match *level {
        Level::TRACE => "TRACE ",
        Level::DEBUG => "DEBUG ",
        Level::INFO => " INFO ",
        Level::WARN => " WARN ",
        Level::ERROR => "ERROR ",
    }
}

impl<S, N, T> FormatEvent<S, N> for PlainFull<T>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    T: FormatTime,
{
    // Costs the timer, a handful of `write_str` calls into the line buffer, one
    // extensions read-lock per span in scope, and the fields; no allocation (with
    // tracing-subscriber's default `smallvec` feature, which walks the scope from the
    // root on the stack, as for `fmt`'s own format).
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        // `tracing-log` names every event it makes so; `fmt` replaces their metadata.
        if writer.has_ansi_escapes() || meta.name() == "log event" {
            return self.stock.format_event(ctx, writer, event);
        }
        // As `fmt`: a failing clock does not lose the line.
        if self.timer.format_time(&mut writer).is_err() {
            writer.write_str("<unknown time>")?;
        }
        writer.write_char(' ')?;
        writer.write_str(level(meta.level()))?;
        if let Some(scope) = ctx.event_scope() {
            let mut seen = false;
            for span in scope.from_root() {
                writer.write_str(span.metadata().name())?;
                seen = true;
                let ext = span.extensions();
                if let Some(fields) = ext.get::<FormattedFields<N>>() {
                    if !fields.is_empty() {
                        writer.write_char('{')?;
                        writer.write_str(fields)?;
                        writer.write_char('}')?;
                    }
                }
                writer.write_char(':')?;
            }
            if seen {
                writer.write_char(' ')?;
            }
        }
        writer.write_str(meta.target())?;
        writer.write_str(": ")?;
        ctx.format_fields(writer.by_ref(), event)?;
        writer.write_char('\n')
    }
}
