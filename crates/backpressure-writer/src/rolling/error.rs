//! Why a rolling sink could not be built.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// Why [`RollingFileBuilder::build`](super::RollingFileBuilder::build) refused.
#[derive(Debug)]
#[non_exhaustive]
pub enum BuildError {
    /// The file name prefix is empty, or it or the suffix holds a path separator or NUL.
    BadName {
        /// The prefix or suffix as given.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A limit that must be positive was zero (`max_file_size`, `max_files`,
    /// `max_total_bytes`, `max_age`).
    Zero {
        /// The setting.
        setting: &'static str,
    },
    /// The UTC offset is a full day or more.
    UtcOffset {
        /// The offset as given, in seconds.
        seconds: i32,
    },
    /// The directory could not be created or read, or the first file not opened (or, if
    /// a crash left it ending mid-line, its torn line not ended with a `\n`), or a thread
    /// not started.
    Io {
        /// The path it happened on.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::BadName { name, reason } => {
                write!(f, "rolling file: bad file name part {name:?}: {reason}")
            }
            BuildError::Zero { setting } => {
                write!(
                    f,
                    "rolling file: {setting} must be greater than zero (got 0)"
                )
            }
            BuildError::UtcOffset { seconds } => write!(
                f,
                "rolling file: utc_offset_seconds must be within ±86399 (got {seconds})"
            ),
            BuildError::Io { path, source } => {
                write!(f, "rolling file: {}: {source}", path.display())
            }
        }
    }
}

impl std::error::Error for BuildError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BuildError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
