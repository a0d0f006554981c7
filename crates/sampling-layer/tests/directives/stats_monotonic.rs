//! `stats()` figures never go backwards, per label, for the sampler's life:
//! under key eviction churn, concurrent `set_directives` that retire and bring
//! back targets, and concurrent readers. (loom does not model `DashMap` or
//! std's locks, so this is a stress test: it counts, it does not time.)

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};

use sampling_layer::{stats::SamplingStats, SamplingHandle};
use tracing::info;
use tracing_subscriber::prelude::*;

const LOGGERS: usize = 2;
const EVENTS_PER_LOGGER: u64 = 60_000;

/// The directive sets the changer cycles through: `b` and `c` are retired and
/// come back, `a` stays, the bare default comes and goes.
const SETS: [&str; 4] = [
    "a=1/2,b=1/3,c=1/5",
    "a=1/3,b=1/2",
    "0.5,a=1/2,c=1/4",
    "a=1/2,b=1/3,c=1/5,d=1/7",
];

/// Per label, the last figures seen; panics on any decrease.
#[derive(Default)]
struct Watch {
    last: HashMap<String, (u64, u64, u64)>,
    snapshots: u64,
}

impl Watch {
    fn check(&mut self, st: &SamplingStats) {
        self.snapshots += 1;
        for t in &st.targets {
            assert_eq!(t.seen, t.kept + t.dropped, "{t:?}");
            let now = (t.seen, t.kept, t.dropped);
            if let Some(prev) = self.last.insert(t.target.clone(), now) {
                assert!(
                    now.0 >= prev.0 && now.1 >= prev.1 && now.2 >= prev.2,
                    "label {:?} went backwards: {prev:?} -> {now:?} (snapshot {})",
                    t.target,
                    self.snapshots
                );
            }
        }
    }
}

fn log_churn(thread: u64) {
    for i in 0..EVENTS_PER_LOGGER {
        // Distinct keys all the time (past max_keys: eviction churn), and
        // keyless events on a few callsites.
        let key = thread << 40 | i;
        match i % 5 {
            0 => info!(target: "a", sample_key = key, "x"),
            1 => info!(target: "b", sample_key = key, "x"),
            2 => info!(target: "c", sample_key = key, "x"),
            3 => info!(target: "d", "x"),
            _ => info!(target: "e", sample_key = key % 7, "x"),
        }
    }
}

#[test]
fn stats_are_monotonic_per_label_under_churn_and_set_directives() {
    let s = sampling_layer::SamplingFilter::builder()
        .breaker(sampling_layer::Breaker::disabled())
        .max_keys(64)
        .parse(SETS[0])
        .unwrap();
    let handle = s.handle();
    let dispatch: tracing::Dispatch = tracing_subscriber::registry().with(s).into();
    let done = Arc::new(AtomicBool::new(false));
    let start = Arc::new(Barrier::new(LOGGERS + 3));

    let loggers: Vec<_> = (0..LOGGERS as u64)
        .map(|t| {
            let (d, start) = (dispatch.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                tracing::dispatcher::with_default(&d, || log_churn(t));
            })
        })
        .collect();
    let changer = {
        let (h, done, start) = (handle.clone(), done.clone(), start.clone());
        std::thread::spawn(move || {
            start.wait();
            let mut watch = Watch::default();
            let mut i = 0;
            while !done.load(Ordering::Relaxed) {
                i += 1;
                h.set_directives(SETS[i % SETS.len()]).unwrap();
                watch.check(&h.stats());
            }
            watch
        })
    };
    let reader = {
        let (h, done, start): (SamplingHandle, _, _) =
            (handle.clone(), done.clone(), start.clone());
        std::thread::spawn(move || {
            start.wait();
            let mut watch = Watch::default();
            while !done.load(Ordering::Relaxed) {
                watch.check(&h.stats());
            }
            watch
        })
    };
    start.wait();
    for l in loggers {
        l.join().unwrap();
    }
    done.store(true, Ordering::Relaxed);
    let changer = changer.join().unwrap();
    let reader = reader.join().unwrap();
    assert!(changer.snapshots > 0 && reader.snapshots > 0);

    // Every event was counted once: with every label configured again, the
    // figures add up to the events sent (labels that were retired carry on).
    // `""` (the bare default) and `other` (no default) are never in one set.
    let mut watch = Watch {
        last: reader.last,
        snapshots: 0,
    };
    handle
        .set_directives("a=1/2,b=1/3,c=1/5,d=1/7,e=1/2")
        .unwrap();
    let named = handle.stats();
    watch.check(&named);
    handle.set_directives("0.5").unwrap();
    let default = handle.stats();
    watch.check(&default);
    let total: u64 = named.targets.iter().map(|t| t.seen).sum::<u64>() + default.targets[0].seen;
    assert_eq!(
        total,
        LOGGERS as u64 * EVENTS_PER_LOGGER,
        "{named:#?} {default:#?}"
    );
    assert!(named.evicted_keys > 0, "the test must churn keys");
}
