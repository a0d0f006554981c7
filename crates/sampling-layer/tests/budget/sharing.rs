//! Budgets (`target=500/s`): a busy target held to its budget with rare keys kept,
//! with an injected clock, read from the annotated output.

use std::collections::HashMap;
use std::time::Duration;

use crate::support::Output;
use sampling_layer::{clock::ManualClock, Annotated, Breaker, Mode, SamplingFilter};
use tracing_subscriber::{fmt, prelude::*};

const BUDGET: f64 = 500.0;

/// Per interval, per key: (emitted, kept lines, sum of 1/sample_rate).
type Figures = Vec<HashMap<&'static str, (u64, u64, f64)>>;

/// Runs `intervals` intervals of one second; `traffic(i)` gives each key's
/// events in interval `i` (emitted interleaved, evenly spread).
fn run(
    mode: Mode,
    directives: &str,
    intervals: usize,
    traffic: impl Fn(usize) -> Vec<(&'static str, u64)>,
) -> (Figures, sampling_layer::SamplingHandle) {
    let clock = ManualClock::new();
    let sampler = SamplingFilter::builder()
        .mode(mode)
        .seed(7)
        .breaker(Breaker::disabled())
        .clock(clock.clone())
        .parse(directives)
        .unwrap();
    let handle = sampler.handle();
    let cap = Output::new();
    let sub = tracing_subscriber::registry().with(
        fmt::layer()
            .without_time()
            .with_ansi(false)
            .with_writer(cap.clone())
            .event_format(Annotated::new(
                fmt::format().without_time().with_ansi(false),
            ))
            .with_filter(sampler),
    );
    let mut figures = Figures::new();
    tracing::subscriber::with_default(sub, || {
        let mut seen_lines = 0;
        for i in 0..intervals {
            let keys = traffic(i);
            let most = keys.iter().map(|k| k.1).max().unwrap();
            let mut emitted: HashMap<&'static str, (u64, u64, f64)> = HashMap::new();
            // Event j of the busiest key; the others spread among them.
            for j in 0..most {
                for &(key, n) in &keys {
                    if (j * n) / most != ((j + 1) * n) / most {
                        tracing::debug!(target: "app", sample_key = key, "x");
                        emitted.entry(key).or_default().0 += 1;
                    }
                }
            }
            let lines = cap.lines();
            for line in &lines[seen_lines..] {
                let key = keys
                    .iter()
                    .map(|k| k.0)
                    .find(|k| line.contains(&format!("sample_key=\"{k}\"")))
                    .unwrap_or_else(|| panic!("unexpected line {line}"));
                let rate = line
                    .split("sample_rate=")
                    .nth(1)
                    .map_or(1.0, |r| r.trim().parse::<f64>().unwrap());
                let e = emitted.entry(key).or_default();
                e.1 += 1;
                e.2 += 1.0 / rate;
            }
            seen_lines = lines.len();
            figures.push(emitted);
            clock.advance(Duration::from_secs(1));
        }
    });
    (figures, handle)
}

fn kept(f: &HashMap<&'static str, (u64, u64, f64)>) -> u64 {
    f.values().map(|v| v.1).sum()
}

fn three_keys(_: usize) -> Vec<(&'static str, u64)> {
    vec![("hot", 20_000), ("warm", 2_000), ("rare", 20)]
}

/// Asserts the acceptance figures on `figures`.
fn assert_budget_kept(figures: &Figures) {
    assert_budget_kept_within(figures, 0.1);
}

/// Each interval from the third on within `tolerance` of the budget.
fn assert_budget_kept_within(figures: &Figures, tolerance: f64) {
    let per_interval: Vec<u64> = figures.iter().map(kept).collect();
    eprintln!("kept per interval: {per_interval:?}");
    for (i, f) in figures.iter().enumerate().skip(2) {
        let k = kept(f) as f64;
        assert!(
            (k - BUDGET).abs() <= tolerance * BUDGET,
            "interval {i}: kept {k}, budget {BUDGET}: {f:?}"
        );
        let rare = f["rare"];
        assert_eq!(
            rare.1, rare.0,
            "interval {i}: the rare key keeps everything"
        );
    }
    for key in ["hot", "warm", "rare"] {
        let emitted: u64 = figures.iter().map(|f| f[key].0).sum();
        let estimate: f64 = figures.iter().map(|f| f[key].2).sum();
        let err = (estimate - emitted as f64).abs() / emitted as f64;
        eprintln!("{key}: emitted {emitted}, estimate {estimate:.0}");
        assert!(
            err <= 0.05,
            "{key}: estimate {estimate} for {emitted} emitted ({:.2}%)",
            err * 100.0
        );
    }
}

#[test]
fn three_keys_share_a_budget_and_the_rare_one_keeps_everything() {
    let (figures, handle) = run(Mode::Deterministic, "app=500/s", 20, three_keys);
    assert_budget_kept(&figures);
    // The first interval starts every new key at rate 1 (3 keys, within the
    // allowance of 50); from the second on, the budget holds.
    assert_eq!(kept(&figures[0]), 22_020);
    let app = handle
        .stats()
        .targets
        .into_iter()
        .find(|t| t.target == "app")
        .unwrap();
    assert_eq!(app.budget, Some(500.0));
    assert_eq!(app.rate, 1.0);
    assert_eq!(app.seen, 20 * 22_020);
    let kept_total: u64 = figures.iter().map(kept).sum();
    assert_eq!(app.kept, kept_total, "stats agree with the output");
}

/// Independent draws: each interval's kept count varies (about 22 lines
/// standard deviation around 500), so each is held to 25% (11 deviations)
/// and their mean over 38 intervals to 5% (7 deviations of the mean); the
/// weighted estimate to 5% as in deterministic mode (5 deviations for the
/// hot key over 40 intervals).
#[test]
fn the_weighted_estimate_is_unbiased_with_independent_draws() {
    let (figures, _) = run(Mode::Probabilistic, "app=500/s", 40, three_keys);
    assert_budget_kept_within(&figures, 0.25);
    let mean = figures[2..].iter().map(kept).sum::<u64>() as f64 / 38.0;
    assert!((mean - BUDGET).abs() <= 0.05 * BUDGET, "mean kept {mean}");
}

#[test]
fn traffic_that_doubles_is_caught_within_the_next_interval() {
    // The hot key doubles halfway through interval 10.
    let (figures, _) = run(Mode::Deterministic, "app=500/s", 16, |i| {
        let hot = match i {
            0..=9 => 20_000,
            _ => 40_000,
        };
        vec![("hot", hot), ("warm", 2_000), ("rare", 20)]
    });
    for (i, f) in figures.iter().enumerate().skip(2) {
        let k = kept(f) as f64;
        match i {
            // The interval of the rise pays for it (the rate was set before).
            10 => assert!(k <= 2.0 * BUDGET, "interval {i}: {k}"),
            // Caught by the next pass: never 2x again.
            11 => assert!(k <= 1.5 * BUDGET, "interval {i}: {k}"),
            _ => assert!((k - BUDGET).abs() <= 0.1 * BUDGET, "interval {i}: {k}"),
        }
    }
}

#[test]
fn the_bare_default_takes_a_budget_per_minute() {
    let (figures, handle) = run(Mode::Deterministic, "6000/min", 8, three_keys);
    for f in &figures[2..] {
        let k = kept(f) as f64;
        assert!((k - 100.0).abs() <= 10.0, "{k}");
    }
    let default = &handle.stats().targets[0];
    assert_eq!((default.target.as_str(), default.budget), ("", Some(100.0)));
}

#[test]
fn warn_and_error_are_outside_every_budget() {
    let clock = ManualClock::new();
    let sampler = SamplingFilter::builder()
        .breaker(Breaker::disabled())
        .clock(clock.clone())
        .parse("app=1/s")
        .unwrap();
    let handle = sampler.handle();
    let cap = Output::new();
    let sub =
        tracing_subscriber::registry().with(crate::support::text_layer(&cap).with_filter(sampler));
    tracing::subscriber::with_default(sub, || {
        for _ in 0..3 {
            for _ in 0..1_000 {
                tracing::warn!(target: "app", "w");
                tracing::error!(target: "app", "e");
                tracing::debug!(target: "app", "d");
            }
            clock.advance(Duration::from_secs(1));
        }
    });
    assert_eq!(cap.count("WARN app: w"), 3_000);
    assert_eq!(cap.count("ERROR app: e"), 3_000);
    // DEBUG: 1 000 in the first interval (a new key starts at 1), then the
    // budget's 1/s (the smallest rate is 1/N, so about one per interval).
    let debug = cap.count("DEBUG app: d");
    assert!((1_000..=1_004).contains(&debug), "{debug}");
    let app = &handle.stats().targets[1];
    assert_eq!(app.seen, 3_000, "WARN/ERROR are not counted against it");
}

/// Consistent mode takes budgets (one power-of-two rate per target: see
/// `whole.rs`), at build and at run time; a budget on a `[key]` stays refused.
#[test]
fn consistent_mode_takes_budgets_at_build_and_at_run_time() {
    let consistent = || {
        SamplingFilter::builder().mode(Mode::Consistent {
            field: "request_id".into(),
        })
    };
    let s = consistent().parse("app=200/s").unwrap();
    let app = |h: &sampling_layer::SamplingHandle| {
        h.stats()
            .targets
            .into_iter()
            .find(|t| t.target == "app")
            .map(|t| t.budget)
    };
    assert_eq!(app(&s.handle()), Some(Some(200.0)));
    let s = consistent().parse("app=0.5").unwrap();
    let h = s.handle();
    h.set_directives("0.1,app=30/min").unwrap();
    assert_eq!(app(&h), Some(Some(0.5)));
    assert!(consistent().parse("app[k]=200/s").is_err());
}

#[test]
fn a_later_directive_replaces_a_budget_with_a_rate_and_back() {
    let budget_of = |d: &str| {
        let s = SamplingFilter::try_new(d).unwrap();
        let t = s.handle().stats().targets;
        let app = t.into_iter().find(|t| t.target == "app").unwrap();
        (app.rate, app.budget)
    };
    assert_eq!(budget_of("app=200/s,app=0.5"), (0.5, None));
    assert_eq!(budget_of("app=0.5,app=200/s"), (1.0, Some(200.0)));
    assert_eq!(budget_of("app=1/20"), (0.05, None), "a fraction is a rate");
    let e = SamplingFilter::try_new("app[k]=5/s").unwrap_err();
    assert!(e.to_string().contains("applies to a target"), "{e}");
    let e = SamplingFilter::try_new("app=5/hour").unwrap_err();
    assert!(e.to_string().contains("`5/hour` is not a budget"), "{e}");
}

#[test]
fn split_directives_and_the_env_accept_budgets() {
    let (env, sampler) = sampling_layer::split_directives("info,app=debug@200/s,30/min").unwrap();
    let env = env.to_string();
    assert!(env.contains("app=debug") && env.contains("info"), "{env}");
    assert_eq!(sampler.handle().directives(), "app=200/s,30/min");
    std::env::set_var("BUDGET_TEST_SAMPLE", "app::router=200/s");
    let s = SamplingFilter::builder()
        .with_env_var("BUDGET_TEST_SAMPLE")
        .from_env()
        .unwrap();
    let t = s.handle().stats().targets;
    assert_eq!(t[1].budget, Some(200.0));
}

/// Key churn (dynamic client ids): 1 000 keys never seen before in every
/// interval, 5 events each. New keys start at rate 1 only within the
/// allowance (a tenth of the budget's lines), the rest at the rate that
/// spends the budget on the counted traffic, each at a random point of its
/// first window: the budget holds, plus the allowance, and the weighted
/// estimate stays true. The allowance's tenth comes on top of the lines the
/// average rate spends, so the mean is about 1.10-1.15x the budget (twelve
/// runs: 1.09-1.15x). Which keys keep a line is random. Measured over 300
/// runs (3 000 intervals): mean 560 lines, standard deviation 21, with a
/// heavier upper tail than a normal one (6 intervals above 640, the largest
/// 672, 1.34x); so the bound per interval is 1.45x (a 5-deviation bound,
/// 1.32x, failed about once in 300 runs), and the mean of ten, whose spread
/// is about 7 lines, stays within 0.95-1.2x.
#[test]
fn key_churn_cannot_blow_the_budget() {
    let clock = ManualClock::new();
    let sampler = SamplingFilter::builder()
        .breaker(Breaker::disabled())
        .clock(clock.clone())
        .parse("app=500/s")
        .unwrap();
    let cap = Output::new();
    let sub = tracing_subscriber::registry().with(
        fmt::layer()
            .with_ansi(false)
            .with_writer(cap.clone())
            .event_format(Annotated::new(
                fmt::format().without_time().with_ansi(false),
            ))
            .with_filter(sampler),
    );
    let (mut kept, mut estimate) = (Vec::new(), 0.0);
    tracing::subscriber::with_default(sub, || {
        let mut before = 0;
        for i in 0..12 {
            let keys: Vec<String> = (0..1_000).map(|j| format!("client-{i}-{j}")).collect();
            for _ in 0..5 {
                for k in &keys {
                    tracing::debug!(target: "app", sample_key = k.as_str(), "x");
                }
            }
            let lines = cap.lines();
            kept.push(lines.len() - before);
            if i >= 2 {
                estimate += lines[before..]
                    .iter()
                    .map(|l| {
                        l.split("sample_rate=")
                            .nth(1)
                            .map_or(1.0, |r| 1.0 / r.trim().parse::<f64>().unwrap())
                    })
                    .sum::<f64>();
            }
            before = lines.len();
            clock.advance(Duration::from_secs(1));
        }
    });
    eprintln!("kept per interval: {kept:?}, estimate {estimate:.0} of 50000");
    assert_eq!(kept[0], 5_000, "no estimate yet: every new key starts at 1");
    for (i, &k) in kept.iter().enumerate().skip(2) {
        assert!(
            k as f64 <= 1.45 * BUDGET,
            "interval {i}: {k} kept: {kept:?}"
        );
    }
    let mean = kept[2..].iter().sum::<usize>() as f64 / 10.0;
    assert!(
        (0.95 * BUDGET..=1.2 * BUDGET).contains(&mean),
        "mean {mean}: {kept:?}"
    );
    assert!((estimate - 50_000.0).abs() <= 0.05 * 50_000.0, "{estimate}");
}
