//! The window logic on its own: exact counts on a manual clock.

use std::sync::Arc;

use tracing_core::Level;

use super::key::Verdict;
use super::spec::RepeatSpec;
use super::state::{Repeats, Summary};
use crate::clock::ManualClock;

fn repeats(spec: &str) -> (Repeats, ManualClock) {
    let clock = ManualClock::new();
    let r = Repeats::new(Arc::new(clock.clone()));
    r.install(&[("t".into(), RepeatSpec::parse(spec).unwrap())]);
    (r, clock)
}

fn judge(r: &Repeats, key: u64, now: u64) -> Verdict {
    let rules = r.rules();
    r.judge(&rules.list[0], key, now, || {
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
    let (r, _clock) = repeats("first 3/1s");
    let sec = 1_000_000_000;
    let kept = (0..10)
        .filter(|i| judge(&r, 1, i * 1000) == Verdict::Keep)
        .count();
    assert_eq!(kept, 3);
    assert!(drained(&r).is_empty(), "the window is still open");
    // The next window's first copy is kept and writes the last window's summary.
    assert_eq!(judge(&r, 1, sec + 5), Verdict::Keep);
    assert_eq!(drained(&r), vec![(3, 7)]);
    // A window with nothing suppressed has no summary.
    assert_eq!(judge(&r, 1, 3 * sec), Verdict::Keep);
    assert!(drained(&r).is_empty());
    let st = r.stats();
    assert_eq!((st.targets[0].kept, st.targets[0].suppressed), (5, 7));
}

#[test]
fn a_window_whose_key_never_returns_is_summarised_by_any_later_poll() {
    let (r, _clock) = repeats("first 1/1s");
    for i in 0..4 {
        judge(&r, 7, i);
    }
    r.poll(999_999_999);
    assert!(drained(&r).is_empty());
    r.poll(1_000_000_000);
    assert_eq!(drained(&r), vec![(1, 3)]);
    assert!(!r.anything_due());
}

#[test]
fn shutdown_sweep_summarises_open_windows() {
    let (r, _clock) = repeats("first 2/1min");
    for i in 0..5 {
        judge(&r, 1, i);
        judge(&r, 2, i);
    }
    r.sweep(None);
    let mut got = drained(&r);
    got.sort();
    assert_eq!(got, vec![(2, 3), (2, 3)]);
}

#[test]
fn keys_past_the_bound_evict_and_nothing_is_lost() {
    let (r, _clock) = repeats("first 1/1s");
    let n = super::MAX_REPEAT_KEYS as u64;
    // Every key suppresses once, so none is idle: each new key past the bound
    // evicts one, whose window is summarised at once.
    for k in 0..n + 10 {
        judge(&r, k, 0);
        judge(&r, k, 0);
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
    let (r, _clock) = repeats("first 1/250ms");
    let ms = 1_000_000;
    assert_eq!(judge(&r, 1, 0), Verdict::Keep);
    assert_eq!(judge(&r, 1, 249 * ms), Verdict::Suppress);
    assert_eq!(judge(&r, 1, 250 * ms), Verdict::Keep);
}
