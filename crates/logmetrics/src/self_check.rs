//! The start-up self-check: one line through the writer, confirmed written and flushed.
//!
//! The line takes the writer's [`OwnLineFormat`](backpressure_writer::OwnLineFormat) (text by default, JSON when the writer
//! was built with `own_line_format(OwnLineFormat::Json)`), so a JSON-lines file stays
//! JSON lines.

use std::fmt;
use std::io::{self, Write};
use std::time::{Duration, Instant};

use backpressure_writer::{FlushError, NonBlocking, OwnLine, WorkerGuard};
use tracing_core::Level;

/// The line [`self_check`] writes in the text form (the default [`OwnLineFormat`](backpressure_writer::OwnLineFormat)).
pub const SELF_CHECK_LINE: &str = "logmetrics: start-up self-check: the log sink accepts writes\n";

/// What the self-check line says, as an [`OwnLine`] (level `INFO`, target `logmetrics`).
/// [`SELF_CHECK_LINE`] is its text form.
pub fn self_check_line() -> OwnLine<'static> {
    OwnLine::new(
        Level::INFO,
        "logmetrics",
        "logmetrics",
        "start-up self-check: the log sink accepts writes",
    )
}

/// What a successful [`self_check`] saw.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SelfCheckReport {
    /// Lines the sink accepted during the check (1, or more if other threads logged).
    pub lines_written: u64,
    /// How long writing and flushing took.
    pub took: Duration,
}

/// Why [`self_check`] could not confirm that the sink accepts writes.
#[derive(Debug)]
#[non_exhaustive]
pub enum SelfCheckError {
    /// The writer's worker thread is not running.
    WorkerGone,
    /// Handing the line to the writer failed.
    Write(io::Error),
    /// The flush did not complete: timed out, worker gone, or the sink failed.
    Flush(FlushError),
    /// The flush returned but the writer's counters do not show the line written.
    NotConfirmed {
        /// Lines written during the check.
        lines_written: u64,
        /// Lines dropped during the check (any reason).
        dropped: u64,
    },
}

impl fmt::Display for SelfCheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SelfCheckError::WorkerGone => {
                f.write_str("log self-check: the writer's worker thread is not running")
            }
            SelfCheckError::Write(e) => write!(f, "log self-check: writing the line failed: {e}"),
            SelfCheckError::Flush(e) => write!(f, "log self-check: flushing failed: {e}"),
            SelfCheckError::NotConfirmed {
                lines_written,
                dropped,
            } => write!(
                f,
                "log self-check: could not confirm the line was written \
                 ({lines_written} written, {dropped} dropped meanwhile)"
            ),
        }
    }
}

impl std::error::Error for SelfCheckError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SelfCheckError::Write(e) => Some(e),
            SelfCheckError::Flush(e) => Some(e),
            _ => None,
        }
    }
}

/// Writes the self-check line ([`self_check_line`], in the writer's
/// [`own_line_format`](NonBlocking::own_line_format); [`SELF_CHECK_LINE`] in the default
/// text form) through `writer`, flushes with `guard` (waiting at most
/// `timeout`) and confirms from the writer's counters that the sink accepted it.
///
/// Meant for start-up, before the service takes traffic: the line is written as a
/// keep-level line (never dropped by the overflow policy), and any line dropped during the
/// check makes it fail, since it could have been this one.
pub fn self_check(
    writer: &NonBlocking,
    guard: &WorkerGuard,
    timeout: Duration,
) -> Result<SelfCheckReport, SelfCheckError> {
    let started = Instant::now();
    let before = writer.stats();
    if !before.worker_alive {
        return Err(SelfCheckError::WorkerGone);
    }
    let mut line = String::with_capacity(SELF_CHECK_LINE.len());
    writer
        .own_line_format()
        .format(&self_check_line(), &mut line);
    writer
        .keeping()
        .write_all(line.as_bytes())
        .map_err(SelfCheckError::Write)?;
    guard
        .flush_timeout(timeout)
        .map_err(SelfCheckError::Flush)?;
    let after = writer.stats();
    // `flush` counts sink errors from its own start: one that hit the line before the
    // flush began (the worker is quick to take a keep-level line) shows only here.
    let errors = after.write_errors.saturating_sub(before.write_errors);
    if errors > 0 {
        return Err(SelfCheckError::Flush(FlushError::SinkFailed { errors }));
    }
    let lines_written = after.lines_written.saturating_sub(before.lines_written);
    let dropped = after.dropped.total().saturating_sub(before.dropped.total());
    if lines_written == 0 || dropped > 0 {
        return Err(SelfCheckError::NotConfirmed {
            lines_written,
            dropped,
        });
    }
    Ok(SelfCheckReport {
        lines_written,
        took: started.elapsed(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use backpressure_writer::OwnLineFormat;

    #[test]
    fn the_text_form_of_the_self_check_line_is_the_constant() {
        let mut s = String::new();
        OwnLineFormat::Text.format(&self_check_line(), &mut s);
        assert_eq!(s, SELF_CHECK_LINE);
    }
}
