//! The bound on configured targets is on live targets only: targets a later
//! directive set drops free their place, and carry on from their figures
//! when they come back.

use crate::support::sampler;
use sampling_layer::SamplingHandle;
use tracing::info;
use tracing_subscriber::prelude::*;

const PER_SET: usize = 1_000;
const SETS: usize = 6;

fn set(round: usize) -> String {
    let mut s = String::new();
    for i in 0..PER_SET {
        s.push_str(&format!("gen{round}::t{i}=1/2,"));
    }
    s.push_str("app::a=1/2");
    s
}

fn figures(h: &SamplingHandle, target: &str) -> (u64, u64, u64) {
    let st = h.stats();
    let t = st
        .targets
        .iter()
        .find(|t| t.target == target)
        .unwrap_or_else(|| panic!("{target} not in {:?}", st.targets.len()));
    (t.seen, t.kept, t.dropped)
}

/// One callsite per target, whichever line calls it.
fn log_a() {
    info!(target: "app::a", "a");
}

fn log_t7() {
    info!(target: "gen0::t7", "t7");
}

#[test]
fn more_than_4096_distinct_targets_over_time_are_all_accepted() {
    let s = sampler(&set(0));
    let handle = s.handle();
    let sub = tracing_subscriber::registry().with(s);
    tracing::subscriber::with_default(sub, || {
        for _ in 0..3 {
            log_a();
            log_t7();
        }
        assert_eq!(figures(&handle, "app::a"), (3, 2, 1));
        assert_eq!(figures(&handle, "gen0::t7"), (3, 2, 1));
        // 6 000 distinct targets in all, 1 002 labels live at a time.
        for round in 1..SETS {
            handle
                .set_directives(&set(round))
                .unwrap_or_else(|e| panic!("round {round}: {e}"));
            assert_eq!(handle.stats().targets.len(), PER_SET + 2);
            // `app::a` stays configured throughout and carries on.
            log_a();
        }
        // Its 1-in-2 window carried on too: dropped, kept, dropped, kept, dropped.
        assert_eq!(figures(&handle, "app::a"), (3 + 5, 2 + 2, 1 + 3));
        let st = handle.stats();
        assert_eq!(st.retired_targets, (SETS - 1) * PER_SET);
        assert_eq!(st.forgotten_targets, 0);
        // A target that left long ago comes back with its figures, and its
        // callsite's 1-in-2 window carries on where it was (position 3: dropped).
        handle.set_directives(&set(0)).unwrap();
        assert_eq!(figures(&handle, "gen0::t7"), (3, 2, 1));
        log_t7();
        assert_eq!(figures(&handle, "gen0::t7"), (4, 2, 2));
    });
}

#[test]
fn too_many_targets_at_once_are_refused_and_change_nothing() {
    let s = sampler("app=1/2");
    let handle = s.handle();
    let many: Vec<String> = (0..4_100).map(|i| format!("t{i}=1/2")).collect();
    let err = handle.set_directives(&many.join(",")).unwrap_err();
    assert!(err.to_string().contains("4096"), "{err}");
    assert_eq!(handle.directives(), "app=1/2");
    // Exactly at the bound (4 095 targets and `other`) is accepted.
    let fits: Vec<String> = (0..4_095).map(|i| format!("t{i}=1/2")).collect();
    handle.set_directives(&fits.join(",")).unwrap();
    assert_eq!(handle.stats().targets.len(), 4_096);
}
