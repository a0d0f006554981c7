//! Context capture's bounds: per span (the newest lines stay) and in total
//! (the oldest spans' buffers go), counted, with the memory measured. (Its
//! own test binary: the counting allocator sees the whole process.)

use crate::support::capture::balanced;
use crate::support::counting::{live_bytes, serial};
use crate::support::Output;
use sampling_layer::capture::Capture;
use sampling_layer::{Breaker, SamplingFilter};

fn subscriber(sampler: SamplingFilter, out: &Output) -> impl tracing::Subscriber + Send + Sync {
    crate::support::capture::text_subscriber(sampler, out.clone())
}

#[test]
fn ten_thousand_events_in_one_failing_span_keep_the_newest_n_and_count_the_rest() {
    let _serial = serial();
    const N: u32 = 100;
    let out = Output::new();
    let sampler = SamplingFilter::builder()
        .breaker(Breaker::disabled())
        .capture(Capture::default().span("request").span_lines(N as usize))
        .parse("0")
        .unwrap();
    let handle = sampler.handle();
    tracing::subscriber::with_default(subscriber(sampler, &out), || {
        let span = tracing::info_span!("request");
        let _e = span.enter();
        for i in 0..10_000 {
            tracing::debug!(i, "step");
        }
        tracing::error!("failed");
    });
    let lines = out.lines();
    assert_eq!(lines.len(), N as usize + 1);
    for (n, line) in lines[..N as usize].iter().enumerate() {
        let i = 10_000 - N as usize + n;
        assert!(
            line.ends_with(&format!("step i={i} captured=true")),
            "{line}"
        );
    }
    let s = handle.stats().capture;
    assert_eq!(
        (s.captured, s.evicted_span_cap, s.flushed),
        (10_000, 10_000 - N as u64, N as u64)
    );
    assert!(balanced(&s));
}

#[test]
fn a_span_byte_bound_keeps_the_newest_lines_that_fit() {
    let _serial = serial();
    let out = Output::new();
    let sampler = SamplingFilter::builder()
        .breaker(Breaker::disabled())
        .capture(Capture::default().span("request").span_bytes(1_000))
        .parse("0")
        .unwrap();
    let handle = sampler.handle();
    tracing::subscriber::with_default(subscriber(sampler, &out), || {
        let span = tracing::info_span!("request");
        let _e = span.enter();
        for i in 0..1_000 {
            tracing::debug!(i, "step");
        }
        tracing::debug!(big = "x".repeat(2_000), "too large to keep");
        tracing::error!("failed");
    });
    let s = handle.stats().capture;
    let kept = out.count("captured=true") as u64;
    assert!(kept > 0 && kept < 30, "{kept}");
    assert_eq!(s.flushed, kept);
    assert_eq!(s.evicted_span_cap, 1_001 - kept);
    assert!(out.lines()[kept as usize - 1].ends_with("step i=999 captured=true"));
    assert!(balanced(&s));
}

#[test]
fn ten_thousand_open_spans_stay_under_the_total_byte_bound() {
    let _serial = serial();
    const SPANS: usize = 10_000;
    const BOUND: usize = 1 << 20;
    let out = Output::new();
    let sampler = SamplingFilter::builder()
        .breaker(Breaker::disabled())
        .capture(Capture::default().span("request").total_bytes(BOUND))
        .parse("0")
        .unwrap();
    let handle = sampler.handle();
    let mut peak = 0;
    tracing::subscriber::with_default(subscriber(sampler, &out), || {
        let spans: Vec<tracing::Span> = (0..SPANS)
            .map(|id| tracing::info_span!("request", id))
            .collect();
        // Warm up the thread's formatting buffer and the store's maps.
        for span in &spans[..8] {
            span.in_scope(|| tracing::debug!("warm"));
        }
        let before = live_bytes();
        for round in 0..3 {
            for span in &spans {
                span.in_scope(|| tracing::debug!(round, "a line of context for this request"));
                peak = peak.max(live_bytes() - before);
            }
        }
        let s = handle.stats().capture;
        assert!(s.buffered_bytes as usize <= BOUND, "{s:?}");
        assert!(s.evicted_spans > 0 && s.evicted_total_cap > 0, "{s:?}");
        assert!(balanced(&s));
        eprintln!(
            "{SPANS} open spans, 3 lines each: peak {peak} bytes held above the start, \
             bound {BOUND}, {} spans buffered, {} evicted",
            s.buffered_spans, s.evicted_spans
        );
        drop(spans);
    });
    // Measured: the store's own accounting covers what it allocates.
    assert!(peak as usize <= BOUND, "peak {peak} > bound {BOUND}");
    let s = handle.stats().capture;
    assert_eq!((s.buffered_spans, s.buffered_bytes), (0, 0));
    assert!(out.lines().is_empty());
}
