use super::idle::*;
use std::time::Duration;

#[test]
fn park_after_is_counted_in_whole_polls() {
    assert_eq!(park_polls(Duration::ZERO), 1, "zero still polls once");
    assert_eq!(park_polls(Duration::from_micros(1_999)), 1);
    assert_eq!(park_polls(PARK_AFTER), 100);
    assert_eq!(
        park_polls(Duration::MAX),
        u32::MAX,
        "saturates, never wraps"
    );
}

fn config(builder: crate::NonBlockingBuilder) -> crate::config::Config {
    builder.validate().expect("valid settings")
}

/// The poll lengths a stream of seven lines a millisecond, 100 bytes each (the service
/// benchmark's), goes through from the shortest, `polls` polls on.
fn steady_stream(c: &crate::config::Config, polls: usize) -> Vec<u32> {
    let mut units = 1;
    let mut seen = vec![units];
    for _ in 0..polls {
        let lines = 7 * units as usize;
        units = next_poll(units, lines, lines * 100, c);
        seen.push(units);
    }
    seen
}

/// A steady trickle of lines lengthens the poll step by step to the longest, and keeps it
/// there; a batch at the bound halves it, down to the shortest.
#[test]
fn small_batches_lengthen_the_poll_and_large_ones_shorten_it() {
    let c = config(crate::NonBlockingBuilder::default());
    assert_eq!(steady_stream(&c, 7), [1, 2, 4, 8, 16, 32, 32, 32]);
    // Twice the batch would pass the bound: the length stays.
    assert_eq!(next_poll(2, SMALL_BATCH_LINES / 2, 100, &c), 2);
    assert_eq!(next_poll(2, SMALL_BATCH_LINES / 2 - 1, 100, &c), 4);
    // At the bound, in lines or in bytes: halved, never below one.
    assert_eq!(next_poll(8, SMALL_BATCH_LINES, 100, &c), 4);
    assert_eq!(next_poll(1, 100_000, 100, &c), 1);
    let byte_bound = c.byte_capacity.min(c.keep_byte_capacity) / 8;
    assert_eq!(
        byte_bound,
        1 << 20,
        "a MiB by default (an eighth of the keep room)"
    );
    assert_eq!(next_poll(8, 1, byte_bound, &c), 4);
    assert_eq!(
        next_poll(4, 1, byte_bound / 2, &c),
        4,
        "twice is the bound: stays"
    );
    // A poll that found nothing counts as an empty batch.
    assert_eq!(next_poll(16, 0, 0, &c), MAX_POLL_UNITS);
    assert_eq!(next_poll(MAX_POLL_UNITS, 0, 0, &c), MAX_POLL_UNITS);
}

/// `max_poll` sets the longest poll, and the small-batch bound scales with it (eight lines
/// a millisecond of it): at 8 ms the same stream settles on 8 ms polls, a batch of 32 lines
/// keeps the poll, 64 halves it.
#[test]
fn max_poll_sets_the_longest_poll_and_scales_the_small_batch_bound() {
    let d = config(crate::NonBlockingBuilder::default());
    assert_eq!(
        (d.max_poll_units, MAX_POLL_UNITS, SMALL_BATCH_LINES),
        (32, 32, 256)
    );
    let c = config(crate::NonBlockingBuilder::default().max_poll(Duration::from_millis(8)));
    assert_eq!(c.max_poll_units, 8);
    assert_eq!(steady_stream(&c, 6), [1, 2, 4, 8, 8, 8, 8]);
    assert_eq!(next_poll(8, 32, 100, &c), 8);
    assert_eq!(next_poll(4, 31, 100, &c), 8);
    assert_eq!(next_poll(8, 64, 100, &c), 4);
    assert_eq!(next_poll(8, 0, 0, &c), 8);
    // Not a whole number of milliseconds: whole polls, rounded down.
    let c = config(crate::NonBlockingBuilder::default().max_poll(Duration::from_micros(2_500)));
    assert_eq!(c.max_poll_units, 2);
}

/// A small queue lowers the bound to an eighth of it, so that no poll lets a producer find
/// it half full; below eight lines the poll never lengthens.
#[test]
fn a_small_queue_keeps_the_poll_short() {
    let c = config(crate::NonBlockingBuilder::default().buffered_lines_limit(64));
    assert_eq!(next_poll(1, 3, 300, &c), 2, "twice 3 lines is under 64 / 8");
    assert_eq!(next_poll(2, 4, 400, &c), 2, "twice 4 lines is not");
    assert_eq!(next_poll(4, 8, 800, &c), 2, "8 lines reach it");
    let tiny = config(crate::NonBlockingBuilder::default().buffered_lines_limit(7));
    assert_eq!(next_poll(1, 0, 0, &tiny), 1);
    // 4 KiB of bytes: 512 reserved for keep lines, 8 keep lines at most (one per 64
    // bytes): a bound of one line, so any batch keeps the poll at its shortest.
    let few_bytes = config(crate::NonBlockingBuilder::default().buffered_bytes_limit(4096));
    assert_eq!(next_poll(1, 1, 10, &few_bytes), 1);
    assert_eq!(next_poll(4, 1, 10, &few_bytes), 2);
}

proptest::proptest! {
    /// For any queue bounds and any batch: the poll stays within 1 and `MAX_POLL_UNITS`,
    /// never lengthens unless twice the batch stays under an eighth of every bound (so the
    /// batch a longer poll brings leaves each queue far from the half-full mark that wakes
    /// the worker from a producer's thread), and never stays long once a batch reaches the
    /// bound.
    #[test]
    fn the_poll_stays_in_range_and_lengthens_only_far_from_half_full(
        lines_limit in 1usize..100_000,
        bytes_limit in 1usize..(1 << 27),
        units in 1u32..=MAX_POLL_UNITS,
        lines in 0usize..200_000,
        bytes in 0usize..(1 << 28),
    ) {
        let c = config(
            crate::NonBlockingBuilder::default()
                .buffered_lines_limit(lines_limit)
                .buffered_bytes_limit(bytes_limit),
        );
        let next = next_poll(units, lines, bytes, &c);
        proptest::prop_assert!((1..=MAX_POLL_UNITS).contains(&next));
        if next > units {
            proptest::prop_assert!(lines * 2 < c.capacity / 8 && lines * 2 < c.keep_capacity / 8);
            proptest::prop_assert!(
                bytes * 2 < c.byte_capacity / 8 && bytes * 2 < c.keep_byte_capacity / 8
            );
        }
        let line_bound = SMALL_BATCH_LINES.min(c.capacity / 8).min(c.keep_capacity / 8);
        if lines >= line_bound {
            proptest::prop_assert!(next <= (units / 2).max(1));
        }
    }
}
