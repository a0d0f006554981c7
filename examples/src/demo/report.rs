//! The demo's verdict: the per-module summary table and the checks that make it exit
//! non-zero.

use std::io::{self, Write};
use std::time::Duration;

use backpressure_writer::stats::Stats;
use sampling_layer::stats::{SamplingStats, TargetStats, OTHER_TARGET};

use super::pressure::PressureComparison;
use super::readback::FileCounts;
use super::repeats::RepeatRow;
use super::service::{Emitted, Module};

/// One module's line in the summary.
#[derive(Debug, Clone, PartialEq)]
pub struct ModuleRow {
    /// The module.
    pub module: Module,
    /// Events the simulation emitted, every level.
    pub emitted: u64,
    /// Sampled-level events the sampler decided on, and how many it kept.
    pub seen: u64,
    /// See `seen`.
    pub kept: u64,
    /// The configured rate at the end of the run (`None`: no directive names the module).
    pub rate: Option<f64>,
    /// For a budget target: its budget (lines/s) and effective rate (the share of its
    /// events kept in the last interval), shown beside the rate (which is 1 for a budget).
    pub budget: Option<(f64, f64)>,
    /// `kept / seen` over the steady phase alone, before the breaker and the rate change.
    pub steady_rate: Option<f64>,
    /// Lines of this module found in the log file (`None` when the sink was stdout).
    pub in_file: Option<u64>,
    /// WARN and ERROR events emitted.
    pub warn_error_emitted: u64,
    /// WARN and ERROR lines of this module found in the file.
    pub warn_error_in_file: Option<u64>,
    /// WARN and ERROR copies left out by repeat suppression (what the summaries say), so
    /// that `in file + suppressed == emitted`; 0 without a repeat directive.
    pub warn_error_suppressed: u64,
}

/// Everything the demo measured, and what failed its checks.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// One row per module.
    pub modules: Vec<ModuleRow>,
    /// The writer's figures after shutdown.
    pub writer: Stats,
    /// The sampler's figures after the run.
    pub sampler: SamplingStats,
    /// What the file held, when there was a file.
    pub file: Option<FileCounts>,
    /// Sampled-level events of the service modules seen and kept over the steady phase.
    pub steady: Option<(u64, u64)>,
    /// Each failed check, in words; empty when the run kept its promise.
    pub problems: Vec<String>,
    /// The pressure phase, once it has run.
    pub pressure: Option<PressureComparison>,
    /// One row per module whose target has a repeat directive (the error storm's).
    pub repeats: Vec<RepeatRow>,
}

fn target_stats(s: &SamplingStats, m: Module) -> Option<&TargetStats> {
    s.targets.iter().find(|t| t.target == m.target())
}

impl Outcome {
    pub(super) fn new(
        emitted: &Emitted,
        steady: Option<&SamplingStats>,
        sampler: &SamplingStats,
        writer: &Stats,
        file: Option<FileCounts>,
        summaries_visible: bool,
        flush_error: Option<String>,
    ) -> Self {
        let mut problems = Vec::new();
        let other = sampler.targets.iter().find(|t| t.target == OTHER_TARGET);
        let modules: Vec<ModuleRow> = Module::ALL
            .into_iter()
            .map(|m| {
                let t = target_stats(sampler, m);
                let (seen, kept) = match (t, m) {
                    (Some(t), _) => (t.seen, t.kept),
                    // The exporter has no directive: its events land under `(other)`.
                    (None, Module::Exporter) => other.map_or((0, 0), |o| (o.seen, o.kept)),
                    (None, _) => (0, 0),
                };
                let warn_error_emitted = emitted.warn(m) + emitted.error(m);
                let warn_error_in_file = file
                    .as_ref()
                    .map(|f| f.get(m.target(), "WARN") + f.get(m.target(), "ERROR"));
                let warn_error_suppressed = file.as_ref().map_or(0, |f| {
                    RepeatRow::warn_error_suppressed(m, sampler, f, summaries_visible)
                });
                ModuleRow {
                    module: m,
                    emitted: emitted.total(m),
                    seen,
                    kept,
                    rate: t.map(|t| t.rate),
                    budget: t.and_then(|t| t.budget.map(|b| (b, t.effective_rate))),
                    steady_rate: steady
                        .and_then(|s| target_stats(s, m))
                        .and_then(TargetStats::actual_rate),
                    in_file: file.as_ref().map(|f| f.target_total(m.target())),
                    warn_error_emitted,
                    warn_error_in_file,
                    warn_error_suppressed,
                }
            })
            .collect();

        for row in &modules {
            if let Some(found) = row.warn_error_in_file {
                let suppressed = row.warn_error_suppressed;
                if found + suppressed != row.warn_error_emitted {
                    let summarised = match suppressed {
                        0 => String::new(),
                        n => format!(" and {n} in repeat summaries"),
                    };
                    problems.push(format!(
                        "{}: {} WARN/ERROR events emitted but {} found in the log file{summarised}",
                        row.module.target(),
                        row.warn_error_emitted,
                        found
                    ));
                }
            }
        }
        let repeats: Vec<RepeatRow> = RepeatRow::all(sampler, file.as_ref(), summaries_visible)
            .into_iter()
            .map(|r| {
                let row = modules.iter().find(|m| m.module == r.module);
                match row {
                    Some(row) => r.with_row(row),
                    None => r,
                }
            })
            .collect();
        for r in &repeats {
            r.check(&mut problems);
        }
        let accounted = writer.lines_written + writer.dropped.total() + writer.queue_depth as u64;
        if writer.submitted != accounted {
            problems.push(format!(
                "writer accounting: submitted {} != written {} + dropped {} + pending {}",
                writer.submitted,
                writer.lines_written,
                writer.dropped.total(),
                writer.queue_depth
            ));
        }
        if let Some(f) = &file {
            let event_lines = f.lines - f.drop_reports;
            if event_lines != writer.lines_written {
                problems.push(format!(
                    "the log file holds {event_lines} event lines but the writer counted {} written",
                    writer.lines_written
                ));
            }
            if f.unrecognised > 0 {
                problems.push(format!(
                    "{} lines of the log file are not events of the demo",
                    f.unrecognised
                ));
            }
        }
        if writer.write_errors > 0 {
            problems.push(format!("the sink failed {} times", writer.write_errors));
        }
        if let Some(e) = flush_error {
            problems.push(format!("final flush: {e}"));
        }
        let steady = steady.map(|s| {
            Module::ALL
                .into_iter()
                .filter(|m| *m != Module::Exporter)
                .filter_map(|m| target_stats(s, m))
                .fold((0, 0), |(seen, kept), t| (seen + t.seen, kept + t.kept))
        });
        Outcome {
            steady,
            modules,
            writer: writer.clone(),
            sampler: sampler.clone(),
            file,
            problems,
            pressure: None,
            repeats,
        }
    }

    /// Whether every check passed: the process exit code follows this.
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }

    /// Writes the summary table and the verdict.
    pub fn print(&self, out: &mut dyn Write, elapsed: Duration) -> io::Result<()> {
        let pct = |n: u64, d: u64| {
            if d == 0 {
                "-".to_string()
            } else {
                format!("{:.1}%", 100.0 * n as f64 / d as f64)
            }
        };
        let opt = |v: Option<u64>| v.map_or("-".to_string(), |v| v.to_string());
        writeln!(out, "\nsummary after {:.1} s", elapsed.as_secs_f64())?;
        const ROW: usize = 26;
        writeln!(
            out,
            "{:<ROW$} {:>9} {:>9} {:>9} {:>9} {:>6} {:>7} {:>7} {:>10}",
            "module",
            "emitted",
            "kept",
            "in file",
            "reduction",
            "rate",
            "steady",
            "overall",
            "WARN+ERROR"
        )?;
        let ratio = |r: Option<f64>| r.map_or("-".to_string(), |r| format!("{r:.4}"));
        for r in &self.modules {
            let reduction = r.in_file.map_or("-".to_string(), |f| {
                pct(r.emitted.saturating_sub(f), r.emitted)
            });
            writeln!(
                out,
                "{:<ROW$} {:>9} {:>9} {:>9} {:>9} {:>6} {:>7} {:>7} {:>10}",
                r.module.target(),
                r.emitted,
                r.kept,
                opt(r.in_file),
                reduction,
                match r.budget {
                    Some((b, effective)) => format!("{b}/s={effective:.4}"),
                    None => r.rate.map_or("1".to_string(), |x| format!("{x}")),
                },
                ratio(r.steady_rate),
                ratio((r.seen > 0).then(|| r.kept as f64 / r.seen as f64)),
                format!("{}/{}", opt(r.warn_error_in_file), r.warn_error_emitted),
            )?;
        }
        if self.file.is_some() {
            let total = |service_only: bool| {
                self.modules
                    .iter()
                    .filter(|r| !service_only || r.module != Module::Exporter)
                    .fold((0, 0), |(e, f), r| {
                        (e + r.emitted, f + r.in_file.unwrap_or(0))
                    })
            };
            for (label, (e, f)) in [
                ("service modules (sampled)", total(true)),
                ("all, with the batch flood", total(false)),
            ] {
                writeln!(
                    out,
                    "{label:<ROW$} {e:>9} {:>9} {f:>9} {:>9}",
                    "",
                    pct(e.saturating_sub(f), e)
                )?;
            }
        }
        writeln!(
            out,
            "(kept: sampled-level events the sampler kept; rate: configured for the module, a \
             budget as lines/s=its effective rate;\n \
             steady: kept/seen over phase 1; overall: kept/seen over the run, raised by the \
             breaker\n and the rate change; reduction: emitted vs lines in the file; WARN+ERROR: in the \
             file/emitted,\n the rest of a repeat target's in its summaries, below)"
        )?;
        if let Some((seen, kept)) = self.steady {
            writeln!(
                out,
                "steady phase: the sampler kept {kept} of {seen} DEBUG events of the service \
                 modules ({} less)",
                pct(seen.saturating_sub(kept), seen)
            )?;
        }
        for r in &self.repeats {
            r.print(out)?;
        }
        if let Some(p) = &self.pressure {
            p.print(out)?;
        }
        let w = &self.writer;
        writeln!(
            out,
            "\nwriter: submitted {} = written {} + dropped {} + pending {}",
            w.submitted,
            w.lines_written,
            w.dropped.total(),
            w.queue_depth
        )?;
        // Bare numbers, like the rest of the summary (the live display groups digits).
        let reserve_used = w.high_water.saturating_sub(w.capacity);
        writeln!(
            out,
            "queue high-water {} of {} (+{reserve_used} of {} reserved for WARN/ERROR); {} \
             batches; {} write errors",
            w.high_water.min(w.capacity),
            w.capacity,
            w.keep_capacity,
            w.batches,
            w.write_errors
        )?;
        let reasons: Vec<String> = w
            .dropped
            .by_reason()
            .filter(|(_, n)| *n > 0)
            .map(|(r, n)| format!("{r}={n}"))
            .collect();
        writeln!(
            out,
            "dropped by reason: {}",
            if reasons.is_empty() {
                "none".to_string()
            } else {
                reasons.join(" ")
            }
        )?;
        if let Some(f) = &self.file {
            writeln!(out, "breaker notices in the file: {}", f.breaker_notices())?;
            writeln!(
                out,
                "drop reports in the file: {} (saying {} lines)",
                f.drop_reports, f.reported_dropped
            )?;
        }
        let s = &self.sampler;
        writeln!(
            out,
            "sampler: {} live keys (max {}), {} evicted; breaker trips {} (last trigger: {}), \
             open now: {}",
            s.active_keys,
            s.max_keys,
            s.evicted_keys,
            s.breaker_trips,
            s.breaker_trigger.unwrap_or("none"),
            s.breaker_open
        )?;
        let c = &s.capture;
        writeln!(
            out,
            "context: {} lines written before errors{}, {} discarded, {} over bounds",
            c.flushed,
            self.file
                .as_ref()
                .map_or(String::new(), |f| format!(" ({} in the file)", f.captured)),
            c.discarded,
            c.evicted_span_cap + c.evicted_total_cap
        )?;
        if self.ok() {
            let kept = self
                .modules
                .iter()
                .map(|m| m.warn_error_emitted)
                .sum::<u64>();
            let suppressed = self
                .modules
                .iter()
                .map(|m| m.warn_error_suppressed)
                .sum::<u64>();
            if self.file.is_some() {
                writeln!(
                    out,
                    "\nOK: every one of {kept} WARN/ERROR lines is in the file ({suppressed} \
                     repeats of them counted in summaries) and every line is accounted for"
                )?;
            } else {
                writeln!(
                    out,
                    "\nOK: every line is accounted for ({kept} WARN/ERROR lines were not read \
                     back: the sink was stdout)"
                )?;
            }
        } else {
            writeln!(out, "\nFAILED:")?;
            for p in &self.problems {
                writeln!(out, "  - {p}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A run where the router emitted 3 WARN lines and the writer wrote 10 lines.
    fn outcome(warn_in_file: u64, written: u64, dropped: u64) -> Outcome {
        let emitted = Emitted::default();
        emitted.add(Module::Router, 10, 3, 0);
        let mut writer = Stats::default();
        writer.submitted = 10;
        writer.lines_written = written;
        writer.dropped.newest = dropped;
        let mut file = FileCounts::default();
        file.by_target_level
            .insert(("demo::router".into(), "WARN".into()), warn_in_file);
        file.by_target_level.insert(
            ("demo::router".into(), "DEBUG".into()),
            written - warn_in_file,
        );
        file.lines = written;
        Outcome::new(
            &emitted,
            None,
            &SamplingStats::default(),
            &writer,
            Some(file),
            true,
            None,
        )
    }

    #[test]
    fn a_complete_run_passes() {
        let o = outcome(3, 10, 0);
        assert!(o.ok(), "{:?}", o.problems);
    }

    #[test]
    fn a_missing_warning_fails_the_run() {
        let o = outcome(2, 10, 0);
        assert_eq!(
            o.problems,
            ["demo::router: 3 WARN/ERROR events emitted but 2 found in the log file"]
        );
    }

    #[test]
    fn accounting_that_does_not_add_up_fails_the_run() {
        let o = outcome(3, 9, 0);
        assert_eq!(
            o.problems,
            ["writer accounting: submitted 10 != written 9 + dropped 0 + pending 0"]
        );
        let o = outcome(3, 9, 1);
        assert!(o.ok(), "{:?}", o.problems);
    }
}
