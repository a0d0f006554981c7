//! The start-up self-check: one line through the writer, confirmed written and flushed.

use std::fmt;
use std::io::{self, Write};
use std::time::{Duration, Instant};

use backpressure_writer::{FlushError, NonBlocking, WorkerGuard};

/// The line [`self_check`] writes.
pub const SELF_CHECK_LINE: &str = "logmetrics: start-up self-check: the log sink accepts writes\n";

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
    WorkerDead,
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
            SelfCheckError::WorkerDead => {
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

/// Writes [`SELF_CHECK_LINE`] through `writer`, flushes with `guard` (waiting at most
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
        return Err(SelfCheckError::WorkerDead);
    }
    writer
        .keeping()
        .write_all(SELF_CHECK_LINE.as_bytes())
        .map_err(SelfCheckError::Write)?;
    guard
        .flush_timeout(timeout)
        .map_err(SelfCheckError::Flush)?;
    let after = writer.stats();
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
