//! A storm's windows: exact counts per window and key, summaries, shutdown.

use super::*;

#[test]
fn a_storm_of_one_error_keeps_five_per_window_and_every_distinct_error() {
    let _serial = serial();
    let clock = ManualClock::new();
    let s = sampler(&clock, Breaker::disabled(), "app::db=first 5/1s");
    let distinct = [(1, 100), (2, 25_000), (3, 49_999)];
    let (lines, handle) = json_run(s, |h| {
        storm(&clock, 5, &distinct);
        h.flush_repeats();
    });
    let storm_lines = lines
        .iter()
        .filter(|v| message(v).starts_with("connection refused"))
        .count();
    let distinct_lines = lines
        .iter()
        .filter(|v| message(v) == "pool exhausted, giving up")
        .count();
    assert_eq!(distinct_lines, 3, "every distinct error is kept");
    assert_eq!(storm_lines, 5 * 5, "five per window");
    let sums = summaries(&lines);
    // One summary per window of the storm's key; the distinct errors had
    // nothing suppressed, so none.
    assert_eq!(sums.len(), 5);
    for s in &sums {
        assert_eq!(s["level"], "WARN");
        assert_eq!(s["target"], "sampling_layer");
        assert_eq!(s["fields"]["key_target"], "app::db");
        assert_eq!(s["fields"]["key_level"], "ERROR");
        assert_eq!(s["fields"]["key_message"], "connection refused (attempt 0)");
        assert_eq!(field_u64(s, "window_ms"), 1000);
        // What was emitted in the window, kept + suppressed, give or take
        // the copies judged in a window after its end (the key reads the
        // clock once per CLOCK_READ_EVERY suppressed copies).
        assert_eq!(field_u64(s, "kept"), 5);
        assert!((PER_SEC - 5).abs_diff(field_u64(s, "suppressed")) < CLOCK_READ_EVERY);
        let (first, last) = (
            field_u64(s, "first_suppressed_ms"),
            field_u64(s, "last_suppressed_ms"),
        );
        // The 6th copy of a window is 100 µs in, the last 20 µs before its end.
        assert_eq!(last - first, 999);
    }
    let emitted = storm_lines as u64 + sums.iter().map(|s| field_u64(s, "suppressed")).sum::<u64>();
    assert_eq!(emitted, 5 * PER_SEC);
    let st = handle.stats().repeats;
    let db = &st.targets[0];
    assert_eq!(db.target, "app::db");
    assert_eq!(db.configured.as_deref(), Some("first 5/1s"));
    assert_eq!(
        (db.kept, db.suppressed, db.summaries),
        (25 + 3, 5 * (PER_SEC - 5), 5)
    );
    assert_eq!(db.seen(), 5 * PER_SEC + 3);
    assert_eq!(
        (db.live_keys, db.evicted_keys, st.summaries_lost),
        (2, 0, 0)
    );
}

#[test]
fn shutdown_mid_window_writes_the_last_summary() {
    let _serial = serial();
    let clock = ManualClock::new();
    let s = sampler(&clock, Breaker::disabled(), "app::db=first 5/1s");
    let (lines, handle) = json_run(s, |h| {
        storm(&clock, 2, &[]);
        for i in 0..1_000 {
            refused(i);
        }
        // The third window is open: only the flush can write its summary.
        h.flush_repeats();
    });
    let sums = summaries(&lines);
    let counts: Vec<(u64, u64)> = sums
        .iter()
        .map(|s| (field_u64(s, "kept"), field_u64(s, "suppressed")))
        .collect();
    // Each window keeps 5; its end is noticed at most CLOCK_READ_EVERY - 1
    // copies late, those copies counted in it; together exactly what was
    // emitted.
    assert!(counts.iter().all(|&(kept, _)| kept == 5), "{counts:?}");
    for (&(_, got), want) in counts.iter().zip([PER_SEC - 5, PER_SEC - 5, 995]) {
        assert!(got.abs_diff(want) < CLOCK_READ_EVERY, "{counts:?}");
    }
    let emitted: u64 = counts
        .iter()
        .map(|&(kept, suppressed)| kept + suppressed)
        .sum();
    assert_eq!(emitted, 2 * PER_SEC + 1_000);
    assert_eq!(handle.stats().repeats.targets[0].summaries, 3);
    // Nothing left to write: a second flush writes nothing.
    handle.flush_repeats();
    assert_eq!(handle.stats().repeats.targets[0].summaries, 3);
}

#[test]
fn without_a_repeat_directive_every_error_is_written() {
    let _serial = serial();
    let clock = ManualClock::new();
    let s = sampler(&clock, Breaker::disabled(), "0,app::cache=first 1/1s");
    let (lines, handle) = json_run(s, |h| {
        for i in 0..500 {
            error!(target: "app::db", i, "connection refused");
            warn!(target: "app::db", i, "retrying");
            info!(target: "app::db", i, "sampled out at rate 0");
        }
        h.flush_repeats();
    });
    assert_eq!(lines.len(), 1000);
    assert!(summaries(&lines).is_empty());
    assert_eq!(handle.stats().repeats.targets[0].seen(), 0);
}

#[test]
fn repeats_at_a_sampled_level_are_judged_before_sampling() {
    let _serial = serial();
    // A kept copy is then sampled at 1/2: written copies weighted by
    // 1/sample_rate plus the summaries' suppressed add up to what was emitted.
    let clock = ManualClock::new();
    let s = sampler(
        &clock,
        Breaker::disabled(),
        "app::db=1/2,app::db=first 10/1s",
    );
    let (lines, handle) = json_run(s, |h| {
        for _ in 0..3 {
            for _ in 0..1_000 {
                info!(target: "app::db", "cache miss");
                clock.advance(Duration::from_millis(1));
            }
        }
        h.flush_repeats();
    });
    let written = lines.iter().filter(|v| message(v) == "cache miss").count() as u64;
    let suppressed: u64 = summaries(&lines)
        .iter()
        .map(|s| field_u64(s, "suppressed"))
        .sum();
    assert_eq!((written, suppressed), (15, 2_970));
    assert_eq!(written * 2 + suppressed, 3_000);
    let st = handle.stats();
    let db = st.targets.iter().find(|t| t.target == "app::db").unwrap();
    assert_eq!(
        (db.seen, db.kept),
        (30, 15),
        "sampling saw only the copies repeats kept"
    );
}

#[test]
fn named_fields_make_keys_and_an_open_breaker_does_not_lift_suppression() {
    let _serial = serial();
    let clock = ManualClock::new();
    let breaker = Breaker::default()
        .threshold_per_sec(100.0)
        .threshold_only()
        .window(Duration::from_secs(1))
        .hold(Duration::from_secs(60));
    let s = sampler(&clock, breaker, "app::db=first 2/1s by peer");
    let (lines, handle) = json_run(s, |h| {
        for i in 0..3_000u64 {
            let peer = ["a", "b", "c"][(i % 3) as usize];
            error!(target: "app::db", peer, code = i, "refused");
            clock.advance(Duration::from_micros(100)); // 0.3 s in all
        }
        h.flush_repeats();
    });
    let st = handle.stats();
    assert!(
        st.breaker_open,
        "suppressed errors count in the breaker's judgement"
    );
    let refused = lines.iter().filter(|v| message(v) == "refused").count();
    assert_eq!(refused, 3 * 2, "two per peer, breaker open or not");
    let sums = summaries(&lines);
    assert_eq!(sums.len(), 3);
    for s in sums {
        assert_eq!((field_u64(s, "kept"), field_u64(s, "suppressed")), (2, 998));
    }
    assert_eq!(st.repeats.targets[0].live_keys, 3);
}

#[test]
fn a_kept_event_of_another_target_summarises_a_window_that_ended() {
    // No flush, no further copy of the key: the first kept event after the
    // window's end, whatever its target, has the summary written.
    let _serial = serial();
    let clock = ManualClock::new();
    let s = sampler(&clock, Breaker::disabled(), "app::db=first 1/1s");
    let summarised = |cap: &Output| {
        cap.lines()
            .iter()
            .any(|l| l.contains("repeated event suppressed"))
    };
    let (lines, _) = json_run_watched(s, |_, cap| {
        for _ in 0..3 {
            error!(target: "app::db", "refused");
        }
        clock.advance(Duration::from_secs(2));
        assert!(!summarised(cap), "not before the window is noticed");
        info!(target: "other", "served");
        // The summary is written on the notice thread: wait for it (a bound
        // on waiting, not on speed).
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while !summarised(cap) && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
    });
    let sums = summaries(&lines);
    assert_eq!(sums.len(), 1, "{lines:?}");
    assert_eq!(
        (field_u64(sums[0], "kept"), field_u64(sums[0], "suppressed")),
        (1, 2)
    );
    assert_eq!(lines.iter().filter(|v| message(v) == "served").count(), 1);
}
