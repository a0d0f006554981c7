//! No heap allocation per line on the producer side once the buffers have grown: the
//! counting global allocator, counting this thread's allocations.

mod support;

use std::io::Write;

use backpressure_writer::NonBlockingBuilder;
use support::counting::{allocations_in, Counting};
use support::{assert_accounting, Gate};
use tracing_subscriber::fmt::MakeWriter;

#[global_allocator]
static GLOBAL: Counting = Counting;

const CAPACITY: usize = 1_000;
const LINE: &[u8] = b"2026-01-01T00:00:00.000000Z  INFO request: handled path=/api/v1/items status=200 took_us=1234 bytes=5678 ok\n";

#[test]
fn the_counter_counts() {
    assert_eq!(
        allocations_in(|| drop(std::hint::black_box(vec![1u8; 10]))),
        1
    );
}

#[test]
fn producer_path_does_not_allocate_per_line() {
    // The worker is held in the sink's `flush`, where it holds no lines, so the producer
    // can fill a whole shared buffer: done twice, both of the worker's two buffers reach
    // full capacity before anything is counted.
    let (gate, sink) = Gate::closed_on_flush();
    let (mut w, guard) = NonBlockingBuilder::default()
        .buffered_lines_limit(CAPACITY)
        .keep_capacity(CAPACITY)
        .lossy(false)
        .drop_report(false)
        .finish(sink);
    let mut warn = w.keeping();
    let fill = |w: &mut backpressure_writer::NonBlocking,
                warn: &mut backpressure_writer::NonBlocking| {
        for _ in 0..CAPACITY {
            w.write_all(LINE).unwrap();
            warn.write_all(LINE).unwrap();
        }
    };
    w.write_all(LINE).unwrap();
    gate.wait_arrivals(1); // written and stuck in flush: nothing buffered
    fill(&mut w, &mut warn); // buffer A grows to capacity
    gate.permit(1); // the worker takes A, writes it, and sticks in the next flush
    gate.wait_arrivals(2);
    fill(&mut w, &mut warn); // buffer B grows to capacity
    gate.open();
    guard.flush().unwrap();

    let allocations = allocations_in(|| {
        for _ in 0..10_000 {
            w.write_all(LINE).unwrap();
        }
        for _ in 0..1_000 {
            warn.write_all(LINE).unwrap();
        }
        // Through the MakeWriter path that fmt::Layer uses, too.
        for _ in 0..1_000 {
            w.make_writer().write_all(LINE).unwrap();
        }
    });
    assert_eq!(allocations, 0, "the producer allocated");
    guard.flush().unwrap();
    let s = w.stats();
    assert_eq!(s.lines_written, 1 + 4 * CAPACITY as u64 + 12_000);
    assert_eq!(s.dropped.total(), 0);
    assert_accounting(&s);
}

/// Allocations on this thread for `spans` request spans created, entered and closed
/// under `dispatch`, after a warm-up (slab pages, thread-locals, the extension map).
fn span_allocations(dispatch: tracing::Dispatch, spans: u64) -> u64 {
    tracing::dispatcher::with_default(&dispatch, || {
        // Fields as tower-http's `TraceLayer` records them: two `%` borrows and a `?`.
        let span = || {
            let s = tracing::debug_span!(
                "request",
                method = %"GET",
                uri = %"/work?page=2&sort=asc",
                version = ?"HTTP/1.1",
            );
            drop(s.enter());
        };
        for _ in 0..16 {
            span();
        }
        allocations_in(|| {
            for _ in 0..spans {
                span();
            }
        })
    })
}

/// `fmt::Layer` formats a span's fields into a new `String` when the span is created;
/// `PlainFields` hands the text over in one write, so that `String` is allocated once
/// (`DefaultFields`' piece-by-piece writes grow it through 8, 16, 32 and 64 bytes).
#[test]
fn plain_fields_allocate_a_span_s_text_once() {
    use backpressure_writer::format::PlainFields;
    use tracing_subscriber::{fmt, prelude::*};
    const SPANS: u64 = 1_000;
    // Per span, rounded: a stray allocation of the registry's slab (a page now and then)
    // does not move it, one more allocation per span does.
    let per_span = |n: u64| (n + SPANS / 2) / SPANS;
    let layer = || fmt::layer().with_ansi(false).with_writer(std::io::sink);
    let bare = span_allocations(tracing_subscriber::registry().into(), SPANS);
    let stock = span_allocations(tracing_subscriber::registry().with(layer()).into(), SPANS);
    let plain = span_allocations(
        tracing_subscriber::registry()
            .with(layer().fmt_fields(PlainFields::new()))
            .into(),
        SPANS,
    );
    // Per span: the extension's box and the fields' `String`, nothing else; `fmt`'s own
    // field formatter three more for the `String`'s growth.
    assert_eq!(per_span(bare), 0, "bare {bare}");
    assert_eq!(per_span(plain), 2, "plain {plain}");
    assert_eq!(per_span(stock), 5, "stock {stock}");
}

/// A `DeferredLayer` keeps a span's values in a slot of its own table: a request span
/// costs it no allocation at all (in its extensions it cost one: the extension's box);
/// values too long for a slot go to the extensions: the box and the values' `Vec`.
#[test]
fn a_deferred_request_span_does_not_allocate() {
    use backpressure_writer::deferred::{Decoded, DeferredLayer};
    use tracing_subscriber::prelude::*;
    const SPANS: u64 = 1_000;
    let per_span = |n: u64| (n + SPANS / 2) / SPANS;
    let (writer, guard) = backpressure_writer::non_blocking(Decoded::new(std::io::sink()));
    let dispatch: tracing::Dispatch = tracing_subscriber::registry()
        .with(DeferredLayer::new(writer))
        .into();
    let short = span_allocations(dispatch.clone(), SPANS);
    assert_eq!(per_span(short), 0, "short values {short}");
    let long = tracing::dispatcher::with_default(&dispatch, || {
        let uri = "/".repeat(200);
        let span = || drop(tracing::debug_span!("request", uri = %uri).entered());
        span();
        allocations_in(|| (0..SPANS).for_each(|_| span()))
    });
    assert_eq!(per_span(long), 2, "values past a slot {long}");
    drop(guard);
}

/// A kept event in a span through `fmt::Layer` with the `format` module's formatters: no
/// allocation per event once the thread's buffers have grown (with tracing-subscriber's
/// default `smallvec` feature: without it, walking the span scope from the root collects
/// it into a `Vec`, for `fmt`'s own format as for ours). The writer's side is
/// `producer_path_does_not_allocate_per_line`'s.
#[test]
fn a_kept_event_formatted_by_the_format_module_does_not_allocate() {
    use backpressure_writer::format::{PlainFields, PlainFull};
    use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
    use tracing_subscriber::{fmt, prelude::*};

    /// Counts the lines `fmt` hands it, and drops them.
    struct Lines(AtomicU64);
    impl Write for &Lines {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.fetch_add(1, Relaxed);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    static LINES: Lines = Lines(AtomicU64::new(0));

    let layer = fmt::layer()
        .with_ansi(false)
        .with_writer(|| &LINES)
        .fmt_fields(PlainFields::new())
        .event_format(PlainFull::new());
    let dispatch: tracing::Dispatch = tracing_subscriber::registry().with(layer).into();
    tracing::dispatcher::with_default(&dispatch, || {
        let span = tracing::info_span!("request", method = %"GET", uri = %"/work");
        let _entered = span.enter();
        let event =
            |i: u64| tracing::info!(pool = i, route = "/work", cached = true, "checked out");
        for i in 0..100 {
            event(i);
        }
        let allocations = allocations_in(|| {
            for i in 0..1_000 {
                event(i);
            }
        });
        assert_eq!(allocations, 0, "a kept event allocated");
    });
    assert_eq!(LINES.0.load(Relaxed), 1_100);
}
