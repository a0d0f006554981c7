//! Health reports: thresholds, the health window (the same answer for every caller) and
//! errors.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::ManualClock;

use backpressure_writer::stats::Stats;
use logmetrics::health::{HealthThresholds, Problem};
use logmetrics::{BuildError, Exporter};
use sampling_layer::stats::SamplingStats;

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

const WINDOW: Duration = Duration::from_secs(30);

#[test]
fn drops_and_errors_count_for_the_health_window_on_an_injected_clock() {
    let (cell, source) = shared(idle_writer());
    let clock = ManualClock::new();
    let exporter = Exporter::builder()
        .writer("app", source)
        .clock(clock.source())
        .build()
        .unwrap();
    // t = 0: the first observation, nothing lost.
    assert!(exporter.health().is_healthy());

    clock.advance(Duration::from_secs(10));
    {
        let mut s = cell.lock().unwrap();
        s.dropped.newest = 4;
        s.dropped.shutdown = 1;
        s.write_errors = 2;
    }
    let first = exporter.health();
    assert_eq!(first.window, WINDOW);
    let w = &first.writers[0];
    assert_eq!(w.dropped_in_window, 5);
    assert_eq!(w.dropped_by_reason, vec![("newest", 4), ("shutdown", 1)]);
    assert_eq!(w.write_errors_in_window, 2);
    assert_eq!(
        w.problems,
        vec![
            Problem::LinesDropped {
                lines: 5,
                window: WINDOW
            },
            Problem::WriteErrors {
                errors: 2,
                window: WINDOW
            }
        ]
    );
    assert_eq!(
        first.to_string(),
        "unhealthy: app: 5 lines dropped in the last 30s; app: 2 write errors in the last 30s"
    );

    // Reading again changes nothing: the same answer, for as long as the drops are in
    // the window (the observation at t = 0 is its start until t = 35, the export interval
    // being 5 s).
    assert_eq!(exporter.health(), first);
    clock.advance(Duration::from_secs(24)); // t = 34
    assert_eq!(exporter.health(), first);

    // t = 40: the window starts at t = 10, when the drops were first seen: healthy again,
    // without anyone having had to read them.
    clock.advance(Duration::from_secs(6));
    let healed = exporter.health();
    assert!(healed.is_healthy(), "{healed}");
    assert_eq!(healed.writers[0].dropped_in_window, 0);

    cell.lock().unwrap().dropped.newest += 3;
    let third = exporter.health();
    assert_eq!(third.writers[0].dropped_in_window, 3);
    assert_eq!(third.writers[0].dropped_by_reason, vec![("newest", 3)]);
    assert_eq!(third.writers[0].write_errors_in_window, 0);
}

#[test]
fn two_interleaved_readers_get_identical_answers() {
    let (cell, source) = shared(idle_writer());
    let mut sampler = SamplingStats::default();
    sampler.breaker_trips = 1;
    let (trips, sampler_source) = shared(sampler);
    let clock = ManualClock::new();
    let exporter = Exporter::builder()
        .writer("app", source)
        .sampler("main", sampler_source)
        .clock(clock.source())
        .build()
        .unwrap();
    // A kubelet and a human with curl, each with a clone of the exporter.
    let (kubelet, human) = (exporter.clone(), exporter);
    let mut unhealthy = 0;
    for step in 0..40u64 {
        if step % 3 == 0 {
            cell.lock().unwrap().dropped.newest += 1;
        }
        if step % 7 == 0 {
            trips.lock().unwrap().breaker_trips += 1;
        }
        let k = kubelet.health();
        let h = human.health();
        // The kubelet probes twice as often.
        let k2 = kubelet.health();
        assert_eq!(k, h, "step {step}");
        assert_eq!(k2, h, "step {step}");
        unhealthy += u32::from(!k.is_healthy());
        clock.advance(Duration::from_secs(2));
    }
    // A drop every 6 s keeps a 30 s window unhealthy throughout.
    assert_eq!(unhealthy, 40);
}

#[test]
fn queue_saturation_stays_within_zero_and_one() {
    let (cell, source) = shared(idle_writer());
    let exporter = Exporter::builder().writer("app", source).build().unwrap();
    let saturation = |depth, capacity, keep| {
        {
            let mut s = cell.lock().unwrap();
            s.queue_depth = depth;
            s.capacity = capacity;
            s.keep_capacity = keep;
            s.since_last_write = Some(Duration::from_secs(1));
        }
        let w = exporter.health().writers.remove(0);
        assert!((0.0..=1.0).contains(&w.queue_saturation), "{w:?}");
        (w.queue_saturation, w.capacity)
    };
    // A full writer: every policy line and a keep-level line beyond them, clamped.
    assert_eq!(saturation(9, 8, 1), (1.0, 8));
    // The policy's room full reads full, however large the keep reserve beside it: with
    // the writer's defaults that reserve has as many lines as the queue, and a ratio over
    // both rooms read 0.49 for a full queue, below the default threshold of 0.8.
    assert_eq!(saturation(8, 8, 1), (1.0, 8));
    assert_eq!(saturation(128_000, 128_000, 131_072), (1.0, 128_000));
    assert_eq!(saturation(6, 8, 8), (0.75, 8));
    assert_eq!(saturation(0, 8, 1), (0.0, 8));
    // A hand-made source cannot push it out of range either.
    assert_eq!(saturation(100, 8, 1), (1.0, 8));
    assert_eq!(saturation(5, 0, 0), (0.0, 0));
}

#[test]
fn byte_saturation_stays_within_zero_and_one_and_is_judged_beside_lines() {
    let (cell, source) = shared(idle_writer());
    let exporter = Exporter::builder().writer("app", source).build().unwrap();
    // A few large lines: the line queue is nearly empty, the byte room nearly full.
    let check = |depth, bytes, byte_capacity, keep_bytes| {
        {
            let mut s = cell.lock().unwrap();
            s.queue_depth = depth;
            s.buffered_bytes = bytes;
            s.byte_capacity = byte_capacity;
            s.keep_byte_capacity = keep_bytes;
            s.since_last_write = Some(Duration::from_secs(1));
        }
        let w = exporter.health().writers.remove(0);
        assert!((0.0..=1.0).contains(&w.byte_saturation), "{w:?}");
        assert_eq!(w.buffered_bytes, bytes);
        (w.byte_saturation, w.byte_capacity, w.problems)
    };
    // 3 lines of 2 KiB in an 8 KiB + 1 KiB room: 2/3 full, under the default 0.8.
    assert_eq!(
        check(3, 6_144, 8_192, 1_024),
        (6_144.0 / 9_216.0, 9_216, vec![])
    );
    // 4 such lines: 8/9 full in bytes while the line queue is 4% full.
    let (saturation, room, problems) = check(4, 8_192, 8_192, 1_024);
    assert_eq!((saturation, room), (8.0 / 9.0, 9_216));
    assert_eq!(problems, vec![Problem::BytesSaturated { saturation }]);
    assert_eq!(
        exporter.health().to_string(),
        "unhealthy: app: queue 89% full in bytes"
    );
    // Full, keep room included; a hand-made source cannot push it out of range; no bound
    // (a hand-made `Stats::default()`) is never saturated.
    assert_eq!(check(5, 9_216, 8_192, 1_024).0, 1.0);
    assert_eq!(check(5, 100_000, 8_192, 1_024).0, 1.0);
    assert_eq!(check(5, 100, 0, 0), (0.0, 0, vec![]));
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
            Problem::WorkerGone,
            Problem::QueueSaturated { saturation: 0.51 },
            Problem::LinesDropped {
                lines: 21,
                window: WINDOW
            },
            Problem::WriteErrors {
                errors: 3,
                window: WINDOW
            },
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
    assert_eq!(r.samplers[0].breaker_trips_in_window, 3);
    cell.lock().unwrap().breaker_trips = 4;
    assert_eq!(lenient.health().samplers[0].breaker_trips_in_window, 4);

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
    assert!(matches!(e, BuildError::ZeroInterval));
    assert!(
        e.to_string().contains("interval must be greater than zero"),
        "{e}"
    );

    let e = err(Exporter::builder());
    assert!(matches!(e, BuildError::NothingToExport));

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
        BuildError::DuplicateName {
            kind: "sampler",
            ..
        }
    ));

    let e = err(w().thread_name("bad\0name"));
    assert!(matches!(e, BuildError::ThreadNameNul { ref name } if name.contains('\0')));
    assert!(e.to_string().contains("NUL"));

    for bad in [0.0, 1.5, f64::NAN, -0.1] {
        let e = err(w().health_thresholds(HealthThresholds::default().max_queue_saturation(bad)));
        assert!(e.to_string().contains("max_queue_saturation"), "{bad}: {e}");
    }
    let e = err(w().health_window(Duration::from_secs(4)));
    assert!(matches!(e, BuildError::InvalidHealthWindow { .. }));
    assert_eq!(
        e.to_string(),
        "logmetrics: health window 4s must span between 1 and 10000 export intervals of 5s"
    );
    let e = err(w()
        .interval(Duration::from_millis(1))
        .health_window(Duration::from_secs(11)));
    assert!(matches!(e, BuildError::InvalidHealthWindow { .. }), "{e}");
    assert!(w().health_window(Duration::from_secs(5)).build().is_ok());
    // The default window is six intervals, however long an interval is.
    assert_eq!(
        w().interval(Duration::MAX).build().unwrap().health().window,
        Duration::MAX
    );
    let e = err(w().health_thresholds(HealthThresholds::default().max_write_stall(Duration::ZERO)));
    assert!(e.to_string().contains("max_write_stall"), "{e}");
    // spawn validates the same way, before starting any thread.
    assert!(matches!(
        w().interval(Duration::ZERO).spawn().unwrap_err(),
        BuildError::ZeroInterval
    ));
}
