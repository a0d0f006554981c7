//! The exporter's configuration error (the self-check has its own, `SelfCheckError`).

use std::fmt;
use std::io;
use std::time::Duration;

/// What was wrong with an exporter's configuration, or why its thread did not start.
#[derive(Debug)]
#[non_exhaustive]
pub enum BuildError {
    /// `interval(Duration::ZERO)`: the exporter would spin.
    ZeroInterval,
    /// Neither a writer nor a sampler was registered.
    NothingToExport,
    /// A writer or sampler was registered under an empty name.
    EmptyName {
        /// `"writer"` or `"sampler"`.
        kind: &'static str,
    },
    /// Two writers (or two samplers) share a name, so their series would merge.
    DuplicateName {
        /// `"writer"` or `"sampler"`.
        kind: &'static str,
        /// The name used twice.
        name: String,
    },
    /// The thread name contains a NUL byte, which no OS thread name can hold.
    ThreadNameNul {
        /// The name as given.
        name: String,
    },
    /// A health threshold is out of range.
    InvalidThreshold {
        /// The setter's name.
        what: &'static str,
        /// Why it was refused.
        why: String,
    },
    /// The health window is shorter than one export interval (nothing could be observed
    /// within it) or longer than `MAX_HEALTH_WINDOW_INTERVALS` intervals.
    InvalidHealthWindow {
        /// The window asked for (or the default, six intervals).
        window: Duration,
        /// The export interval.
        interval: Duration,
    },
    /// The operating system refused to start the exporter thread.
    Spawn(io::Error),
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::ZeroInterval => {
                f.write_str("logmetrics: export interval must be greater than zero")
            }
            BuildError::NothingToExport => {
                f.write_str("logmetrics: no writer or sampler registered, nothing to export")
            }
            BuildError::EmptyName { kind } => {
                write!(f, "logmetrics: {kind} registered with an empty name")
            }
            BuildError::DuplicateName { kind, name } => write!(
                f,
                "logmetrics: two {kind}s registered as {name:?}; their series would merge"
            ),
            BuildError::ThreadNameNul { name } => write!(
                f,
                "logmetrics: thread_name must not contain a NUL byte (got {name:?})"
            ),
            BuildError::InvalidThreshold { what, why } => {
                write!(f, "logmetrics: health threshold {what}: {why}")
            }
            BuildError::InvalidHealthWindow { window, interval } => write!(
                f,
                "logmetrics: health window {window:?} must span between 1 and {} export \
                 intervals of {interval:?}",
                crate::MAX_HEALTH_WINDOW_INTERVALS
            ),
            BuildError::Spawn(e) => {
                write!(f, "logmetrics: could not start the exporter thread: {e}")
            }
        }
    }
}

impl std::error::Error for BuildError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BuildError::Spawn(e) => Some(e),
            _ => None,
        }
    }
}
