//! The record a kept event becomes on its caller's thread, and its reading on the
//! writer's thread.
//!
//! A record is one frame in the writer's byte stream, beside ordinary text lines:
//!
//! ```text
//! frame   := 0x1E  len:u32  len^key:u32  payload[len]
//! payload := flags:u8  layout:u8  secs:i64  nanos:u32  event:u64  [rate:f64]
//!            [named:u8  [name:text]  id:text]  spans:u16  (span:u64  bytes:u32  values[bytes])*  values
//! values  := (tag:u8 index:u16 data | SEGMENT)*
//! data    := u64 | i64 | f64 bits | bool:u8 | text | bytes | count:u16 text*
//! text    := len:u32 utf8[len]      bytes := len:u32 byte[len]
//! ```
//!
//! (integers little-endian; `layout` holds the [`layout`] bits, and the
//! thread's name and id follow the rate when they show one of them; `event` and `span`
//! are metadata addresses, read back only through [`known`](super::known); `SEGMENT`
//! starts the values of a span's later `record` call). A value is kept as its type gave it: integers, floats and booleans as
//! their bits, a `&str` and a `[u8]` copied, a `Debug` or `Display` value (`?` and `%`
//! fields, the message, `i128`/`u128`) as the text it prints — it borrows from the
//! caller, so it is formatted there, as `fmt` does — and an error as the texts of itself
//! and each of its sources (at most 64). Replaying them into `fmt`'s visitors with the callsite's own `Field`s
//! prints what `fmt` would have printed from the event itself.
//!
//! No text line starts with `0x1E` unless something wrote that byte on purpose; a line
//! that does and whose next eight bytes are not a consistent header is passed through as
//! text (a consistent header needs this process's random key, which never reaches the
//! output, so text cannot be made to look like one), and a header whose addresses no
//! layer noted is reported, never followed.

use std::error::Error;
use std::fmt::{self, Write as _};
use std::sync::atomic::{AtomicU32, Ordering};

use tracing_core::field::{Field, Visit};
use tracing_core::Metadata;

use super::known::{Cache, Noted};
use super::layout::{self, Thread};

/// The first byte of a frame (ASCII "record separator").
pub(crate) const START: u8 = 0x1e;
/// The key mixed into a header's second word: drawn at random once per process, so that
/// text holding [`START`] and eight bytes made to look like a header (a value someone put
/// in a log line) is still told from a frame. A frame's header never reaches the output
/// (`Decoded` lays the record out), so the key cannot be read from the log. Zero until
/// drawn.
static KEY: AtomicU32 = AtomicU32::new(0);

/// A random non-zero key: std's hash seed is drawn from the OS once per thread, and each
/// `RandomState` after the first is a different key of it.
pub(crate) fn random_key() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let drawn = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    ((drawn >> 32) as u32 ^ drawn as u32).max(1)
}

/// This process's header key: one relaxed load once drawn.
pub(crate) fn key() -> u32 {
    match KEY.load(Ordering::Relaxed) {
        0 => draw_key(),
        key => key,
    }
}

/// Draws the key from std's per-process random hash seed; the first thread to draw it
/// sets it for all.
#[cold]
fn draw_key() -> u32 {
    let drawn = random_key();
    match KEY.compare_exchange(0, drawn, Ordering::Relaxed, Ordering::Relaxed) {
        Ok(_) => drawn,
        Err(set) => set,
    }
}
/// Bytes before a frame's payload.
pub(crate) const HEADER: usize = 9;

/// The line is laid out with ANSI colours.
pub(crate) const ANSI: u8 = 1;
/// Messages are sanitized (`fmt`'s `with_ansi_sanitization`).
pub(crate) const SANITIZE: u8 = 1 << 1;
/// The line is JSON rather than text.
pub(crate) const JSON: u8 = 1 << 2;
/// (JSON) The last span is the event's explicit parent, not part of the span list.
pub(crate) const EXPLICIT_PARENT: u8 = 1 << 4;
/// A sample rate follows the event's address.
const RATE: u8 = 1 << 3;
/// (JSON) No `"span"` member (`fmt`'s `with_current_span(false)`).
pub(crate) const NO_CURRENT_SPAN: u8 = 1 << 5;
/// (JSON) No `"spans"` member (`fmt`'s `with_span_list(false)`).
pub(crate) const NO_SPAN_LIST: u8 = 1 << 6;
/// (JSON) The event's fields are members of the line's object (`fmt`'s `flatten_event`).
#[cfg(feature = "json")]
pub(crate) const FLATTEN: u8 = 1 << 7;

const U64: u8 = 1;
const I64: u8 = 2;
const F64: u8 = 3;
const BOOL: u8 = 4;
const STR: u8 = 5;
const DEBUG: u8 = 6;
const ERROR: u8 = 7;
/// A span's `record` call: its values start a new group, as `fmt` appends them.
const SEGMENT: u8 = 8;
/// A `[u8]` value (`fmt`'s text prints it as hex through `Debug`; its JSON as numbers).
const BYTES: u8 = 9;

/// A frame's fixed head: the header, the flags and layout bytes, the time (seconds and
/// nanoseconds) and the event's callsite.
const HEAD: usize = HEADER + 2 + 8 + 4 + 8;

/// Starts a frame in `buf` (cleared first); [`end`] completes it.
pub(crate) fn begin(
    buf: &mut Vec<u8>,
    (flags, layout): (u8, u8),
    at: (i64, u32),
    event: u64,
    rate: Option<f64>,
) {
    // The head is laid out on the stack and copied in at once: one capacity check and
    // one copy, where a copy per piece cost about 30 instructions more a record.
    let mut head = [START; HEAD];
    head[HEADER] = flags | if rate.is_some() { RATE } else { 0 };
    head[HEADER + 1] = layout;
    head[HEADER + 2..HEADER + 10].copy_from_slice(&at.0.to_le_bytes());
    head[HEADER + 10..HEADER + 14].copy_from_slice(&at.1.to_le_bytes());
    head[HEADER + 14..HEAD].copy_from_slice(&event.to_le_bytes());
    buf.clear();
    buf.extend_from_slice(&head);
    if let Some(rate) = rate {
        buf.extend_from_slice(&rate.to_le_bytes());
    }
    if layout & layout::THREAD != 0 {
        layout::push_thread(buf);
    }
}

/// Writes the header of the frame [`begin`] started; `false` if it is too long to frame.
pub(crate) fn end(buf: &mut [u8]) -> bool {
    let Ok(len) = u32::try_from(buf.len() - HEADER) else {
        return false;
    };
    buf[1..5].copy_from_slice(&len.to_le_bytes());
    buf[5..9].copy_from_slice(&(len ^ key()).to_le_bytes());
    true
}

/// Appends a span's values, under the span's metadata address.
pub(crate) fn push_span(buf: &mut Vec<u8>, span: u64, values: &[u8]) {
    buf.extend_from_slice(&span.to_le_bytes());
    buf.extend_from_slice(&(values.len() as u32).to_le_bytes());
    buf.extend_from_slice(values);
}

/// Marks the start of a later `record` call's values.
pub(crate) fn push_segment(buf: &mut Vec<u8>) {
    buf.push(SEGMENT);
}

/// Records field values into a byte buffer: the caller's side of a record.
pub(crate) struct Values<'a>(pub(crate) &'a mut Vec<u8>);

impl Values<'_> {
    fn head(&mut self, tag: u8, field: &Field) {
        // A callsite has at most 32 fields (tracing's `ValueSet`), so this never truncates.
        let [lo, hi] = (field.index() as u16).to_le_bytes();
        self.0.extend_from_slice(&[tag, lo, hi]);
    }

    fn text(&mut self, s: &str) {
        self.0.extend_from_slice(&(s.len() as u32).to_le_bytes());
        self.0.extend_from_slice(s.as_bytes());
    }

    /// Formats `value` straight into the buffer behind a length filled in after.
    fn formatted(&mut self, value: fmt::Arguments<'_>) {
        let at = self.0.len();
        self.0.extend_from_slice(&[0; 4]);
        // Writing into a `Vec` fails only if the value's own `Display` or `Debug` does;
        // `fmt` then keeps what was written, and so does this.
        let _ = Bytes(self.0).write_fmt(value);
        let len = (self.0.len() - at - 4) as u32;
        self.0[at..at + 4].copy_from_slice(&len.to_le_bytes());
    }
}

/// `fmt::Write` into a byte buffer.
struct Bytes<'a>(&'a mut Vec<u8>);

impl fmt::Write for Bytes<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

impl Visit for Values<'_> {
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.head(U64, field);
        self.0.extend_from_slice(&value.to_le_bytes());
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.head(I64, field);
        self.0.extend_from_slice(&value.to_le_bytes());
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.head(F64, field);
        self.0.extend_from_slice(&value.to_bits().to_le_bytes());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.head(BOOL, field);
        self.0.push(u8::from(value));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.head(STR, field);
        self.text(value);
    }

    fn record_bytes(&mut self, field: &Field, value: &[u8]) {
        self.head(BYTES, field);
        self.0
            .extend_from_slice(&(value.len() as u32).to_le_bytes());
        self.0.extend_from_slice(value);
    }

    fn record_error(&mut self, field: &Field, value: &(dyn Error + 'static)) {
        self.head(ERROR, field);
        let at = self.0.len();
        self.0.extend_from_slice(&[0; 2]);
        let mut count = 0u16;
        let mut current = Some(value);
        // A chain longer than this is cut: no error has one, a cycle would never end.
        while let (Some(e), true) = (current, count < 64) {
            self.formatted(format_args!("{e}"));
            count += 1;
            current = e.source();
        }
        self.0[at..at + 2].copy_from_slice(&count.to_le_bytes());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.head(DEBUG, field);
        self.formatted(format_args!("{value:?}"));
    }
}

/// A decoded frame's payload.
#[derive(Debug)]
pub(crate) struct Record<'a> {
    pub(crate) flags: u8,
    pub(crate) layout: u8,
    pub(crate) secs: i64,
    pub(crate) nanos: u32,
    pub(crate) meta: &'static Metadata<'static>,
    fields: &'static [Field],
    pub(crate) rate: Option<f64>,
    pub(crate) thread: Option<Thread<'a>>,
    spans: u16,
    rest: &'a [u8],
}

/// Why a frame could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unreadable {
    /// A metadata address no layer noted.
    UnknownCallsite,
    /// The payload ends early or holds an unknown tag or field.
    Damaged,
}

/// A cursor over a payload.
struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Unreadable> {
        if self.0.len() < n {
            return Err(Unreadable::Damaged);
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], Unreadable> {
        self.take(N)?.try_into().map_err(|_| Unreadable::Damaged)
    }
    fn u64(&mut self) -> Result<u64, Unreadable> {
        Ok(u64::from_le_bytes(self.array()?))
    }
    fn u32(&mut self) -> Result<u32, Unreadable> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    fn u16(&mut self) -> Result<u16, Unreadable> {
        Ok(u16::from_le_bytes(self.array()?))
    }
    fn text(&mut self) -> Result<&'a str, Unreadable> {
        let len = self.u32()? as usize;
        std::str::from_utf8(self.take(len)?).map_err(|_| Unreadable::Damaged)
    }
    fn meta(&mut self, cache: &mut Cache) -> Result<Noted, Unreadable> {
        cache.get(self.u64()?).ok_or(Unreadable::UnknownCallsite)
    }
}

/// The length of the frame at the start of `buf`, header included, if `buf` starts with
/// a whole, consistent frame.
pub(crate) fn frame_len(buf: &[u8]) -> Option<usize> {
    if buf.len() < HEADER || buf[0] != START {
        return None;
    }
    let len = u32::from_le_bytes(buf[1..5].try_into().ok()?);
    let check = u32::from_le_bytes(buf[5..9].try_into().ok()?);
    let total = HEADER.checked_add(len as usize)?;
    (check == len ^ key() && buf.len() >= total).then_some(total)
}

impl<'a> Record<'a> {
    /// Reads a payload (a frame without its header).
    pub(crate) fn read(payload: &'a [u8], cache: &mut Cache) -> Result<Self, Unreadable> {
        let mut c = Cursor(payload);
        let [flags, layout] = c.array::<2>()?;
        let secs = c.u64()? as i64;
        let nanos = c.u32()?;
        let Noted { meta, fields } = c.meta(cache)?;
        let rate = if flags & RATE != 0 {
            Some(f64::from_bits(c.u64()?))
        } else {
            None
        };
        let thread = if layout & layout::THREAD != 0 {
            let named = c.array::<1>()?[0];
            Some(layout::read_thread(named, || c.text())?)
        } else {
            None
        };
        let spans = c.u16()?;
        Ok(Record {
            flags,
            layout,
            secs,
            nanos,
            meta,
            fields,
            rate,
            thread,
            spans,
            rest: c.0,
        })
    }

    /// The spans in scope, from the root, and then the event's own values. The spans'
    /// bounds are checked here; their callsites are looked up as they are read.
    pub(crate) fn parts(&self) -> Result<(Spans<'a>, Fields<'a>), Unreadable> {
        let mut c = Cursor(self.rest);
        for _ in 0..self.spans {
            c.take(8)?;
            let len = c.u32()? as usize;
            c.take(len)?;
        }
        let spans = Spans {
            bytes: &self.rest[..self.rest.len() - c.0.len()],
            left: self.spans,
        };
        Ok((spans, Fields::new(self.fields, c.0)))
    }
}

/// A record's spans, from the root: read in place, with no list to allocate.
#[derive(Debug, Clone)]
pub(crate) struct Spans<'a> {
    bytes: &'a [u8],
    left: u16,
}

impl<'a> Spans<'a> {
    /// Whether the record names no span.
    pub(crate) fn is_empty(&self) -> bool {
        self.left == 0
    }

    /// The next span's metadata and values, `Ok(None)` after the last.
    #[allow(clippy::type_complexity)]
    pub(crate) fn next(
        &mut self,
        cache: &mut Cache,
    ) -> Result<Option<(&'static Metadata<'static>, Fields<'a>)>, Unreadable> {
        if self.left == 0 {
            return Ok(None);
        }
        let mut c = Cursor(self.bytes);
        let noted = c.meta(cache)?;
        let len = c.u32()? as usize;
        let values = Fields::new(noted.fields, c.take(len)?);
        self.bytes = c.0;
        self.left -= 1;
        Ok(Some((noted.meta, values)))
    }
}

/// One recorded value, with the field it belongs to.
#[derive(Debug)]
pub(crate) enum Value<'a> {
    U64(u64),
    I64(i64),
    F64(f64),
    Bool(bool),
    Str(&'a str),
    Bytes(&'a [u8]),
    Debug(&'a str),
    Error(Vec<&'a str>),
}

/// The recorded values of one callsite, read in the order they were recorded.
#[derive(Debug, Clone)]
pub(crate) struct Fields<'a> {
    fields: &'static [Field],
    bytes: &'a [u8],
}

/// What [`Fields::next`] found.
#[derive(Debug)]
pub(crate) enum Item<'a> {
    Value(Field, Value<'a>),
    /// The values after this came from a later `record` call.
    Segment,
}

impl<'a> Fields<'a> {
    fn new(fields: &'static [Field], bytes: &'a [u8]) -> Self {
        Fields { fields, bytes }
    }

    /// The next item, `Ok(None)` at the end.
    pub(crate) fn next(&mut self) -> Result<Option<Item<'a>>, Unreadable> {
        let mut c = Cursor(self.bytes);
        let Ok([tag]) = c.array::<1>() else {
            return Ok(None);
        };
        if tag == SEGMENT {
            self.bytes = c.0;
            return Ok(Some(Item::Segment));
        }
        let index = usize::from(c.u16()?);
        let field = self.fields.get(index).ok_or(Unreadable::Damaged)?.clone();
        let value = match tag {
            U64 => Value::U64(c.u64()?),
            I64 => Value::I64(c.u64()? as i64),
            F64 => Value::F64(f64::from_bits(c.u64()?)),
            BOOL => Value::Bool(c.array::<1>()?[0] != 0),
            STR => Value::Str(c.text()?),
            BYTES => {
                let len = c.u32()? as usize;
                Value::Bytes(c.take(len)?)
            }
            DEBUG => Value::Debug(c.text()?),
            ERROR => {
                let n = c.u16()?;
                (0..n)
                    .map(|_| c.text())
                    .collect::<Result<_, _>>()
                    .map(Value::Error)?
            }
            _ => return Err(Unreadable::Damaged),
        };
        self.bytes = c.0;
        Ok(Some(Item::Value(field, value)))
    }
}

impl Value<'_> {
    /// Hands the value to `visitor` as the event handed it to the layer.
    pub(crate) fn visit(&self, field: &Field, visitor: &mut dyn Visit) {
        match self {
            Value::U64(v) => visitor.record_u64(field, *v),
            Value::I64(v) => visitor.record_i64(field, *v),
            Value::F64(v) => visitor.record_f64(field, *v),
            Value::Bool(v) => visitor.record_bool(field, *v),
            Value::Str(v) => visitor.record_str(field, v),
            Value::Bytes(v) => visitor.record_bytes(field, v),
            Value::Debug(text) => visitor.record_debug(field, &Printed(text)),
            Value::Error(texts) => {
                if let Some(chain) = Replayed::chain(texts) {
                    visitor.record_error(field, &chain);
                }
            }
        }
    }
}

/// Text that `Debug` prints as it is: a value the caller already formatted.
struct Printed<'a>(&'a str);

impl fmt::Debug for Printed<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// An error rebuilt from the texts of an error and its sources.
#[derive(Debug)]
struct Replayed {
    text: String,
    source: Option<Box<Replayed>>,
}

impl Replayed {
    fn chain(texts: &[&str]) -> Option<Self> {
        let (first, rest) = texts.split_first()?;
        Some(Replayed {
            text: (*first).to_owned(),
            source: Replayed::chain(rest).map(Box::new),
        })
    }
}

impl fmt::Display for Replayed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Error for Replayed {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.source.as_deref().map(|e| e as &(dyn Error + 'static))
    }
}
