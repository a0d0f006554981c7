//! `CachedSystemTime` prints what `fmt::time::SystemTime` prints.

use backpressure_writer::format::CachedSystemTime;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};

use crate::clock;

fn text(timer: &impl FormatTime) -> String {
    let mut s = String::new();
    timer.format_time(&mut Writer::new(&mut s)).unwrap();
    s
}

/// On the real clock: ours, read between two readings of `fmt`'s, is the same text
/// between them. The text is fixed-width, so string order is time order.
#[test]
fn real_clock_reading_lies_between_two_of_fmts() {
    let ours = CachedSystemTime::new();
    for _ in 0..20_000 {
        let before = text(&SystemTime);
        let mine = text(&ours);
        let after = text(&SystemTime);
        assert_eq!(mine.len(), before.len(), "{mine} vs {before}");
        assert!(
            before <= mine && mine <= after,
            "{before} <= {mine} <= {after}"
        );
        // Same second on both sides: the cached part is the same text too.
        if before[..20] == after[..20] {
            assert_eq!(mine[..20], before[..20]);
        }
    }
}

#[test]
fn known_instants_print_as_fmt_prints_them() {
    let timer = CachedSystemTime::with_clock(clock::now);
    let cases: [(i64, u32, &str); 12] = [
        (0, 0, "1970-01-01T00:00:00.000000Z"),
        (0, 999_999_999, "1970-01-01T00:00:00.999999Z"),
        (1, 0, "1970-01-01T00:00:01.000000Z"),
        (951_782_400, 123_456_789, "2000-02-29T00:00:00.123456Z"),
        (951_868_799, 1_000, "2000-02-29T23:59:59.000001Z"),
        (4_107_542_400, 0, "2100-03-01T00:00:00.000000Z"),
        (1_798_761_599, 500_000_000, "2026-12-31T23:59:59.500000Z"),
        (253_402_300_799, 0, "9999-12-31T23:59:59.000000Z"),
        (253_402_300_800, 0, "+10000-01-01T00:00:00.000000Z"),
        (-1, 0, "1969-12-31T23:59:59.000000Z"),
        // Half a second before the epoch belongs to the second that starts before it.
        (-1, 500_000_000, "1969-12-31T23:59:59.500000Z"),
        (-62_198_755_200, 0, "-0001-01-01T00:00:00.000000Z"),
    ];
    for (secs, nanos, want) in cases {
        clock::set(secs, nanos);
        assert_eq!(text(&timer), want, "{secs} s + {nanos} ns");
    }
}

/// The cached second is the one read, whichever way the clock moves.
#[test]
fn the_cached_second_follows_the_clock_both_ways() {
    let timer = CachedSystemTime::with_clock(clock::now);
    let steps: [(i64, u32, &str); 5] = [
        (1_700_000_000, 999_999_000, "2023-11-14T22:13:20.999999Z"),
        (1_700_000_001, 0, "2023-11-14T22:13:21.000000Z"),
        (1_700_000_001, 7_000, "2023-11-14T22:13:21.000007Z"),
        // Stepped back (NTP): the earlier second again, not the cached one.
        (1_699_999_000, 0, "2023-11-14T21:56:40.000000Z"),
        (1_700_086_400, 0, "2023-11-15T22:13:20.000000Z"),
    ];
    for (secs, nanos, want) in steps {
        clock::set(secs, nanos);
        assert_eq!(text(&timer), want);
    }
}
