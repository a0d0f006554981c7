//! A drop-in for `fmt::time::SystemTime` that lays out the date and time once per second.

use std::cell::Cell;
use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::FormatTime;

/// The timer of [`fmt::time::SystemTime`](tracing_subscriber::fmt::time::SystemTime)
/// (`fmt`'s default), printing the same bytes — `2026-11-27T10:00:00.123456Z`, RFC 3339 in
/// UTC with six digits of fraction — at a fraction of the cost.
///
/// The part up to the seconds' dot changes once a second, so each thread keeps the last
/// one it laid out and reuses it while the second lasts; an event then costs one clock read,
/// a comparison and six digits. A new second, or a clock stepped back, is laid out afresh:
/// the text is always that of the instant read, never a stale one. Years before 0 and after
/// 9999 print as `fmt` prints them (`-0001`, `+10000`).
///
/// ```
/// use backpressure_writer::format::CachedSystemTime;
/// use tracing_subscriber::fmt;
///
/// let _layer = fmt::layer::<tracing_subscriber::Registry>().with_timer(CachedSystemTime::new());
/// ```
#[derive(Debug, Clone, Copy)]
pub struct CachedSystemTime {
    clock: fn() -> SystemTime,
}

impl CachedSystemTime {
    /// A timer that reads [`SystemTime::now`].
    pub fn new() -> Self {
        Self {
            clock: SystemTime::now,
        }
    }

    /// A timer that reads `clock` instead of [`SystemTime::now`]: for tests, and for
    /// replaying recorded instants.
    pub fn with_clock(clock: fn() -> SystemTime) -> Self {
        Self { clock }
    }
}

impl Default for CachedSystemTime {
    fn default() -> Self {
        Self::new()
    }
}

impl FormatTime for CachedSystemTime {
    // Costs one clock read (vDSO), one thread-local access and a 27-byte `write_str`;
    // the calendar arithmetic runs once per second per thread.
    fn format_time(&self, w: &mut Writer<'_>) -> fmt::Result {
        let (secs, nanos) = split((self.clock)());
        write_instant(w, secs, nanos)
    }
}

/// Writes an instant as `fmt::time::SystemTime` does, through the thread's cached
/// prefix: the timer's work, and the deferred decoder's for an instant read on the caller.
pub(crate) fn write_instant(w: &mut impl fmt::Write, secs: i64, nanos: u32) -> fmt::Result {
    let mut line = [0u8; LINE_CAP];
    let prefix = PREFIX
        .try_with(|cell| {
            let mut prefix = cell.get();
            if prefix.secs != Some(secs) {
                prefix = Prefix::of(secs);
                cell.set(prefix);
            }
            prefix
        })
        // A thread past its thread-locals (an event logged from a destructor).
        .unwrap_or_else(|_| Prefix::of(secs));
    let len = usize::from(prefix.len);
    line[..len].copy_from_slice(&prefix.text[..len]);
    let mut micros = nanos / 1_000;
    for i in (0..6).rev() {
        line[len + i] = b'0' + (micros % 10) as u8;
        micros /= 10;
    }
    line[len + 6] = b'Z';
    // Only ASCII was written, so this cannot fail; it costs a scan of 27 bytes.
    w.write_str(std::str::from_utf8(&line[..len + 7]).map_err(|_| fmt::Error)?)
}

/// Room for the longest line: `+292277026596-12-04T15:30:07.` plus six digits and `Z`.
const LINE_CAP: usize = 48;

/// The date and time up to and including the seconds' dot, for one second.
#[derive(Clone, Copy)]
struct Prefix {
    /// The second laid out, `None` before the first event of the thread.
    secs: Option<i64>,
    text: [u8; LINE_CAP],
    len: u8,
}

thread_local! {
    static PREFIX: Cell<Prefix> = const {
        Cell::new(Prefix { secs: None, text: [0; LINE_CAP], len: 0 })
    };
}

impl Prefix {
    fn of(secs: i64) -> Self {
        struct Buf {
            text: [u8; LINE_CAP],
            len: usize,
        }
        impl fmt::Write for Buf {
            fn write_str(&mut self, s: &str) -> fmt::Result {
                let end = self.len + s.len();
                self.text
                    .get_mut(self.len..end)
                    .ok_or(fmt::Error)?
                    .copy_from_slice(s.as_bytes());
                self.len = end;
                Ok(())
            }
        }
        let c = Civil::of(secs);
        let mut buf = Buf {
            text: [0; LINE_CAP],
            len: 0,
        };
        // The year's three shapes are `fmt`'s: four digits, a sign and five digits for
        // negative years, `+` and all digits past 9999.
        let year = if c.year > 9999 {
            fmt::write(&mut buf, format_args!("+{}", c.year))
        } else if c.year < 0 {
            fmt::write(&mut buf, format_args!("{:05}", c.year))
        } else {
            fmt::write(&mut buf, format_args!("{:04}", c.year))
        };
        let rest = fmt::write(
            &mut buf,
            format_args!(
                "-{:02}-{:02}T{:02}:{:02}:{:02}.",
                c.month, c.day, c.hour, c.minute, c.second
            ),
        );
        // The buffer holds the widest year an `i64` of seconds can reach.
        debug_assert!(year.is_ok() && rest.is_ok());
        Prefix {
            secs: Some(secs),
            text: buf.text,
            len: buf.len as u8,
        }
    }
}

/// The time now, split as [`split`] splits it. On Linux one `clock_gettime` of the
/// real-time clock, whose seconds and nanoseconds are the split already (`SystemTime::now`
/// reads the same clock, and the subtraction from the epoch and its checks cost about 60
/// instructions more a record).
#[allow(unsafe_code)]
pub(crate) fn now_split() -> (i64, u32) {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: all zeroes is a valid `timespec` (plain integers; some targets add
        // private padding, which is why it is not built field by field), and
        // `clock_gettime` writes one into it; CLOCK_REALTIME always exists.
        let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
        if unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) } == 0 {
            // The kernel keeps `tv_nsec` in 0..1e9, with negative `tv_sec` before the epoch.
            // (`time_t` is 32 bits on some targets: widened there, the same type here.)
            #[allow(clippy::useless_conversion)]
            let secs = i64::from(ts.tv_sec);
            return (secs, ts.tv_nsec as u32);
        }
    }
    split(SystemTime::now())
}

/// Seconds since the epoch (negative before it) and the nanoseconds into that second,
/// as `fmt` splits an instant: an instant before the epoch belongs to the second that
/// starts before it.
pub(crate) fn split(t: SystemTime) -> (i64, u32) {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => (d.as_secs() as i64, d.subsec_nanos()),
        Err(e) => {
            let d = e.duration();
            let (secs, nanos) = (d.as_secs() as i64, d.subsec_nanos());
            if nanos == 0 {
                (-secs, 0)
            } else {
                (-secs - 1, 1_000_000_000 - nanos)
            }
        }
    }
}

/// A second laid out on the proleptic Gregorian calendar, in UTC.
#[derive(Debug, PartialEq, Eq)]
struct Civil {
    year: i64,
    month: u8,
    day: u8,
    hour: u8,
    minute: u8,
    second: u8,
}

impl Civil {
    fn of(secs: i64) -> Self {
        let days = secs.div_euclid(86_400);
        let in_day = secs.rem_euclid(86_400);
        // Count from 0000-03-01 so that the leap day ends each 4-, 100- and 400-year
        // cycle: the month lengths from March on repeat five months at a time.
        let from_march = days + 719_468;
        let era = from_march.div_euclid(146_097);
        let day_of_era = from_march.rem_euclid(146_097);
        let year_of_era =
            (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
        let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
        let month_from_march = (5 * day_of_year + 2) / 153;
        let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
        let month = if month_from_march < 10 {
            month_from_march + 3
        } else {
            month_from_march - 9
        };
        let year = year_of_era + era * 400 + i64::from(month <= 2);
        Civil {
            year,
            month: month as u8,
            day: day as u8,
            hour: (in_day / 3_600) as u8,
            minute: (in_day / 60 % 60) as u8,
            second: (in_day % 60) as u8,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The direct read is the same clock as `SystemTime::now`, split the same way: read
    /// between two reads of it, it falls between them (a clock stepped back in between
    /// breaks the order, so the check is tried again).
    #[test]
    fn the_direct_clock_read_lies_between_two_reads_of_system_time() {
        let ordered = (0..3).any(|_| {
            let before = split(SystemTime::now());
            let now = now_split();
            let after = split(SystemTime::now());
            before <= now && now <= after
        });
        assert!(ordered);
        let (_, nanos) = now_split();
        assert!(nanos < 1_000_000_000);
    }

    /// An independent oracle: walks the calendar a day at a time from the epoch with the
    /// leap-year rule spelled out, and compares every day with the closed form.
    #[test]
    fn closed_form_matches_a_day_by_day_walk_for_four_hundred_years_each_way() {
        let leap = |y: i64| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        let len = |y: i64, m: u8| match m {
            2 if leap(y) => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        };
        let (mut y, mut m, mut d) = (1970i64, 1u8, 1u8);
        for day in 0..146_097i64 {
            let c = Civil::of(day * 86_400 + 3_723);
            assert_eq!((c.year, c.month, c.day), (y, m, d), "day {day}");
            assert_eq!((c.hour, c.minute, c.second), (1, 2, 3));
            d += 1;
            if d > len(y, m) {
                (d, m) = (1, m + 1);
                if m > 12 {
                    (m, y) = (1, y + 1);
                }
            }
        }
        let (mut y, mut m, mut d) = (1969i64, 12u8, 31u8);
        for day in 1..146_097i64 {
            let c = Civil::of(-day * 86_400);
            assert_eq!((c.year, c.month, c.day), (y, m, d), "day -{day}");
            d -= 1;
            if d == 0 {
                m -= 1;
                if m == 0 {
                    (m, y) = (12, y - 1);
                }
                d = len(y, m);
            }
        }
    }
}
