//! Run-time levels (`sampling_layer::level`): per target, with expiry, in each
//! placement, beside the sampler.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sampling_layer::capture::Capture;
use sampling_layer::level::{self, Levels, PendingLevel};
use sampling_layer::{
    clock::ManualClock, limits::MAX_DIRECTIVES_LEN, ParseErrorKind, SamplingFilter,
};
use tracing::level_filters::LevelFilter;
use tracing::{debug, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::prelude::*;

/// The tests here run one at a time: each changes levels, which rebuilds
/// tracing's process-wide interest cache through every registered dispatcher
/// while the others' dispatchers come and go (their shared callsites then
/// miss events in about 1 run in 15 when run in parallel).
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Counts the events it receives, by target.
#[derive(Clone, Default)]
struct Count(Arc<Mutex<HashMap<String, usize>>>);

impl Count {
    fn of(&self, target: &str) -> usize {
        self.0.lock().unwrap().get(target).copied().unwrap_or(0)
    }
}

impl<S: Subscriber> Layer<S> for Count {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        let target = event.metadata().target().to_owned();
        *self.0.lock().unwrap().entry(target).or_default() += 1;
    }
}

/// One DEBUG event of `app::db` and one of `app::http` per call, from fixed callsites.
fn log_both() {
    debug!(target: "app::db", "db");
    debug!(target: "app::http", "http");
}

#[test]
fn raised_then_lowered_per_layer_really_stops_again() {
    let _serial = serial();
    let count = Count::default();
    let levels = Levels::try_new("info").unwrap();
    let handle = levels.handle();
    let sub = tracing_subscriber::registry().with(count.clone().with_filter(levels));
    tracing::subscriber::with_default(sub, || {
        log_both();
        handle.set_target_level("app::db", "debug").unwrap();
        log_both();
        log_both();
        handle.set_target_level("app::db", "info").unwrap();
        log_both();
        assert!(handle.remove_target_level("app::db").unwrap());
        assert!(!handle.remove_target_level("app::db").unwrap());
        log_both();
    });
    assert_eq!((count.of("app::db"), count.of("app::http")), (2, 0));
    // One rebuild per call that changed the table (setting `info` did too).
    let stats = handle.stats();
    assert_eq!((stats.changes, stats.rebuilds), (4, 3));
}

#[test]
fn metadata_that_is_no_registered_callsite_is_matched_too() {
    let _serial = serial();
    // `LogTracer` asks `enabled` with metadata it builds per record: not a
    // callsite the filter decided, so it is matched against the table.
    struct Cs;
    static CS: Cs = Cs;
    impl tracing::callsite::Callsite for Cs {
        fn set_interest(&self, _: tracing::subscriber::Interest) {}
        fn metadata(&self) -> &tracing::Metadata<'_> {
            unimplemented!("never registered")
        }
    }
    let meta = |target| {
        let fields = tracing::field::FieldSet::new(&[], tracing_core::identify_callsite!(&CS));
        tracing::Metadata::new(
            "log record",
            target,
            tracing::Level::DEBUG,
            None,
            None,
            None,
            fields,
            tracing::metadata::Kind::EVENT,
        )
    };
    let levels = Levels::try_new("info,legacy=warn").unwrap();
    let handle = levels.handle();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(levels));
    let enabled = |target| dispatch.enabled(&meta(target));
    assert!(!enabled("legacy::x"));
    handle.set_target_level("legacy", "debug").unwrap();
    assert!(enabled("legacy::x"));
    assert!(!enabled("other"));
    handle.set_target_level("legacy", "info").unwrap();
    assert!(!enabled("legacy::x"));
}

#[test]
fn a_level_raised_for_50ms_returns_on_time() {
    let _serial = serial();
    let clock = ManualClock::new();
    let count = Count::default();
    let levels = Levels::builder()
        .clock(clock.clone())
        .parse("info,app::db=warn")
        .unwrap();
    let handle = levels.handle();
    let sub = tracing_subscriber::registry().with(count.clone().with_filter(levels));
    tracing::subscriber::with_default(sub, || {
        let ms50 = Duration::from_millis(50);
        handle
            .set_target_level_for("app::db", "debug", ms50)
            .unwrap();
        let pending: Vec<_> = handle
            .pending()
            .into_iter()
            .map(|p: PendingLevel| (p.target, p.level, p.restore, p.due, p.due_in))
            .collect();
        let db = (
            "app::db".to_owned(),
            LevelFilter::DEBUG,
            Some(LevelFilter::WARN),
        );
        assert_eq!(pending, vec![(db.0, db.1, db.2, ms50, ms50)]);
        log_both();
        clock.advance(Duration::from_millis(49));
        assert_eq!(handle.pending()[0].due_in, Duration::from_millis(1));
        log_both();
        clock.advance(Duration::from_millis(1));
        // Any handle call applies what is due (the thread does it on real time).
        assert_eq!(handle.directives(), "info,app::db=warn");
        assert!(handle.pending().is_empty());
        log_both();
    });
    assert_eq!(count.of("app::db"), 2);
    let stats = handle.stats();
    assert_eq!((stats.reverts, stats.rebuilds), (1, 2));
}

#[test]
fn timed_changes_stack_and_a_lasting_change_cancels_the_return() {
    let _serial = serial();
    let clock = ManualClock::new();
    let handle = Levels::builder()
        .clock(clock.clone())
        .parse("info")
        .unwrap()
        .handle();
    let s = Duration::from_secs(1);
    handle.set_target_level_for("a", "debug", 10 * s).unwrap();
    handle.set_target_level_for("a", "trace", 20 * s).unwrap();
    // The second returns, at its own due time, to what `a` had before the first.
    clock.advance(10 * s);
    assert_eq!(handle.directives(), "info,a=trace");
    clock.advance(10 * s);
    assert_eq!(handle.directives(), "info");
    handle.set_target_level_for("b", "debug", s).unwrap();
    handle.set_target_level("b", "error").unwrap();
    handle.set_target_level_for("", "warn", s).unwrap();
    clock.advance(s);
    assert_eq!(handle.directives(), "info,b=error");
    assert_eq!(handle.stats().reverts, 2);
    // A whole new set cancels every return.
    handle.set_target_level_for("c", "debug", s).unwrap();
    handle.set_directives("warn").unwrap();
    clock.advance(s);
    assert_eq!(
        (handle.directives(), handle.stats().reverts),
        ("warn".into(), 2)
    );
}

#[test]
fn directives_round_trip() {
    let _serial = serial();
    for s in [
        "",
        "info",
        "app=debug",
        "WARN,app::db=TRACE,app=2,lib=off",
        "3, a=1,a=5 ,b-c:d=info",
    ] {
        let handle = Levels::try_new(s).unwrap().handle();
        let shown = handle.directives();
        let again = Levels::try_new(&shown).unwrap().handle();
        assert_eq!(again.directives(), shown, "{s}");
        for t in ["app", "app::db", "a", "b-c:d::x", "zz", "lib"] {
            assert_eq!(again.level_for(t), handle.level_for(t), "{s} {t}");
        }
    }
    let h = Levels::try_new("WARN,app::db=TRACE,app=2")
        .unwrap()
        .handle();
    assert_eq!(h.directives(), "warn,app=warn,app::db=trace");
}

#[test]
fn bad_input_is_refused_naming_the_problem_and_changes_nothing() {
    let _serial = serial();
    let handle = Levels::try_new("info,app=debug").unwrap().handle();
    let kind = |r: Result<(), sampling_layer::ParseError>| r.unwrap_err().kind().clone();
    assert_eq!(
        kind(handle.set_target_level("app", "verbose")),
        ParseErrorKind::InvalidLevel("verbose".into())
    );
    assert_eq!(
        kind(handle.set_target_level("app", "")),
        ParseErrorKind::InvalidLevel(String::new())
    );
    assert_eq!(
        kind(handle.set_target_level("app[req]", "debug")),
        ParseErrorKind::SpanFilterInLevels
    );
    assert_eq!(
        kind(handle.set_directives("=debug")),
        ParseErrorKind::EmptyTarget
    );
    let e = handle
        .set_directives("info,app[request{id=7}]=trace")
        .unwrap_err();
    assert_eq!(e.directive(), "app[request{id=7}]=trace");
    assert!(e.to_string().contains("EnvFilter layered beside"), "{e}");
    let huge = "a".repeat(MAX_DIRECTIVES_LEN + 1);
    assert_eq!(
        kind(handle.set_directives(&huge)),
        ParseErrorKind::TooLong(huge.len())
    );
    assert_eq!(
        kind(handle.set_target_level(&huge, "debug")),
        ParseErrorKind::TooLong(huge.len())
    );
    let many: Vec<String> = (0..4097).map(|i| format!("t{i}=info")).collect();
    let e = handle.set_directives(&many.join(",")).unwrap_err();
    assert_eq!(
        (e.directive(), e.kind()),
        ("t4096=info", &ParseErrorKind::TooManyLevelDirectives)
    );
    // 4 094 targets, the default and `app`: one more target is one too many.
    handle
        .set_directives(&format!("info,app=debug,{}", many[..4094].join(",")))
        .unwrap();
    assert_eq!(
        kind(handle.set_target_level("new", "debug")),
        ParseErrorKind::TooManyLevelDirectives
    );
    handle.set_target_level("app", "trace").unwrap();
    handle.set_directives("info,app=debug").unwrap();
    assert_eq!(handle.directives(), "info,app=debug");
}

#[test]
fn a_level_change_leaves_the_sampler_figures_budgets_and_capture_alone() {
    let _serial = serial();
    let clock = ManualClock::new();
    let sampler = SamplingFilter::builder()
        .clock(clock.clone())
        .capture(Capture::default().span("request"))
        .parse("app::db=1/4,app::http=100/s")
        .unwrap();
    let sh = sampler.handle();
    // The sampler captures only while a capture writer and a capture layer
    // of its own exist; the counting layer is the one captured events reach.
    let _diverting = sampling_layer::capture::CaptureWriter::new(std::io::sink, &sh);
    let levels = Levels::builder()
        .clock(clock.clone())
        .parse("debug")
        .unwrap();
    let lh = levels.handle();
    let count = Count::default();
    let sub = tracing_subscriber::registry().with(
        sampling_layer::capture::CaptureLayer::new(count.clone(), &sh)
            .with_filter(sampler.and(levels)),
    );
    tracing::subscriber::with_default(sub, || {
        let span = tracing::info_span!("request");
        let _e = span.enter();
        for _ in 0..20 {
            log_both();
        }
        let (stats, capture) = (sh.stats(), sh.stats().capture);
        lh.set_target_level("lib", "trace").unwrap();
        lh.set_target_level_for("app::db", "info", Duration::from_secs(1))
            .unwrap();
        assert_eq!(lh.stats().rebuilds, 2);
        assert_eq!((sh.stats(), sh.stats().capture), (stats.clone(), capture));
        // Nothing new was seen while `app::db` is at INFO; `app::http` carries on.
        for _ in 0..4 {
            log_both();
        }
        let db = |s: &sampling_layer::stats::SamplingStats, t: &str| {
            let t = s.targets.iter().find(|x| x.target == t).unwrap().clone();
            (t.seen, t.kept)
        };
        let after = sh.stats();
        assert_eq!(db(&after, "app::db"), db(&stats, "app::db"));
        assert_eq!(db(&after, "app::http").0, db(&stats, "app::http").0 + 4);
    });
    // Kept or diverted into the span's buffer, each event before the change
    // reached the layer; none after it.
    assert_eq!(count.of("app::db"), 20);
}

#[test]
fn one_item_sets_a_level_and_a_budget_for_a_while() {
    let _serial = serial();
    let clock = ManualClock::new();
    let sampler = SamplingFilter::builder()
        .clock(clock.clone())
        .parse("0.1,app::db=1/100")
        .unwrap();
    let levels = Levels::builder()
        .clock(clock.clone())
        .parse("info")
        .unwrap();
    let (lh, sh) = (levels.handle(), sampler.handle());
    let ten_min = Duration::from_secs(600);
    level::set_target(&lh, &sh, "app::db=debug@200/s", Some(ten_min)).unwrap();
    assert_eq!(lh.directives(), "info,app::db=debug");
    assert_eq!(sh.directives(), "0.1,app::db=200/s");
    // Refused before either changes: a bad rate, a span filter with a level.
    for bad in ["app::db=debug@2", "app::db[x]=debug@0.5", "app=verbose@0.5"] {
        assert!(level::set_target(&lh, &sh, bad, None).is_err(), "{bad}");
    }
    level::set_target(&lh, &sh, "lib=warn", None).unwrap();
    level::set_target(&lh, &sh, "app::ws[hb]=1%", None).unwrap();
    clock.advance(ten_min);
    assert_eq!(lh.directives(), "info,lib=warn");
    assert_eq!(sh.directives(), "0.1,app::ws[hb]=1%,app::db=1/100");
}

#[test]
fn a_budget_the_sampler_refuses_leaves_the_level_alone() {
    let _serial = serial();
    let levels = Levels::try_new("info").unwrap();
    // A fleet budget in a sampler that was given no fleet size.
    let sampler = SamplingFilter::builder().parse("0.1").unwrap();
    let (lh, sh) = (levels.handle(), sampler.handle());
    let e = level::set_target(&lh, &sh, "app::db=debug@200/s/fleet", None).unwrap_err();
    assert_eq!(e.kind(), &ParseErrorKind::FleetBudgetWithoutSize);
    assert_eq!(
        (lh.directives(), sh.directives()),
        ("info".into(), "0.1".into())
    );
    // A rate is fine there.
    level::set_target(&lh, &sh, "app::db=debug@0.5", None).unwrap();
    assert_eq!(lh.directives(), "info,app::db=debug");
    assert_eq!(sh.directives(), "0.1,app::db=0.5");
}

#[test]
fn a_repeat_item_is_not_a_level_and_changes_nothing() {
    let _serial = serial();
    let levels = Levels::try_new("info").unwrap();
    let sampler = SamplingFilter::try_new("0.1").unwrap();
    let (lh, sh) = (levels.handle(), sampler.handle());
    let e = sampling_layer::level::set_target(&lh, &sh, "app::db=first 5/1s", None).unwrap_err();
    assert!(e.to_string().contains("set_directives"), "{e}");
    assert_eq!(
        (lh.directives(), sh.directives()),
        ("info".into(), "0.1".into())
    );
}
