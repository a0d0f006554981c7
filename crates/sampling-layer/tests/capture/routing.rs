//! Where a captured event may go: only through the `CaptureLayer` into its
//! diverting writer. Without both, the sampler samples instead (nothing of a
//! capturing span leaks, counted); a layer beside the wrapped one under the
//! same sampler never sees a captured event.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::support::capture::balanced;
use crate::support::Output;
use sampling_layer::capture::Capture;
use sampling_layer::{
    capture::{CaptureLayer, CaptureWriter},
    Breaker, SamplingFilter,
};
use tracing::{Event, Subscriber};
use tracing_subscriber::{fmt, layer::Context, prelude::*, Layer};

fn sampler() -> SamplingFilter {
    SamplingFilter::builder()
        .breaker(Breaker::disabled())
        .capture(Capture::default().span("request"))
        .parse("0")
        .unwrap()
}

/// A text layer (no time, no ANSI) into `w`.
fn text<S, W>(
    w: W,
) -> fmt::Layer<S, fmt::format::DefaultFields, fmt::format::Format<fmt::format::Full, ()>, W>
where
    W: for<'a> fmt::MakeWriter<'a> + 'static,
{
    fmt::layer().without_time().with_ansi(false).with_writer(w)
}

/// 100 sampled-out `debug!`, half of them keyed (decided in `event_enabled`),
/// in one `request` span; then an error if `fail`.
fn request(fail: bool) {
    let span = tracing::info_span!("request");
    let _e = span.enter();
    for i in 0..50 {
        tracing::debug!(i, "step");
        tracing::debug!(i, sample_key = "k", "keyed");
    }
    if fail {
        tracing::error!("failed");
    }
}

#[test]
fn a_layer_without_a_capture_writer_samples_instead_of_writing_the_capturing_spans_events() {
    let out = Output::new();
    let sampler = sampler();
    let handle = sampler.handle();
    let sub = tracing_subscriber::registry().with(text(out.clone()).with_filter(sampler));
    tracing::subscriber::with_default(sub, || {
        request(false);
        request(true);
    });
    // Sampled at 0: the error alone, nothing of either request's 100 events.
    assert_eq!(out.lines(), ["ERROR request: capture::routing: failed"]);
    let c = handle.stats().capture;
    assert_eq!((c.captured, c.no_writer), (0, 200), "{c:?}");
    assert!(balanced(&c));
    let t = &handle.stats().targets[0];
    assert_eq!((t.seen, t.kept, t.dropped), (200, 0, 200));
}

#[test]
fn of_two_samplers_the_unwrapped_layer_samples_and_the_wrapped_one_captures() {
    let (wrapped, plain) = (Output::new(), Output::new());
    let (a, b) = (sampler(), sampler());
    let (ha, hb) = (a.handle(), b.handle());
    let sub = tracing_subscriber::registry()
        .with(CaptureLayer::new(text(CaptureWriter::new(wrapped.clone(), &ha)), &ha).with_filter(a))
        .with(text(plain.clone()).with_filter(b));
    tracing::subscriber::with_default(sub, || {
        request(false);
        request(true);
    });
    assert_eq!(plain.lines(), ["ERROR request: capture::routing: failed"]);
    let lines = wrapped.lines();
    assert_eq!(lines.len(), 101);
    assert_eq!(wrapped.count("captured=true"), 100);
    assert_eq!(lines[100], "ERROR request: capture::routing: failed");
    let (ca, cb) = (ha.stats().capture, hb.stats().capture);
    assert_eq!(
        (ca.captured, ca.flushed, ca.discarded, ca.no_writer),
        (200, 100, 100, 0)
    );
    assert_eq!((cb.captured, cb.no_writer), (0, 200));
}

#[test]
fn a_capture_writer_that_is_dropped_leaves_its_sampler_without_one() {
    let out = Output::new();
    let sampler = sampler();
    let handle = sampler.handle();
    drop(CaptureWriter::new(Output::new(), &handle));
    let sub = tracing_subscriber::registry().with(text(out.clone()).with_filter(sampler));
    tracing::subscriber::with_default(sub, || request(false));
    assert!(out.lines().is_empty(), "{:?}", out.lines());
    assert_eq!(handle.stats().capture.no_writer, 100);
}

/// Set in the child process of the stderr test: run the scenario, print.
const CHILD: &str = "SAMPLING_LAYER_NO_WRITER_CHILD";

#[test]
fn the_missing_writer_is_reported_once_on_stderr_naming_the_fix() {
    if std::env::var_os(CHILD).is_some() {
        let sampler = sampler();
        let sub = tracing_subscriber::registry().with(text(std::io::sink).with_filter(sampler));
        tracing::subscriber::with_default(sub, || {
            request(false);
            request(true);
        });
        return;
    }
    // stderr of this process is the harness's: run this test alone in a child.
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "routing::the_missing_writer_is_reported_once_on_stderr_naming_the_fix",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let stderr = String::from_utf8(out.stderr).unwrap();
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("warning: sampling-layer:"))
        .collect();
    assert_eq!(warnings.len(), 1, "{stderr}");
    for needle in [
        "no `CaptureLayer` in a subscriber or no `CaptureWriter`",
        "CaptureLayer::new(fmt::layer().with_writer(CaptureWriter::new(writer, &handle)), &handle)",
        "no_writer",
    ] {
        assert!(warnings[0].contains(needle), "{needle}: {}", warnings[0]);
    }
}

/// Counts the events it is given.
#[derive(Clone, Default)]
struct Count(Arc<AtomicUsize>);

impl<S: Subscriber> Layer<S> for Count {
    fn on_event(&self, _: &Event<'_>, _: Context<'_, S>) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

impl Count {
    fn get(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }
}

#[test]
fn a_second_layer_beside_the_capture_layer_sees_no_captured_event() {
    let (out, count) = (Output::new(), Count::default());
    let sampler = sampler();
    let handle = sampler.handle();
    let sub = tracing_subscriber::registry().with(
        CaptureLayer::new(text(CaptureWriter::new(out.clone(), &handle)), &handle)
            .and_then(count.clone())
            .with_filter(sampler),
    );
    tracing::subscriber::with_default(sub, || {
        request(false);
        assert!(out.lines().is_empty(), "{:?}", out.lines());
        assert_eq!(count.get(), 0);
        // On a trigger the context goes to the writer alone; the layer beside
        // it sees the trigger, a kept event.
        request(true);
    });
    assert_eq!(out.lines().len(), 101);
    assert_eq!(out.count("captured=true"), 100);
    assert_eq!(out.lines()[100], "ERROR request: capture::routing: failed");
    assert_eq!(count.get(), 1);
    let c = handle.stats().capture;
    assert_eq!(
        (c.captured, c.flushed, c.discarded, c.no_writer),
        (200, 100, 100, 0)
    );
    assert!(balanced(&c));
}

/// The same with the layers the other way round: the wrapped layer second.
#[test]
fn a_layer_ahead_of_the_capture_layer_sees_no_captured_event_either() {
    let (out, count) = (Output::new(), Count::default());
    let sampler = sampler();
    let handle = sampler.handle();
    let sub = tracing_subscriber::registry().with(
        count
            .clone()
            .and_then(CaptureLayer::new(
                text(CaptureWriter::new(out.clone(), &handle)),
                &handle,
            ))
            .with_filter(sampler),
    );
    tracing::subscriber::with_default(sub, || request(true));
    assert_eq!(out.lines().len(), 101);
    assert_eq!(count.get(), 1);
}

/// A `CaptureWriter` alone (no `CaptureLayer`): the sampler cannot tell the
/// layers under it apart, so it captures nothing and every layer sees only
/// what it kept; the events it would have captured are counted `no_writer`.
#[test]
fn a_capture_writer_without_its_layer_captures_nothing_and_no_layer_sees_the_events() {
    let (out, count) = (Output::new(), Count::default());
    let sampler = sampler();
    let handle = sampler.handle();
    let sub = tracing_subscriber::registry().with(
        text(CaptureWriter::new(out.clone(), &handle))
            .and_then(count.clone())
            .with_filter(sampler),
    );
    tracing::subscriber::with_default(sub, || {
        request(false);
        request(true);
    });
    assert_eq!(out.lines(), ["ERROR request: capture::routing: failed"]);
    assert_eq!(count.get(), 1);
    let c = handle.stats().capture;
    assert_eq!((c.captured, c.no_writer), (0, 200), "{c:?}");
}

/// A `CaptureLayer` whose layer writes to a plain writer: with no
/// `CaptureWriter` of the sampler alive, nothing is handed to it.
#[test]
fn a_capture_layer_without_a_capture_writer_samples_instead() {
    let out = Output::new();
    let sampler = sampler();
    let handle = sampler.handle();
    let sub = tracing_subscriber::registry()
        .with(CaptureLayer::new(text(out.clone()), &handle).with_filter(sampler));
    tracing::subscriber::with_default(sub, || request(false));
    assert!(out.lines().is_empty(), "{:?}", out.lines());
    assert_eq!(handle.stats().capture.no_writer, 100);
}

/// When the subscriber holding the `CaptureLayer` is dropped, the sampler
/// has no layer to capture through any more, and the layer is freed: the
/// sampler's registration does not keep it (or its writer) alive.
#[test]
fn a_dropped_capture_layer_is_freed_and_leaves_its_sampler_without_one() {
    let (out, count) = (Output::new(), Count::default());
    let sampler = sampler();
    let handle = sampler.handle();
    let wrapped = count
        .clone()
        .and_then(text(CaptureWriter::new(Output::new(), &handle)));
    let other = tracing_subscriber::registry().with(CaptureLayer::new(wrapped, &handle));
    // The test and the wrapped layer, which the registration shares.
    assert_eq!(Arc::strong_count(&count.0), 2);
    drop(other);
    assert_eq!(Arc::strong_count(&count.0), 1);
    // A writer alone does not divert: the layer went with the subscriber.
    let _writer = CaptureWriter::new(Output::new(), &handle);
    let sub = tracing_subscriber::registry().with(text(out.clone()).with_filter(sampler));
    tracing::subscriber::with_default(sub, || request(false));
    assert!(out.lines().is_empty(), "{:?}", out.lines());
    let c = handle.stats().capture;
    assert_eq!((c.captured, c.no_writer), (0, 100), "{c:?}");
}

/// One layer per sampler captures: a second `CaptureLayer` is refused (a
/// line must be written once) and its layer sees kept events only.
#[test]
fn a_second_capture_layer_of_one_sampler_sees_kept_events_only() {
    let (first, second) = (Output::new(), Output::new());
    let sampler = sampler();
    let handle = sampler.handle();
    let sub = tracing_subscriber::registry().with(
        CaptureLayer::new(text(CaptureWriter::new(first.clone(), &handle)), &handle)
            .and_then(CaptureLayer::new(
                text(CaptureWriter::new(second.clone(), &handle)),
                &handle,
            ))
            .with_filter(sampler),
    );
    tracing::subscriber::with_default(sub, || request(true));
    let (a, b) = (first.lines(), second.lines());
    // Whichever registered first captures; the other gets the trigger alone.
    let (capturing, other) = if a.len() > b.len() { (a, b) } else { (b, a) };
    assert_eq!(capturing.len(), 101);
    assert_eq!(other, ["ERROR request: capture::routing: failed"]);
}

/// Two samplers in one registry, each with its own `CaptureLayer`: each
/// layer gets its own sampler's captured lines, and only those.
#[test]
fn two_samplers_each_capture_through_their_own_layer() {
    let (first, second) = (Output::new(), Output::new());
    let (a, b) = (sampler(), sampler());
    let (ha, hb) = (a.handle(), b.handle());
    let sub = tracing_subscriber::registry()
        .with(CaptureLayer::new(text(CaptureWriter::new(first.clone(), &ha)), &ha).with_filter(a))
        .with(CaptureLayer::new(text(CaptureWriter::new(second.clone(), &hb)), &hb).with_filter(b));
    tracing::subscriber::with_default(sub, || request(true));
    for out in [&first, &second] {
        let lines = out.lines();
        assert_eq!(lines.len(), 101, "{lines:#?}");
        assert_eq!(out.count("captured=true"), 100);
        assert_eq!(lines[100], "ERROR request: capture::routing: failed");
    }
    for h in [&ha, &hb] {
        let c = h.stats().capture;
        assert_eq!((c.captured, c.flushed, c.no_writer), (100, 100, 0));
    }
}

/// A boxed layer (as in a `Vec` of layers chosen at run time) still
/// registers: `Box<dyn Layer>` passes `on_layer` through.
#[test]
fn a_boxed_capture_layer_captures() {
    let (out, count) = (Output::new(), Count::default());
    let sampler = sampler();
    let handle = sampler.handle();
    let sub = tracing_subscriber::registry().with(
        CaptureLayer::new(text(CaptureWriter::new(out.clone(), &handle)), &handle)
            .boxed()
            .and_then(count.clone())
            .with_filter(sampler),
    );
    tracing::subscriber::with_default(sub, || request(true));
    assert_eq!(out.lines().len(), 101);
    assert_eq!(count.get(), 1);
}
