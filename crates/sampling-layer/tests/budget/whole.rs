//! Budgets in consistent mode keep whole requests: two "processes" (samplers
//! on one injected wall clock) see the same requests, each writing its own
//! lines of each; every process derives its one rate per target from what
//! they share (the goal, the fleet size, its traffic, quantized to a power of
//! two, changed only at aligned interval ends). Counted exactly.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sampling_layer::{clock::ManualClock, Breaker, Mode, SamplingFilter};
use tracing::field::{Field, Visit};
use tracing::{Dispatch, Subscriber};
use tracing_subscriber::{layer::Context, prelude::*, Layer};

/// Records the `request_id` of every event that reaches it.
#[derive(Clone, Default)]
struct Kept(Arc<Mutex<Vec<u64>>>);

struct Id(Option<u64>);

impl Visit for Id {
    fn record_u64(&mut self, f: &Field, v: u64) {
        if f.name() == "request_id" {
            self.0 = Some(v);
        }
    }
    fn record_debug(&mut self, _: &Field, _: &dyn std::fmt::Debug) {}
}

impl<S: Subscriber> Layer<S> for Kept {
    fn on_event(&self, e: &tracing::Event<'_>, _: Context<'_, S>) {
        let mut id = Id(None);
        e.record(&mut id);
        self.0
            .lock()
            .unwrap()
            .push(id.0.expect("every event has its request id"));
    }
}

struct Process {
    dispatch: Dispatch,
    kept: Kept,
}

fn process(clock: &ManualClock, directives: &str) -> Process {
    let kept = Kept::default();
    let sampler = SamplingFilter::builder()
        .mode(Mode::Consistent {
            field: "request_id".into(),
        })
        .breaker(Breaker::disabled())
        .clock(clock.clone())
        .fleet_size(|| 2)
        .parse(directives)
        .unwrap();
    let dispatch = tracing_subscriber::registry()
        .with(kept.clone().with_filter(sampler))
        .into();
    Process { dispatch, kept }
}

/// Runs `secs` seconds of `per_sec` requests a second (ids from `first`);
/// each request writes `lines[p]` lines in process `p`, from two callsites.
/// Returns the ids each process kept any line of, over the last `measure`
/// seconds, and the lines each kept then.
fn run(
    clock: &ManualClock,
    procs: &[Process],
    lines: [u64; 2],
    per_sec: u64,
    secs: u64,
    measure: u64,
) -> ([BTreeSet<u64>; 2], [usize; 2]) {
    let mut id = 0u64;
    for p in procs {
        p.kept.0.lock().unwrap().clear();
    }
    for s in 0..secs {
        if s == secs - measure {
            for p in procs {
                p.kept.0.lock().unwrap().clear();
            }
        }
        // 100 steps a second, the requests spread evenly.
        for step in 0..100 {
            let n = per_sec * (step + 1) / 100 - per_sec * step / 100;
            for _ in 0..n {
                id += 1;
                // A request id as a tracer would make it: well spread.
                let request_id = id.wrapping_mul(0x9E37_79B9_7F4A_7C15);
                for (p, proc_) in procs.iter().enumerate() {
                    tracing::dispatcher::with_default(&proc_.dispatch, || {
                        for i in 0..lines[p] {
                            if i % 2 == 0 {
                                tracing::debug!(target: "app", request_id, i, "step");
                            } else {
                                tracing::info!(target: "app::db", request_id, i, "query");
                            }
                        }
                    });
                }
            }
            clock.advance(Duration::from_millis(10));
        }
    }
    let sets = [0, 1].map(|p| procs[p].kept.0.lock().unwrap().iter().copied().collect());
    let lines = [0, 1].map(|p| procs[p].kept.0.lock().unwrap().len());
    (sets, lines)
}

#[test]
fn with_equal_traffic_both_processes_keep_exactly_the_same_requests_within_the_budget() {
    let clock = ManualClock::new();
    // 100 lines/s for the fleet of two: 50 in each process.
    let procs = [
        process(&clock, "app=100/s/fleet"),
        process(&clock, "app=100/s/fleet"),
    ];
    // 600 lines/s each against 50: 1/12 ideal, 1/16 kept (37.5 lines/s).
    let ([a, b], [la, lb]) = run(&clock, &procs, [4, 4], 150, 12, 10);
    assert_eq!(a, b, "the same requests kept, whole, in both processes");
    assert!(!a.is_empty());
    for (p, lines) in [la, lb].into_iter().enumerate() {
        let per_sec = lines as f64 / 10.0;
        // 1/16 of 600 lines/s, within the spread of 1 500 request ids' hashes.
        assert!(
            (30.0..=45.0).contains(&per_sec),
            "process {p}: {per_sec} lines/s of 50"
        );
    }
    // Every line of a kept request was kept: 4 per request in each process.
    assert_eq!(la, a.len() * 4);
    assert_eq!(lb, b.len() * 4);
    println!(
        "equal traffic: {} requests kept whole in both, {la} and {lb} lines in 10 s",
        a.len()
    );
}

/// With twice the lines per request in one process, it lands one power of
/// two lower: what it keeps is a subset of what the other keeps (the
/// consistent decision nests), so a request kept there is kept whole in
/// both, and the others are kept in part, in one process only. Reported.
#[test]
fn with_2x_skew_the_busier_process_keeps_a_subset_and_the_share_kept_in_part_is_reported() {
    let clock = ManualClock::new();
    let procs = [
        process(&clock, "app=100/s/fleet"),
        process(&clock, "app=100/s/fleet"),
    ];
    let ([a, b], [la, lb]) = run(&clock, &procs, [4, 8], 150, 12, 10);
    assert!(b.is_subset(&a), "the busier process keeps a subset");
    let part = a.difference(&b).count();
    let share = part as f64 / a.len() as f64;
    println!(
        "2x skew: {} requests kept by the quieter process, {} by the busier; {part} ({:.0}%) kept in part only",
        a.len(),
        b.len(),
        share * 100.0
    );
    assert!(
        (0.3..=0.7).contains(&share),
        "about half kept in part: {share}"
    );
    for (p, lines) in [la, lb].into_iter().enumerate() {
        let per_sec = lines as f64 / 10.0;
        assert!(
            per_sec <= 55.0,
            "process {p}: {per_sec} lines/s, more than its 50"
        );
    }
}
