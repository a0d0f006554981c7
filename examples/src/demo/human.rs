//! Figures formatted for people: `533 ms`, `8 222`, `4.7 %`.
//!
//! Only the live display and the headers use these; the summary table keeps bare numbers
//! so that scripts (and the integration test) can read it back.

use std::time::Duration;

/// A duration rounded to what a person reads at a glance: `533 ms`, `1.5 s`, `15 s`,
/// `2 min 5 s`.
pub(crate) fn duration(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1e3;
    if ms < 1.0 {
        format!("{} µs", d.as_micros())
    } else if ms < 999.5 {
        format!("{ms:.0} ms")
    } else if ms < 10_000.0 && (ms / 100.0).round() % 10.0 != 0.0 {
        format!("{:.1} s", ms / 1e3)
    } else if ms < 120_000.0 {
        format!("{:.0} s", ms / 1e3)
    } else {
        let s = (ms / 1e3).round() as u64;
        format!("{} min {} s", s / 60, s % 60)
    }
}

/// A count with its thousands set apart by spaces (`8 222`, `1 024 000`), the SI style
/// that reads the same in every locale.
pub(crate) fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

/// `part` of `whole` as a percentage with one decimal (`4.7 %`); `-` when `whole` is 0.
pub(crate) fn percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        "-".to_string()
    } else {
        format!("{:.1} %", 100.0 * part as f64 / whole as f64)
    }
}

/// The writer's queue: `512 / 8 192`, and past the capacity, the part in the reserve
/// that only lines at or above the writer's keep level (WARN, in the demo) may use:
/// `8 192 / 8 192 (+30 of 1 024 reserved for WARN/ERROR)`.
pub(crate) fn queue(depth: usize, capacity: usize, reserve: usize) -> String {
    let (depth, capacity, reserve) = (depth as u64, capacity as u64, reserve as u64);
    if depth <= capacity {
        format!("{} / {}", count(depth), count(capacity))
    } else {
        format!(
            "{} / {} (+{} of {} reserved for WARN/ERROR)",
            count(capacity),
            count(capacity),
            count(depth - capacity),
            count(reserve)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_people_write_them() {
        let ms = Duration::from_millis;
        assert_eq!(duration(Duration::from_micros(250)), "250 µs");
        // The breaker's hold for a 8 s run: 8 s / 15.
        assert_eq!(duration(Duration::from_secs(8) / 15), "533 ms");
        assert_eq!(duration(ms(1_000)), "1 s");
        assert_eq!(duration(ms(1_500)), "1.5 s");
        assert_eq!(duration(ms(15_000)), "15 s");
        assert_eq!(duration(ms(15_400)), "15 s");
        assert_eq!(duration(ms(125_000)), "2 min 5 s");
    }

    #[test]
    fn counts_are_grouped_by_thousands() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(8_222), "8 222");
        assert_eq!(count(1_024_000), "1 024 000");
    }

    #[test]
    fn the_queue_says_what_the_excess_is() {
        assert_eq!(queue(512, 8_192, 1_024), "512 / 8 192");
        assert_eq!(queue(8_192, 8_192, 1_024), "8 192 / 8 192");
        assert_eq!(
            queue(8_222, 8_192, 1_024),
            "8 192 / 8 192 (+30 of 1 024 reserved for WARN/ERROR)"
        );
        assert_eq!(percent(47, 1_000), "4.7 %");
        assert_eq!(percent(1, 0), "-");
    }
}
