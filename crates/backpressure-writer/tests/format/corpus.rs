//! The events and spans every formatter of this crate is compared with `fmt` over, and
//! the in-memory sink the comparisons read.

use std::io::Write;
use std::sync::{Arc, Mutex};

use backpressure_writer::format::CachedSystemTime;
use tracing_subscriber::fmt::{self, MakeWriter};
use tracing_subscriber::prelude::*;
use tracing_subscriber::{Layer, Registry};

use crate::clock;

/// Runs the corpus 20 times under a sampler keeping half, through `Annotated` around
/// `fmt::format()` and through `ours`, both under the one sampler (so both see the same
/// kept events with the same rate); returns `fmt`'s lines, some of them annotated.
pub(crate) fn annotated_beside_fmt(
    ours: impl Layer<Registry> + Send + Sync + 'static,
) -> Vec<String> {
    let stock = Capture::default();
    let stock_layer = fmt::layer()
        .with_ansi(false)
        .with_writer(stock.clone())
        .event_format(sampling_layer::Annotated::new(
            fmt::format().with_timer(CachedSystemTime::with_clock(clock::now)),
        ));
    let sampler = sampling_layer::SamplingFilter::try_new("0.5").expect("directives");
    let subscriber =
        tracing_subscriber::registry().with(stock_layer.and_then(ours).with_filter(sampler));
    tracing::subscriber::with_default(subscriber, || {
        for _ in 0..20 {
            corpus();
        }
    });
    let stock = stock.lines();
    let annotated = stock
        .iter()
        .filter(|l| l.ends_with("sample_rate=0.5"))
        .count();
    assert!(annotated > 0, "the sampler annotated nothing: {stock:#?}");
    stock
}

/// Runs the corpus through `fmt::layer()` (colours and sanitizing as given, the test
/// clock) beside `ours` in one subscriber; returns `fmt`'s lines and how many events the
/// corpus emitted.
pub(crate) fn beside_fmt(
    ansi: bool,
    sanitize: bool,
    ours: impl Layer<Registry> + Send + Sync + 'static,
) -> (Vec<String>, usize) {
    beside_fmt_running(ansi, sanitize, ours, corpus)
}

/// [`beside_fmt`] over `work`, which returns how many events it emitted.
pub(crate) fn beside_fmt_running(
    ansi: bool,
    sanitize: bool,
    ours: impl Layer<Registry> + Send + Sync + 'static,
    work: impl FnOnce() -> usize,
) -> (Vec<String>, usize) {
    let stock = Capture::default();
    let stock_layer = fmt::layer()
        .with_ansi(ansi)
        .with_ansi_sanitization(sanitize)
        .with_writer(stock.clone())
        .event_format(fmt::format().with_timer(CachedSystemTime::with_clock(clock::now)));
    let subscriber = tracing_subscriber::registry()
        .with(ours)
        .with(stock_layer)
        .with(tracing_subscriber::filter::LevelFilter::TRACE);
    let n = tracing::subscriber::with_default(subscriber, work);
    (stock.lines(), n)
}

/// Lines written into memory.
#[derive(Clone, Default)]
pub(crate) struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Capture {
    type Writer = Capture;
    fn make_writer(&'a self) -> Capture {
        self.clone()
    }
}

impl Capture {
    pub(crate) fn lines(&self) -> Vec<String> {
        let text = String::from_utf8(self.0.lock().unwrap().clone()).unwrap();
        text.lines().map(str::to_owned).collect()
    }
}

#[derive(Debug)]
struct Inner;
impl std::fmt::Display for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("disk \u{1b}[31mfull")
    }
}
impl std::error::Error for Inner {}

#[derive(Debug)]
struct Outer(Inner);
impl std::fmt::Display for Outer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("write failed")
    }
}
impl std::error::Error for Outer {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

/// Every kind of field and line the formatters treat apart, at instants that cross
/// seconds, days and years. Returns how many lines `fmt` writes for it.
pub(crate) fn corpus() -> usize {
    let mut n = 0;
    let mut at = |secs: i64, nanos: u32| {
        clock::set(secs, nanos);
        n += 1;
    };
    at(1_700_000_000, 999_999_999);
    tracing::info!("literal message");
    at(1_700_000_001, 0);
    tracing::debug!(target: "app::router", route = "/work", "routed");
    at(1_700_000_001, 1_000);
    tracing::trace!(
        a = 1u64,
        b = -2i64,
        c = true,
        d = 0.5f64,
        e = 1.0f64,
        "n={} s={:?}",
        3,
        "x"
    );
    at(1_700_000_001, 2_000);
    tracing::warn!(
        max = u64::MAX,
        min = i64::MIN,
        zero = 0i64,
        f = false,
        nan = f64::NAN
    );
    at(1_700_000_002, 0);
    tracing::error!(s = "quote \" and\nnewline", disp = %"shown \u{1b} raw", dbg = ?Some("x"));
    at(1_735_689_599, 999_999_000);
    tracing::info!(r#type = "raw", r#async = 5u64, "raw identifiers");
    at(1_735_689_599, 999_999_001);
    tracing::info!("r#quoted" = 1u64, "r#flag" = true, "string names with r#");
    at(1_735_689_600, 0);
    tracing::info!(message = "a message given as a str", k = 1u64);
    at(1_735_689_600, 1);
    tracing::info!(message = 42u64);
    at(1_735_689_600, 2);
    tracing::info!("escapes: esc \u{1b}[31m bel \u{7} bs \u{8} ff \u{c} del \u{7f} c1 \u{85}\u{9f} keep \u{a0} é");
    at(1_735_689_600, 3);
    tracing::info!("escapes in args: {}", "esc \u{1b} c1 \u{90}");
    at(1_735_689_600, 4);
    tracing::info!(k = 1u64);
    at(1_735_689_600, 5);
    tracing::info!(
        log.target = "not a log record",
        other = 2u64,
        "log-named field"
    );
    let outer = Outer(Inner);
    at(1_735_689_600, 6);
    tracing::error!(
        error = &outer as &(dyn std::error::Error + 'static),
        "with sources"
    );
    at(1_735_689_600, 7);
    tracing::error!(
        error = &Inner as &(dyn std::error::Error + 'static),
        "no sources"
    );
    at(1_735_689_600, 8);
    tracing::error!(message = &outer as &(dyn std::error::Error + 'static));

    // Values of the kinds a visitor may treat apart, and odd shapes of line.
    at(1_735_689_600, 20);
    tracing::info!(
        wide = i128::MIN,
        huge = u128::MAX,
        single = 1.5f32,
        bytes = &b"\x00ab\xff"[..],
        nested = ?vec![("a", 1), ("b", 2)],
        pretty = %"line one\nline two",
        "kinds"
    );
    // Its `%` value prints a newline of its own: two lines for one event.
    let extra_lines = 1;
    at(1_735_689_600, 21);
    tracing::info!("");
    at(1_735_689_600, 22);
    tracing::warn!(message = %"a message given with %", k = false);
    at(1_735_689_600, 23);
    tracing::info!(target: "ünïcödé::target", "ünïcödé message ✓");
    at(1_735_689_600, 24);
    tracing::info!(
        f0 = 0u64,
        f1 = 1u64,
        f2 = 2u64,
        f3 = 3u64,
        f4 = 4u64,
        f5 = 5u64,
        f6 = 6u64,
        f7 = 7u64,
        f8 = 8u64,
        f9 = 9u64,
        f10 = 10u64,
        f11 = 11u64,
        f12 = 12u64,
        f13 = 13u64,
        f14 = 14u64,
        f15 = 15u64,
        f16 = 16u64,
        f17 = 17u64,
        f18 = 18u64,
        "many fields"
    );
    {
        let odd = tracing::info_span!(
            "spän ✓",
            bytes = &b"\x01"[..],
            r#type = "raw",
            err = &Inner as &(dyn std::error::Error + 'static),
            wide = -5i128,
        );
        let _o = odd.enter();
        at(1_735_689_600, 25);
        tracing::info!("in an odd span");
    }

    // Spans: fields formatted at creation, recorded later, empty, nested, none.
    let request = tracing::debug_span!(
        target: "tower_http::trace::on_request",
        "request",
        method = %"GET",
        uri = %"/work?x=1",
        version = ?"HTTP/1.1",
        late = tracing::field::Empty,
    );
    let _r = request.enter();
    at(1_735_689_600, 9);
    tracing::debug!(target: "tower_http::trace::on_request", "started processing request");
    request.record("late", 7u64);
    let inner = tracing::info_span!("inner");
    let _i = inner.enter();
    at(1_735_689_601, 10);
    tracing::info!(pool = 3u64, "connection checked out");
    let deeper = tracing::info_span!("deeper", id = 9i64, name = "x\u{1b}y");
    let _d = deeper.enter();
    at(1_735_689_601, 11);
    tracing::warn!("three spans deep");
    deeper.record("id", 10i64);
    at(1_735_689_601, 12);
    tracing::warn!("after a record");
    // An explicit parent other than the current span, and an explicit root.
    let other = tracing::info_span!(parent: None, "other", k = 1u64);
    at(1_735_689_601, 13);
    tracing::info!(parent: &other, "explicit parent");
    at(1_735_689_601, 14);
    tracing::info!(parent: None, "explicit root");
    drop(_d);
    drop(_i);
    drop(_r);

    // A `log` record, as `tracing-log` turns it into an event.
    at(1_735_689_602, 13);
    tracing_log::format_trace(
        &log::Record::builder()
            .args(format_args!("from log {}", 1))
            .level(log::Level::Warn)
            .target("legacy::dep")
            .module_path_static(Some("legacy::dep"))
            .file_static(Some("legacy.rs"))
            .line(Some(12))
            .build(),
    )
    .unwrap();

    // A scope deeper than a deferred layer walks by recursion (forty spans), an event at
    // its bottom and one whose explicit parent sits halfway up.
    let mut entered = Vec::new();
    for depth in 0..40u64 {
        entered.push(tracing::info_span!("level", depth).entered());
    }
    at(1_735_689_603, 0);
    tracing::info!("forty spans deep");
    at(1_735_689_603, 1);
    tracing::info!(parent: entered[20].id(), "explicit parent twenty deep");
    while let Some(span) = entered.pop() {
        drop(span);
    }

    // A span whose values are longer than a deferred layer keeps inline, then one more
    // value recorded into it, and a short one that gets a value later.
    let text = "long value ".repeat(20);
    let long = tracing::info_span!("long", text = text.as_str(), later = tracing::field::Empty);
    let short = long.in_scope(|| tracing::info_span!("short", late = tracing::field::Empty));
    let _l = long.enter();
    at(1_735_689_603, 2);
    tracing::info!("in a long span");
    long.record("later", 5u64);
    let _s = short.enter();
    short.record("late", "now");
    at(1_735_689_603, 3);
    tracing::info!("after records into both");
    drop(_s);
    drop(_l);
    n + extra_lines
}
