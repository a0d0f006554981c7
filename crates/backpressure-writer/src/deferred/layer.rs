//! The caller's side: a layer that turns each event it sees into a record.

use std::cell::RefCell;
use std::fmt;
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::SystemTime;

use tracing_core::span::{Attributes, Id, Record as SpanRecord};
use tracing_core::{Event, Subscriber};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::{LookupSpan, SpanRef};

use super::known;
use super::layout::{FILE, LINE, NO_LEVEL, NO_TARGET, NO_TIME, THREAD_IDS, THREAD_NAMES};
#[cfg(feature = "json")]
use super::record::FLATTEN;
use super::record::{
    self, Values, ANSI, EXPLICIT_PARENT, JSON, NO_CURRENT_SPAN, NO_SPAN_LIST, SANITIZE,
};
use super::slots::SpanSlots;
use crate::format::time::{now_split, split};

/// A layer that lays out `fmt`'s lines on the writer's thread instead of the caller's.
///
/// Each event it sees becomes a compact record (see the [module docs](super)) written
/// to its `MakeWriter` as one line; a [`Decoded`](super::Decoded) sink turns records back
/// into `fmt`'s text or JSON lines on the writer's thread. Use it where `fmt::layer()`
/// would go, with the same writer, and put the decoder around the sink.
///
/// A layer holds its open spans' values in a table of its own, 128 KiB, so that a span
/// costs no allocation (values that do not fit go to the span's extensions, as `fmt`'s
/// do).
///
/// Its options are `fmt::Layer`'s that change the bytes of a line, under the same names
/// and with the same defaults: colours, sanitizing, text or JSON, the time (or none), the
/// level, the target, the file and line, the thread's name and id; the clock; and the
/// sample rate for `sampling-layer`'s annotation. The layout is `fmt::format()`'s full
/// text with `DefaultFields` (timestamp, level, thread, spans with their fields, target,
/// file and line, fields), or with `json` (the `json` feature) `fmt::format().json()`
/// with `JsonFields`.
pub struct DeferredLayer<W> {
    make_writer: W,
    flags: u8,
    /// Which optional parts a line shows ([`layout`](super::layout) bits).
    layout: u8,
    /// `None`: the system's real-time clock, read directly ([`now_split`]).
    clock: Option<fn() -> SystemTime>,
    sample_rate: Option<Box<SampleRate>>,
    /// Tells this layer's span values from another deferred layer's in the same stack.
    id: usize,
    /// Its spans' values, where they fit (else in their extensions, as [`SpanValues`]).
    pub(super) slots: SpanSlots,
}

impl<W> fmt::Debug for DeferredLayer<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeferredLayer")
            .field("ansi", &(self.flags & ANSI != 0))
            .field("sanitize", &(self.flags & SANITIZE != 0))
            .field("json", &(self.flags & JSON != 0))
            .field("layout", &format_args!("{:#09b}", self.layout))
            .field("sample_rate", &self.sample_rate.is_some())
            .finish_non_exhaustive()
    }
}

impl<W> DeferredLayer<W>
where
    W: for<'w> MakeWriter<'w> + 'static,
{
    /// Records into `make_writer`: text without colours, messages sanitized (`fmt`'s
    /// default), times read from the system's real-time clock (the clock
    /// [`SystemTime::now`] reads).
    pub fn new(make_writer: W) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(1);
        DeferredLayer {
            make_writer,
            flags: SANITIZE,
            layout: 0,
            clock: None,
            sample_rate: None,
            id: NEXT.fetch_add(1, Ordering::Relaxed),
            slots: SpanSlots::new(),
        }
    }
}

impl<W> DeferredLayer<W> {
    fn flag(mut self, flag: u8, on: bool) -> Self {
        set(&mut self.flags, flag, on);
        self
    }

    fn part(mut self, bit: u8, on: bool) -> Self {
        set(&mut self.layout, bit, on);
        self
    }

    /// Lines without a timestamp, as `fmt::Layer::without_time`.
    pub fn without_time(self) -> Self {
        self.part(NO_TIME, true)
    }

    /// Whether a line shows the event's level, as `fmt::Layer::with_level` (on by default).
    pub fn with_level(self, on: bool) -> Self {
        self.part(NO_LEVEL, !on)
    }

    /// Whether a line shows the event's target, as `fmt::Layer::with_target` (on by
    /// default).
    pub fn with_target(self, on: bool) -> Self {
        self.part(NO_TARGET, !on)
    }

    /// Whether a line shows the event's source file, as `fmt::Layer::with_file` (off by
    /// default).
    pub fn with_file(self, on: bool) -> Self {
        self.part(FILE, on)
    }

    /// Whether a line shows the event's line number, as `fmt::Layer::with_line_number`
    /// (off by default).
    pub fn with_line_number(self, on: bool) -> Self {
        self.part(LINE, on)
    }

    /// Whether a line shows the name of the thread that logged it, as
    /// `fmt::Layer::with_thread_names` (off by default). The name is read on the caller
    /// (once per thread) and carried in the record; a text line pads it to the longest
    /// name this crate laid out so far, as `fmt` pads to the longest it printed.
    pub fn with_thread_names(self, on: bool) -> Self {
        self.part(THREAD_NAMES, on)
    }

    /// Whether a line shows the id of the thread that logged it, as
    /// `fmt::Layer::with_thread_ids` (off by default); read on the caller, carried in the
    /// record.
    pub fn with_thread_ids(self, on: bool) -> Self {
        self.part(THREAD_IDS, on)
    }

    /// Lines with ANSI colours, as `fmt::Layer::with_ansi` (off by default: a deferred
    /// line goes to a file, not a terminal).
    pub fn with_ansi(self, ansi: bool) -> Self {
        self.flag(ANSI, ansi)
    }

    /// Whether control characters in messages are escaped, as
    /// `fmt::Layer::with_ansi_sanitization` (on by default, as there).
    pub fn with_ansi_sanitization(self, sanitize: bool) -> Self {
        self.flag(SANITIZE, sanitize)
    }

    /// JSON lines, as `fmt::layer().json()` with its defaults (the event's fields under
    /// `"fields"`, the current span and the span list). Needs the `json` feature.
    #[cfg(feature = "json")]
    pub fn json(self) -> Self {
        self.flag(JSON, true)
    }

    /// (JSON) Whether a line has the `"span"` member, the event's current span, as
    /// `fmt::format().json().with_current_span` (on by default).
    #[cfg(feature = "json")]
    pub fn with_current_span(self, on: bool) -> Self {
        self.flag(NO_CURRENT_SPAN, !on)
    }

    /// (JSON) Whether a line has the `"spans"` member, the current span's scope, as
    /// `fmt::format().json().with_span_list` (on by default).
    #[cfg(feature = "json")]
    pub fn with_span_list(self, on: bool) -> Self {
        self.flag(NO_SPAN_LIST, !on)
    }

    /// (JSON) Whether the event's fields are members of the line's object rather than of
    /// its `"fields"` member, as `fmt::format().json().flatten_event` (off by default).
    #[cfg(feature = "json")]
    pub fn flatten_event(self, on: bool) -> Self {
        self.flag(FLATTEN, on)
    }

    /// Reads the time from `clock` instead of [`SystemTime::now`] (tests; replaying).
    pub fn with_clock(mut self, clock: fn() -> SystemTime) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Asks `rate` for each event's sample rate on the caller, and writes it as
    /// `sampling_layer::Annotated` does (` sample_rate=0.05` at the end of a text line,
    /// the first member of a JSON object): pass `sampling_layer::sample_rate`, or with
    /// several samplers in the stack `move |e| handle.sample_rate(e)` with the handle of
    /// the sampler that filters this layer (as `Annotated::for_sampler`).
    pub fn with_sample_rate(
        mut self,
        rate: impl Fn(&Event<'_>) -> Option<f64> + Send + Sync + 'static,
    ) -> Self {
        self.sample_rate = Some(Box::new(rate));
        self
    }
}

/// Sets or clears `bit` in `bits`.
fn set(bits: &mut u8, bit: u8, on: bool) {
    if on {
        *bits |= bit;
    } else {
        *bits &= !bit;
    }
}

/// How many parents [`root_first`] reaches by recursion before it walks the rest of a
/// deeper scope with the registry's iterator.
const WALK_DEPTH: u8 = 32;

/// Hands `span`'s scope to `push` root first, ending with `span`: the parents by
/// recursion, so a scope a few spans deep is walked without `Scope::from_root`'s list
/// (which moved several hundred bytes of span references and cost about 500
/// instructions an event for one span); past `WALK_DEPTH` parents, with that list.
fn root_first<'a, S>(span: SpanRef<'a, S>, depth: u8, push: &mut impl FnMut(&SpanRef<'a, S>))
where
    S: LookupSpan<'a>,
{
    if let Some(parent) = span.parent() {
        if depth < WALK_DEPTH {
            root_first(parent, depth + 1, push);
        } else {
            for above in parent.scope().from_root() {
                push(&above);
            }
        }
    }
    push(&span);
}

/// What [`DeferredLayer::with_sample_rate`] asks.
type SampleRate = dyn Fn(&Event<'_>) -> Option<f64> + Send + Sync;

/// A span's recorded values when they are not in a slot of the layer's
/// [`SpanSlots`] (too long for one, the table crowded, or a later `record` added to them),
/// kept in its extensions: inline up to `INLINE` bytes, so such a span costs one
/// allocation, its extension's; in a `Vec` past that, or once a `record` adds to them.
struct SpanValues {
    owner: usize,
    len: usize,
    inline: [u8; INLINE],
    heap: Vec<u8>,
}

/// The values a span keeps inline.
const INLINE: usize = 96;

impl SpanValues {
    fn new(owner: usize, values: &[u8]) -> Self {
        let mut v = SpanValues {
            owner,
            len: 0,
            inline: [0; INLINE],
            heap: Vec::new(),
        };
        match v.inline.get_mut(..values.len()) {
            Some(inline) => {
                inline.copy_from_slice(values);
                v.len = values.len();
            }
            None => v.heap = values.to_vec(),
        }
        v
    }

    fn bytes(&self) -> &[u8] {
        if self.heap.is_empty() {
            &self.inline[..self.len]
        } else {
            &self.heap
        }
    }

    /// The values as a `Vec` to add to (moved out of line first if inline).
    fn grow(&mut self) -> &mut Vec<u8> {
        if self.heap.is_empty() {
            self.heap = self.inline[..self.len].to_vec();
        }
        &mut self.heap
    }
}

thread_local! {
    /// The record being built, reused from event to event.
    static FRAME: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// The bytes a thread's record buffer keeps between events.
const FRAME_KEEP: usize = 16 << 10;

impl<S, W> Layer<S> for DeferredLayer<W>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + 'static,
{
    // A span costs what `fmt` pays for it minus the layout: its values are visited into
    // the thread's record buffer (integers and booleans copied, `?`/`%` values formatted,
    // as they borrow) and copied into a slot of this layer's table; only values too long
    // for a slot, or a table crowded near the span's home, go to its extensions (an
    // allocation, a map insert, a free at its close: what the slot saves).
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        known::note(attrs.metadata());
        let slotted = FRAME.try_with(|frame| {
            let mut frame = frame.try_borrow_mut().ok()?;
            frame.clear();
            attrs.record(&mut Values(&mut frame));
            if self.slots.insert(id.into_u64(), &frame) {
                return Some(None);
            }
            let values = SpanValues::new(self.id, &frame);
            if frame.capacity() > FRAME_KEEP {
                *frame = Vec::new();
            }
            Some(Some(values))
        });
        let values = match slotted {
            Ok(Some(None)) => return,
            Ok(Some(Some(values))) => values,
            // A value's `Debug` that opens a span, or a thread past its thread-locals.
            _ => {
                let mut bytes = Vec::new();
                attrs.record(&mut Values(&mut bytes));
                if self.slots.insert(id.into_u64(), &bytes) {
                    return;
                }
                SpanValues::new(self.id, &bytes)
            }
        };
        let Some(span) = ctx.span(id) else { return };
        let mut ext = span.extensions_mut();
        // A second deferred layer in the stack shares the first one's values.
        if ext.get_mut::<SpanValues>().is_none() {
            ext.insert(values);
        }
    }

    fn on_record(&self, id: &Id, values: &SpanRecord<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut ext = span.extensions_mut();
        // Values in a slot move to the extensions, where they can grow: put there before
        // the slot is freed, so a reader that misses the slot finds them. (Another deferred
        // layer's values there are the same values; this layer then shares them.)
        if let Some(slotted) = self.slots.get(id.into_u64()) {
            if ext.get_mut::<SpanValues>().is_none() {
                ext.insert(slotted.with_bytes(|bytes| SpanValues::new(self.id, bytes)));
            }
            self.slots.remove(id.into_u64());
        }
        if let Some(own) = ext.get_mut::<SpanValues>().filter(|v| v.owner == self.id) {
            let bytes = own.grow();
            record::push_segment(bytes);
            values.record(&mut Values(bytes));
        }
    }

    // Frees the span's slot: a probe and three stores (a probe of four slots when its
    // values were in its extensions, which the registry frees).
    fn on_close(&self, id: Id, _: Context<'_, S>) {
        self.slots.remove(id.into_u64());
    }

    // Costs a clock read, the fields visited into a reused thread-local buffer (a `%` or
    // `?` value and the message formatted, everything else copied), a read of each span's
    // extensions to copy its values, and one write into the writer: no allocation once
    // the buffer has grown, no layout. Thread names or ids add a thread-local read and
    // two short copies.
    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let meta = event.metadata();
        let at = self.clock.map_or_else(now_split, |clock| split(clock()));
        let rate = self.sample_rate.as_ref().and_then(|rate| rate(event));
        let json = self.flags & JSON != 0;
        // A JSON line with neither span member needs no span.
        let no_spans = NO_SPAN_LIST | NO_CURRENT_SPAN;
        let json_spans = json && self.flags & no_spans != no_spans;
        // `fmt`'s JSON names the event's explicit parent as its span but lists the
        // current span's scope; the text line shows the event's own scope.
        let parent = event
            .parent()
            .filter(|_| json_spans)
            .and_then(|id| ctx.span(id));
        let flags = self.flags | if parent.is_some() { EXPLICIT_PARENT } else { 0 };
        let build = |buf: &mut Vec<u8>| {
            record::begin(buf, (flags, self.layout), at, known::note(meta), rate);
            let count_at = buf.len();
            buf.extend_from_slice(&[0, 0]);
            let mut spans = 0u16;
            let mut push = |buf: &mut Vec<u8>, span: &SpanRef<'_, S>| {
                // A record names at most 65 535 spans (its count is 16 bits); a scope
                // deeper than that keeps its outermost ones.
                if spans == u16::MAX {
                    return;
                }
                // Values are made in `on_new_span`, which noted the span's callsite.
                if let Some(slotted) = self.slots.get(span.id().into_u64()) {
                    let meta = known::noted(span.metadata());
                    slotted.with_bytes(|values| record::push_span(buf, meta, values));
                } else {
                    let ext = span.extensions();
                    match ext.get::<SpanValues>() {
                        Some(values) => {
                            record::push_span(buf, known::noted(span.metadata()), values.bytes())
                        }
                        None => record::push_span(buf, known::note(span.metadata()), &[]),
                    }
                }
                spans += 1;
            };
            let leaf = if !json {
                ctx.event_span(event)
            } else if json_spans {
                ctx.lookup_current()
            } else {
                None
            };
            if let Some(leaf) = leaf {
                root_first(leaf, 0, &mut |span| push(buf, span));
            }
            if let Some(parent) = &parent {
                push(buf, parent);
            }
            buf[count_at..count_at + 2].copy_from_slice(&spans.to_le_bytes());
            event.record(&mut Values(buf));
            // A record past 4 GiB cannot be framed (its length is 32 bits); the writer's
            // byte bound refuses lines far smaller than that anyway.
            if record::end(buf) {
                let _ = self.make_writer.make_writer_for(meta).write_all(buf);
            }
        };
        let reused = FRAME.try_with(|frame| match frame.try_borrow_mut() {
            Ok(mut buf) => {
                build(&mut buf);
                if buf.capacity() > FRAME_KEEP {
                    *buf = Vec::new();
                }
                true
            }
            Err(_) => false,
        });
        // A value's `Debug` that logs, or a thread past its thread-locals: a buffer of
        // its own.
        if reused != Ok(true) {
            build(&mut Vec::new());
        }
    }
}
