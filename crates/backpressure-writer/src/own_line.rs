//! Lines that are not the application's: the drop report the worker writes, and lines that
//! companion crates write through the writer (`logmetrics`' start-up self-check). One
//! record, [`OwnLine`], and one choice of form, [`OwnLineFormat`], so that such lines can
//! match the rest of the output (a JSON-lines file stays JSON lines).

use std::fmt::{self, Write as _};
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use tracing_core::Level;

/// One line the writer (or a companion crate) writes of its own accord.
///
/// Built with [`OwnLine::new`] and the `with_*` setters; read with the getters. Only what
/// a line says is here; how it looks is the [`OwnLineFormat`]'s business.
#[derive(Debug, Clone, Copy)]
pub struct OwnLine<'a> {
    level: Level,
    name: &'a str,
    target: &'a str,
    message: &'a str,
    fields: &'a [(&'a str, u64)],
    time: SystemTime,
}

impl<'a> OwnLine<'a> {
    /// A line from the crate called `name` (e.g. `"backpressure-writer"`, as in the text
    /// form's prefix), whose `tracing` target is `target` (e.g. `"backpressure_writer"`,
    /// as in the JSON form), with no fields, stamped now.
    pub fn new(level: Level, name: &'a str, target: &'a str, message: &'a str) -> Self {
        OwnLine {
            level,
            name,
            target,
            message,
            fields: &[],
            time: SystemTime::now(),
        }
    }

    /// Named counts that go with the message (the drop report's per-reason counts).
    pub fn with_fields(mut self, fields: &'a [(&'a str, u64)]) -> Self {
        self.fields = fields;
        self
    }

    /// The line's timestamp (default: when [`new`](Self::new) was called).
    pub fn with_time(mut self, time: SystemTime) -> Self {
        self.time = time;
        self
    }

    /// How severe: the drop report is `WARN`, the self-check `INFO`.
    pub fn level(&self) -> Level {
        self.level
    }

    /// The crate's name, with hyphens.
    pub fn name(&self) -> &'a str {
        self.name
    }

    /// The `tracing` target the line would have had as an event.
    pub fn target(&self) -> &'a str {
        self.target
    }

    /// What the line says.
    pub fn message(&self) -> &'a str {
        self.message
    }

    /// Named counts, in a fixed order.
    pub fn fields(&self) -> &'a [(&'a str, u64)] {
        self.fields
    }

    /// When the line was made.
    pub fn time(&self) -> SystemTime {
        self.time
    }
}

type CustomFn = dyn Fn(&OwnLine<'_>, &mut String) + Send + Sync;

/// How [`OwnLine`]s are written: the drop report, and through
/// [`NonBlocking::own_line_format`](crate::NonBlocking::own_line_format) the lines of
/// companion crates such as `logmetrics`' self-check. Set with
/// [`NonBlockingBuilder::own_line_format`](crate::NonBlockingBuilder::own_line_format).
///
/// - [`Text`](Self::Text), the default: `{name}: {message}`, then ` (k=v k=v ...)` when the
///   line has fields ([the drop report](crate::stats#the-drop-report) shows one).
/// - [`Json`](Self::Json): one object laid out as `tracing_subscriber::fmt::layer().json()`
///   lays out an event with its default settings, keys in the same order: `timestamp`
///   (RFC 3339 in UTC with microseconds, as fmt's default timer), `level`, `fields` (the
///   `message` first, then the line's fields as numbers), `target`. The drop report:
///
///   ```text
///   {"timestamp":"2026-11-29T06:54:03.123456Z","level":"WARN","fields":{"message":"dropped 3 lines since last report","newest":3,"oldest":0,"timeout":0,"keep_timeout":0,"shutdown":0,"worker_gone":0,"write_failed":0},"target":"backpressure_writer"}
///   ```
///
/// - [`Custom`](Self::Custom): a closure (see [`custom`](Self::custom)) appends the line to
///   an empty `String`; a missing final `\n` is added. It should write one line without
///   inner newlines. If it writes nothing or panics, the line is written in the text form
///   instead: these lines report losses, so they are never lost themselves.
#[derive(Clone, Default)]
#[non_exhaustive]
pub enum OwnLineFormat {
    /// Plain text (the default).
    #[default]
    Text,
    /// One JSON object per line, in `fmt::layer().json()`'s layout.
    Json,
    /// A user closure; build it with [`OwnLineFormat::custom`].
    Custom(Arc<CustomFn>),
}

impl fmt::Debug for OwnLineFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OwnLineFormat::Text => f.write_str("Text"),
            OwnLineFormat::Json => f.write_str("Json"),
            OwnLineFormat::Custom(_) => f.write_str("Custom(..)"),
        }
    }
}

impl OwnLineFormat {
    /// A format that hands each line to `f`, which appends it to the (empty) `String`.
    pub fn custom(f: impl Fn(&OwnLine<'_>, &mut String) + Send + Sync + 'static) -> Self {
        OwnLineFormat::Custom(Arc::new(f))
    }

    /// Replaces the contents of `out` with `line` in this form: exactly one line, ending
    /// with `\n`.
    pub fn format(&self, line: &OwnLine<'_>, out: &mut String) {
        out.clear();
        match self {
            OwnLineFormat::Text => text(line, out),
            OwnLineFormat::Json => json(line, out),
            OwnLineFormat::Custom(f) => {
                // The closure runs on the worker thread for the drop report: a panic there
                // must not take the worker down.
                let ok = panic::catch_unwind(AssertUnwindSafe(|| f(line, out))).is_ok();
                if !ok || out.is_empty() {
                    out.clear();
                    text(line, out);
                }
            }
        }
        if !out.ends_with('\n') {
            out.push('\n');
        }
    }
}

// Writing into a `String` cannot fail, hence the ignored results below.

fn text(line: &OwnLine<'_>, out: &mut String) {
    let _ = write!(out, "{}: {}", line.name, line.message);
    for (i, (k, v)) in line.fields.iter().enumerate() {
        let open = if i == 0 { " (" } else { " " };
        let _ = write!(out, "{open}{k}={v}");
    }
    if !line.fields.is_empty() {
        out.push(')');
    }
}

fn json(line: &OwnLine<'_>, out: &mut String) {
    out.push_str("{\"timestamp\":\"");
    rfc3339(line.time, out);
    let _ = write!(
        out,
        "\",\"level\":\"{}\",\"fields\":{{\"message\":",
        line.level
    );
    json_str(line.message, out);
    for (k, v) in line.fields {
        out.push(',');
        json_str(k, out);
        let _ = write!(out, ":{v}");
    }
    out.push_str("},\"target\":");
    json_str(line.target, out);
    out.push('}');
}

/// `s` as a JSON string, quotes included.
fn json_str(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `YYYY-MM-DDTHH:MM:SS.ffffffZ`, as tracing-subscriber's default `SystemTime` timer.
fn rfc3339(t: SystemTime, out: &mut String) {
    let (secs, micros) = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => (d.as_secs() as i64, d.subsec_micros()),
        Err(e) => {
            // Before 1970: step back to the whole second below, then count forward.
            let d = e.duration();
            let (s, us) = (d.as_secs() as i64, d.subsec_micros());
            if us == 0 {
                (-s, 0)
            } else {
                (-s - 1, 1_000_000 - us)
            }
        }
    };
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    let _ = write!(
        out,
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{micros:06}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    );
}

/// The proleptic Gregorian date `days` after 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(secs: u64, micros: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_micros(micros)
    }

    #[test]
    fn timestamps_match_fmt_default_timer() {
        let mut s = String::new();
        for (t, want) in [
            (at(0, 0), "1970-01-01T00:00:00.000000Z"),
            (at(951_782_400, 7), "2000-02-29T00:00:00.000007Z"),
            (at(1_796_022_843, 123_456), "2026-11-30T07:14:03.123456Z"),
            (at(4_102_444_799, 999_999), "2099-12-31T23:59:59.999999Z"),
            (
                UNIX_EPOCH - Duration::from_micros(1),
                "1969-12-31T23:59:59.999999Z",
            ),
        ] {
            s.clear();
            rfc3339(t, &mut s);
            assert_eq!(s, want);
        }
    }

    #[test]
    fn json_strings_are_escaped() {
        let mut s = String::new();
        json_str("a\"b\\c\nd\u{1}é", &mut s);
        assert_eq!(s, r#""a\"b\\c\nd\u0001é""#);
    }

    #[test]
    fn text_and_json_forms() {
        let fields = [("newest", 2), ("oldest", 1)];
        let line = OwnLine::new(Level::WARN, "my-crate", "my_crate", "said \"hi\"")
            .with_fields(&fields)
            .with_time(at(0, 5));
        let mut s = String::new();
        OwnLineFormat::Text.format(&line, &mut s);
        assert_eq!(s, "my-crate: said \"hi\" (newest=2 oldest=1)\n");
        OwnLineFormat::Json.format(&line, &mut s);
        assert_eq!(
            s,
            "{\"timestamp\":\"1970-01-01T00:00:00.000005Z\",\"level\":\"WARN\",\"fields\":\
             {\"message\":\"said \\\"hi\\\"\",\"newest\":2,\"oldest\":1},\"target\":\"my_crate\"}\n"
        );
        let bare = OwnLine::new(Level::INFO, "my-crate", "my_crate", "ok");
        OwnLineFormat::Text.format(&bare, &mut s);
        assert_eq!(s, "my-crate: ok\n");
    }

    #[test]
    fn a_custom_closure_that_fails_falls_back_to_text() {
        let line = OwnLine::new(Level::INFO, "c", "c", "m");
        let mut s = String::from("old contents");
        OwnLineFormat::custom(|l, out| out.push_str(l.message())).format(&line, &mut s);
        assert_eq!(s, "m\n");
        OwnLineFormat::custom(|_, _| {}).format(&line, &mut s);
        assert_eq!(s, "c: m\n");
        OwnLineFormat::custom(|_, out| {
            out.push_str("half");
            panic!("formatter bug")
        })
        .format(&line, &mut s);
        assert_eq!(s, "c: m\n");
        assert_eq!(
            format!("{:?}", OwnLineFormat::custom(|_, _| {})),
            "Custom(..)"
        );
    }
}
