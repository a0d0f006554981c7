//! File names: the time period a name carries, the size index, and reading a name back.
//!
//! A name is `prefix[.date][.index][.suffix][.gz]`, tracing-appender's
//! `prefix.date.suffix` with the size index in front of the suffix. The first file of a
//! period has no index (so a sink without a size limit names its files exactly as
//! tracing-appender does); later ones are `.1`, `.2`, …. Reading a name back is strict
//! (exact date layout, an index without leading zeros): only names this pattern could
//! have written are the sink's own, and only those are ever deleted.

use std::time::{SystemTime, UNIX_EPOCH};

/// When files change with the clock. The period is computed in the sink's fixed UTC
/// offset ([`RollingFileBuilder::utc_offset_seconds`](super::RollingFileBuilder::utc_offset_seconds),
/// UTC by default, as tracing-appender's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Rotation {
    /// No time rotation; names carry no date (size rotation may still apply).
    Never,
    /// A new file every minute: `prefix.YYYY-MM-DD-HH-MM.suffix`.
    Minutely,
    /// A new file every hour: `prefix.YYYY-MM-DD-HH.suffix`.
    Hourly,
    /// A new file every day: `prefix.YYYY-MM-DD.suffix`.
    Daily,
}

impl Rotation {
    fn seconds(self) -> Option<i64> {
        match self {
            Rotation::Never => None,
            Rotation::Minutely => Some(60),
            Rotation::Hourly => Some(3600),
            Rotation::Daily => Some(86_400),
        }
    }

    /// The period `now` falls in, as the local (offset) second it starts at; 0 for `Never`.
    pub(crate) fn period(self, now: SystemTime, offset_secs: i32) -> i64 {
        let Some(len) = self.seconds() else { return 0 };
        let unix = match now.duration_since(UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX / 2),
            Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX / 2) - 1,
        };
        let local = unix + i64::from(offset_secs);
        local.div_euclid(len) * len
    }

    /// The date part of a name for the period starting at local second `start`.
    fn format(self, start: i64) -> Option<String> {
        let (y, mo, d) = civil_from_days(start.div_euclid(86_400));
        let sod = start.rem_euclid(86_400);
        let (h, mi) = (sod / 3600, sod % 3600 / 60);
        match self {
            Rotation::Never => None,
            Rotation::Daily => Some(format!("{y:04}-{mo:02}-{d:02}")),
            Rotation::Hourly => Some(format!("{y:04}-{mo:02}-{d:02}-{h:02}")),
            Rotation::Minutely => Some(format!("{y:04}-{mo:02}-{d:02}-{h:02}-{mi:02}")),
        }
    }

    /// Reads a date part back into the period's start; `None` unless it is exactly what
    /// [`format`](Self::format) writes for some period.
    fn parse(self, s: &str) -> Option<i64> {
        let fields = match self {
            Rotation::Never => return None,
            Rotation::Daily => 3,
            Rotation::Hourly => 4,
            Rotation::Minutely => 5,
        };
        let parts: Vec<&str> = s.split('-').collect();
        if parts.len() != fields {
            return None;
        }
        let mut nums = [0i64; 5];
        for (i, p) in parts.iter().enumerate() {
            let want = if i == 0 { 4 } else { 2 };
            if p.len() != want || !p.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            nums[i] = p.parse().ok()?;
        }
        let [y, mo, d, h, mi] = nums;
        if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 {
            return None;
        }
        let start = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60;
        // Round trip: rejects 2026-02-31 and the like.
        (self.format(start).as_deref() == Some(s)).then_some(start)
    }
}

/// What a name of this pattern says: its period, its index, whether it is a compressed
/// copy (`.gz` or `.zst`, whichever compression wrote it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct NameKey {
    pub(crate) period: i64,
    pub(crate) index: u32,
    pub(crate) compressed: bool,
}

/// The sink's naming: prefix, optional suffix, rotation.
#[derive(Debug, Clone)]
pub(crate) struct Pattern {
    pub(crate) prefix: String,
    pub(crate) suffix: Option<String>,
    pub(crate) rotation: Rotation,
}

impl Pattern {
    /// The plain (uncompressed) name of file `index` of the period starting at `period`.
    pub(crate) fn name(&self, period: i64, index: u32) -> String {
        let mut name = self.prefix.clone();
        if let Some(date) = self.rotation.format(period) {
            name.push('.');
            name.push_str(&date);
        }
        if index > 0 {
            name.push('.');
            name.push_str(&index.to_string());
        }
        if let Some(suffix) = &self.suffix {
            name.push('.');
            name.push_str(suffix);
        }
        name
    }

    /// `Some` only for a name this pattern writes (plain, `.gz` or `.zst`: a sink whose
    /// compression changed between two runs still counts the other's copies as its own).
    pub(crate) fn parse(&self, name: &str) -> Option<NameKey> {
        let (name, compressed) = match name
            .strip_suffix(".gz")
            .or_else(|| name.strip_suffix(".zst"))
        {
            Some(plain) => (plain, true),
            None => (name, false),
        };
        let mut rest = name.strip_prefix(self.prefix.as_str())?;
        if let Some(suffix) = &self.suffix {
            rest = rest.strip_suffix(suffix.as_str())?.strip_suffix('.')?;
        }
        let mut parts = if rest.is_empty() {
            Vec::new()
        } else {
            rest.strip_prefix('.')?.split('.').collect()
        };
        let period = match self.rotation {
            Rotation::Never => 0,
            r => {
                if parts.is_empty() {
                    return None;
                }
                r.parse(parts.remove(0))?
            }
        };
        let index = match parts[..] {
            [] => 0,
            [i] if !i.starts_with('0') && i.bytes().all(|b| b.is_ascii_digit()) => {
                i.parse().ok()?
            }
            _ => return None,
        };
        Some(NameKey {
            period,
            index,
            compressed,
        })
    }
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's
/// `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// The inverse of [`civil_from_days`].
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn pattern(rotation: Rotation, suffix: Option<&str>) -> Pattern {
        Pattern {
            prefix: "app".into(),
            suffix: suffix.map(Into::into),
            rotation,
        }
    }

    #[test]
    fn names_are_tracing_appenders_plus_an_index() {
        // 2026-12-06 16:15:42 UTC
        let now = at(1_796_573_742);
        let daily = pattern(Rotation::Daily, Some("log"));
        let p = Rotation::Daily.period(now, 0);
        assert_eq!(daily.name(p, 0), "app.2026-12-06.log");
        assert_eq!(daily.name(p, 3), "app.2026-12-06.3.log");
        let p = Rotation::Minutely.period(now, 0);
        assert_eq!(
            pattern(Rotation::Minutely, None).name(p, 0),
            "app.2026-12-06-16-15"
        );
        // An offset of +09:00 is already the next day.
        let p = Rotation::Hourly.period(now, 9 * 3600);
        assert_eq!(
            pattern(Rotation::Hourly, Some("log")).name(p, 1),
            "app.2026-12-07-01.1.log"
        );
        assert_eq!(pattern(Rotation::Never, Some("log")).name(0, 0), "app.log");
        assert_eq!(
            pattern(Rotation::Never, Some("log")).name(0, 2),
            "app.2.log"
        );
    }

    #[test]
    fn a_name_reads_back_and_foreign_names_do_not() {
        let daily = pattern(Rotation::Daily, Some("log"));
        let p = Rotation::Daily.period(at(1_796_573_742), 0);
        for index in [0, 1, 12] {
            let name = daily.name(p, index);
            let key = NameKey {
                period: p,
                index,
                compressed: false,
            };
            assert_eq!(daily.parse(&name), Some(key));
            let gz = NameKey {
                compressed: true,
                ..key
            };
            assert_eq!(daily.parse(&format!("{name}.gz")), Some(gz));
            assert_eq!(daily.parse(&format!("{name}.zst")), Some(gz));
        }
        for foreign in [
            "app.log",
            "app.2026-12-06",
            "app.2026-12-06.log.bak",
            "app.2026-12-06.01.log",
            "app.2026-12-06.0.log",
            "app.2026-02-31.log",
            "app.2026-12-6.log",
            "app.2026-12-06-16.log",
            "apps.2026-12-06.log",
            "app.2026-12-06.log.gz.part",
            "app.2026-12-06.log.zst.part",
            "app.2026-12-06.log.gz.zst",
            "app.2026-12-06.log.xz",
            "other.2026-12-06.log",
        ] {
            assert_eq!(daily.parse(foreign), None, "{foreign}");
        }
        let never = pattern(Rotation::Never, Some("log"));
        assert_eq!(never.parse("app.log").map(|k| k.index), Some(0));
        assert_eq!(never.parse("app.7.log").map(|k| k.index), Some(7));
        assert_eq!(never.parse("app.2026-12-06.log"), None);
    }

    #[test]
    fn calendar_round_trips() {
        for days in (-800_000..800_000).step_by(997) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        // Before the epoch the period floors, not truncates.
        assert_eq!(
            Rotation::Daily.period(UNIX_EPOCH - Duration::from_secs(1), 0),
            -86_400
        );
    }
}
