//! Fleet budgets (`app=400/s/fleet`): simulated members of one fleet, each a
//! sampler of its own on one injected clock, with equal and skewed traffic and
//! a fleet that doubles midway. What the fleet keeps is counted exactly.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sampling_layer::{clock::ManualClock, Breaker, ParseErrorKind, SamplingFilter};
use tracing::{Dispatch, Subscriber};
use tracing_subscriber::{layer::Context, prelude::*, Layer};

/// Counts the events that reach it.
struct Count(Arc<AtomicU64>);

impl<S: Subscriber> Layer<S> for Count {
    fn on_event(&self, _: &tracing::Event<'_>, _: Context<'_, S>) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// One member: its dispatcher, its kept count, its traffic (events a second).
struct Member {
    dispatch: Dispatch,
    kept: Arc<AtomicU64>,
    per_sec: u64,
    handle: sampling_layer::SamplingHandle,
}

struct Fleet {
    clock: ManualClock,
    size: Arc<AtomicU64>,
    members: Vec<Member>,
}

const STEP: Duration = Duration::from_millis(10);

impl Fleet {
    fn new() -> Self {
        Fleet {
            clock: ManualClock::new(),
            size: Arc::new(AtomicU64::new(0)),
            members: Vec::new(),
        }
    }

    /// Adds a member with `per_sec` events a second; the provider reads the
    /// shared size, which the test sets as members join.
    fn join(&mut self, directives: &str, per_sec: u64) {
        let kept = Arc::new(AtomicU64::new(0));
        let size = self.size.clone();
        let sampler = SamplingFilter::builder()
            .breaker(Breaker::disabled())
            .clock(self.clock.clone())
            .fleet_size(move || size.load(Ordering::Relaxed))
            .parse(directives)
            .unwrap();
        let handle = sampler.handle();
        let dispatch = tracing_subscriber::registry()
            .with(Count(kept.clone()).with_filter(sampler))
            .into();
        self.members.push(Member {
            dispatch,
            kept,
            per_sec,
            handle,
        });
    }

    /// Runs `secs` seconds in 10 ms steps, every member emitting its share of
    /// each step; returns the lines the whole fleet kept.
    fn run(&self, secs: u64) -> u64 {
        let before: u64 = self
            .members
            .iter()
            .map(|m| m.kept.load(Ordering::Relaxed))
            .sum();
        for step in 0..secs * 100 {
            for m in &self.members {
                // Spread evenly: rates below 100/s emit in some steps only.
                let n = m.per_sec * (step + 1) / 100 - m.per_sec * step / 100;
                tracing::dispatcher::with_default(&m.dispatch, || {
                    for i in 0..n {
                        tracing::debug!(target: "app", i, "work");
                    }
                });
            }
            self.clock.advance(STEP);
        }
        let after: u64 = self
            .members
            .iter()
            .map(|m| m.kept.load(Ordering::Relaxed))
            .sum();
        after - before
    }
}

fn app(st: &sampling_layer::stats::SamplingStats) -> sampling_layer::stats::TargetStats {
    st.targets
        .iter()
        .find(|t| t.target == "app")
        .unwrap()
        .clone()
}

/// Kept lines per second over `secs`, after `settle` seconds not counted.
fn per_sec(fleet: &Fleet, settle: u64, secs: u64) -> f64 {
    // (Each run starts its steps at 0: whole seconds keep the spread even.)
    fleet.run(settle);
    fleet.run(secs) as f64 / secs as f64
}

#[test]
fn with_equal_traffic_the_fleet_keeps_its_budget_as_it_doubles() {
    let mut fleet = Fleet::new();
    fleet.size.store(4, Ordering::Relaxed);
    for _ in 0..4 {
        fleet.join("app=400/s/fleet", 1_000);
    }
    let four = per_sec(&fleet, 3, 10);
    assert!((360.0..=440.0).contains(&four), "4 members: {four} lines/s");
    for m in &fleet.members {
        let st = m.handle.stats();
        assert_eq!(st.fleet_size, Some(4));
        assert_eq!(app(&st).effective_budget, Some(100.0), "{:?}", app(&st));
    }
    // The fleet doubles: four members join and every provider says 8.
    fleet.size.store(8, Ordering::Relaxed);
    for _ in 0..4 {
        fleet.join("app=400/s/fleet", 1_000);
    }
    let eight = per_sec(&fleet, 3, 10);
    assert!(
        (360.0..=440.0).contains(&eight),
        "8 members: {eight} lines/s"
    );
    for m in &fleet.members {
        assert_eq!(app(&m.handle.stats()).effective_budget, Some(50.0));
    }
    println!("fleet of 4: {four:.1} lines/s, of 8: {eight:.1} lines/s (budget 400/s)");
}

/// Skew: members busier than their share keep their share; members below it
/// keep all they have and nobody spends the rest. Reported, and checked
/// against that rule: the fleet keeps `sum(min(traffic, budget / size))`.
#[test]
fn with_skewed_traffic_the_fleet_keeps_the_sum_of_its_members_shares() {
    for (label, traffic) in [
        (
            "2x skew, all above their share",
            [1_000, 1_000, 2_000, 2_000],
        ),
        ("two members below their share", [50, 50, 2_000, 2_000]),
    ] {
        let mut fleet = Fleet::new();
        fleet.size.store(4, Ordering::Relaxed);
        for t in traffic {
            fleet.join("app=400/s/fleet", t);
        }
        let kept = per_sec(&fleet, 3, 10);
        let expected: f64 = traffic.iter().map(|&t| (t as f64).min(100.0)).sum();
        println!("{label}: {kept:.1} lines/s of a 400/s budget (rule: {expected})");
        assert!(
            (expected * 0.9..=expected * 1.1).contains(&kept),
            "{label}: {kept} lines/s, expected about {expected}"
        );
    }
}

#[test]
fn a_refused_size_is_counted_and_the_last_good_one_held() {
    let mut fleet = Fleet::new();
    fleet.size.store(2, Ordering::Relaxed);
    fleet.join("app=100/s/fleet", 1_000);
    fleet.run(2);
    fleet.size.store(0, Ordering::Relaxed);
    let kept = per_sec(&fleet, 1, 5);
    let st = fleet.members[0].handle.stats();
    assert_eq!(st.fleet_size, Some(2), "held");
    assert!(
        st.fleet_size_refused >= 5,
        "one refusal per pass: {}",
        st.fleet_size_refused
    );
    assert!(
        (45.0..=55.0).contains(&kept),
        "still half the budget: {kept}"
    );
    fleet.size.store(1 << 21, Ordering::Relaxed);
    fleet.run(2);
    assert_eq!(
        fleet.members[0].handle.stats().fleet_size,
        Some(2),
        "above the bound: held"
    );
}

#[test]
fn a_fleet_budget_needs_a_fleet_size_and_a_bad_first_size_is_refused() {
    let e = SamplingFilter::builder()
        .parse("app=400/s/fleet")
        .unwrap_err();
    assert!(
        matches!(
            e.kind(),
            sampling_layer::BuildErrorKind::Directive(p) if *p.kind() == ParseErrorKind::FleetBudgetWithoutSize
        ),
        "{e}"
    );
    assert!(e.to_string().contains("fleet_size"), "{e}");
    let plain = SamplingFilter::builder().parse("app=400/s").unwrap();
    let e = plain
        .handle()
        .set_directives("app=400/s/fleet")
        .unwrap_err();
    assert_eq!(*e.kind(), ParseErrorKind::FleetBudgetWithoutSize);
    assert_eq!(plain.handle().directives(), "app=400/s", "nothing changed");
    for bad in [0, (1 << 20) + 1] {
        let e = SamplingFilter::builder()
            .fleet_size(move || bad)
            .parse("app=400/s/fleet")
            .unwrap_err();
        assert!(e.to_string().contains("fleet_size"), "{bad}: {e}");
    }
    let e = SamplingFilter::builder()
        .fleet_size(|| panic!("no discovery yet"))
        .parse("app=400/s/fleet")
        .unwrap_err();
    assert!(e.to_string().contains("panicked"), "{e}");
    // Any case, spaces around the slashes: the fleet's 400/s, a third here.
    let ok = SamplingFilter::builder()
        .fleet_size(|| 3)
        .parse("app = 400 / S / Fleet")
        .unwrap();
    let st = ok.handle().stats();
    assert_eq!(app(&st).budget, Some(400.0));
    assert!((app(&st).effective_budget.unwrap() - 400.0 / 3.0).abs() < 1e-9);
}

/// A provider that panics at run time is counted like a refused size, the
/// last good size held; a fleet budget set one target at a time, or through
/// `split` with a level, takes the same share.
#[test]
fn a_panicking_provider_is_held_and_fleet_budgets_come_in_every_form() {
    let clock = ManualClock::new();
    let calls = Arc::new(AtomicU64::new(0));
    let c = calls.clone();
    let sampler = SamplingFilter::builder()
        .breaker(Breaker::disabled())
        .clock(clock.clone())
        .fleet_size(move || {
            // Good at build, then panics on every read.
            if c.fetch_add(1, Ordering::Relaxed) > 0 {
                panic!("discovery down");
            }
            5
        })
        .parse("app=100/s")
        .unwrap();
    let h = sampler.handle();
    h.set_target_rate("app", "1000/s/fleet").unwrap();
    assert_eq!(app(&h.stats()).effective_budget, Some(200.0));
    let dispatch: Dispatch = tracing_subscriber::registry()
        .with(Count(Arc::new(AtomicU64::new(0))).with_filter(sampler))
        .into();
    tracing::dispatcher::with_default(&dispatch, || {
        for _ in 0..300 {
            tracing::debug!(target: "app", "work");
            clock.advance(STEP);
        }
    });
    let st = h.stats();
    assert_eq!(st.fleet_size, Some(5), "held");
    assert!(st.fleet_size_refused >= 2, "{}", st.fleet_size_refused);
    assert_eq!(app(&st).effective_budget, Some(200.0));

    let (levels, split) = SamplingFilter::builder()
        .fleet_size(|| 4)
        .split("info,app=debug@400/s/fleet")
        .unwrap();
    assert_eq!(levels.to_string(), "app=debug,info");
    assert_eq!(app(&split.handle().stats()).effective_budget, Some(100.0));
}
