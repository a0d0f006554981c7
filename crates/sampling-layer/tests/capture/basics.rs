//! Error-triggered context capture: a failed request's sampled-out lines are
//! written ahead of its error, marked; a clean request's are discarded.

use crate::support::capture::{balanced, capture_text};
use crate::support::Output;
use sampling_layer::capture::Capture;
use sampling_layer::{
    capture::{CaptureLayer, CaptureWriter},
    Annotated, Breaker, SamplingFilter,
};
use tracing_subscriber::{fmt, prelude::*};

fn builder() -> sampling_layer::SamplingFilterBuilder {
    SamplingFilter::builder().breaker(Breaker::disabled())
}

/// A text layer (no time, no ANSI) through a `CaptureWriter` into `out`,
/// filtered by `sampler`.
fn subscriber(sampler: SamplingFilter, out: &Output) -> impl tracing::Subscriber + Send + Sync {
    crate::support::capture::text_subscriber(sampler, out.clone())
}

fn request(id: u32, fail: bool) {
    let span = tracing::info_span!("request", id);
    let _e = span.enter();
    for i in 0..50 {
        tracing::debug!(i, "step");
    }
    if fail {
        tracing::error!("failed");
    }
}

#[test]
fn a_failed_request_writes_its_dropped_lines_marked_and_in_order_right_before_the_error() {
    let out = Output::new();
    let sampler = builder()
        .capture(Capture::default().span("request"))
        .parse("0.01")
        .unwrap();
    let handle = sampler.handle();
    tracing::subscriber::with_default(subscriber(sampler, &out), || request(7, true));
    let lines = out.lines();
    // Kept once, unmarked, where it was written: the 1st of every 100.
    assert!(
        lines[0].ends_with("request{id=7}: capture::basics: step i=0"),
        "{}",
        lines[0]
    );
    for (n, line) in lines[1..50].iter().enumerate() {
        let i = n + 1;
        assert!(
            line.ends_with(&format!(
                "request{{id=7}}: capture::basics: step i={i} captured=true"
            )),
            "{line}"
        );
    }
    assert!(
        lines[50].ends_with("request{id=7}: capture::basics: failed"),
        "{}",
        lines[50]
    );
    assert_eq!(lines.len(), 51);
    assert_eq!(out.count("i=0"), 1);
    let s = handle.stats().capture;
    assert_eq!(
        (s.captured, s.flushed, s.discarded, s.buffered_lines),
        (49, 49, 0, 0)
    );
    assert!(balanced(&s));
    // The sampler's own figures are what they are without capture.
    let t = &handle.stats().targets[0];
    assert_eq!((t.seen, t.kept, t.dropped), (50, 1, 49));
}

#[test]
fn a_clean_request_writes_only_what_the_sampler_kept() {
    let out = Output::new();
    let sampler = builder()
        .capture(Capture::default().span("request"))
        .parse("0.01")
        .unwrap();
    let handle = sampler.handle();
    tracing::subscriber::with_default(subscriber(sampler, &out), || request(8, false));
    assert_eq!(
        out.lines(),
        ["DEBUG request{id=8}: capture::basics: step i=0"]
    );
    let s = handle.stats().capture;
    assert_eq!(
        (s.captured, s.flushed, s.discarded, s.buffered_lines),
        (49, 0, 49, 0)
    );
    assert_eq!(s.buffered_bytes, 0);
}

#[test]
fn without_capture_the_same_request_writes_only_what_was_kept() {
    let out = Output::new();
    let sampler = builder().parse("0.01").unwrap();
    tracing::subscriber::with_default(subscriber(sampler, &out), || request(9, true));
    assert_eq!(out.lines().len(), 2);
    assert_eq!(out.count("captured=true"), 0);
}

#[test]
fn a_second_error_flushes_what_came_since_the_first() {
    let out = Output::new();
    let sampler = builder()
        .capture(Capture::default().span("request"))
        .parse("0")
        .unwrap();
    tracing::subscriber::with_default(subscriber(sampler, &out), || {
        let span = tracing::info_span!("request");
        let _e = span.enter();
        tracing::debug!("a");
        tracing::error!("first");
        tracing::debug!("b");
        tracing::debug!("c");
        tracing::error!("second");
        tracing::debug!("d");
    });
    let lines: Vec<String> = out
        .lines()
        .iter()
        .map(|l| l.rsplit(": ").next().unwrap().to_owned())
        .collect();
    assert_eq!(
        lines,
        [
            "a captured=true",
            "first",
            "b captured=true",
            "c captured=true",
            "second"
        ]
    );
}

#[test]
fn child_spans_capture_into_the_capturing_ancestor_and_fields_select_spans() {
    let out = Output::new();
    // By field: any span carrying `request_id`.
    let sampler = builder().parse("0,+{request_id}").unwrap();
    tracing::subscriber::with_default(subscriber(sampler, &out), || {
        let outer = tracing::info_span!("handler", request_id = 1);
        let _o = outer.enter();
        let inner = tracing::info_span!("db");
        let _i = inner.enter();
        tracing::debug!("query");
        drop(_i);
        tracing::debug!("after");
        tracing::error!("boom");
        // A span without the field, outside the capturing one, captures nothing.
        drop(_o);
        let other = tracing::info_span!("other");
        let _x = other.enter();
        tracing::debug!("lost");
        tracing::error!("alone");
    });
    let ends: Vec<String> = out
        .lines()
        .iter()
        .map(|l| l.rsplit(": ").next().unwrap().to_owned())
        .collect();
    assert_eq!(
        ends,
        [
            "query captured=true",
            "after captured=true",
            "boom",
            "alone"
        ]
    );
}

#[test]
fn json_lines_are_marked_and_stay_json() {
    let out = Output::new();
    let sampler = builder().parse("0,+request").unwrap();
    let capture_handle = sampler.handle();
    let writer = CaptureWriter::new(out.clone(), &capture_handle);
    let sub = tracing_subscriber::registry().with(
        CaptureLayer::new(
            fmt::layer()
                .json()
                .event_format(Annotated::new(fmt::format().json()))
                .with_writer(writer),
            &capture_handle,
        )
        .with_filter(sampler),
    );
    tracing::subscriber::with_default(sub, || {
        let span = tracing::info_span!("request");
        let _e = span.enter();
        tracing::debug!("ctx");
        tracing::error!("boom");
    });
    let lines = out.lines();
    assert_eq!(lines.len(), 2);
    let first: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
    assert_eq!(first["captured"], true);
    assert_eq!(first["fields"]["message"], "ctx");
    assert!(first.get("sample_rate").is_none(), "{first}");
    let second: serde_json::Value = serde_json::from_str(&lines[1]).unwrap();
    assert!(second.get("captured").is_none());
}

#[test]
fn the_trigger_level_is_configurable() {
    let out = Output::new();
    let sampler = builder()
        .capture(
            Capture::default()
                .span("request")
                .trigger(tracing::Level::WARN),
        )
        .parse("0")
        .unwrap();
    tracing::subscriber::with_default(subscriber(sampler, &out), || {
        let span = tracing::info_span!("request");
        let _e = span.enter();
        tracing::debug!("ctx");
        tracing::warn!("slow");
    });
    assert_eq!(out.count("captured=true"), 1);
}

#[test]
fn capture_items_parse_round_trip_and_split_to_the_sampler() {
    let s = SamplingFilter::try_new("0.1,+request,+{request_id},+job{id},+request").unwrap();
    assert_eq!(
        s.directives(),
        "0.1,+request,+{request_id},+job{id},+request"
    );
    let (env, sampler) =
        sampling_layer::split_directives("info,app=debug@0.1,+request{request_id}").unwrap();
    assert_eq!(env.to_string(), "app=debug,info");
    assert_eq!(sampler.directives(), "app=0.1,+request{request_id}");
    for bad in ["+", "+a b", "+{}", "+req{id"] {
        let e = SamplingFilter::try_new(bad).unwrap_err();
        assert!(e.to_string().contains("capture directive"), "{bad}: {e}");
    }
    // `EnvFilter`'s span and field forms are unchanged.
    let (env, sampler) =
        sampling_layer::split_directives("app[request]=debug,[{request_id}]=trace").unwrap();
    assert!(env.to_string().contains("app[request]=debug"), "{env}");
    assert_eq!(sampler.directives(), "");
}

#[test]
fn capture_turned_on_and_off_at_run_time() {
    let out = Output::new();
    let sampler = builder().parse("0").unwrap();
    let handle = sampler.handle();
    tracing::subscriber::with_default(subscriber(sampler, &out), || {
        let run = || {
            let span = tracing::info_span!("request");
            let _e = span.enter();
            tracing::debug!("ctx");
            tracing::error!("boom");
        };
        run();
        handle.set_directives("0,+request").unwrap();
        run();
        handle.set_directives("0").unwrap();
        run();
    });
    assert_eq!(out.count("captured=true"), 1);
    assert_eq!(out.count("boom"), 3);
}

#[test]
fn a_global_sampler_captures_nothing() {
    let out = Output::new();
    let sampler = builder()
        .capture(Capture::default().span("request"))
        .parse("0")
        .unwrap();
    let handle = sampler.handle();
    let sub = tracing_subscriber::registry()
        .with(sampler)
        .with(crate::support::text_layer(&out));
    tracing::subscriber::with_default(sub, || request(1, true));
    assert_eq!(out.lines().len(), 1);
    assert_eq!(handle.stats().capture.captured, 0);
}

#[test]
fn flushed_context_can_go_through_a_writer_of_its_own() {
    let (out, context) = (Output::new(), Output::new());
    let sampler = builder()
        .capture(Capture::default().span("request"))
        .parse("0")
        .unwrap();
    let capture_handle = sampler.handle();
    let writer =
        CaptureWriter::new(out.clone(), &capture_handle).with_context_writer(context.clone());
    let sub = tracing_subscriber::registry()
        .with(capture_text(writer, &capture_handle).with_filter(sampler));
    tracing::subscriber::with_default(sub, || {
        let span = tracing::info_span!("request");
        let _e = span.enter();
        tracing::debug!("ctx");
        tracing::error!("boom");
    });
    assert_eq!(
        context.lines(),
        ["DEBUG request: capture::basics: ctx captured=true"]
    );
    assert_eq!(out.lines(), ["ERROR request: capture::basics: boom"]);
}

/// A clock the test sets: each line shows the time it was formatted at.
static NOW: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

struct TestClock;

impl fmt::time::FormatTime for TestClock {
    fn format_time(&self, w: &mut fmt::format::Writer<'_>) -> std::fmt::Result {
        write!(w, "t{}", NOW.load(std::sync::atomic::Ordering::Relaxed))
    }
}

#[test]
fn captured_lines_keep_the_time_they_were_logged_at() {
    use std::sync::atomic::Ordering::Relaxed;
    let out = Output::new();
    let sampler = builder()
        .capture(Capture::default().span("request"))
        .parse("0")
        .unwrap();
    let capture_handle = sampler.handle();
    let writer = CaptureWriter::new(out.clone(), &capture_handle);
    let sub = tracing_subscriber::registry().with(
        CaptureLayer::new(
            fmt::layer()
                .with_timer(TestClock)
                .with_ansi(false)
                .with_writer(writer),
            &capture_handle,
        )
        .with_filter(sampler),
    );
    tracing::subscriber::with_default(sub, || {
        let span = tracing::info_span!("request");
        let _e = span.enter();
        NOW.store(100, Relaxed);
        tracing::debug!("first");
        NOW.store(200, Relaxed);
        tracing::debug!("second");
        NOW.store(300, Relaxed);
        tracing::error!("boom");
    });
    assert_eq!(
        out.lines(),
        [
            "t100 DEBUG request: capture::basics: first captured=true",
            "t200 DEBUG request: capture::basics: second captured=true",
            "t300 ERROR request: capture::basics: boom",
        ]
    );
}

/// Switches capture off while its event is being formatted: after the sampler
/// diverted the event, before the writer takes it.
struct SwitchOff(sampling_layer::SamplingHandle);

impl std::fmt::Debug for SwitchOff {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.set_directives("0").unwrap();
        f.write_str("off")
    }
}

#[test]
fn a_line_diverted_as_capture_is_switched_off_is_discarded_not_written() {
    let out = Output::new();
    let sampler = builder().parse("0,+request").unwrap();
    let handle = sampler.handle();
    tracing::subscriber::with_default(subscriber(sampler, &out), || {
        let span = tracing::info_span!("request");
        let _e = span.enter();
        tracing::debug!(switch = ?SwitchOff(handle.clone()), "diverted");
        tracing::error!("boom");
    });
    assert_eq!(out.lines(), ["ERROR request: capture::basics: boom"]);
    let c = handle.stats().capture;
    assert_eq!((c.captured, c.discarded, c.buffered_lines), (1, 1, 0));
}

/// Logs while it is formatted: a nested event inside a captured one.
struct Chatty;

impl std::fmt::Debug for Chatty {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        tracing::debug!("nested");
        f.write_str("chatty")
    }
}

#[test]
fn an_event_logged_while_a_captured_one_is_formatted_does_not_disturb_it() {
    let out = Output::new();
    let sampler = builder().parse("0,+request").unwrap();
    let handle = sampler.handle();
    tracing::subscriber::with_default(subscriber(sampler, &out), || {
        let span = tracing::info_span!("request");
        let _e = span.enter();
        tracing::debug!(value = ?Chatty, "outer");
        tracing::error!("boom");
    });
    // tracing-core does not re-enter a dispatcher: the nested event goes to no
    // subscriber (tracing-core 0.1.36). The outer one keeps its mark.
    assert_eq!(
        out.lines(),
        [
            "DEBUG request: capture::basics: outer value=chatty captured=true",
            "ERROR request: capture::basics: boom",
        ]
    );
    assert_eq!(handle.stats().capture.flushed, 1);
}

#[test]
fn and_composition_captures_and_a_second_layer_is_unaffected() {
    let (out, plain) = (Output::new(), Output::new());
    let sampler = builder().parse("0,+request").unwrap();
    let capture_handle = sampler.handle();
    let writer = CaptureWriter::new(out.clone(), &capture_handle);
    let sub = tracing_subscriber::registry()
        .with(
            capture_text(writer, &capture_handle)
                .with_filter(sampler.and(tracing_subscriber::filter::LevelFilter::DEBUG)),
        )
        .with(crate::support::text_layer(&plain));
    tracing::subscriber::with_default(sub, || {
        let span = tracing::info_span!("request");
        let _e = span.enter();
        tracing::trace!("below the level: neither kept nor captured");
        tracing::debug!("ctx");
        tracing::error!("boom");
    });
    assert_eq!(
        out.lines(),
        [
            "DEBUG request: capture::basics: ctx captured=true",
            "ERROR request: capture::basics: boom"
        ]
    );
    // The unsampled layer writes everything once, unmarked.
    assert_eq!(plain.lines().len(), 3);
    assert_eq!(plain.count("captured=true"), 0);
}

#[test]
fn per_target_edits_keep_the_capture_items() {
    let sampler = builder().parse("0,+request").unwrap();
    let handle = sampler.handle();
    handle.set_target_rate("app", "0.5").unwrap();
    handle.remove_target("app").unwrap();
    assert_eq!(handle.directives(), "0,+request");
    assert!(handle.set_target_rate("+request", "0.5").is_err());
    let out = Output::new();
    tracing::subscriber::with_default(subscriber(sampler, &out), || request(3, true));
    assert_eq!(out.count("captured=true"), 50);
}
