//! `PlainFull` + `PlainFields` + `CachedSystemTime` against `fmt::format()` +
//! `DefaultFields` with the same timer, in one subscriber, over one corpus: every line
//! compared whole, nothing masked.

use backpressure_writer::format::{CachedSystemTime, PlainFields, PlainFull};
use sampling_layer::Annotated;
use tracing_subscriber::fmt;

use crate::clock;
use crate::corpus::{annotated_beside_fmt, beside_fmt, Capture};

/// Runs the corpus through `fmt`'s formatters and ours; returns both outputs.
fn both(ansi: bool, sanitize: bool) -> (Vec<String>, Vec<String>, usize) {
    let ours = Capture::default();
    let our_layer = fmt::layer()
        .with_ansi(ansi)
        .with_ansi_sanitization(sanitize)
        .with_writer(ours.clone())
        .fmt_fields(PlainFields::new())
        .event_format(PlainFull::new().with_timer(CachedSystemTime::with_clock(clock::now)));
    let (stock, n) = beside_fmt(ansi, sanitize, our_layer);
    (stock, ours.lines(), n)
}

pub(crate) fn assert_same(stock: &[String], ours: &[String], events: usize) {
    assert_eq!(stock.len(), events, "one line per event: {stock:#?}");
    for (i, (s, o)) in stock.iter().zip(ours).enumerate() {
        assert_eq!(o, s, "line {i}");
    }
    assert_eq!(ours.len(), stock.len());
}

#[test]
fn plain_output_is_fmts_byte_for_byte() {
    let (stock, ours, n) = both(false, true);
    assert_same(&stock, &ours, n);
    // The corpus reaches what it means to: escapes, sources, span fields, a log record.
    let all = stock.join("\n");
    for needle in [
        "2024-12-31T23:59:59.999999Z  INFO",
        "\\x1b[31m bel \\x07 bs \\x08 ff \\x0c del \\x7f c1 \\u{85}\\u{9f}",
        "error.sources=[disk \\x1b[31mfull]",
        "request{method=GET uri=/work?x=1 version=\"HTTP/1.1\" late=7}:inner:deeper{id=9 name=\"x\\u{1b}y\" id=10}:",
        "string names with r# quoted=1 flag=true",
        "legacy::dep: from log 1",
    ] {
        assert!(all.contains(needle), "{needle:?} not in\n{all}");
    }
}

#[test]
fn plain_output_without_sanitizing_is_fmts_byte_for_byte() {
    let (stock, ours, n) = both(false, false);
    assert_same(&stock, &ours, n);
    assert!(stock.join("\n").contains("esc \u{1b}[31m bel"));
}

#[test]
fn coloured_output_is_fmts_byte_for_byte() {
    let (stock, ours, n) = both(true, true);
    assert_same(&stock, &ours, n);
    assert!(
        stock[0].contains("\u{1b}["),
        "colours are on: {:?}",
        stock[0]
    );
}

/// `sampling-layer`'s `Annotated` around both formatters, under one sampler, so both see
/// the same kept events with the same rate.
#[test]
fn annotated_output_is_fmts_byte_for_byte() {
    let ours = Capture::default();
    let our_layer = fmt::layer()
        .with_ansi(false)
        .with_writer(ours.clone())
        .fmt_fields(PlainFields::new())
        .event_format(Annotated::new(
            PlainFull::new().with_timer(CachedSystemTime::with_clock(clock::now)),
        ));
    let stock = annotated_beside_fmt(our_layer);
    assert_same(&stock, &ours.lines(), stock.len());
}
