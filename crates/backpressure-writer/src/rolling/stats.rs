//! The figures of a rolling sink and the handle that reads them and asks for a reopen.

use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// A snapshot of a rolling sink's figures ([`RollingHandle::stats`]). Counts are totals
/// since the sink was built.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RollingStats {
    /// Files closed because the period changed or the size limit was reached.
    pub rotations: u64,
    /// Files closed and opened again on [`RollingHandle::reopen`].
    pub reopens: u64,
    /// Files deleted by retention (count, age or total size).
    pub files_deleted: u64,
    /// Files retention tried and failed to delete (kept; tried again at the next sweep).
    pub delete_failures: u64,
    /// Closed files replaced by their compressed copy.
    pub files_compressed: u64,
    /// Bytes of those files before compression.
    pub bytes_compressed: u64,
    /// Compressions that failed; the original was kept each time.
    pub compression_failures: u64,
    /// Opens of a file to write that failed (the write that needed it failed with them).
    pub open_failures: u64,
    /// Bytes in the file being written now.
    pub current_file_size: u64,
    /// Existing files the sink opened to append to that ended mid-line (a crash cut
    /// their last line): each got a `\n` before the first new line, so no line is glued
    /// to a torn one. That byte is the sink's own, not one of the writer's
    /// `bytes_written`.
    pub torn_lines_ended: u64,
    /// New files the sink opened by naming a spare the housekeeping thread had created
    /// ahead of need (Linux), instead of creating them on the writer's path. Below the
    /// count of new files only where spares cannot be had, or when rotations come faster
    /// than the housekeeper makes spares.
    pub spare_files_named: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) rotations: AtomicU64,
    pub(crate) reopens: AtomicU64,
    pub(crate) files_deleted: AtomicU64,
    pub(crate) delete_failures: AtomicU64,
    pub(crate) files_compressed: AtomicU64,
    pub(crate) bytes_compressed: AtomicU64,
    pub(crate) compression_failures: AtomicU64,
    pub(crate) open_failures: AtomicU64,
    pub(crate) current_file_size: AtomicU64,
    pub(crate) torn_lines_ended: AtomicU64,
    pub(crate) spare_files_named: AtomicU64,
}

/// What the sink, its housekeeping thread and every handle share.
#[derive(Debug, Default)]
pub(crate) struct RollShared {
    pub(crate) counters: Counters,
    /// Set by [`RollingHandle::reopen`]; the sink takes it at its next write.
    pub(crate) reopen: AtomicBool,
    /// The sink's write calls so far (a plain store by the one writing thread); the
    /// housekeeper reads it to tell whether the writer is busy.
    pub(crate) writes: AtomicU64,
    /// The file being written (never deleted by retention).
    pub(crate) current: Mutex<PathBuf>,
    /// Unnamed files the housekeeper created in the sink's directory, for the sink's next
    /// opens to name (see `spare`).
    pub(crate) spares: Mutex<Vec<std::fs::File>>,
    /// Set once spares turned out not to work here (then every open is the ordinary one).
    pub(crate) spares_off: AtomicBool,
    /// Housekeeping jobs sent and not yet finished.
    pub(crate) pending: Mutex<u64>,
    pub(crate) idle: Condvar,
}

impl RollShared {
    pub(crate) fn bump(c: &AtomicU64) {
        c.fetch_add(1, Relaxed);
    }

    pub(crate) fn job_done(&self) {
        let mut p = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        *p -= 1;
        if *p == 0 {
            self.idle.notify_all();
        }
    }

    pub(crate) fn current(&self) -> PathBuf {
        self.current
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// A handle on a [`RollingFile`](super::RollingFile): its figures, a reopen request, and
/// a wait for its housekeeping. Cheap to clone; stays valid after the sink is gone.
#[derive(Debug, Clone)]
pub struct RollingHandle {
    pub(crate) shared: Arc<RollShared>,
}

impl RollingHandle {
    /// The figures now.
    pub fn stats(&self) -> RollingStats {
        let c = &self.shared.counters;
        RollingStats {
            rotations: c.rotations.load(Relaxed),
            reopens: c.reopens.load(Relaxed),
            files_deleted: c.files_deleted.load(Relaxed),
            delete_failures: c.delete_failures.load(Relaxed),
            files_compressed: c.files_compressed.load(Relaxed),
            bytes_compressed: c.bytes_compressed.load(Relaxed),
            compression_failures: c.compression_failures.load(Relaxed),
            open_failures: c.open_failures.load(Relaxed),
            current_file_size: c.current_file_size.load(Relaxed),
            torn_lines_ended: c.torn_lines_ended.load(Relaxed),
            spare_files_named: c.spare_files_named.load(Relaxed),
        }
    }

    /// The path of the file being written (or to be opened at the next write).
    pub fn current_path(&self) -> PathBuf {
        self.shared.current()
    }

    /// Asks the sink to close its file and open the same name again before its next
    /// write, for logrotate's `create` mode: logrotate renames the file, the next write
    /// goes to a fresh one under the old name. Lines written between the rename and that
    /// write land in the renamed file, as with any program logrotate serves this way. A
    /// sink that writes nothing never reopens.
    pub fn reopen(&self) {
        self.shared.reopen.store(true, Ordering::Release);
    }

    /// Waits until the housekeeping thread has finished every compression and retention
    /// sweep asked of it so far, at most `timeout`. Returns whether it has. Once the sink
    /// is dropped, that includes closing the unnamed spare files it kept ready, so
    /// nothing of the sink is still at work in the file system when this returns.
    pub fn wait_housekeeping(&self, timeout: Duration) -> bool {
        let deadline = crate::deadline::after(Instant::now(), timeout);
        let mut p = self
            .shared
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        while *p > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            p = self
                .shared
                .idle
                .wait_timeout(p, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        true
    }
}
