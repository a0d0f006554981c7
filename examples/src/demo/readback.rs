//! Reads the log file back after the run and counts its lines by module and level, so the
//! demo checks its promise against what is really on disk, not against its own counters.

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader};
use std::path::Path;

use super::service::Module;

/// Line counts found in a log file written by the demo's fmt layer (text format, no ANSI).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FileCounts {
    /// Lines per `(module target, level)`, e.g. `("demo::router", "WARN")`.
    pub by_target_level: HashMap<(String, String), u64>,
    /// Lines carrying a `sample_rate=` annotation.
    pub annotated: u64,
    /// Context lines: sampled out, captured in a request and written ahead of its error.
    pub captured: u64,
    /// The writer's own drop reports (`backpressure-writer: dropped N lines ...`).
    pub drop_reports: u64,
    /// Lines dropped according to those reports, summed.
    pub reported_dropped: u64,
    /// The sampler's repeat summaries (`repeated event suppressed`), by the target of the
    /// repeated event (`key_target`).
    pub repeat_summaries: HashMap<String, Summaries>,
    /// Lines that were neither events of a known target nor drop reports.
    pub unrecognised: u64,
    /// Every line.
    pub lines: u64,
}

/// The repeat summaries of one target found in the file.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Summaries {
    /// Summary lines.
    pub lines: u64,
    /// Their `suppressed=N`, summed.
    pub suppressed: u64,
    /// Of those, copies of WARN and ERROR keys (`key_level`).
    pub suppressed_warn_error: u64,
}

impl FileCounts {
    /// The sampler's own WARN lines other than repeat summaries: the breaker's notices.
    pub fn breaker_notices(&self) -> u64 {
        let summaries: u64 = self.repeat_summaries.values().map(|s| s.lines).sum();
        self.get("sampling_layer", "WARN").saturating_sub(summaries)
    }

    /// The repeat summaries of `target` (none: zeros).
    pub fn summaries(&self, target: &str) -> Summaries {
        self.repeat_summaries
            .get(target)
            .copied()
            .unwrap_or_default()
    }

    /// Lines of `target` at `level` (`"WARN"`, `"ERROR"`, ...).
    pub fn get(&self, target: &str, level: &str) -> u64 {
        self.by_target_level
            .get(&(target.to_string(), level.to_string()))
            .copied()
            .unwrap_or(0)
    }

    /// Every line of `target`, whatever its level.
    pub fn target_total(&self, target: &str) -> u64 {
        self.by_target_level
            .iter()
            .filter(|((t, _), _)| t == target)
            .map(|(_, n)| *n)
            .sum()
    }
}

const LEVELS: [&str; 5] = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"];

/// Counts the lines of the file at `path`.
pub(crate) fn count(path: &Path) -> io::Result<FileCounts> {
    let mut counts = FileCounts::default();
    for line in BufReader::new(std::fs::File::open(path)?).lines() {
        classify(&line?, &mut counts);
    }
    Ok(counts)
}

fn classify(line: &str, counts: &mut FileCounts) {
    counts.lines += 1;
    if let Some(rest) = line.strip_prefix("backpressure-writer: dropped ") {
        counts.drop_reports += 1;
        counts.reported_dropped += rest
            .split_whitespace()
            .next()
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0);
        return;
    }
    // fmt's text format: `<timestamp> <LEVEL> [span contexts:] <target>: <message> <fields>`.
    let mut tokens = line.split_whitespace();
    let _timestamp = tokens.next();
    let level = match tokens.next() {
        Some(l) if LEVELS.contains(&l) => l,
        _ => {
            counts.unrecognised += 1;
            return;
        }
    };
    let target = tokens.find_map(|t| {
        let t = t.strip_suffix(':')?;
        (Module::from_target(t).is_some() || t == "sampling_layer").then_some(t)
    });
    match target {
        Some(target) => {
            *counts
                .by_target_level
                .entry((target.to_string(), level.to_string()))
                .or_default() += 1;
            if line.contains("sample_rate=") {
                counts.annotated += 1;
            }
            if line.ends_with(" captured=true") {
                counts.captured += 1;
            }
            if target == "sampling_layer" {
                if let Some((key_target, warn_error, suppressed)) = repeat_summary(line) {
                    let s = counts.repeat_summaries.entry(key_target).or_default();
                    s.lines += 1;
                    s.suppressed += suppressed;
                    if warn_error {
                        s.suppressed_warn_error += suppressed;
                    }
                }
            }
        }
        None => counts.unrecognised += 1,
    }
}

/// A repeat summary's `key_target`, whether its `key_level` is WARN or ERROR, and its
/// `suppressed`, in fmt's text format: `... repeated event suppressed
/// key_target="demo::upstream" key_level=ERROR ... kept=5 suppressed=995 ...` (strings
/// quoted, the level bare).
fn repeat_summary(line: &str) -> Option<(String, bool, u64)> {
    let rest = &line[line.find(" repeated event suppressed ")?..];
    let value = |field: &str| {
        let after = rest.split_once(&format!(" {field}="))?.1;
        match after.strip_prefix('"') {
            Some(quoted) => Some(quoted.split_once('"')?.0),
            None => after.split(' ').next(),
        }
    };
    let target = value("key_target")?;
    let warn_error = matches!(value("key_level")?, "WARN" | "ERROR");
    let suppressed = rest.split_once(" suppressed=")?.1;
    let digits = suppressed.split(|c: char| !c.is_ascii_digit()).next()?;
    Some((target.to_string(), warn_error, digits.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_fmt_lines_and_drop_reports() {
        let mut c = FileCounts::default();
        for line in [
            "2026-11-27T10:00:00.000001Z  WARN demo::router: slow tool call request_id=7",
            "2026-11-27T10:00:00.000002Z DEBUG demo::router: tool call routed sample_rate=0.05",
            "2026-11-27T10:00:00.000003Z ERROR demo::connection_manager: connection refused",
            "2026-11-27T10:00:00.000004Z  WARN sampling_layer: circuit breaker open",
            "2026-11-27T10:00:01.000001Z  WARN sampling_layer: repeated event suppressed \
             key_target=\"demo::upstream\" key_level=ERROR key_message=\"upstream \
             unavailable: connection reset\" kept=5 suppressed=395 \
             first_suppressed_ms=1764237600010 last_suppressed_ms=1764237600990 window_ms=1000",
            "2026-11-27T10:00:02.000001Z  WARN sampling_layer: repeated event suppressed \
             key_target=\"demo::upstream\" key_level=\"ERROR\" key_message=\"x\" kept=5 \
             suppressed=7 first_suppressed_ms=1 last_suppressed_ms=2 window_ms=1000",
            "backpressure-writer: dropped 42 lines since last report (newest=42)",
            "garbage",
        ] {
            classify(line, &mut c);
        }
        assert_eq!(c.get("demo::router", "WARN"), 1);
        assert_eq!(c.get("demo::router", "DEBUG"), 1);
        assert_eq!(c.get("demo::connection_manager", "ERROR"), 1);
        assert_eq!(c.get("sampling_layer", "WARN"), 3);
        assert_eq!(c.breaker_notices(), 1);
        assert_eq!(
            c.summaries("demo::upstream"),
            Summaries {
                lines: 2,
                suppressed: 402,
                suppressed_warn_error: 402
            }
        );
        assert_eq!(c.summaries("demo::router"), Summaries::default());
        assert_eq!(c.target_total("demo::router"), 2);
        assert_eq!(
            (c.annotated, c.drop_reports, c.reported_dropped),
            (1, 1, 42)
        );
        assert_eq!((c.unrecognised, c.lines), (1, 8));
    }
}
