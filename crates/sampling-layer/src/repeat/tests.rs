//! The window logic on its own: exact counts on a manual clock.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tracing_core::Level;

use super::key::Verdict;
use super::state::{Repeats, Summary};
use super::CLOCK_READ_EVERY as READ_EVERY;
use crate::clock::{Clock, ManualClock};
use crate::directive::repeat_spec::RepeatSpec;

fn repeats(spec: &str) -> (Repeats, ManualClock) {
    let clock = ManualClock::new();
    let r = Repeats::new(Arc::new(clock.clone()));
    r.install(&[("t".into(), RepeatSpec::parse(spec).unwrap())]);
    (r, clock)
}

/// A copy of `key` with the clock moved on to `now` (never back).
fn judge(r: &Repeats, clock: &ManualClock, key: u64, now: u64) -> Verdict {
    let at = clock.now().as_nanos() as u64;
    assert!(now >= at, "the clock never goes back");
    clock.advance(Duration::from_nanos(now - at));
    let rules = r.rules();
    r.judge(&rules.list[0], key, || {
        ("t".into(), Level::ERROR, Some("m".into()))
    })
}

fn drained(r: &Repeats) -> Vec<(u64, u64)> {
    let out = std::sync::Mutex::new(Vec::new());
    r.drain(|s: &Summary| out.lock().unwrap().push((s.kept, s.suppressed)));
    out.into_inner().unwrap()
}

#[test]
fn keeps_the_first_n_per_window_and_summarises_each_window_once() {
    let (r, clock) = repeats("first 3/1s");
    let sec = 1_000_000_000;
    let kept = (0..10)
        .filter(|i| judge(&r, &clock, 1, i * 1000) == Verdict::Keep)
        .count();
    assert_eq!(kept, 3);
    assert!(drained(&r).is_empty(), "the window is still open");
    // The key reads the clock at its 1st, 17th, ... suppressed copy: the
    // 7 suppressed so far leave 9 copies judged in the ended window, then
    // the next window's first kept copy writes the last window's summary.
    let late = READ_EVERY - 7;
    for _ in 0..late {
        assert_eq!(judge(&r, &clock, 1, sec + 5), Verdict::Suppress);
    }
    assert_eq!(judge(&r, &clock, 1, sec + 5), Verdict::Keep);
    assert_eq!(drained(&r), vec![(3, 7 + late)]);
    // A window with nothing suppressed has no summary.
    assert_eq!(judge(&r, &clock, 1, 3 * sec), Verdict::Keep);
    assert!(drained(&r).is_empty());
    let st = r.stats();
    assert_eq!(
        (st.targets[0].kept, st.targets[0].suppressed),
        (5, 7 + late)
    );
}

/// A manual clock that counts its reads.
#[derive(Debug)]
struct Counted(ManualClock, AtomicU64);

impl Clock for Counted {
    fn now(&self) -> Duration {
        self.1.fetch_add(1, Ordering::Relaxed);
        self.0.now()
    }
}

/// The bound the coarse clock promises: a window's end is noticed at most
/// `READ_EVERY - 1` copies late, every copy is counted once (kept +
/// suppressed == emitted, per summary and in all), and a suppressed copy
/// reads the clock once per `CLOCK_READ_EVERY`.
#[test]
fn a_windows_end_is_noticed_at_most_read_every_minus_one_copies_late() {
    let clock = ManualClock::new();
    let counted = Arc::new(Counted(clock.clone(), AtomicU64::new(0)));
    let r = Repeats::new(counted.clone());
    r.install(&[("t".into(), RepeatSpec::parse("first 5/1ms").unwrap())]);
    let rules = r.rules();
    // 7 µs a copy: 142 or 143 copies a window, so the window ends fall at
    // every phase of the key's reading cycle.
    let step = Duration::from_micros(7);
    let ms = 1_000_000;
    let (mut emitted, mut kept, mut worst) = (0u64, 0u64, 0u64);
    let mut late = 0u64; // copies since the window's end judged in the old one
    let mut open = 0u64; // the window the key's verdicts are in
    let reads_before = counted.1.load(Ordering::Relaxed);
    for _ in 0..100_000 {
        let now = clock.now().as_nanos() as u64;
        let v = r.judge(&rules.list[0], 1, || ("t".into(), Level::ERROR, None));
        emitted += 1;
        match v {
            Verdict::Keep => {
                kept += 1;
                open = now / ms;
                late = 0;
            }
            Verdict::Suppress if now / ms != open => {
                late += 1;
                worst = worst.max(late);
            }
            Verdict::Suppress => {}
        }
        clock.advance(step);
    }
    let reads = counted.1.load(Ordering::Relaxed) - reads_before;
    assert!(worst < READ_EVERY, "{worst} copies judged late");
    assert!(worst >= READ_EVERY / 2, "{worst}: the bound is reached");
    r.sweep(None);
    let sums = drained(&r);
    let suppressed: u64 = sums.iter().map(|s| s.1).sum();
    assert_eq!(kept + suppressed, emitted);
    assert!(sums.iter().all(|s| s.0 == 5), "five kept per window");
    assert_eq!(sums.len() as u64, kept / 5);
    // A kept copy reads the clock once (the new key twice); a suppressed
    // copy once per READ_EVERY, its window's first always.
    let most = kept + 1 + suppressed / READ_EVERY + sums.len() as u64;
    assert!(reads <= most, "{reads} reads, at most {most}");
    assert!(reads >= kept + suppressed / READ_EVERY, "{reads} reads");
}

#[test]
fn a_window_whose_key_never_returns_is_summarised_by_any_later_poll() {
    let (r, clock) = repeats("first 1/1s");
    for i in 0..4 {
        judge(&r, &clock, 7, i);
    }
    r.poll(999_999_999);
    assert!(drained(&r).is_empty());
    r.poll(1_000_000_000);
    assert_eq!(drained(&r), vec![(1, 3)]);
    assert!(!r.anything_due());
}

#[test]
fn shutdown_sweep_summarises_open_windows() {
    let (r, clock) = repeats("first 2/1min");
    for i in 0..5 {
        judge(&r, &clock, 1, i);
        judge(&r, &clock, 2, i);
    }
    r.sweep(None);
    let mut got = drained(&r);
    got.sort();
    assert_eq!(got, vec![(2, 3), (2, 3)]);
}

#[test]
fn keys_past_the_bound_evict_and_nothing_is_lost() {
    let (r, clock) = repeats("first 1/1s");
    let n = super::MAX_REPEAT_KEYS as u64;
    // Every key suppresses once, so none is idle: each new key past the bound
    // evicts one, whose window is summarised at once.
    for k in 0..n + 10 {
        judge(&r, &clock, k, 0);
        judge(&r, &clock, k, 0);
    }
    let st = r.stats();
    assert_eq!(st.live_keys as u64, n);
    assert_eq!(st.evicted_keys, 10);
    r.sweep(None);
    let total: u64 = drained(&r).iter().map(|s| s.1).sum();
    assert_eq!(total, n + 10);
    let t = &r.stats().targets[0];
    assert_eq!((t.kept, t.suppressed, t.evicted_keys), (n + 10, n + 10, 10));
}

#[test]
fn window_sizes_are_respected() {
    let (r, clock) = repeats("first 1/250ms");
    let ms = 1_000_000;
    assert_eq!(judge(&r, &clock, 1, 0), Verdict::Keep);
    assert_eq!(judge(&r, &clock, 1, 249 * ms), Verdict::Suppress);
    // The worst case of the coarse clock: the one suppressed copy read it,
    // so the next READ_EVERY - 1 are judged in the ended window.
    for _ in 1..READ_EVERY {
        assert_eq!(judge(&r, &clock, 1, 250 * ms), Verdict::Suppress);
    }
    assert_eq!(judge(&r, &clock, 1, 250 * ms), Verdict::Keep);
}

#[test]
fn a_judgement_made_in_enabled_is_taken_once_by_its_own_sampler() {
    use super::gate::{mark_judged, take_judged};
    // Two callsites' metadata (spans a registry enables carry theirs).
    let (a, b) = tracing::subscriber::with_default(tracing_subscriber::registry(), || {
        let meta = |s: tracing::Span| s.metadata().expect("an enabled span");
        (
            meta(tracing::info_span!("a")),
            meta(tracing::info_span!("b")),
        )
    });
    let (one, two) = (0x1000, 0x2000);
    assert!(!take_judged(one, a), "nothing marked yet");
    mark_judged(one, a);
    mark_judged(two, a);
    assert!(!take_judged(one, b), "another callsite's copy");
    assert!(take_judged(one, a));
    assert!(!take_judged(one, a), "taken once: the next copy is judged");
    assert!(take_judged(two, a), "the other sampler's mark stands");
    // A sampler's newer mark replaces its older one.
    mark_judged(one, a);
    mark_judged(one, b);
    assert!(!take_judged(one, a));
    assert!(take_judged(one, b));
}
