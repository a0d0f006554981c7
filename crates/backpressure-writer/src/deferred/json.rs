//! A record laid out as `fmt::format().json()`'s line, with `JsonFields`.
//!
//! The event's fields go through `tracing-serde`'s map visitor and a span's through
//! `fmt`'s own `JsonVisitor`, the visitors `fmt` uses, with the recorded values replayed
//! into them; the members and their order are `fmt`'s: `timestamp`, `level`, `fields`
//! (or the fields themselves, flattened), `target`, `filename`, `line_number`, `span`
//! (the current span, or the event's explicit parent), `spans` (the current span's
//! scope, from the root), `threadName`, `threadId`, each as the layer's options show
//! them.

use std::fmt;

use serde::ser::{Error as _, Serialize, SerializeMap, SerializeSeq, Serializer};
use tracing_core::Metadata;
use tracing_serde::SerdeMapVisitor;
use tracing_subscriber::field::VisitOutput;
use tracing_subscriber::fmt::format::{JsonVisitor, Writer};

use super::known::Cache;
use super::layout::{Origin, FILE, LINE, NO_LEVEL, NO_TARGET, NO_TIME, THREAD_IDS, THREAD_NAMES};
use super::record::{
    Fields, Item, Record, Unreadable, EXPLICIT_PARENT, FLATTEN, NO_CURRENT_SPAN, NO_SPAN_LIST,
};
use crate::format::time::write_instant;

/// Walks every value once, so that serializing cannot meet a damaged one half-way.
fn check(mut fields: Fields<'_>) -> Result<(), Unreadable> {
    while fields.next()?.is_some() {}
    Ok(())
}

/// Replays the values into `visitor` (checked whole beforehand: see [`check`]).
fn replay(mut fields: Fields<'_>, visitor: &mut impl tracing_core::field::Visit) {
    while let Ok(Some(item)) = fields.next() {
        if let Item::Value(field, value) = item {
            value.visit(&field, visitor);
        }
    }
}

/// The event's fields, as `fmt` serializes them under `"fields"`.
struct EventFields<'a>(Fields<'a>);

impl Serialize for EventFields<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut visitor = SerdeMapVisitor::new(serializer.serialize_map(None)?);
        replay(self.0.clone(), &mut visitor);
        visitor.take_serializer()?.end()
    }
}

/// A span as `fmt` serializes one: its fields as `JsonFields` stored them (an object,
/// read back as `fmt` reads it), then its name.
struct SpanObject {
    name: &'static str,
    fields: serde_json::Value,
}

impl SpanObject {
    fn new(meta: &'static Metadata<'static>, mut values: Fields<'_>) -> Result<Self, Unreadable> {
        // `JsonFields` merges a later `record` call's values into the stored object, a
        // later value replacing an earlier one of the same name: one visitor over all of
        // them does the same.
        let mut stored = String::new();
        let mut visitor = JsonVisitor::new(&mut stored);
        while let Some(item) = values.next()? {
            if let Item::Value(field, value) = item {
                value.visit(&field, &mut visitor);
            }
        }
        visitor.finish().map_err(|_| Unreadable::Damaged)?;
        let fields = serde_json::from_str(&stored).map_err(|_| Unreadable::Damaged)?;
        Ok(SpanObject {
            name: meta.name(),
            fields,
        })
    }
}

impl Serialize for SpanObject {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        match &self.fields {
            serde_json::Value::Object(fields) => {
                for (name, value) in fields {
                    map.serialize_entry(name, value)?;
                }
            }
            _ => return Err(S::Error::custom("span fields are not an object")),
        }
        map.serialize_entry("name", self.name)?;
        map.end()
    }
}

struct SpanList<'a>(&'a [SpanObject]);

impl Serialize for SpanList<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(None)?;
        for span in self.0 {
            seq.serialize_element(span)?;
        }
        seq.end()
    }
}

/// The timestamp as `fmt`'s JSON format lays it out first, into a `String` of its own.
fn timestamp(record: &Record<'_>) -> String {
    let mut text = String::new();
    let _ = write_instant(&mut Writer::new(&mut text), record.secs, record.nanos);
    text
}

/// Writes the JSON line of `record` into `out`, with its newline.
pub(super) fn write_line(
    out: &mut Vec<u8>,
    record: &Record<'_>,
    captured: bool,
    cache: &mut Cache,
) -> Result<(), Unreadable> {
    let (mut listed_spans, fields) = record.parts()?;
    check(fields.clone())?;
    // Each span's stored object is built and read back, as `fmt` reads it: JSON lines
    // allocate per span here, as they do in `fmt`.
    let mut spans = Vec::new();
    while let Some((meta, values)) = listed_spans.next(cache)? {
        spans.push(SpanObject::new(meta, values)?);
    }
    // With an explicit parent, the last span is that parent, and the list is the rest.
    let listed = if record.flags & EXPLICIT_PARENT != 0 {
        &spans[..spans.len().saturating_sub(1)]
    } else {
        &spans[..]
    };
    let origin = Origin::of(record, &fields)?;
    let parts = record.layout;
    let start = out.len();
    let mut serializer = serde_json::Serializer::new(&mut *out);
    let written = (|| {
        let mut map = serializer.serialize_map(None)?;
        if parts & NO_TIME == 0 {
            map.serialize_entry("timestamp", &timestamp(record))?;
        }
        if parts & NO_LEVEL == 0 {
            map.serialize_entry("level", record.meta.level().as_str())?;
        }
        if record.flags & FLATTEN != 0 {
            let mut visitor = SerdeMapVisitor::new(map);
            replay(fields.clone(), &mut visitor);
            map = visitor.take_serializer()?;
        } else {
            map.serialize_entry("fields", &EventFields(fields.clone()))?;
        }
        if parts & NO_TARGET == 0 {
            map.serialize_entry("target", origin.target)?;
        }
        if let Some(file) = origin.file.filter(|_| parts & FILE != 0) {
            map.serialize_entry("filename", file)?;
        }
        if let Some(line) = origin.line.filter(|_| parts & LINE != 0) {
            map.serialize_entry("line_number", &line)?;
        }
        if let Some(current) = spans.last() {
            if record.flags & NO_CURRENT_SPAN == 0 {
                map.serialize_entry("span", current)?;
            }
            if record.flags & NO_SPAN_LIST == 0 {
                map.serialize_entry("spans", &SpanList(listed))?;
            }
        }
        if let Some(thread) = record.thread {
            let ids = parts & THREAD_IDS != 0;
            if parts & THREAD_NAMES != 0 {
                match thread.name {
                    Some(name) => map.serialize_entry("threadName", name)?,
                    // As `fmt`: the id in the name's place when there is none.
                    None if !ids => map.serialize_entry("threadName", thread.id)?,
                    None => {}
                }
            }
            if ids {
                map.serialize_entry("threadId", thread.id)?;
            }
        }
        SerializeMap::end(map)
    })();
    written.map_err(|_| Unreadable::Damaged)?;
    // `Annotated`'s rate and capture's mark are each the object's first member.
    let first = match (record.rate, captured) {
        (Some(rate), _) => Some(format!("\"sample_rate\":{rate},")),
        (None, true) => Some("\"captured\":true,".to_owned()),
        (None, false) => None,
    };
    if let Some(first) = first {
        let at = start + 1;
        out.splice(at..at, first.into_bytes());
    }
    out.push(b'\n');
    Ok(())
}

impl fmt::Debug for SpanObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpanObject")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}
