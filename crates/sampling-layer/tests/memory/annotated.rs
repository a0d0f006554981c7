//! `Annotated` adds no allocation to a kept line: it formats into a buffer
//! the thread reuses and writes the rate in pieces. Counted against the same
//! lines formatted without it.

use crate::support::counting::{serial, thread_allocations};
use sampling_layer::{Annotated, Breaker, SamplingFilter};
use tracing::info;
use tracing_subscriber::{fmt, prelude::*};

/// Allocations of this thread for `n` events at `1/2` through `fmt` into
/// `io::sink`, with the formatter wrapped in `Annotated` or not (after a
/// warm-up that grows every buffer).
fn allocations(annotated: bool, n: u64) -> u64 {
    let s = SamplingFilter::builder()
        .breaker(Breaker::disabled())
        .parse("app=1/2")
        .unwrap();
    let format = fmt::format().without_time().with_ansi(false);
    let count = |emit: &dyn Fn()| {
        for _ in 0..64 {
            emit();
        }
        let before = thread_allocations();
        for _ in 0..n {
            emit();
        }
        thread_allocations() - before
    };
    let emit = || info!(target: "app", n = 7u64, ok = true, "served");
    if annotated {
        let layer = fmt::layer()
            .event_format(Annotated::new(format))
            .with_writer(std::io::sink)
            .with_filter(s);
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
            count(&emit)
        })
    } else {
        let layer = fmt::layer()
            .event_format(format)
            .with_writer(std::io::sink)
            .with_filter(s);
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
            count(&emit)
        })
    }
}

#[test]
fn annotated_lines_allocate_no_more_than_plain_ones() {
    let _serial = serial();
    let plain = allocations(false, 1_000);
    let annotated = allocations(true, 1_000);
    // 500 of the 1 000 events are kept and carry `sample_rate=0.5`.
    assert_eq!(
        annotated,
        plain,
        "Annotated allocated {} more",
        annotated - plain
    );
}
