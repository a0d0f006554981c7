//! A fault-injection point on the sink's file-system calls, for tests that need a full
//! disk or a file that cannot be created where permissions cannot provide one (a process
//! running as root ignores directory permissions).

use std::fmt;
use std::io;
use std::path::Path;

/// Called before each file-system call the rolling sink and its housekeeping thread make;
/// an `Err` fails that call as the OS would have. Every method defaults to letting the
/// call through, so a hook overrides only what it breaks. [`NoFaults`] is the default.
pub trait IoHook: Send + Sync + fmt::Debug + 'static {
    /// Before a file is opened or created: the sink's files, and the `.gz.part` copy the
    /// compressor writes.
    fn open(&self, path: &Path) -> io::Result<()> {
        let _ = path;
        Ok(())
    }

    /// Before `len` bytes are written to the sink's current file at `path`. `Ok(n)` with
    /// `n < len` lets only the first `n` bytes through, a short write as a nearly full
    /// disk makes; `Ok(0)` or an `Err` writes nothing.
    fn write(&self, path: &Path, len: usize) -> io::Result<usize> {
        let _ = path;
        Ok(len)
    }
}

/// The default [`IoHook`]: every call goes through.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoFaults;

impl IoHook for NoFaults {}
