//! A record laid out as `fmt::format()`'s full text line, with `DefaultFields`.

use std::fmt::{self, Write as _};

use tracing_core::Level;
use tracing_subscriber::field::VisitOutput;

use super::known::Cache;
use super::layout::{self, Origin, FILE, LINE, NO_LEVEL, NO_TARGET, NO_TIME};
use super::record::{Fields, Item, Record, Unreadable, Value, ANSI, SANITIZE};
use crate::format::fields::PlainVisitor;
use crate::format::time::write_instant;

/// `nu_ansi_term`'s codes, as `fmt` paints with them.
const BOLD: &str = "\x1b[1m";
const DIMMED: &str = "\x1b[2m";
const RESET: &str = "\x1b[0m";

/// The level as `fmt` pads it, and its colour.
fn level(level: &Level) -> (&'static str, &'static str) {
    match *level {
        Level::TRACE => ("TRACE", "\x1b[35m"),
        Level::DEBUG => ("DEBUG", "\x1b[34m"),
        Level::INFO => (" INFO", "\x1b[32m"),
        Level::WARN => (" WARN", "\x1b[33m"),
        Level::ERROR => ("ERROR", "\x1b[31m"),
    }
}

/// `text`, painted with `style` when colours are on.
fn paint(out: &mut impl fmt::Write, ansi: bool, style: &str, text: &str) -> fmt::Result {
    if ansi {
        write!(out, "{style}{text}{RESET}")
    } else {
        out.write_str(text)
    }
}

/// The decoder's output: `fmt::Write` into its byte buffer.
pub(super) struct Out<'a>(pub(super) &'a mut Vec<u8>);

impl fmt::Write for Out<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// Replays `fields` into `fmt`'s field layout at the end of `out`, each `record` call's
/// values appended as `fmt` appends them to a span's: after a space if anything was
/// written before.
fn write_fields(
    out: &mut Vec<u8>,
    mut fields: Fields<'_>,
    sanitize: bool,
    ansi: bool,
) -> Result<(), Unreadable> {
    let start = out.len();
    let mut visitor = PlainVisitor::new(Out(&mut *out), sanitize, ansi);
    while let Some(item) = fields.next()? {
        match item {
            Item::Value(field, Value::Debug(text)) => visitor.record_printed(&field, text),
            Item::Value(field, value) => value.visit(&field, &mut visitor),
            Item::Segment => {
                let _ = visitor.finish();
                if out.len() > start {
                    out.push(b' ');
                }
                visitor = PlainVisitor::new(Out(&mut *out), sanitize, ansi);
            }
        }
    }
    let _ = visitor.finish();
    Ok(())
}

/// Writes the line of `record` at the end of `out`, with its newline.
pub(super) fn write_line(
    out: &mut Vec<u8>,
    record: &Record<'_>,
    captured: bool,
    cache: &mut Cache,
) -> Result<(), Unreadable> {
    let sanitize = record.flags & SANITIZE != 0;
    // `Annotated` lays an annotated line out without colours (see its docs).
    let ansi = record.flags & ANSI != 0 && record.rate.is_none();
    // ... but a span's fields were laid out when it was created, with the layer's colours.
    let span_ansi = record.flags & ANSI != 0;
    let (mut spans, fields) = record.parts()?;
    let meta = record.meta;
    // Writing into a `Vec` cannot fail: the results below are never errors.
    let mut w = Out(&mut *out);
    if record.layout & NO_TIME == 0 {
        if ansi {
            let _ = w.write_str(DIMMED);
        }
        let _ = write_instant(&mut w, record.secs, record.nanos);
        if ansi {
            let _ = w.write_str(RESET);
        }
        let _ = w.write_char(' ');
    }
    if record.layout & NO_LEVEL == 0 {
        let (text, colour) = level(meta.level());
        let _ = paint(&mut w, ansi, colour, text);
        let _ = w.write_char(' ');
    }
    if let Some(thread) = record.thread {
        layout::write_thread(&mut w, record.layout, thread);
    }
    let in_spans = !spans.is_empty();
    while let Some((span, values)) = spans.next(cache)? {
        let _ = paint(&mut Out(&mut *out), ansi, BOLD, span.name());
        // The braces only around fields that print something: written, then taken back.
        let before = out.len();
        let _ = paint(&mut Out(&mut *out), ansi, BOLD, "{");
        let opened = out.len();
        write_fields(out, values, sanitize, span_ansi)?;
        if out.len() == opened {
            out.truncate(before);
        } else {
            let _ = paint(&mut Out(&mut *out), ansi, BOLD, "}");
        }
        let _ = paint(&mut Out(&mut *out), ansi, DIMMED, ":");
    }
    if in_spans {
        out.push(b' ');
    }
    let origin = Origin::of(record, &fields)?;
    let mut w = Out(&mut *out);
    if record.layout & NO_TARGET == 0 {
        let _ = paint(&mut w, ansi, DIMMED, origin.target);
        let _ = paint(&mut w, ansi, DIMMED, ":");
        let _ = w.write_char(' ');
    }
    let line = origin.line.filter(|_| record.layout & LINE != 0);
    if let Some(file) = origin.file.filter(|_| record.layout & FILE != 0) {
        let _ = paint(&mut w, ansi, DIMMED, file);
        let _ = paint(&mut w, ansi, DIMMED, ":");
        if line.is_none() {
            let _ = w.write_char(' ');
        }
    }
    if let Some(line) = line {
        // `fmt` writes the number and its colon inside one dimmed run.
        let (on, off) = if ansi { (DIMMED, RESET) } else { ("", "") };
        let _ = write!(w, "{on}{line}:{off} ");
    }
    write_fields(out, fields, sanitize, ansi)?;
    if let Some(rate) = record.rate {
        let _ = write!(Out(&mut *out), " sample_rate={rate}");
    }
    if captured {
        out.extend_from_slice(b" captured=true");
    }
    out.push(b'\n');
    Ok(())
}
