//! Writing the sample rate on kept events: `sample_rate=0.05`.
//!
//! The sampler decides in `event_enabled`; the formatter runs later for the
//! same event on the same thread. A thread-local carries the decision between
//! them: one entry per sampler (a stack may hold several, each with its own
//! rate), tagged with the event's address and its metadata, so a formatter
//! never picks up the rate of a different event or of another sampler. Cost
//! on the sampler's side: a scan of [`SLOTS`] entries and one store per kept
//! sampled-level event.

use std::cell::Cell;
use std::fmt;

use tracing_core::{Event, Subscriber};
use tracing_subscriber::{
    fmt::{format::Writer, FmtContext, FormatEvent, FormatFields},
    registry::LookupSpan,
};

use std::sync::Arc;

/// Samplers that can annotate one event at once (more than that in one stack:
/// the last slot is shared and a bound formatter may find nothing).
const SLOTS: usize = 4;

/// (sampler, event address, metadata address, rate as f64 bits, reason);
/// rate 0 = none.
type Entry = (usize, usize, usize, u64, Reason);

thread_local! {
    static KEPT: [Cell<Entry>; SLOTS] = const {
        [const { Cell::new((0, 0, 0, 0, Reason::Whole)) }; SLOTS]
    };
}

/// Why a sampler kept an event, for exporters that record it beside the rate
/// (`otel::logs`); one byte beside each entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reason {
    /// Kept by its rate below one (a draw, a position, a budget's or the
    /// pressure scale's rate): the rate is its weight.
    Rate,
    /// Decided by its trace (a key extractor's policy).
    Trace,
    /// Kept whole because sampling was bypassed (switched off at run time,
    /// or the breaker is open).
    Bypass,
    /// Kept whole by a rule at rate 1, or no rate of this sampler applies
    /// (a combinator's other side kept it).
    Whole,
}

impl Reason {
    /// `Rate` for a rate below one, `Whole` for none.
    fn of(rate: Option<f64>) -> Reason {
        if rate.is_some() {
            Reason::Rate
        } else {
            Reason::Whole
        }
    }
}

fn tag(event: &Event<'_>) -> (usize, usize) {
    (
        event as *const Event<'_> as *const () as usize,
        event.metadata() as *const _ as usize,
    )
}

/// Samplers in one stack that can have an early decision pending at once.
const PENDING_SLOTS: usize = 4;

thread_local! {
    /// Decisions made in `enabled` (before the event exists): (sampler,
    /// metadata address, rate bits), picked up by `adopt_pending` in
    /// `event_enabled`. One slot per sampler, so several samplers in one stack
    /// do not take each other's decisions.
    static PENDING: Cell<[(usize, usize, u64, Reason); PENDING_SLOTS]> =
        const { Cell::new([(0, 0, 0, Reason::Whole); PENDING_SLOTS]) };
}

/// Records a keep decision `sampler` made from `meta` alone.
#[inline]
pub(crate) fn set_pending(
    sampler: usize,
    meta: &tracing_core::Metadata<'_>,
    rate: Option<f64>,
    reason: Reason,
) {
    let entry = (
        sampler,
        meta as *const _ as usize,
        rate.map_or(0, f64::to_bits),
        reason,
    );
    let _ = PENDING.try_with(|c| {
        let mut slots = c.get();
        // This sampler's slot, else a free one, else the last (more than
        // PENDING_SLOTS samplers in one stack: that one decides again later).
        let i = slots
            .iter()
            .position(|s| s.0 == sampler)
            .or_else(|| slots.iter().position(|s| s.0 == 0))
            .unwrap_or(PENDING_SLOTS - 1);
        slots[i] = entry;
        c.set(slots);
    });
}

/// Takes `sampler`'s pending decision for `event`'s callsite, tying its
/// annotation to `event`. `false` if `enabled` did not decide this event (the
/// callsite was not registered yet then): the caller decides it now.
#[inline]
pub(crate) fn adopt_pending(sampler: usize, event: &Event<'_>) -> bool {
    let meta = event.metadata() as *const _ as usize;
    let taken = PENDING
        .try_with(|c| {
            let mut slots = c.get();
            let i = slots.iter().position(|s| s.0 == sampler && s.1 == meta)?;
            let (bits, reason) = (slots[i].2, slots[i].3);
            slots[i] = (0, 0, 0, Reason::Whole);
            c.set(slots);
            Some(((bits != 0).then(|| f64::from_bits(bits)), reason))
        })
        .ok()
        .flatten();
    match taken {
        Some((rate, reason)) => {
            set_as(sampler, event, rate, reason);
            true
        }
        None => false,
    }
}

/// Forgets `sampler`'s early decision for `meta`'s callsite, if one is left
/// over from an event that never reached `event_enabled` (a combinator must
/// not mistake it for a decision about the next one).
#[inline]
pub(crate) fn clear_pending(sampler: usize, meta: &tracing_core::Metadata<'_>) {
    let meta = meta as *const _ as usize;
    let _ = PENDING.try_with(|c| {
        let mut slots = c.get();
        if let Some(i) = slots.iter().position(|s| s.0 == sampler && s.1 == meta) {
            slots[i] = (0, 0, 0, Reason::Whole);
            c.set(slots);
        }
    });
}

/// Records `sampler`'s decision for `event`: `Some(rate)` if it was kept at a
/// rate below one, `None` to say it carries no rate from this sampler.
///
/// The entries are kept most recent first: the new one goes in front, the
/// others move back until the sampler's previous entry (or an empty one) is
/// overwritten; with more samplers than slots the oldest entry falls off.
#[inline]
pub(crate) fn set(sampler: usize, event: &Event<'_>, rate: Option<f64>) {
    set_as(sampler, event, rate, Reason::of(rate));
}

/// [`set`] with the reason the sampler kept the event for.
#[inline]
pub(crate) fn set_as(sampler: usize, event: &Event<'_>, rate: Option<f64>, reason: Reason) {
    let (e, m) = tag(event);
    let mut carry = (sampler, e, m, rate.map_or(0, f64::to_bits), reason);
    let _ = KEPT.try_with(|slots| {
        for slot in slots {
            let old = slot.replace(carry);
            if old.0 == sampler || old.0 == 0 {
                return;
            }
            carry = old;
        }
    });
}

/// The rate `sampler` kept `event` at, if below one.
pub(crate) fn rate_of(sampler: usize, event: &Event<'_>) -> Option<f64> {
    decision(Some(sampler), event).and_then(|(rate, _)| rate)
}

/// What `sampler` (with `None`, the sampler that decided `event` last)
/// recorded for `event`: its rate if below one, and why it kept it; `None`
/// if it recorded nothing (a level that is never sampled, or another
/// sampler's event).
pub(crate) fn decision(sampler: Option<usize>, event: &Event<'_>) -> Option<(Option<f64>, Reason)> {
    let (e, m) = tag(event);
    KEPT.try_with(|slots| {
        slots
            .iter()
            .map(Cell::get)
            .find(|&(s, le, lm, _, _)| {
                s != 0 && sampler.is_none_or(|id| id == s) && le == e && lm == m
            })
            .map(|(_, _, _, bits, reason)| ((bits != 0).then(|| f64::from_bits(bits)), reason))
    })
    .ok()
    .flatten()
}

/// The rate `event` was kept at by the sampler that decided it last, if below
/// one. Right with one sampler; with several, which rate applies depends on
/// the layer: bind the formatter with
/// [`Annotated::for_sampler`](crate::Annotated::for_sampler).
pub fn sample_rate(event: &Event<'_>) -> Option<f64> {
    decision(None, event).and_then(|(rate, _)| rate)
}

/// A [`FormatEvent`] wrapper that adds the sample rate to events kept at a rate
/// below one: ` sample_rate=0.05` at the end of a text line, `"sample_rate":0.05`
/// as the first member of a JSON object. Other events are written unchanged.
///
/// ```
/// use sampling_layer::{Annotated, SamplingFilter};
/// use tracing_subscriber::{fmt, prelude::*};
///
/// let sampler = SamplingFilter::try_new("0.5").unwrap();
/// let layer = fmt::layer().event_format(Annotated::new(fmt::format().compact()));
/// let _subscriber = tracing_subscriber::registry().with(layer.with_filter(sampler));
/// ```
///
/// With more than one sampler in a subscriber, bind each formatter to the
/// sampler that filters its layer, so every line carries its own sampler's
/// rate ([`Annotated::new`] alone writes the rate of the sampler that decided
/// the event last, which is right only when there is one):
///
/// ```
/// use sampling_layer::{Annotated, SamplingFilter};
/// use tracing_subscriber::{fmt, prelude::*};
///
/// let (a, b) = (SamplingFilter::try_new("0.5").unwrap(), SamplingFilter::try_new("0.1").unwrap());
/// let fa = Annotated::new(fmt::format()).for_sampler(&a.handle());
/// let fb = Annotated::new(fmt::format().json()).for_sampler(&b.handle());
/// let _subscriber = tracing_subscriber::registry()
///     .with(fmt::layer().event_format(fa).with_filter(a))
///     .with(fmt::layer().json().event_format(fb).with_filter(b));
/// ```
///
/// Annotated lines are written without ANSI colours: the rate is inserted
/// into a line the inner formatter wrote to a `String`, and tracing-subscriber
/// 0.3 (0.3.23) gives a `Writer` over a `String` no way to keep colours
/// (`Writer::new` turns them off; `Writer::with_ansi` is crate-private).
/// Events that carry no rate keep the layer's colours.
///
#[doc = include_str!("annotate.md")]
#[derive(Debug, Clone, Default)]
pub struct Annotated<F> {
    inner: F,
    /// The bound sampler's id, and the sampler itself, kept alive so that the
    /// id cannot be reused by another sampler while this formatter lives.
    sampler: Option<(usize, Arc<dyn fmt::Debug + Send + Sync>)>,
}

impl<F> Annotated<F> {
    /// Wraps a formatter (`fmt::format()`, `fmt::format().json()`, or your own).
    pub fn new(inner: F) -> Self {
        Annotated {
            inner,
            sampler: None,
        }
    }

    /// Binds the formatter to one sampler (see `for_sampler`).
    pub(crate) fn bind(mut self, id: usize, sampler: Arc<dyn fmt::Debug + Send + Sync>) -> Self {
        self.sampler = Some((id, sampler));
        self
    }
}

impl<S, N, F> FormatEvent<S, N> for Annotated<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let rate = match &self.sampler {
            Some((id, _)) => rate_of(*id, event),
            None => sample_rate(event),
        };
        let Some(rate) = rate else {
            return self.inner.format_event(ctx, writer, event);
        };
        // Only kept, sampled events pay for this: the inner line goes into a
        // buffer the thread reuses, then out in pieces with the rate inserted
        // (no allocation once the buffer has grown, no second string). Taken
        // out of its cell, so a formatter that logs while formatting finds an
        // empty buffer rather than a borrowed one.
        let mut line = LINE.try_with(Cell::take).unwrap_or_default();
        line.clear();
        let written = self
            .inner
            .format_event(ctx, Writer::new(&mut line), event)
            .and_then(|()| write_with_rate(&mut writer, &line, rate));
        // A line far longer than usual is not kept for the next one.
        if line.capacity() <= MAX_KEPT_BUFFER {
            let _ = LINE.try_with(|c| c.set(line));
        }
        written
    }
}

thread_local! {
    /// The thread's buffer for an annotated line (see `format_event`).
    static LINE: Cell<String> = const { Cell::new(String::new()) };
}

/// The largest buffer a thread keeps between lines: 64 KiB.
const MAX_KEPT_BUFFER: usize = 64 << 10;

/// Writes a formatted record with the rate put in: first member of a JSON
/// object, or before the trailing newline of a text line.
fn write_with_rate(out: &mut impl fmt::Write, line: &str, rate: f64) -> fmt::Result {
    let trimmed = line.trim_end_matches(['\n', '\r']);
    let ending = &line[trimmed.len()..];
    if trimmed.starts_with('{') && trimmed.ends_with('}') {
        let body = &trimmed[1..];
        let sep = if body.trim_start().starts_with('}') {
            ""
        } else {
            ","
        };
        write!(out, "{{\"sample_rate\":{rate}{sep}")?;
        out.write_str(body)?;
    } else {
        out.write_str(trimmed)?;
        write!(out, " sample_rate={rate}")?;
    }
    out.write_str(ending)
}

#[cfg(all(test, not(sampling_layer_loom)))]
fn insert_rate(line: &str, rate: f64) -> String {
    let mut out = String::new();
    write_with_rate(&mut out, line, rate).expect("a String takes every write");
    out
}

#[cfg(all(test, not(sampling_layer_loom)))]
mod tests {
    use super::*;
    use tracing_core::{callsite::Callsite, field::FieldSet, metadata::Kind, Level, Metadata};

    struct Cs;
    static CS: Cs = Cs;
    static META: Metadata<'static> = Metadata::new(
        "e",
        "app",
        Level::INFO,
        None,
        None,
        None,
        FieldSet::new(&[], tracing_core::identify_callsite!(&CS)),
        Kind::EVENT,
    );
    impl Callsite for Cs {
        fn set_interest(&self, _: tracing_core::subscriber::Interest) {}
        fn metadata(&self) -> &Metadata<'_> {
            &META
        }
    }

    #[test]
    fn each_sampler_keeps_its_own_rate_and_the_last_decider_is_the_unbound_one() {
        let values = META.fields().value_set::<[(
            &tracing_core::field::Field,
            Option<&dyn tracing_core::field::Value>,
        ); 0]>(&[]);
        let event = Event::new(&META, &values);
        set(1, &event, Some(0.5));
        set(2, &event, Some(0.25));
        assert_eq!(
            (rate_of(1, &event), rate_of(2, &event)),
            (Some(0.5), Some(0.25))
        );
        assert_eq!(sample_rate(&event), Some(0.25));
        // Sampler 1 decides again (say, an `or` kept it for the other side).
        set(1, &event, None);
        assert_eq!((rate_of(1, &event), rate_of(2, &event)), (None, Some(0.25)));
        assert_eq!(sample_rate(&event), None);
        // More samplers than slots: the least recent entry falls off.
        for id in 3..=(SLOTS + 2) {
            set(id, &event, Some(0.1));
        }
        assert_eq!(rate_of(2, &event), None);
        assert_eq!(rate_of(SLOTS + 2, &event), Some(0.1));
    }

    #[test]
    fn inserts_into_text_and_json() {
        assert_eq!(
            insert_rate("INFO a: hi x=1\n", 0.05),
            "INFO a: hi x=1 sample_rate=0.05\n"
        );
        assert_eq!(insert_rate("INFO a: hi", 0.5), "INFO a: hi sample_rate=0.5");
        assert_eq!(
            insert_rate("{\"level\":\"INFO\"}\n", 0.25),
            "{\"sample_rate\":0.25,\"level\":\"INFO\"}\n"
        );
        assert_eq!(insert_rate("{}\n", 0.25), "{\"sample_rate\":0.25}\n");
    }
}
