//! End to end: sampling-layer's `CaptureWriter` flushing a failed request's context
//! through `NonBlocking::context_writer`, ahead of the ERROR line, within the share.
#![cfg(not(backpressure_writer_loom))]

use std::time::Duration;

use crate::support::{assert_accounting, Gate};
use backpressure_writer::context::{ContextShare, ContextWriter};
use backpressure_writer::{NonBlocking, NonBlockingBuilder, WorkerGuard};
use sampling_layer::capture::{Capture, CaptureLayer, CaptureWriter};
use sampling_layer::{Breaker, SamplingFilter};
use tracing_subscriber::{fmt, prelude::*};

/// A request span with `n` DEBUG steps (all sampled out at rate 0, so all captured),
/// then an ERROR and a WARN.
fn request(n: usize) {
    let span = tracing::info_span!("request");
    let _e = span.enter();
    for i in 0..n {
        tracing::debug!(i, "step");
    }
    tracing::error!("failed");
    tracing::warn!("after");
}

fn run(writer: &NonBlocking, body: impl FnOnce()) -> ContextWriter {
    let sampler = SamplingFilter::builder()
        .breaker(Breaker::disabled())
        .capture(Capture::default().span("request"))
        .parse("0")
        .unwrap();
    let context = writer.context_writer();
    let handle = sampler.handle();
    let capture = CaptureWriter::new(writer.clone(), &handle).with_context_writer(context.clone());
    let layer = fmt::layer()
        .without_time()
        .with_ansi(false)
        .with_target(false)
        .with_writer(capture);
    let subscriber =
        tracing_subscriber::registry().with(CaptureLayer::new(layer, &handle).with_filter(sampler));
    tracing::subscriber::with_default(subscriber, body);
    context
}

fn finish(keep_capacity: usize, context: ContextShare) -> (Gate, NonBlocking, WorkerGuard) {
    let (gate, sink) = Gate::closed_on_write();
    let (writer, guard) = NonBlockingBuilder::default()
        .context_share(context)
        .buffered_lines_limit(100)
        .keep_capacity(keep_capacity)
        .keep_timeout(Duration::from_secs(60))
        .drop_report(false)
        .finish(sink);
    (gate, writer, guard)
}

#[test]
fn a_failed_requests_context_arrives_marked_in_order_before_its_error() {
    let (gate, writer, guard) = finish(64, ContextShare::default());
    gate.open();
    run(&writer, || request(10));
    guard.flush().unwrap();
    let mut want: Vec<String> = (0..10)
        .map(|i| format!("DEBUG request: step i={i} captured=true"))
        .collect();
    want.push(" WARN request: after".to_owned());
    want.insert(10, "ERROR request: failed".to_owned());
    assert_eq!(gate.lines(), want);
    let s = writer.stats();
    assert_eq!((s.lines_written, s.dropped.total()), (12, 0));
    assert_accounting(&s);
}

/// With the sink stalled, 50 context lines meet a keep room of 16 at a share of a quarter:
/// 4 get in, 46 are counted under `context`, and the ERROR and WARN lines still find room,
/// after the context that got in.
#[test]
fn with_a_stalled_sink_context_takes_its_share_and_the_error_still_gets_in() {
    let share = ContextShare::default()
        .share_of_keep_capacity(0.25)
        .wait(Duration::ZERO);
    let (gate, mut writer, guard) = finish(16, share);
    std::io::Write::write_all(&mut writer, b"gate\n").unwrap();
    gate.wait_arrivals(1);
    let context = run(&writer, || request(50));
    assert_eq!(context.max_lines(), 4);
    let s = writer.stats();
    assert_eq!((s.dropped.total(), s.dropped.context), (46, 46));
    assert_eq!((s.submitted, s.queue_depth), (1 + 50 + 2, 1 + 4 + 2));
    assert_accounting(&s);
    gate.open();
    guard.flush().unwrap();
    let mut want = vec!["gate".to_owned()];
    want.extend((0..4).map(|i| format!("DEBUG request: step i={i} captured=true")));
    want.push("ERROR request: failed".to_owned());
    want.push(" WARN request: after".to_owned());
    assert_eq!(gate.lines(), want);
    let s = writer.stats();
    assert_eq!(
        (s.lines_written, s.dropped.context, s.queue_depth),
        (7, 46, 0)
    );
    assert_accounting(&s);
}
