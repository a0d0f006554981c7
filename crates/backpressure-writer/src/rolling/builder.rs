//! [`RollingFileBuilder`]: naming, limits, retention, compression; validation.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::clock::{Clock, SystemClock};
use super::error::BuildError;
use super::io_hook::{IoHook, NoFaults};
use super::naming::{Pattern, Rotation};
use super::retention::Retention;
use super::sink::{RollingFile, SinkSettings};

/// What happens to a file once the sink has moved on from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Compression {
    /// Kept as written (the default).
    #[default]
    None,
    /// Replaced by `name.gz` (gzip, default level) on the housekeeping thread.
    Gzip,
    /// Replaced by `name.zst` (zstd) on the housekeeping thread: about three times as
    /// fast as [`Gzip`](Self::Gzip), files about half again as large (ruzstd's pure-Rust
    /// encoder, roughly zstd's level 1). The file is a series of zstd frames, one per
    /// 128 KiB of the original, which `zstd -d`, `zstdcat` and every zstd library read as
    /// one stream. Needs the crate's `zstd` feature.
    #[cfg(feature = "zstd")]
    Zstd,
}

impl Compression {
    /// The extension a compressed copy gets (`None`: no compression).
    pub(crate) fn extension(self) -> Option<&'static str> {
        match self {
            Compression::None => None,
            Compression::Gzip => Some(".gz"),
            #[cfg(feature = "zstd")]
            Compression::Zstd => Some(".zst"),
        }
    }
}

/// Configures a [`RollingFile`]. `Default` is no rotation, no limit, no retention, no
/// compression, UTC; every setter consumes and returns the builder.
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build`"]
pub struct RollingFileBuilder {
    prefix: String,
    suffix: Option<String>,
    rotation: Rotation,
    max_file_size: Option<u64>,
    offset_secs: i32,
    retention: Retention,
    compression: Compression,
    current_link: Option<String>,
    clock: Option<Arc<dyn Clock>>,
    hook: Option<Arc<dyn IoHook>>,
}

impl Default for RollingFileBuilder {
    fn default() -> Self {
        RollingFileBuilder {
            prefix: String::new(),
            suffix: None,
            rotation: Rotation::Never,
            max_file_size: None,
            offset_secs: 0,
            retention: Retention::default(),
            compression: Compression::None,
            current_link: None,
            clock: None,
            hook: None,
        }
    }
}

impl RollingFileBuilder {
    /// The first part of every file name (required, no `/`).
    pub fn filename_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// The last part of every file name before a `.gz` (`"log"` gives `….log`).
    pub fn filename_suffix(mut self, suffix: impl Into<String>) -> Self {
        self.suffix = Some(suffix.into());
        self
    }

    /// Time rotation. Default [`Rotation::Never`].
    pub fn rotation(mut self, rotation: Rotation) -> Self {
        self.rotation = rotation;
        self
    }

    /// Starts a new file (the next index) when the current one would pass `bytes`; see
    /// the module docs for the exact bound. Must be positive.
    pub fn max_file_size(mut self, bytes: u64) -> Self {
        self.max_file_size = Some(bytes);
        self
    }

    /// The fixed offset from UTC, in seconds east, in which periods and dates are reckoned.
    /// Default 0 (UTC). A local offset must be obtained by the caller (see the module docs:
    /// the offset is fixed for the sink's life, and DST changes are not followed).
    pub fn utc_offset_seconds(mut self, seconds: i32) -> Self {
        self.offset_secs = seconds;
        self
    }

    /// Keeps at most `files` of the sink's files, the current one included.
    pub fn max_files(mut self, files: usize) -> Self {
        self.retention.max_files = Some(files);
        self
    }

    /// Keeps the sink's files, the current one included, within `bytes` in all (the
    /// current file is never deleted, so it alone may pass the limit).
    pub fn max_total_bytes(mut self, bytes: u64) -> Self {
        self.retention.max_total_bytes = Some(bytes);
        self
    }

    /// Deletes closed files older than `age` (see the module docs for how age is told).
    pub fn max_age(mut self, age: Duration) -> Self {
        self.retention.max_age = Some(age);
        self
    }

    /// What to do with closed files. Default [`Compression::None`].
    pub fn compression(mut self, compression: Compression) -> Self {
        self.compression = compression;
        self
    }

    /// A stable name for the current file, for tailing tools (`tail -F dir/current.log`):
    /// a symbolic link in the directory, pointed at each new file as it is opened
    /// (replaced atomically by a rename). Unix only; elsewhere it is not created. Must not
    /// be a name of the sink's own pattern. A failure to update it is not a write failure.
    pub fn current_link(mut self, name: impl Into<String>) -> Self {
        self.current_link = Some(name.into());
        self
    }

    /// The clock for periods, names and ages. Default [`SystemClock`].
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// A fault-injection point on the sink's opens and writes (tests). Default
    /// [`NoFaults`].
    pub fn io_hook(mut self, hook: Arc<dyn IoHook>) -> Self {
        self.hook = Some(hook);
        self
    }

    fn validate(&self) -> Result<(), BuildError> {
        let bad = |name: &str, reason| {
            Err(BuildError::BadName {
                name: name.to_owned(),
                reason,
            })
        };
        if self.prefix.is_empty() {
            return bad("", "filename_prefix must not be empty");
        }
        for part in std::iter::once(&self.prefix).chain(&self.suffix) {
            if part.contains(['/', '\\', '\0']) {
                return bad(part, "must not contain '/', '\\' or NUL");
            }
        }
        if self.suffix.as_deref() == Some("") {
            return bad("", "filename_suffix must not be empty (leave it unset)");
        }
        if let Some(link) = &self.current_link {
            if link.is_empty() || link.contains(['/', '\\', '\0']) {
                return bad(
                    link,
                    "current_link must be a non-empty name without '/', '\\' or NUL",
                );
            }
            if self.pattern().parse(link).is_some() {
                return bad(link, "current_link is a name of the sink's own files");
            }
        }
        let zero = |is_zero: bool, setting| {
            if is_zero {
                Err(BuildError::Zero { setting })
            } else {
                Ok(())
            }
        };
        zero(self.max_file_size == Some(0), "max_file_size")?;
        zero(self.retention.max_files == Some(0), "max_files")?;
        zero(self.retention.max_total_bytes == Some(0), "max_total_bytes")?;
        zero(
            self.retention.max_age.is_some_and(|a| a.is_zero()),
            "max_age",
        )?;
        if self.offset_secs.unsigned_abs() >= 86_400 {
            return Err(BuildError::UtcOffset {
                seconds: self.offset_secs,
            });
        }
        Ok(())
    }

    fn pattern(&self) -> Pattern {
        Pattern {
            prefix: self.prefix.clone(),
            suffix: self.suffix.clone(),
            rotation: self.rotation,
        }
    }

    /// Validates the settings, creates `dir` if need be, opens the current file
    /// (appending to this period's newest file if an earlier run left one) and starts the
    /// housekeeping thread (which first applies retention to what is already there).
    pub fn build(self, dir: impl AsRef<Path>) -> Result<RollingFile, BuildError> {
        self.validate()?;
        RollingFile::start(SinkSettings {
            dir: dir.as_ref().to_path_buf(),
            pattern: self.pattern(),
            current_link: self.current_link,
            max_file_size: self.max_file_size,
            offset_secs: self.offset_secs,
            retention: self.retention,
            compression: self.compression,
            clock: self
                .clock
                .unwrap_or_else(|| Arc::new(SystemClock::default())),
            hook: self.hook.unwrap_or_else(|| Arc::new(NoFaults)),
        })
    }
}
