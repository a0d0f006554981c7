//! The error storm's repeat suppression, weighed: per target with a repeat directive,
//! what the sampler counted against the summary lines in the file, and the line the
//! summary prints ("N suppressed, summaries add up").

use std::io::{self, Write};

use sampling_layer::stats::SamplingStats;

use super::readback::FileCounts;
use super::report::ModuleRow;
use super::service::Module;

/// One module whose target has a repeat directive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepeatRow {
    /// The module.
    pub module: Module,
    /// Its directive at the end of the run (`first 5/1s`).
    pub directive: Option<String>,
    /// WARN and ERROR events the module emitted.
    pub emitted: u64,
    /// Of those, lines in the file (`None` when the sink was stdout).
    pub written: Option<u64>,
    /// Copies the sampler suppressed (every level) and the summary lines it wrote.
    pub suppressed: u64,
    /// See `suppressed`.
    pub summaries: u64,
    /// Summary lines found in the file and the `suppressed=N` they add up to.
    pub in_file: Option<(u64, u64)>,
    /// Whether the level filter lets the summaries (`WARN` of `sampling_layer`) through.
    pub summaries_visible: bool,
}

impl RepeatRow {
    /// A row per demo module the sampler has repeat figures for.
    pub(super) fn all(
        sampler: &SamplingStats,
        file: Option<&FileCounts>,
        summaries_visible: bool,
    ) -> Vec<RepeatRow> {
        sampler
            .repeats
            .targets
            .iter()
            .filter_map(|t| {
                let module = Module::from_target(&t.target)?;
                Some(RepeatRow {
                    module,
                    directive: t.configured.clone(),
                    emitted: 0,
                    written: None,
                    suppressed: t.suppressed,
                    summaries: t.summaries,
                    in_file: file.map(|f| {
                        let s = f.summaries(&t.target);
                        (s.lines, s.suppressed)
                    }),
                    summaries_visible,
                })
            })
            .collect()
    }

    /// WARN and ERROR copies of `module` left out of the file by repeat suppression, as
    /// the summaries in `file` say; from the sampler's count when the level filter hides
    /// the summaries (under `RUST_LOG=error` only ERROR is judged, so that count is all
    /// ERROR).
    pub(super) fn warn_error_suppressed(
        module: Module,
        sampler: &SamplingStats,
        file: &FileCounts,
        summaries_visible: bool,
    ) -> u64 {
        if summaries_visible {
            return file.summaries(module.target()).suppressed_warn_error;
        }
        sampler
            .repeats
            .targets
            .iter()
            .find(|t| t.target == module.target())
            .map_or(0, |t| t.suppressed)
    }

    /// Fills in the module's WARN/ERROR figures from its table row.
    pub(super) fn with_row(mut self, row: &ModuleRow) -> Self {
        self.emitted = row.warn_error_emitted;
        self.written = row.warn_error_in_file;
        self
    }

    /// What does not add up: the summaries in the file against the sampler's counts.
    /// (Written + suppressed == emitted is the module table's check.)
    pub(super) fn check(&self, problems: &mut Vec<String>) {
        let Some((lines, suppressed)) = self.in_file else {
            return;
        };
        if self.summaries_visible && (lines, suppressed) != (self.summaries, self.suppressed) {
            problems.push(format!(
                "{}: the sampler wrote {} repeat summaries ({} suppressed) but the file holds \
                 {lines} ({suppressed} suppressed)",
                self.module.target(),
                self.summaries,
                self.suppressed
            ));
        }
    }

    /// `repeats demo::upstream=first 5/1s: 412 WARN/ERROR emitted, 10 written, 402
    /// suppressed, summaries add up (2 summary lines: 10 + 402 = 412)`.
    pub(super) fn print(&self, out: &mut dyn Write) -> io::Result<()> {
        write!(
            out,
            "repeats {}={}: {} WARN/ERROR emitted, ",
            self.module.target(),
            self.directive.as_deref().unwrap_or("(removed)"),
            self.emitted
        )?;
        let Some(written) = self.written else {
            return writeln!(
                out,
                "{} suppressed in {} summaries (not read back: the sink was stdout)",
                self.suppressed, self.summaries
            );
        };
        match self.in_file {
            Some((lines, suppressed)) if self.summaries_visible => {
                let verdict = if written + suppressed == self.emitted
                    && (lines, suppressed) == (self.summaries, self.suppressed)
                {
                    "summaries add up"
                } else {
                    "summaries DO NOT add up"
                };
                let plural = if lines == 1 { "" } else { "s" };
                writeln!(
                    out,
                    "{written} written, {suppressed} suppressed, {verdict} ({lines} summary \
                     line{plural}: {written} + {suppressed} = {})",
                    written + suppressed
                )
            }
            _ => writeln!(
                out,
                "{written} written, {} suppressed (the level filter hides the summary lines; \
                 the sampler's count: {written} + {} = {})",
                self.suppressed,
                self.suppressed,
                written + self.suppressed
            ),
        }
    }
}
