//! Health reports: thresholds, "since the last check" accounting and errors.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use backpressure_writer::Stats;
use logmetrics::{Error, Exporter, HealthThresholds, Problem};
use sampling_layer::SamplingStats;

fn idle_writer() -> Stats {
    let mut s = Stats::default();
    s.capacity = 100;
    s.worker_alive = true;
    s.lines_written = 50;
    s.since_last_write = Some(Duration::from_secs(600));
    s
}

fn shared<T: Clone + Send + 'static>(v: T) -> (Arc<Mutex<T>>, impl Fn() -> T + Send + Sync) {
    let cell = Arc::new(Mutex::new(v));
    let c = cell.clone();
    (cell, move || c.lock().unwrap().clone())
}

#[test]
fn idle_writer_is_healthy_even_long_after_its_last_write() {
    let exporter = Exporter::builder()
        .writer("app", idle_writer)
        .build()
        .unwrap();
    let report = exporter.health();
    assert!(report.is_healthy(), "{report}");
    assert_eq!(report.to_string(), "healthy");
    let w = &report.writers[0];
    assert_eq!(w.name, "app");
    assert!(w.worker_alive);
    assert_eq!(w.since_last_write, Some(Duration::from_secs(600)));
    assert_eq!(w.queue_saturation, 0.0);
}

#[test]
fn drops_and_errors_are_counted_since_the_previous_check() {
    let (cell, source) = shared(idle_writer());
    let exporter = Exporter::builder().writer("app", source).build().unwrap();
    {
        let mut s = cell.lock().unwrap();
        s.dropped.newest = 4;
        s.dropped.shutdown = 1;
        s.write_errors = 2;
    }
    let first = exporter.health();
    let w = &first.writers[0];
    assert_eq!(w.dropped_since_last_check, 5);
    assert_eq!(w.dropped_by_reason, vec![("newest", 4), ("shutdown", 1)]);
    assert_eq!(w.write_errors_since_last_check, 2);
    assert_eq!(
        w.problems,
        vec![
            Problem::LinesDropped { lines: 5 },
            Problem::WriteErrors { errors: 2 }
        ]
    );
    assert!(!first.is_healthy());
    assert_eq!(
        first.to_string(),
        "unhealthy: app: 5 lines dropped since last check; app: 2 write errors since last check"
    );

    // Nothing new: healthy again.
    let second = exporter.health();
    assert!(second.is_healthy(), "{second}");
    assert_eq!(second.writers[0].dropped_since_last_check, 0);

    cell.lock().unwrap().dropped.newest += 3;
    let third = exporter.health();
    assert_eq!(third.writers[0].dropped_since_last_check, 3);
    assert_eq!(third.writers[0].dropped_by_reason, vec![("newest", 3)]);
    assert_eq!(third.writers[0].write_errors_since_last_check, 0);
}

#[test]
fn thresholds_decide_what_is_a_problem() {
    let (cell, source) = shared(idle_writer());
    let exporter = Exporter::builder()
        .writer("app", source)
        .health_thresholds(
            HealthThresholds::default()
                .max_dropped(10)
                .max_write_errors(1)
                .max_queue_saturation(0.5)
                .max_write_stall(Duration::from_secs(5)),
        )
        .build()
        .unwrap();
    {
        let mut s = cell.lock().unwrap();
        s.dropped.oldest = 10;
        s.write_errors = 1;
        s.queue_depth = 50;
    }
    // At the thresholds, not above: healthy (but the queue holds lines and the last write
    // was 600 s ago, which is a stall).
    let r = exporter.health();
    assert_eq!(
        r.writers[0].problems,
        vec![Problem::WriteStalled {
            pending: 50,
            since_last_write: Duration::from_secs(600),
        }]
    );
    {
        let mut s = cell.lock().unwrap();
        s.since_last_write = Some(Duration::from_secs(1));
        s.queue_depth = 51;
        s.dropped.oldest = 21;
        s.write_errors = 3;
        s.worker_alive = false;
    }
    let r = exporter.health();
    assert_eq!(
        r.writers[0].problems,
        vec![
            Problem::WorkerDead,
            Problem::QueueSaturated { saturation: 0.51 },
            Problem::LinesDropped { lines: 11 },
            Problem::WriteErrors { errors: 2 },
        ]
    );
    assert_eq!(r.problems().count(), 4);
    assert!(r.problems().all(|(name, _)| name == "app"));
}

#[test]
fn breaker_is_reported_and_unhealthy_only_when_asked() {
    let mut s = SamplingStats::default();
    s.breaker_open = true;
    s.breaker_trips = 3;
    let (cell, source) = shared(s);
    let lenient = Exporter::builder().sampler("main", source).build().unwrap();
    let r = lenient.health();
    assert!(r.is_healthy());
    assert!(r.samplers[0].breaker_open);
    assert_eq!(r.samplers[0].breaker_trips_since_last_check, 3);
    cell.lock().unwrap().breaker_trips = 4;
    assert_eq!(
        lenient.health().samplers[0].breaker_trips_since_last_check,
        1
    );

    let c = cell.clone();
    let strict = Exporter::builder()
        .sampler("main", move || c.lock().unwrap().clone())
        .health_thresholds(HealthThresholds::default().breaker_open_is_unhealthy(true))
        .build()
        .unwrap();
    let r = strict.health();
    assert_eq!(r.samplers[0].problems, vec![Problem::BreakerOpen]);
    assert_eq!(r.to_string(), "unhealthy: main: sampling breaker open");
}

#[test]
fn bad_configuration_is_refused_with_a_clear_error() {
    let err = |b: logmetrics::ExporterBuilder| b.build().unwrap_err();
    let w = || Exporter::builder().writer("app", Stats::default);

    let e = err(w().interval(Duration::ZERO));
    assert!(matches!(e, Error::ZeroInterval));
    assert!(
        e.to_string().contains("interval must be greater than zero"),
        "{e}"
    );

    let e = err(Exporter::builder());
    assert!(matches!(e, Error::NothingToExport));

    let e = err(Exporter::builder().writer("", Stats::default));
    assert_eq!(
        e.to_string(),
        "logmetrics: writer registered with an empty name"
    );

    let e = err(w().writer("app", Stats::default));
    assert_eq!(
        e.to_string(),
        "logmetrics: two writers registered as \"app\"; their series would merge"
    );
    // A writer and a sampler may share a name: their metrics differ.
    assert!(w().sampler("app", SamplingStats::default).build().is_ok());
    let e = err(Exporter::builder()
        .sampler("s", SamplingStats::default)
        .sampler("s", SamplingStats::default));
    assert!(matches!(
        e,
        Error::DuplicateName {
            kind: "sampler",
            ..
        }
    ));

    let e = err(w().thread_name("bad\0name"));
    assert!(matches!(e, Error::InvalidThreadName(_)));
    assert!(e.to_string().contains("NUL"));

    for bad in [0.0, 1.5, f64::NAN, -0.1] {
        let e = err(w().health_thresholds(HealthThresholds::default().max_queue_saturation(bad)));
        assert!(e.to_string().contains("max_queue_saturation"), "{bad}: {e}");
    }
    let e = err(w().health_thresholds(HealthThresholds::default().max_write_stall(Duration::ZERO)));
    assert!(e.to_string().contains("max_write_stall"), "{e}");
    // spawn validates the same way, before starting any thread.
    assert!(matches!(
        w().interval(Duration::ZERO).spawn().unwrap_err(),
        Error::ZeroInterval
    ));
}
