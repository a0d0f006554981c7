//! Records through the whole writer: `DeferredLayer` on the caller, the queue, `Decoded`
//! on the worker. The accounting counts records as lines, whatever the sink does.

use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use backpressure_writer::deferred::{Decoded, DeferredLayer};
use backpressure_writer::format::CachedSystemTime;
use backpressure_writer::{NonBlocking, NonBlockingBuilder, Overflow};
use sampling_layer::capture::{Capture, CaptureLayer, CaptureWriter};
use sampling_layer::{Breaker, SamplingFilter};
use tracing_subscriber::prelude::*;

use crate::support::partial::Partial;
use crate::support::{assert_accounting, Gate};

fn at_second() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

fn line(i: u64) -> String {
    format!("2023-11-14T22:13:20.000000Z  INFO deferred_test: event i={i}\n")
}

/// A writer into `Decoded` around `sink`, with the line "first" held in the sink's first
/// call: what is logged next waits, to reach the sink as one batch.
fn first_held_in(sink: &Partial) -> (NonBlocking, backpressure_writer::WorkerGuard) {
    let (mut writer, guard) = NonBlockingBuilder::default()
        .drop_report(false)
        .finish(Decoded::new(sink.clone()));
    writer.write_all(b"first\n").unwrap();
    sink.wait_first_call();
    (writer, guard)
}

#[test]
fn a_sink_failing_part_way_settles_every_record_exactly_once() {
    let sink = Partial::new(line(0).len() * 2 + 10);
    let (writer, guard) = first_held_in(&sink);
    // Ten records queued while "first" is in the sink: the next batch, one chunk.
    let layer = DeferredLayer::new(writer.clone()).with_clock(at_second);
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        for i in 0..10u64 {
            tracing::info!(target: "deferred_test", i, "event");
        }
    });
    sink.release();
    let _ = guard.flush();
    let s = writer.stats();
    // Two decoded lines went whole into the sink, the third in part: two written, eight
    // failed, the torn third among them.
    assert_eq!(
        (s.submitted, s.lines_written, s.dropped.write_failed),
        (11, 3, 8),
        "{s:#?}"
    );
    assert_accounting(&s);
    let out = String::from_utf8(sink.out()).unwrap();
    assert_eq!(
        out,
        format!("first\n{}{}{}", line(0), line(1), &line(2)[..10])
    );
}

/// A sink that fails once, part-way through a line, and then takes everything: the torn
/// line and the rest of its batch are failed, as without `Decoded`; the torn line is not
/// sent again after its first part, and the next batch is written whole.
#[test]
fn a_sink_failing_once_part_way_is_not_sent_the_torn_record_again() {
    let sink = Partial::recovering(line(0).len() * 2 + 10);
    let (writer, guard) = first_held_in(&sink);
    let layer = DeferredLayer::new(writer.clone()).with_clock(at_second);
    let dispatch: tracing::Dispatch = tracing_subscriber::registry().with(layer).into();
    let log = |from: u64, to: u64| {
        tracing::dispatcher::with_default(&dispatch, || {
            for i in from..to {
                tracing::info!(target: "deferred_test", i, "event");
            }
        })
    };
    log(0, 10);
    sink.release();
    let _ = guard.flush();
    let s = writer.stats();
    assert_eq!(
        (
            s.submitted,
            s.lines_written,
            s.dropped.write_failed,
            s.write_errors
        ),
        (11, 3, 8, 1),
        "{s:#?}"
    );
    log(10, 12);
    guard.flush().expect("the sink recovered");
    let s = writer.stats();
    assert_eq!((s.submitted, s.lines_written), (13, 5), "{s:#?}");
    assert_accounting(&s);
    let out = String::from_utf8(sink.out()).unwrap();
    assert_eq!(
        out,
        format!(
            "first\n{}{}{}{}{}",
            line(0),
            line(1),
            &line(2)[..10],
            line(10),
            line(11)
        )
    );
}

#[test]
fn records_and_text_lines_keep_their_order_from_many_threads() {
    let (gate, sink) = Gate::open_sink();
    let (writer, guard) = NonBlockingBuilder::default()
        .overflow(Overflow::Block { timeout: None })
        .drop_report(false)
        .finish(Decoded::new(sink));
    let layer = DeferredLayer::new(writer.clone()).with_clock(at_second);
    let dispatch: tracing::Dispatch = tracing_subscriber::registry().with(layer).into();
    std::thread::scope(|scope| {
        for t in 0..4u64 {
            let (dispatch, mut writer) = (dispatch.clone(), writer.clone());
            scope.spawn(move || {
                tracing::dispatcher::with_default(&dispatch, || {
                    for i in 0..500u64 {
                        tracing::info!(target: "deferred_test", i = t * 1000 + i, "event");
                        writer
                            .write_all(format!("text {}\n", t * 1000 + i).as_bytes())
                            .unwrap();
                    }
                });
            });
        }
    });
    guard.flush().expect("flushed");
    let s = writer.stats();
    assert_eq!((s.submitted, s.lines_written), (4000, 4000), "{s:#?}");
    assert_accounting(&s);
    let lines = gate.lines();
    assert_eq!(lines.len(), 4000);
    for t in 0..4u64 {
        // Each thread's lines in its own order: record i, then text i.
        let mut expect = Vec::new();
        for i in 0..500u64 {
            expect.push(line(t * 1000 + i).trim_end().to_owned());
            expect.push(format!("text {}", t * 1000 + i));
        }
        let mine: Vec<&String> = lines.iter().filter(|l| expect.contains(l)).collect();
        assert_eq!(mine, expect.iter().collect::<Vec<_>>(), "thread {t}");
    }
}

thread_local! {
    /// A clock that moves a millisecond and a microsecond at each read, on this thread.
    static TICKS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

fn ticking() -> SystemTime {
    let n = TICKS.with(|t| {
        t.set(t.get() + 1);
        t.get()
    });
    at_second() + Duration::from_micros(n * 1_001)
}

/// Two requests in capturing spans at rate 0: the first fails (its steps are flushed,
/// marked, before its error), the second does not (its steps are discarded).
fn requests() {
    for (id, fail) in [(1u64, true), (2, false)] {
        let span = tracing::info_span!("request", id, path = %"/work");
        let _e = span.enter();
        for i in 0..3u64 {
            let inner = tracing::debug_span!("step", i);
            let _s = inner.enter();
            tracing::debug!(target: "deferred_test", i, ok = true, "stepping");
        }
        if fail {
            tracing::error!(target: "deferred_test", "failed");
        }
        tracing::info!(target: "deferred_test", "done");
    }
}

/// The lines of `requests` through capture, laid out by `layer_for`'s layer.
fn captured_lines<L>(
    decoded: bool,
    layer_for: impl FnOnce(CaptureWriter<NonBlocking>) -> L,
) -> Vec<String>
where
    L: tracing_subscriber::Layer<tracing_subscriber::Registry> + Send + Sync + 'static,
{
    let (gate, sink) = Gate::open_sink();
    let (writer, guard) = if decoded {
        NonBlockingBuilder::default().finish(Decoded::new(sink))
    } else {
        NonBlockingBuilder::default().finish(sink)
    };
    let sampler = SamplingFilter::builder()
        .breaker(Breaker::disabled())
        .capture(Capture::default().span("request"))
        .parse("deferred_test=0")
        .unwrap();
    let handle = sampler.handle();
    let layer = CaptureLayer::new(layer_for(CaptureWriter::new(writer, &handle)), &handle);
    TICKS.with(|t| t.set(0));
    tracing::subscriber::with_default(
        tracing_subscriber::registry().with(layer.with_filter(sampler)),
        requests,
    );
    guard.flush().expect("flushed");
    gate.lines()
}

#[test]
fn captured_records_are_laid_out_as_fmts_captured_lines() {
    let stock = captured_lines(false, |w| {
        tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .with_timer(CachedSystemTime::with_clock(ticking))
            .with_writer(w)
    });
    let ours = captured_lines(true, |w| DeferredLayer::new(w).with_clock(ticking));
    assert_eq!(ours, stock);
    // The failed request's three steps, marked, before its error; its `done` after the
    // error is captured again (and discarded), as are all of the other request's lines.
    assert_eq!(stock.len(), 3 + 1, "{stock:#?}");
    assert!(stock[0].ends_with(
        "DEBUG request{id=1 path=/work}:step{i=0}: deferred_test: stepping i=0 ok=true captured=true"
    ), "{stock:#?}");
    assert!(stock[3].ends_with("ERROR request{id=1 path=/work}: deferred_test: failed"));
}

#[cfg(feature = "json")]
#[test]
fn captured_json_records_are_laid_out_as_fmts_captured_json_lines() {
    let stock = captured_lines(false, |w| {
        tracing_subscriber::fmt::layer()
            .json()
            .with_timer(CachedSystemTime::with_clock(ticking))
            .with_writer(w)
    });
    let ours = captured_lines(true, |w| DeferredLayer::new(w).json().with_clock(ticking));
    assert_eq!(ours, stock);
    assert_eq!(stock.len(), 4, "{stock:#?}");
    assert!(
        stock[0].starts_with("{\"captured\":true,\"timestamp\""),
        "{stock:#?}"
    );
}

#[test]
fn large_values_arrive_whole_and_counted_once() {
    let (gate, sink) = Gate::open_sink();
    let (writer, guard) = NonBlockingBuilder::default().finish(Decoded::new(sink));
    let big = "x".repeat(300_000);
    let layer = DeferredLayer::new(writer.clone()).with_clock(at_second);
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        tracing::info!(target: "deferred_test", big = big.as_str(), "{}", big);
        tracing::info!(target: "deferred_test", i = 1u64, "event");
    });
    guard.flush().expect("flushed");
    let lines = gate.lines();
    assert_eq!(
        lines,
        [
            format!("2023-11-14T22:13:20.000000Z  INFO deferred_test: {big} big=\"{big}\""),
            line(1).trim_end().to_owned(),
        ]
    );
    let s = writer.stats();
    assert_eq!((s.submitted, s.lines_written), (2, 2), "{s:#?}");
    assert_accounting(&s);
}

#[test]
fn two_deferred_layers_share_a_spans_values_and_record_later_ones_once() {
    let (plain_gate, plain_sink) = Gate::open_sink();
    let (ansi_gate, ansi_sink) = Gate::open_sink();
    let (plain, plain_guard) = NonBlockingBuilder::default().finish(Decoded::new(plain_sink));
    let (ansi, ansi_guard) = NonBlockingBuilder::default().finish(Decoded::new(ansi_sink));
    let subscriber = tracing_subscriber::registry()
        .with(DeferredLayer::new(plain).with_clock(at_second))
        .with(
            DeferredLayer::new(ansi)
                .with_ansi(true)
                .with_clock(at_second),
        );
    tracing::subscriber::with_default(subscriber, || {
        let span = tracing::info_span!("request", id = 1u64, late = tracing::field::Empty);
        span.record("late", 2u64);
        let _e = span.enter();
        tracing::info!(target: "deferred_test", "inside");
    });
    plain_guard.flush().expect("flushed");
    ansi_guard.flush().expect("flushed");
    assert_eq!(
        plain_gate.lines(),
        ["2023-11-14T22:13:20.000000Z  INFO request{id=1 late=2}: deferred_test: inside"]
    );
    let ansi = ansi_gate.lines();
    assert_eq!(ansi.len(), 1);
    assert_eq!(ansi[0].matches("late").count(), 1, "{:?}", ansi[0]);
    assert!(
        ansi[0].contains("\u{1b}[3mlate\u{1b}[0m\u{1b}[2m=\u{1b}[0m2"),
        "{:?}",
        ansi[0]
    );
}

/// Two samplers, each filtering its own deferred layer: each line carries the rate of
/// the sampler that filters its layer, as `Annotated::for_sampler` writes it.
#[test]
fn each_layer_writes_the_rate_of_its_own_sampler() {
    let (half_gate, half_sink) = Gate::open_sink();
    let (quarter_gate, quarter_sink) = Gate::open_sink();
    let (half_writer, half_guard) = NonBlockingBuilder::default().finish(Decoded::new(half_sink));
    let (quarter_writer, quarter_guard) =
        NonBlockingBuilder::default().finish(Decoded::new(quarter_sink));
    fn layer<S>(
        writer: NonBlocking,
        sampler: SamplingFilter,
    ) -> tracing_subscriber::filter::Filtered<DeferredLayer<NonBlocking>, SamplingFilter, S>
    where
        S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a> + 'static,
    {
        let handle = sampler.handle();
        DeferredLayer::new(writer)
            .with_clock(at_second)
            .with_sample_rate(move |e| handle.sample_rate(e))
            .with_filter(sampler)
    }
    let subscriber = tracing_subscriber::registry()
        .with(layer(
            half_writer,
            SamplingFilter::try_new("deferred_test=1/2").unwrap(),
        ))
        .with(layer(
            quarter_writer,
            SamplingFilter::try_new("deferred_test=1/4").unwrap(),
        ));
    tracing::subscriber::with_default(subscriber, || {
        for i in 0..8u64 {
            tracing::info!(target: "deferred_test", i, "event");
        }
    });
    half_guard.flush().expect("flushed");
    quarter_guard.flush().expect("flushed");
    let rated = |lines: Vec<String>, rate: &str| {
        assert!(!lines.is_empty());
        for l in &lines {
            assert!(l.ends_with(&format!(" sample_rate={rate}")), "{l:?}");
        }
        lines.len()
    };
    // Deterministic 1 in N: exactly 4 and 2 of the 8.
    assert_eq!(rated(half_gate.lines(), "0.5"), 4);
    assert_eq!(rated(quarter_gate.lines(), "0.25"), 2);
}
