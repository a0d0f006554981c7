//! `DeferredLayer` + `Decoded` against `fmt::layer()` with the same clock, in one
//! subscriber, over the corpus: every line compared whole, nothing masked. The deferred
//! lines go the whole way: recorded on the caller, queued by the non-blocking writer,
//! laid out by `Decoded` on its worker.

use backpressure_writer::deferred::{Decoded, DeferredLayer};
use tracing_subscriber::Layer as _;

use crate::clock;
use crate::corpus::{annotated_beside_fmt, beside_fmt, beside_fmt_running, corpus, Capture};
use crate::lines::assert_same;

/// Runs the corpus through `fmt` and through a deferred layer; returns both outputs.
fn both(ansi: bool, sanitize: bool) -> (Vec<String>, Vec<String>, usize) {
    let ours = Capture::default();
    let (writer, guard) = backpressure_writer::non_blocking(Decoded::new(ours.clone()));
    let our_layer = DeferredLayer::new(writer)
        .with_ansi(ansi)
        .with_ansi_sanitization(sanitize)
        .with_clock(clock::now);
    let (stock, n) = beside_fmt(ansi, sanitize, our_layer);
    drop(guard);
    (stock, ours.lines(), n)
}

#[test]
fn deferred_lines_are_fmts_byte_for_byte() {
    let (stock, ours, n) = both(false, true);
    assert_same(&stock, &ours, n);
}

#[test]
fn deferred_lines_without_sanitizing_are_fmts_byte_for_byte() {
    let (stock, ours, n) = both(false, false);
    assert_same(&stock, &ours, n);
    assert!(stock.join("\n").contains("esc \u{1b}[31m bel"));
}

#[test]
fn deferred_coloured_lines_are_fmts_byte_for_byte() {
    let (stock, ours, n) = both(true, true);
    assert_same(&stock, &ours, n);
    assert!(
        stock[0].contains("\u{1b}["),
        "colours are on: {:?}",
        stock[0]
    );
}

/// `Annotated` around `fmt`'s format against the deferred layer asking
/// `sampling_layer::sample_rate`, both under one sampler.
#[test]
fn deferred_annotated_lines_are_fmts_byte_for_byte() {
    let ours = Capture::default();
    let (writer, guard) = backpressure_writer::non_blocking(Decoded::new(ours.clone()));
    let our_layer = DeferredLayer::new(writer)
        .with_clock(clock::now)
        .with_sample_rate(sampling_layer::sample_rate);
    let stock = annotated_beside_fmt(our_layer);
    drop(guard);
    assert_same(&stock, &ours.lines(), stock.len());
}

/// More spans open at once than a layer's table of span values holds (1 024 slots, a
/// span taking one of the four from its home on): the rest keep their values in their
/// extensions. Each span's line shows its own values, after later `record`s too, and
/// after half of them closed and new spans took their slots and ids.
#[test]
fn more_open_spans_than_the_layers_table_holds_show_their_own_values() {
    let ours = Capture::default();
    let (writer, guard) = backpressure_writer::NonBlockingBuilder::default()
        .buffered_lines_limit(1 << 16)
        .overflow(backpressure_writer::Overflow::Block { timeout: None })
        .finish(Decoded::new(ours.clone()));
    let our_layer = DeferredLayer::new(writer).with_clock(clock::now);
    let work = || {
        let open = |from: u64, to: u64| -> Vec<tracing::Span> {
            (from..to)
                .map(|i| {
                    let peer = format!("10.0.{}.{}", i / 256, i % 256);
                    tracing::info_span!("conn", id = i, peer = %peer, late = tracing::field::Empty)
                })
                .collect()
        };
        let mut spans = open(0, 3000);
        let mut events = 0;
        for (i, span) in spans.iter().enumerate() {
            span.in_scope(|| tracing::info!(n = i, "first"));
            events += 1;
        }
        for (i, span) in spans.iter().enumerate().filter(|(i, _)| i % 3 == 0) {
            span.record("late", i as u64);
            span.in_scope(|| tracing::warn!("after a record"));
            events += 1;
        }
        spans.retain(|s| s.id().is_some_and(|id| id.into_u64() % 2 == 0));
        spans.extend(open(5000, 6500));
        for span in &spans {
            span.in_scope(|| tracing::info!("again"));
            events += 1;
        }
        events
    };
    let (stock, n) = beside_fmt_running(false, true, our_layer, work);
    drop(guard);
    assert!(n > 6000, "{n} events");
    assert_same(&stock, &ours.lines(), n);
    let all = stock.join("\n");
    for needle in [
        "conn{id=2999 peer=10.0.11.183}: ",
        "conn{id=2997 peer=10.0.11.181 late=2997}: ",
        "conn{id=6499 peer=10.0.25.99}: ",
    ] {
        assert!(all.contains(needle), "{needle:?} not in the lines");
    }
}

/// Two deferred layers in one stack (each its own table, sharing values a span keeps in
/// its extensions): both write `fmt`'s lines.
#[test]
fn two_deferred_layers_in_one_stack_both_write_fmts_lines() {
    let (first, second) = (Capture::default(), Capture::default());
    let (w1, g1) = backpressure_writer::non_blocking(Decoded::new(first.clone()));
    let (w2, g2) = backpressure_writer::non_blocking(Decoded::new(second.clone()));
    let layers = DeferredLayer::new(w1)
        .with_clock(clock::now)
        .and_then(DeferredLayer::new(w2).with_clock(clock::now));
    let (stock, n) = beside_fmt_running(false, true, layers, corpus);
    drop((g1, g2));
    assert_same(&stock, &first.lines(), n);
    assert_same(&stock, &second.lines(), n);
}

/// `fmt::layer().json()` against the deferred layer's JSON, with and without `Annotated`.
#[cfg(feature = "json")]
mod json {
    use backpressure_writer::format::CachedSystemTime;
    use sampling_layer::{Annotated, SamplingFilter};
    use tracing_subscriber::fmt;
    use tracing_subscriber::prelude::*;

    use super::*;

    /// `fmt`'s JSON and ours with the span members as given (`"span"`, `"spans"`).
    fn both(annotated: bool, members: (bool, bool)) -> (Vec<String>, Vec<String>) {
        let (stock, ours) = (Capture::default(), Capture::default());
        let (writer, guard) = backpressure_writer::non_blocking(Decoded::new(ours.clone()));
        let format = fmt::format()
            .json()
            .with_current_span(members.0)
            .with_span_list(members.1)
            .with_timer(CachedSystemTime::with_clock(clock::now));
        let stock_layer = fmt::layer().json().with_writer(stock.clone());
        let our_layer = DeferredLayer::new(writer)
            .json()
            .with_current_span(members.0)
            .with_span_list(members.1)
            .with_clock(clock::now);
        let runs = if annotated { 20 } else { 1 };
        let emit = move || {
            for _ in 0..runs {
                corpus();
            }
        };
        if annotated {
            let stock_layer = stock_layer.event_format(Annotated::new(format));
            let our_layer = our_layer.with_sample_rate(sampling_layer::sample_rate);
            let sampler = SamplingFilter::try_new("0.5").expect("directives");
            let subscriber = tracing_subscriber::registry()
                .with(stock_layer.and_then(our_layer).with_filter(sampler));
            tracing::subscriber::with_default(subscriber, emit);
        } else {
            let stock_layer = stock_layer.event_format(format);
            let subscriber = tracing_subscriber::registry()
                .with(stock_layer)
                .with(our_layer)
                .with(tracing_subscriber::filter::LevelFilter::TRACE);
            tracing::subscriber::with_default(subscriber, emit);
        }
        drop(guard);
        (stock.lines(), ours.lines())
    }

    #[test]
    fn deferred_json_lines_are_fmts_byte_for_byte() {
        let (stock, ours) = both(false, (true, true));
        assert_same(&stock, &ours, stock.len());
        let all = stock.join("\n");
        for needle in [
            "\"span\":{\"k\":1,\"name\":\"other\"}",
            "\"spans\":[{\"late\":7,\"method\":\"GET\"",
            "\"target\":\"legacy::dep\"",
        ] {
            assert!(all.contains(needle), "{needle:?} not in\n{all}");
        }
    }

    #[test]
    fn deferred_annotated_json_lines_are_fmts_byte_for_byte() {
        let (stock, ours) = both(true, (true, true));
        assert!(stock.iter().any(|l| l.starts_with("{\"sample_rate\":0.5,")));
        assert_same(&stock, &ours, stock.len());
    }

    #[test]
    fn deferred_json_lines_without_span_members_are_fmts_byte_for_byte() {
        for members in [(false, true), (true, false), (false, false)] {
            let (stock, ours) = both(false, members);
            assert_same(&stock, &ours, stock.len());
            let all = stock.join("\n");
            assert_eq!(all.contains("\"span\":"), members.0, "{members:?}");
            assert_eq!(all.contains("\"spans\":"), members.1, "{members:?}");
        }
    }
}
