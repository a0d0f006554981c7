//! A drop-in for `fmt::format::DefaultFields` without the ANSI machinery on plain output.

use std::cell::RefCell;
use std::fmt::{self, Write as _};
use std::sync::OnceLock;

use tracing_core::field::{Field, Visit};
use tracing_subscriber::field::{RecordFields, VisitFmt, VisitOutput};
use tracing_subscriber::fmt::format::{DefaultFields, Writer};
use tracing_subscriber::fmt::FormatFields;

/// `fmt`'s field formatter for text, [`DefaultFields`], printing the same bytes
/// (`name=value`, a space between fields, the message as written) for less.
///
/// On a writer without ANSI colours, each field is written as its parts — the name, an
/// `=`, the value — instead of through `nu_ansi_term` styles that print nothing, integers
/// and booleans without the formatting machinery, and a message that needs no escaping
/// (no ESC, BEL, BS, FF, DEL or C1 control character) in one piece rather than a
/// character at a time. With colours on it hands the fields to `DefaultFields`.
///
/// `fmt::Layer` formats a span's fields with this formatter when the span is created,
/// so a request span that no kept event ever prints is cheaper too (see
/// `docs/benchmarks.md`).
///
/// ```
/// use backpressure_writer::format::PlainFields;
/// use tracing_subscriber::fmt;
///
/// let _layer = fmt::layer::<tracing_subscriber::Registry>()
///     .with_ansi(false)
///     .fmt_fields(PlainFields::new());
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct PlainFields {
    _private: (),
}

impl PlainFields {
    /// The plain field formatter.
    pub fn new() -> Self {
        Self { _private: () }
    }
}

impl<'writer> FormatFields<'writer> for PlainFields {
    // A span's fields land in a fresh `String` that `fmt` grows piece by piece (8, 16, 32,
    // 64 bytes: four allocations for a request span's `method`, `uri` and `version`). They
    // are laid out in a reused per-thread buffer instead and handed over in one write, so
    // the span's `String` is allocated once, at its final size. For an event the copy is
    // all it costs (the line buffer is `fmt`'s own, reused).
    fn format_fields<R: RecordFields>(
        &self,
        mut writer: Writer<'writer>,
        fields: R,
    ) -> fmt::Result {
        if writer.has_ansi_escapes() {
            return DefaultFields::new().format_fields(writer, fields);
        }
        let sanitize = writer.sanitizes_ansi_escapes();
        let staged = STAGE.try_with(|stage| {
            let mut stage = stage.try_borrow_mut().ok()?;
            stage.clear();
            let result = visit(&mut *stage, sanitize, &fields);
            let written = writer.write_str(&stage);
            // A rare huge value does not keep its memory on the thread.
            if stage.capacity() > STAGE_KEEP {
                *stage = String::with_capacity(STAGE_KEEP);
            }
            Some(result.and(written))
        });
        match staged {
            Ok(Some(result)) => result,
            // A field's `Debug` logged while this thread formats already, or the thread is
            // exiting and its buffer is gone (an event logged from a destructor): write
            // straight through.
            _ => visit(&mut writer, sanitize, &fields),
        }
    }
}

/// The bytes a thread's staging buffer keeps between calls.
const STAGE_KEEP: usize = 1024;

thread_local! {
    static STAGE: RefCell<String> = const { RefCell::new(String::new()) };
}

fn visit<W: fmt::Write, R: RecordFields>(out: W, sanitize: bool, fields: &R) -> fmt::Result {
    let mut visitor = PlainVisitor::new(out, sanitize, false);
    fields.record(&mut visitor);
    visitor.finish()
}

/// Writes fields as `DefaultVisitor` does, with ANSI on or off. `fmt` only ever runs
/// it with colours off; the deferred decoder, which has no `fmt` writer to hand, runs it
/// with colours on too (the styles written as `nu_ansi_term` writes them).
pub(crate) struct PlainVisitor<W> {
    out: W,
    /// Whether the writer sanitizes messages (`fmt`'s `with_ansi_sanitization`).
    sanitize: bool,
    ansi: bool,
    is_empty: bool,
    result: fmt::Result,
}

/// `nu_ansi_term`'s italic and dimmed prefixes and its reset, as `DefaultVisitor` paints
/// a field's name and its `=`.
const ITALIC: &str = "\x1b[3m";
const DIMMED: &str = "\x1b[2m";
const RESET: &str = "\x1b[0m";

impl<W: fmt::Write> PlainVisitor<W> {
    /// A visitor writing to `out`, before any field.
    pub(crate) fn new(out: W, sanitize: bool, ansi: bool) -> Self {
        PlainVisitor {
            out,
            sanitize,
            ansi,
            is_empty: true,
            result: Ok(()),
        }
    }

    /// `false` for a field `DefaultVisitor` leaves out, after the separating space for
    /// one it writes.
    fn begin(&mut self, name: &str) -> bool {
        if self.result.is_err() || (name.starts_with("log.") && skips_log_fields()) {
            return false;
        }
        if self.is_empty {
            self.is_empty = false;
        } else {
            self.result = self.out.write_char(' ');
        }
        self.result.is_ok()
    }

    /// `name=` as `DefaultVisitor` writes it (raw identifiers without their `r#`).
    fn name(&mut self, name: &str) -> fmt::Result {
        let name = name.strip_prefix("r#").unwrap_or(name);
        if self.ansi {
            write!(self.out, "{ITALIC}{name}{RESET}{DIMMED}={RESET}")
        } else {
            self.out.write_str(name)?;
            self.out.write_char('=')
        }
    }

    /// `{:?}` of an integer is its decimal digits: laid out on the stack, one write.
    fn integer(&mut self, field: &Field, negative: bool, mut magnitude: u64) {
        if !self.begin(field.name()) {
            return;
        }
        let mut buf = [0u8; 21];
        let mut at = buf.len();
        loop {
            at -= 1;
            buf[at] = b'0' + (magnitude % 10) as u8;
            magnitude /= 10;
            if magnitude == 0 {
                break;
            }
        }
        if negative {
            at -= 1;
            buf[at] = b'-';
        }
        self.result = self.name(field.name()).and_then(|()| {
            self.out
                .write_str(std::str::from_utf8(&buf[at..]).map_err(|_| fmt::Error)?)
        });
    }
}

impl<W: fmt::Write> PlainVisitor<W> {
    /// A value its caller already formatted with `{:?}`: what `record_debug` writes for
    /// it, without the formatting machinery.
    pub(crate) fn record_printed(&mut self, field: &Field, text: &str) {
        if !self.begin(field.name()) {
            return;
        }
        self.result = if field.name() == "message" {
            if self.sanitize {
                Escaping(&mut self.out).write_str(text)
            } else {
                self.out.write_str(text)
            }
        } else {
            self.name(field.name())
                .and_then(|()| self.out.write_str(text))
        };
    }
}

/// Whether `{:?}` prints `s` as itself between quotes: printable ASCII without a quote or
/// a backslash (anything else goes through `str`'s own `Debug`).
fn quotes_plainly(s: &str) -> bool {
    s.bytes()
        .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
}

impl<W: fmt::Write> Visit for PlainVisitor<W> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() != "message" {
            if !quotes_plainly(value) {
                return self.record_debug(field, &value);
            }
            if self.begin(field.name()) {
                self.result = self.name(field.name()).and_then(|()| {
                    self.out.write_char('"')?;
                    self.out.write_str(value)?;
                    self.out.write_char('"')
                });
            }
            return;
        }
        if !self.begin(field.name()) {
            return;
        }
        // `DefaultVisitor` prints a `str` message through `format_args!("{}")`: its text.
        self.result = if self.sanitize {
            Escaping(&mut self.out).write_str(value)
        } else {
            self.out.write_str(value)
        };
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if field.name() == "message" {
            return self.record_debug(field, &value);
        }
        self.integer(field, false, value);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        if field.name() == "message" {
            return self.record_debug(field, &value);
        }
        self.integer(field, value < 0, value.unsigned_abs());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        if field.name() == "message" {
            return self.record_debug(field, &value);
        }
        if !self.begin(field.name()) {
            return;
        }
        self.result = self
            .name(field.name())
            .and_then(|()| self.out.write_str(if value { "true" } else { "false" }));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        // The same value `DefaultVisitor` builds, with ANSI off: the error, then its
        // sources as a list under `<name>.sources`.
        let sanitize = self.sanitize;
        if let (Some(source), true) = (value.source(), self.ansi) {
            let name = field.name();
            self.record_debug(
                field,
                &format_args!(
                    "{} {ITALIC}{name}{RESET}{ITALIC}.sources{RESET}{DIMMED}={RESET}{}",
                    Guarded(format_args!("{value}"), sanitize),
                    Sources(source, sanitize)
                ),
            )
        } else if let Some(source) = value.source() {
            self.record_debug(
                field,
                &format_args!(
                    "{} {}.sources={}",
                    Guarded(format_args!("{value}"), sanitize),
                    field.name(),
                    Sources(source, sanitize)
                ),
            )
        } else {
            self.record_debug(
                field,
                &format_args!("{}", Guarded(format_args!("{value}"), sanitize)),
            )
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if !self.begin(field.name()) {
            return;
        }
        self.result = if field.name() == "message" {
            if self.sanitize {
                write!(Escaping(&mut self.out), "{value:?}")
            } else {
                write!(self.out, "{value:?}")
            }
        } else {
            self.name(field.name())
                .and_then(|()| write!(self.out, "{value:?}"))
        };
    }
}

impl<W: fmt::Write> VisitOutput<fmt::Result> for PlainVisitor<W> {
    fn finish(self) -> fmt::Result {
        self.result
    }
}

impl<W: fmt::Write> VisitFmt for PlainVisitor<W> {
    fn writer(&mut self) -> &mut dyn fmt::Write {
        &mut self.out
    }
}

/// Writes text as `fmt` sanitizes it: ESC, BEL, BS, FF and DEL as `\x1b`-style escapes,
/// C1 controls (U+0080–U+009F) as `\u{80}`-style ones, everything else as it is. Runs
/// that need nothing go through in one `write_str` (`fmt` writes a character at a time).
struct Escaping<'w, W: fmt::Write + ?Sized>(&'w mut W);

impl<W: fmt::Write + ?Sized> fmt::Write for Escaping<'_, W> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let bytes = s.as_bytes();
        let mut run = 0;
        let mut i = 0;
        while i < bytes.len() {
            // In UTF-8 a C1 control is 0xC2 followed by 0x80..=0x9F.
            let escape: Option<&str> = match bytes[i] {
                0x1b => Some("\\x1b"),
                0x07 => Some("\\x07"),
                0x08 => Some("\\x08"),
                0x0c => Some("\\x0c"),
                0x7f => Some("\\x7f"),
                0xc2 if matches!(bytes.get(i + 1), Some(0x80..=0x9f)) => None,
                _ => {
                    i += 1;
                    continue;
                }
            };
            self.0.write_str(&s[run..i])?;
            match escape {
                Some(e) => {
                    self.0.write_str(e)?;
                    i += 1;
                }
                None => {
                    write!(self.0, "\\u{{{:x}}}", bytes[i + 1])?;
                    i += 2;
                }
            }
            run = i;
        }
        self.0.write_str(&s[run..])
    }
}

/// `fmt`'s guard: the value's text, sanitized when the writer sanitizes.
struct Guarded<T>(T, bool);

impl<T: fmt::Display> fmt::Display for Guarded<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.1 {
            write!(Escaping(f), "{}", self.0)
        } else {
            write!(f, "{}", self.0)
        }
    }
}

impl<T: fmt::Display> fmt::Debug for Guarded<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// An error's sources as a debug list of their texts, as `fmt` prints them.
struct Sources<'a>(&'a (dyn std::error::Error + 'static), bool);

impl fmt::Display for Sources<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_list();
        let mut current = Some(self.0);
        while let Some(e) = current {
            list.entry(&Guarded(format_args!("{e}"), self.1));
            current = e.source();
        }
        list.finish()
    }
}

/// Whether `DefaultVisitor` leaves out fields named `log.*` (the metadata of a `log`
/// record, when tracing-subscriber is built with its `tracing-log` feature): asked of
/// `DefaultFields` itself once per process, so the answer follows the build.
pub(crate) fn skips_log_fields() -> bool {
    static SKIPS: OnceLock<bool> = OnceLock::new();
    *SKIPS.get_or_init(|| {
        let mut out = String::new();
        probe::with_record(|record| {
            let _ = DefaultFields::new().format_fields(Writer::new(&mut out), record);
        });
        out.is_empty()
    })
}

mod probe {
    //! One field named `log.probe`, to ask `DefaultFields` what it does with it.
    use tracing_core::callsite::Callsite;
    use tracing_core::field::{FieldSet, Value};
    use tracing_core::metadata::{Kind, Level, Metadata};
    use tracing_core::subscriber::Interest;

    struct Probe;
    static PROBE: Probe = Probe;
    static META: Metadata<'static> = Metadata::new(
        "probe",
        "backpressure_writer::format",
        Level::TRACE,
        None,
        None,
        None,
        FieldSet::new(&["log.probe"], tracing_core::identify_callsite!(&PROBE)),
        Kind::EVENT,
    );

    impl Callsite for Probe {
        fn set_interest(&self, _: Interest) {}
        fn metadata(&self) -> &Metadata<'_> {
            &META
        }
    }

    /// Runs `f` on a record of the one field, valued 1.
    pub(super) fn with_record(f: impl FnOnce(&tracing_core::span::Record<'_>)) {
        let fields = META.fields();
        if let Some(field) = fields.field("log.probe") {
            let values = [(&field, Some(&1u64 as &dyn Value))];
            f(&tracing_core::span::Record::new(&fields.value_set(&values)));
        }
    }
}
