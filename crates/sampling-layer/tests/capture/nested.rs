//! Nested capturing spans: one trigger writes the lines of every capturing
//! span it is inside in the order they were logged, and a capturing span that
//! closes cleanly hands its lines to the capturing span around it (within that
//! span's bounds) instead of discarding them.

use crate::support::capture::balanced;
use crate::support::Output;
use sampling_layer::capture::Capture;
use sampling_layer::{Breaker, SamplingFilter, SamplingFilterBuilder};

/// `request` and `db` spans both capture; everything else is sampled out.
fn builder() -> SamplingFilterBuilder {
    SamplingFilter::builder()
        .breaker(Breaker::disabled())
        .capture(Capture::default().span("request").span("db"))
}

/// Runs `f` under a text layer through a `CaptureWriter`; returns each line's
/// message (what follows the last `": "`).
fn run(sampler: SamplingFilter, f: impl FnOnce()) -> Vec<String> {
    let out = Output::new();
    let sub = crate::support::capture::text_subscriber(sampler, out.clone());
    tracing::subscriber::with_default(sub, f);
    out.lines()
        .iter()
        .map(|l| l.rsplit(": ").next().unwrap().to_owned())
        .collect()
}

#[test]
fn one_trigger_writes_the_lines_of_nested_spans_in_the_order_they_were_logged() {
    let sampler = builder().parse("0").unwrap();
    let handle = sampler.handle();
    let lines = run(sampler, || {
        let request = tracing::info_span!("request");
        let _r = request.enter();
        tracing::debug!("e1");
        let db = tracing::info_span!("db");
        db.in_scope(|| tracing::debug!("e2"));
        tracing::debug!("e3");
        let _d = db.enter();
        tracing::debug!("e4");
        tracing::error!("boom");
    });
    assert_eq!(
        lines,
        [
            "e1 captured=true",
            "e2 captured=true",
            "e3 captured=true",
            "e4 captured=true",
            "boom"
        ]
    );
    let c = handle.stats().capture;
    // One trigger, though it flushed two spans' buffers.
    assert_eq!((c.captured, c.flushed, c.triggers), (4, 4, 1));
    assert!(balanced(&c));
}

#[test]
fn an_inner_span_that_closes_cleanly_hands_its_lines_to_the_outer_one() {
    let sampler = builder().parse("0").unwrap();
    let handle = sampler.handle();
    let lines = run(sampler, || {
        let request = tracing::info_span!("request");
        let _r = request.enter();
        tracing::debug!("e1");
        tracing::info_span!("db").in_scope(|| {
            tracing::debug!("e2");
            tracing::debug!("e3");
        });
        tracing::debug!("e4");
        tracing::error!("boom");
    });
    assert_eq!(
        lines,
        [
            "e1 captured=true",
            "e2 captured=true",
            "e3 captured=true",
            "e4 captured=true",
            "boom"
        ]
    );
    let c = handle.stats().capture;
    assert_eq!((c.captured, c.flushed, c.discarded), (4, 4, 0));
    assert!(balanced(&c));
}

#[test]
fn inherited_lines_are_held_within_the_outer_spans_bound_newest_first_kept() {
    let sampler = SamplingFilter::builder()
        .breaker(Breaker::disabled())
        .capture(Capture::default().span("request").span("db").span_lines(3))
        .parse("0")
        .unwrap();
    let handle = sampler.handle();
    let lines = run(sampler, || {
        let request = tracing::info_span!("request");
        let _r = request.enter();
        tracing::debug!("e1");
        tracing::info_span!("db").in_scope(|| {
            tracing::debug!("e2");
            tracing::debug!("e3");
            tracing::debug!("e4");
        });
        tracing::error!("boom");
    });
    assert_eq!(
        lines,
        [
            "e2 captured=true",
            "e3 captured=true",
            "e4 captured=true",
            "boom"
        ]
    );
    let c = handle.stats().capture;
    assert_eq!(
        (c.captured, c.flushed, c.evicted_span_cap, c.buffered_lines),
        (4, 3, 1, 0)
    );
    assert!(balanced(&c));
}

#[test]
fn lines_handed_up_are_discarded_with_the_outermost_span_that_closes_cleanly() {
    let sampler = builder().parse("0").unwrap();
    let handle = sampler.handle();
    let lines = run(sampler, || {
        let request = tracing::info_span!("request");
        let _r = request.enter();
        tracing::debug!("e1");
        tracing::info_span!("db").in_scope(|| tracing::debug!("e2"));
        let c = handle.stats().capture;
        // Handed up, not discarded: still held, in one buffer.
        assert_eq!((c.discarded, c.buffered_lines, c.buffered_spans), (0, 2, 1));
    });
    assert!(lines.is_empty(), "{lines:?}");
    let c = handle.stats().capture;
    assert_eq!((c.captured, c.discarded, c.buffered_bytes), (2, 2, 0));
    assert!(balanced(&c));
}

#[test]
fn a_capturing_span_with_no_capturing_parent_still_discards_on_close() {
    let sampler = builder().parse("0").unwrap();
    let handle = sampler.handle();
    let lines = run(sampler, || {
        tracing::info_span!("db").in_scope(|| tracing::debug!("gone"));
        let request = tracing::info_span!("request");
        let _r = request.enter();
        tracing::error!("boom");
    });
    assert_eq!(lines, ["boom"]);
    let c = handle.stats().capture;
    assert_eq!((c.captured, c.discarded, c.flushed), (1, 1, 0));
}
