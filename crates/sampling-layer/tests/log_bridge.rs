//! `log` records (through `tracing-log`'s `LogTracer`) are sampled by their
//! own target and their own call site, and annotated like any event.

mod support;

use std::sync::Once;

use sampling_layer::{Annotated, SamplingHandle};
use support::{sampler, Output};
use tracing_subscriber::{fmt, prelude::*};

/// A dependency that logs through `log` only (its records carry its module
/// path as target, as a real crate's would).
mod legacy_dep {
    pub(crate) fn connect(i: u32) {
        log::info!(target: "legacy_dep::client", "connect {i}");
    }
    pub(crate) fn checkout(i: u32) {
        log::info!(target: "legacy_dep::pool", "checkout {i}");
    }
    pub(crate) fn closed() {
        log::warn!(target: "legacy_dep::pool", "closed");
    }
}

mod other_dep {
    pub(crate) fn poll(i: u32) {
        log::debug!(target: "other_dep", "poll {i}");
    }
}

fn init_log_tracer() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| tracing_log::LogTracer::init().expect("the only logger"));
}

fn run(directives: &str, f: impl FnOnce(&SamplingHandle)) -> (Output, SamplingHandle) {
    init_log_tracer();
    let cap = Output::new();
    let s = sampler(directives);
    let handle = s.handle();
    let layer = fmt::layer()
        .with_writer(cap.clone())
        .event_format(Annotated::new(
            fmt::format().without_time().with_ansi(false),
        ));
    let sub = tracing_subscriber::registry().with(layer.with_filter(s));
    tracing::subscriber::with_default(sub, || f(&handle));
    (cap, handle)
}

fn seen_kept(h: &SamplingHandle, label: &str) -> (u64, u64) {
    let st = h.stats();
    let t = st.targets.iter().find(|t| t.target == label).unwrap();
    (t.seen, t.kept)
}

#[test]
fn two_interleaved_log_call_sites_each_keep_exactly_one_in_five() {
    let (cap, handle) = run("legacy_dep=1/5", |_| {
        for i in 0..100 {
            legacy_dep::connect(i);
            legacy_dep::checkout(i);
        }
        legacy_dep::closed();
    });
    let lines = cap.lines();
    let connects: Vec<&String> = lines.iter().filter(|l| l.contains("connect")).collect();
    let checkouts: Vec<&String> = lines.iter().filter(|l| l.contains("checkout")).collect();
    assert_eq!((connects.len(), checkouts.len()), (20, 20), "{lines:#?}");
    // Each call site's own window: the 1st, 6th, 11th, ... of each.
    assert_eq!(
        connects[..3],
        [
            " INFO legacy_dep::client: connect 0 sample_rate=0.2",
            " INFO legacy_dep::client: connect 5 sample_rate=0.2",
            " INFO legacy_dep::client: connect 10 sample_rate=0.2",
        ]
    );
    assert_eq!(
        checkouts[0],
        " INFO legacy_dep::pool: checkout 0 sample_rate=0.2"
    );
    // WARN is never sampled, and not annotated.
    assert_eq!(cap.count(" WARN legacy_dep::pool: closed"), 1);
    assert_eq!(seen_kept(&handle, "legacy_dep"), (200, 40));
    // Two `log` call sites with counters of their own.
    assert_eq!(handle.stats().callsite_keys, 2);
}

#[test]
fn a_dependency_rate_applies_to_its_log_records_and_others_get_the_default() {
    let (cap, handle) = run("0.5,legacy_dep=0.1", |_| {
        for i in 0..100 {
            legacy_dep::connect(i);
            other_dep::poll(i);
        }
    });
    assert_eq!(cap.count("legacy_dep::client: connect"), 10);
    assert_eq!(cap.count("other_dep: poll"), 50);
    assert_eq!(seen_kept(&handle, "legacy_dep"), (100, 10));
    assert_eq!(seen_kept(&handle, ""), (100, 50));
    // Nothing counted under the `log` pseudo-target.
    assert!(handle.stats().targets.iter().all(|t| t.target != "log"));
}

#[test]
fn log_call_sites_carry_on_across_set_directives() {
    let (cap, handle) = run("legacy_dep=1/4", |handle| {
        for i in 0..6 {
            legacy_dep::connect(i);
        }
        // Kept 0 and 4; the site's position is 2. At 1/2 it carries on from
        // there: 6 kept (2 % 2 = 0), 7 dropped, 8 kept, 9 dropped.
        handle.set_directives("legacy_dep=1/2").unwrap();
        for i in 6..10 {
            legacy_dep::connect(i);
        }
    });
    let kept: Vec<String> = cap
        .lines()
        .iter()
        .map(|l| l.split(": ").nth(1).unwrap().to_owned())
        .collect();
    assert_eq!(
        kept,
        [
            "connect 0 sample_rate=0.25",
            "connect 4 sample_rate=0.25",
            "connect 6 sample_rate=0.5",
            "connect 8 sample_rate=0.5",
        ]
    );
    assert_eq!(seen_kept(&handle, "legacy_dep"), (10, 4));
}

#[test]
fn a_global_sampler_samples_log_records_by_call_site_too() {
    init_log_tracer();
    let cap = Output::new();
    let s = sampler("legacy_dep=1/5");
    let handle = s.handle();
    let sub = tracing_subscriber::registry()
        .with(s)
        .with(support::text_layer(&cap));
    tracing::subscriber::with_default(sub, || {
        for i in 0..100 {
            legacy_dep::connect(i);
            legacy_dep::checkout(i);
        }
    });
    assert_eq!(cap.count("legacy_dep::client: connect"), 20);
    assert_eq!(cap.count("legacy_dep::pool: checkout"), 20);
    assert_eq!(seen_kept(&handle, "legacy_dep"), (200, 40));
}

/// Past `MAX_LOG_SITES` distinct call sites, records are decided at
/// `tracing-log`'s shared level callsite (target `log`): bounded memory, and
/// still counted once.
#[test]
fn log_call_sites_beyond_the_table_bound_fall_back_to_the_level_callsite() {
    let extra = 10;
    let (_, handle) = run("legacy_dep=1/2", |_| {
        for line in 0..(sampling_layer::limits::MAX_LOG_SITES + extra) as u32 {
            // One record per line of a generated file: each its own call site.
            log::logger().log(
                &log::Record::builder()
                    .level(log::Level::Info)
                    .target("legacy_dep::generated")
                    .file(Some("generated.rs"))
                    .line(Some(line))
                    .args(format_args!("line {line}"))
                    .build(),
            );
        }
    });
    let st = handle.stats();
    // Each site's first record is kept at 1/2.
    assert_eq!(
        seen_kept(&handle, "legacy_dep"),
        (
            sampling_layer::limits::MAX_LOG_SITES as u64,
            sampling_layer::limits::MAX_LOG_SITES as u64
        )
    );
    // The rest counted under `log` (no directive: `other`, rate 1).
    assert_eq!(
        seen_kept(&handle, sampling_layer::stats::OTHER_TARGET),
        (extra as u64, extra as u64)
    );
    assert_eq!(st.callsite_keys, sampling_layer::limits::MAX_LOG_SITES + 1);
}

/// Counts the events it is given.
#[derive(Clone, Default)]
struct Count(std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Count {
    fn on_event(&self, _: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

#[test]
fn log_records_in_a_capturing_span_are_captured_and_reach_the_capture_layer_alone() {
    use sampling_layer::capture::{Capture, CaptureLayer, CaptureWriter};
    init_log_tracer();
    let (cap, count) = (Output::new(), Count::default());
    let s = sampling_layer::SamplingFilter::builder()
        .breaker(sampling_layer::Breaker::disabled())
        .capture(Capture::default().span("request"))
        .parse("0")
        .unwrap();
    let handle = s.handle();
    let text = fmt::layer()
        .without_time()
        .with_ansi(false)
        .with_writer(CaptureWriter::new(cap.clone(), &handle));
    let sub = tracing_subscriber::registry().with(
        CaptureLayer::new(text, &handle)
            .and_then(count.clone())
            .with_filter(s),
    );
    tracing::subscriber::with_default(sub, || {
        for fail in [false, true] {
            let span = tracing::info_span!("request", fail);
            let _e = span.enter();
            for i in 0..3 {
                other_dep::poll(i);
            }
            if fail {
                log::error!(target: "legacy_dep::pool", "exhausted");
            }
        }
    });
    assert_eq!(
        cap.lines(),
        [
            "DEBUG request{fail=true}: other_dep: poll 0 captured=true",
            "DEBUG request{fail=true}: other_dep: poll 1 captured=true",
            "DEBUG request{fail=true}: other_dep: poll 2 captured=true",
            "ERROR request{fail=true}: legacy_dep::pool: exhausted",
        ]
    );
    // The error only: no captured record reached the layer beside.
    assert_eq!(count.0.load(std::sync::atomic::Ordering::Relaxed), 1);
    let c = handle.stats().capture;
    assert_eq!((c.captured, c.flushed, c.discarded), (6, 3, 3));
}
