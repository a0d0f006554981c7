//! Run-time control that composes: one target at a time, changes that
//! expire, reading the set back, recent figures. Exact counts, manual clock.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sampling_layer::{
    clock::{Clock, ManualClock},
    stats::TargetStats,
    Breaker, ParseErrorKind, SamplingFilter, SamplingHandle,
};
use tracing::info;
use tracing_subscriber::prelude::*;

/// A manual clock that counts how often it is read.
#[derive(Debug, Clone, Default)]
struct CountingClock {
    time: ManualClock,
    reads: Arc<AtomicU64>,
}

impl Clock for CountingClock {
    fn now(&self) -> Duration {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.time.now()
    }
}

fn timed(directives: &str, clock: &CountingClock) -> SamplingFilter {
    SamplingFilter::builder()
        .breaker(Breaker::disabled())
        .clock(clock.clone())
        .parse(directives)
        .unwrap()
}

fn target(h: &SamplingHandle, name: &str) -> TargetStats {
    h.stats()
        .targets
        .into_iter()
        .find(|t| t.target == name)
        .unwrap_or_else(|| panic!("no row for {name:?}"))
}

/// Logs `n` INFO events at `target` and returns how many the sampler kept.
fn log(h: &SamplingHandle, target_name: &'static str, n: u64) -> u64 {
    let before = h.stats().targets.iter().map(|t| t.kept).sum::<u64>();
    for _ in 0..n {
        match target_name {
            "app" => info!(target: "app", "x"),
            "app::db" => info!(target: "app::db", "x"),
            "lib" => info!(target: "lib", "x"),
            _ => unreachable!(),
        }
    }
    h.stats().targets.iter().map(|t| t.kept).sum::<u64>() - before
}

#[test]
fn set_target_rate_changes_one_target_and_figures_carry_on() {
    let s = crate::support::sampler("app=0,lib=0");
    let h = s.handle();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(s), || {
        assert_eq!(log(&h, "app", 10), 0);
        assert_eq!(log(&h, "lib", 10), 0);
        h.set_target_rate("app", "1/2").unwrap();
        assert_eq!(log(&h, "app", 10), 5);
        assert_eq!(log(&h, "lib", 10), 0, "lib is untouched");
        assert_eq!(h.directives(), "lib=0,app=1/2");
        // The whole-set replacement would have dropped `lib`'s rule.
        h.set_directives("app=1/2").unwrap();
        assert_eq!(log(&h, "lib", 10), 10, "lib no longer sampled");
    });
    let app = target(&h, "app");
    assert_eq!((app.seen, app.kept, app.rate), (20, 5, 0.5));
}

#[test]
fn keys_the_default_and_removal() {
    let s = crate::support::sampler("1/2,app=0");
    let h = s.handle();
    h.set_target_rate("app[hb]", "0").unwrap();
    h.set_target_rate("", "1/4").unwrap();
    h.set_target_rate("[retry]", "1").unwrap();
    assert_eq!(h.directives(), "app=0,app[hb]=0,1/4,[retry]=1");
    assert_eq!(h.remove_target("app"), Ok(true));
    assert_eq!(h.remove_target("app"), Ok(false), "already gone");
    assert_eq!(h.remove_target(""), Ok(true));
    assert_eq!(h.directives(), "app[hb]=0,[retry]=1");
    tracing::subscriber::with_default(tracing_subscriber::registry().with(s), || {
        for _ in 0..4 {
            info!(target: "app", sample_key = "hb", "x");
            info!(target: "app", sample_key = "retry", "x");
            info!(target: "app", "no key");
        }
    });
    let app = target(&h, "app");
    assert_eq!((app.seen, app.kept), (4, 0), "app[hb]=0 still applies");
    let any = target(&h, "");
    assert_eq!((any.seen, any.kept), (4, 4), "[retry]=1 under any target");
    let other = target(&h, sampling_layer::stats::OTHER_TARGET);
    assert_eq!((other.seen, other.kept), (4, 4), "no default left: kept");
}

#[test]
fn bad_edits_change_nothing_and_name_the_problem() {
    let h = crate::support::sampler("app=0.5").handle();
    let e = h.set_target_rate("app", "1.5").unwrap_err();
    assert_eq!(e.directive(), "app=1.5");
    assert!(matches!(e.kind(), ParseErrorKind::OutOfRange(_)));
    let e = h.set_target_rate("app", "debug@0.1").unwrap_err();
    assert_eq!(e.kind(), &ParseErrorKind::NotARate("debug@0.1".into()));
    let e = h.set_target_rate("app", "").unwrap_err();
    assert_eq!(e.kind(), &ParseErrorKind::MissingRate);
    let e = h.set_target_rate("a b", "0.1").unwrap_err();
    assert_eq!(e.kind(), &ParseErrorKind::InvalidTarget("a b".into()));
    let e = h.remove_target("app[x").unwrap_err();
    assert_eq!(e.kind(), &ParseErrorKind::UnclosedBracket);
    let e = h
        .set_target_rate_for("(other)", "1", Duration::from_secs(1))
        .unwrap_err();
    assert_eq!(e.kind(), &ParseErrorKind::InvalidTarget("(other)".into()));
    assert_eq!(h.directives(), "app=0.5");
}

/// A "rate" that is itself a directive edits nothing: given as the default's rate,
/// `app=0` or `[k]=0` would otherwise replace the default with another selector's item.
#[test]
fn a_directive_given_as_a_rate_is_refused() {
    let h = crate::support::sampler("0.5,app=0.5").handle();
    for (target, rate) in [
        ("", "app=0"),
        ("", "[k]=0"),
        ("", "app[k]=1/2"),
        ("app", "0.1,lib=0"),
        ("[k]", "lib=0"),
    ] {
        let e = h.set_target_rate(target, rate).unwrap_err();
        if target.is_empty() {
            assert_eq!(e.kind(), &ParseErrorKind::NotARate(rate.into()), "{e}");
        }
        assert!(h
            .set_target_rate_for(target, rate, Duration::from_secs(1))
            .is_err());
    }
    assert_eq!(h.directives(), "0.5,app=0.5");
    assert_eq!(h.remove_target(""), Ok(true), "the default is still there");
}

/// Every key the grammar accepts (any text without `]`, `{` or `,`) can be edited and
/// removed by its selector, as it was written.
#[test]
fn keys_holding_equals_signs_or_brackets_are_edited_one_at_a_time() {
    let h = crate::support::sampler("app[a=b]=0.5,[x[y]=1/2,app[q}]=0").handle();
    h.set_target_rate("app[a=b]", "0.1").unwrap();
    h.set_target_rate("[x[y]", "1").unwrap();
    h.set_target_rate("app[ q} ]", "1/4").unwrap();
    assert_eq!(h.directives(), "app[a=b]=0.1,[x[y]=1,app[q}]=1/4");
    assert_eq!(h.remove_target("app[a=b]"), Ok(true));
    assert_eq!(h.remove_target("[x[y]"), Ok(true));
    assert_eq!(h.directives(), "app[q}]=1/4");
    for bad in ["app[a]b]", "app[a{b]", "app[a,b]"] {
        let e = h.set_target_rate(bad, "0").unwrap_err();
        assert_eq!(e.kind(), &ParseErrorKind::UnclosedBracket, "{bad}");
    }
    assert_eq!(h.directives(), "app[q}]=1/4");
}

#[test]
fn the_directives_read_back_build_the_same_set() {
    let h = crate::support::sampler("0.5,app=0.1,app=0.2,lib[k]=1/8, x=5%").handle();
    h.set_target_rate("app::db", "1/3").unwrap();
    h.set_target_rate("app", "0").unwrap();
    h.remove_target("x").unwrap();
    let read = h.directives();
    assert_eq!(read, "0.5,lib[k]=1/8,app::db=1/3,app=0");
    let again = SamplingFilter::try_new(&read).unwrap();
    assert_eq!(again.directives(), read);
    let rows = |st: sampling_layer::stats::SamplingStats| {
        st.targets
            .into_iter()
            .map(|t| (t.target, t.rate))
            .collect::<Vec<_>>()
    };
    let mut a = rows(h.stats());
    let mut b = rows(again.stats());
    a.retain(|(t, _)| t != "x"); // `x` is retired in `h`, never named in `again`
    a.sort_by(|x, y| x.0.cmp(&y.0));
    b.sort_by(|x, y| x.0.cmp(&y.0));
    assert_eq!(a, b);
}

#[test]
fn a_timed_change_returns_at_the_first_kept_event_after_expiry() {
    let clock = CountingClock::default();
    let s = timed("app=0", &clock);
    let h = s.handle();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(s), || {
        h.set_target_rate_for("app", "1", Duration::from_secs(10))
            .unwrap();
        for _ in 0..5 {
            info!(target: "app", "x");
        }
        clock.time.advance(Duration::from_secs(9));
        for _ in 0..5 {
            info!(target: "app", "x");
        }
        clock.time.advance(Duration::from_secs(1));
        // No handle call: the first event is kept at rate 1 and applies the
        // return; the next four are decided at rate 0.
        for _ in 0..5 {
            info!(target: "app", "x");
        }
    });
    let app = target(&h, "app");
    assert_eq!((app.seen, app.kept, app.dropped), (15, 11, 4));
    assert_eq!(h.directives(), "app=0");
}

#[test]
fn the_sampled_out_path_never_reads_the_clock() {
    let clock = CountingClock::default();
    let s = timed("app=0,lib=0", &clock);
    let h = s.handle();
    h.set_target_rate_for("lib", "1", Duration::from_secs(10))
        .unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(s), || {
        let reads = clock.reads.load(Ordering::SeqCst);
        for _ in 0..1000 {
            info!(target: "app", "sampled out");
        }
        assert_eq!(clock.reads.load(Ordering::SeqCst), reads);
        // A kept event while a return is pending: one read.
        info!(target: "lib", "kept");
        assert_eq!(clock.reads.load(Ordering::SeqCst), reads + 1);
    });
    // Nothing pending: kept events read no clock either.
    let clock = CountingClock::default();
    let s = timed("lib=1", &clock);
    let reads = clock.reads.load(Ordering::SeqCst);
    tracing::subscriber::with_default(tracing_subscriber::registry().with(s), || {
        for _ in 0..100 {
            info!(target: "lib", "kept");
        }
    });
    assert_eq!(clock.reads.load(Ordering::SeqCst), reads);
}

#[test]
fn a_later_change_wins_over_a_pending_return() {
    let clock = CountingClock::default();
    let h = timed("app=0.1", &clock).handle();
    h.set_target_rate_for("app", "1", Duration::from_secs(10))
        .unwrap();
    clock.time.advance(Duration::from_secs(5));
    h.set_target_rate("app", "1/2").unwrap();
    clock.time.advance(Duration::from_secs(10));
    assert_eq!(h.directives(), "app=1/2", "the later change stays");

    // Removing cancels too.
    h.set_target_rate_for("app", "1", Duration::from_secs(10))
        .unwrap();
    h.remove_target("app").unwrap();
    clock.time.advance(Duration::from_secs(10));
    assert_eq!(h.directives(), "");

    // A whole new set cancels every pending return.
    h.set_target_rate_for("app", "1", Duration::from_secs(10))
        .unwrap();
    h.set_directives("app=0.5,lib=0").unwrap();
    clock.time.advance(Duration::from_secs(20));
    assert_eq!(h.directives(), "app=0.5,lib=0");
}

#[test]
fn stacked_timed_changes_return_to_the_lasting_rate() {
    let clock = CountingClock::default();
    let h = timed("app=0.1,lib=0", &clock).handle();
    h.set_target_rate_for("app", "1", Duration::from_secs(10))
        .unwrap();
    clock.time.advance(Duration::from_secs(5));
    h.set_target_rate_for("app", "0.5", Duration::from_secs(20))
        .unwrap();
    clock.time.advance(Duration::from_secs(5));
    assert_eq!(
        h.directives(),
        "lib=0,app=0.5",
        "the first expiry was replaced"
    );
    clock.time.advance(Duration::from_secs(15));
    assert_eq!(
        h.directives(),
        "lib=0,app=0.1",
        "back to the rate before the first timed change, not to 1"
    );
    // A target with no directive before returns to having none.
    h.set_target_rate_for("new", "0", Duration::from_secs(1))
        .unwrap();
    assert_eq!(h.directives(), "lib=0,app=0.1,new=0");
    clock.time.advance(Duration::from_secs(1));
    assert_eq!(h.directives(), "lib=0,app=0.1");
}

#[test]
fn recent_rate_shows_a_change_within_one_interval() {
    let clock = CountingClock::default();
    let s = SamplingFilter::builder()
        .breaker(Breaker::disabled())
        .clock(clock.clone())
        .recent_interval(Duration::from_secs(10))
        .parse("app=1/2")
        .unwrap();
    let h = s.handle();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(s), || {
        for _ in 0..20 {
            info!(target: "app", "x");
        }
        let app = target(&h, "app");
        assert_eq!(
            (app.recent_seen, app.recent_rate()),
            (0, None),
            "no complete interval"
        );
        assert_eq!(h.stats().recent_interval, Duration::from_secs(10));

        clock.time.advance(Duration::from_secs(10));
        let app = target(&h, "app");
        assert_eq!((app.recent_seen, app.recent_kept), (20, 10));
        assert_eq!(app.recent_rate(), Some(0.5));

        // Events of the current interval wait for its end; reading again
        // (any number of times) gives the same.
        for _ in 0..10 {
            info!(target: "app", "x");
        }
        for _ in 0..3 {
            let again = target(&h, "app");
            assert_eq!((again.recent_seen, again.recent_kept), (20, 10));
        }
        h.set_target_rate("app", "0").unwrap();
        for _ in 0..10 {
            info!(target: "app", "x");
        }
        clock.time.advance(Duration::from_secs(10));
    });
    let app = target(&h, "app");
    assert_eq!((app.recent_seen, app.recent_kept), (20, 5));
    assert_eq!(app.recent_rate(), Some(0.25));
    assert_eq!((app.seen, app.kept), (40, 15), "lifetime figures");
}

#[test]
fn concurrent_edits_lose_nothing_and_every_timed_change_returns() {
    const THREADS: usize = 4;
    const TARGETS: usize = 8;
    let clock = CountingClock::default();
    let base: Vec<String> = (0..THREADS * TARGETS)
        .map(|i| format!("t{i}=1/{}", i + 2))
        .collect();
    let s = timed(&base.join(","), &clock);
    let h = s.handle();
    let dispatch: tracing::Dispatch = tracing_subscriber::registry().with(s).into();
    std::thread::scope(|scope| {
        for t in 0..THREADS {
            let h = h.clone();
            let dispatch = dispatch.clone();
            scope.spawn(move || {
                tracing::dispatcher::with_default(&dispatch, || {
                    for round in 0..20 {
                        for k in 0..TARGETS {
                            let target = format!("t{}", t * TARGETS + k);
                            // Temporary changes on top of temporary changes.
                            h.set_target_rate_for(&target, "1", Duration::from_secs(1 + round))
                                .unwrap();
                            info!(target: "app", "kept or not");
                        }
                        let _ = h.stats();
                    }
                });
            });
        }
    });
    let mut during: Vec<String> = h.directives().split(',').map(str::to_owned).collect();
    during.sort();
    let mut all_one: Vec<String> = (0..THREADS * TARGETS).map(|i| format!("t{i}=1")).collect();
    all_one.sort();
    assert_eq!(during, all_one, "every edit is in the set");
    clock.time.advance(Duration::from_secs(60));
    let mut after: Vec<String> = h.directives().split(',').map(str::to_owned).collect();
    after.sort();
    let mut expected = base.clone();
    expected.sort();
    assert_eq!(after, expected, "every target is back to its lasting rate");
}
