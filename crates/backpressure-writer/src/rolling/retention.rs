//! Which of the sink's own files to delete: by count, by total size, by age, oldest first.
//!
//! Only files whose names the sink's [`Pattern`] reads back, in its own directory, are
//! ever listed, so no other file can be chosen. Order is by name (period, then index):
//! the order the sink wrote them in, whatever the clock or the file system says.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::naming::{NameKey, Pattern};

/// Retention limits; each `None` is no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Retention {
    pub(crate) max_files: Option<usize>,
    pub(crate) max_total_bytes: Option<u64>,
    pub(crate) max_age: Option<Duration>,
}

/// One of the sink's files, as a sweep sees it.
#[derive(Debug, Clone)]
pub(crate) struct OwnFile {
    pub(crate) path: PathBuf,
    pub(crate) key: NameKey,
    pub(crate) len: u64,
    pub(crate) modified: Option<SystemTime>,
    /// On the monotonic clock, when this process closed the file (`None`: an earlier
    /// run's file, or one this process has not closed).
    pub(crate) closed_at: Option<Duration>,
}

/// Lists the regular files of `dir` whose names `pattern` reads back, oldest first.
/// Symbolic links and anything else are left out, whatever their name.
pub(crate) fn scan(dir: &Path, pattern: &Pattern) -> io::Result<Vec<OwnFile>> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let Some(key) = entry.file_name().to_str().and_then(|n| pattern.parse(n)) else {
            continue;
        };
        let Ok(meta) = fs::symlink_metadata(entry.path()) else {
            continue;
        };
        if !meta.file_type().is_file() {
            continue;
        }
        files.push(OwnFile {
            path: entry.path(),
            key,
            len: meta.len(),
            modified: meta.modified().ok(),
            closed_at: None,
        });
    }
    files.sort_by_key(|f| f.key);
    Ok(files)
}

impl Retention {
    pub(crate) fn is_set(&self) -> bool {
        *self != Retention::default()
    }

    /// Of `closed` (oldest first, the current file not among them), the indices to
    /// delete so that the files left, with the current file of `current_len` bytes,
    /// meet every limit.
    ///
    /// Age is the wall clock's `now` minus the file's modification time, and for a file
    /// this process closed also the monotonic time since it did so: a file goes for age
    /// only when both exceed `max_age`. A wall clock stepped forward by a year therefore
    /// deletes no file this process wrote within `max_age`; a clock stepped back makes
    /// files look younger (kept longer), never older.
    pub(crate) fn select(
        &self,
        closed: &[OwnFile],
        current_len: u64,
        now: SystemTime,
        monotonic: Duration,
    ) -> Vec<usize> {
        let mut doomed = vec![false; closed.len()];
        if let Some(max_age) = self.max_age {
            for (i, f) in closed.iter().enumerate() {
                let wall = f
                    .modified
                    .and_then(|m| now.duration_since(m).ok())
                    .unwrap_or_default();
                let mono = f
                    .closed_at
                    .map_or(Duration::MAX, |c| monotonic.saturating_sub(c));
                doomed[i] = wall > max_age && mono > max_age;
            }
        }
        let mut count = 1 + doomed.iter().filter(|d| !**d).count();
        let mut total = current_len
            + closed
                .iter()
                .zip(&doomed)
                .filter(|(_, d)| !**d)
                .map(|(f, _)| f.len)
                .sum::<u64>();
        for (i, f) in closed.iter().enumerate() {
            if doomed[i] {
                continue;
            }
            let over_count = self.max_files.is_some_and(|m| count > m);
            let over_bytes = self.max_total_bytes.is_some_and(|m| total > m);
            if !over_count && !over_bytes {
                break;
            }
            doomed[i] = true;
            count -= 1;
            total -= f.len;
        }
        (0..closed.len()).filter(|&i| doomed[i]).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn file(i: u32, len: u64, modified_secs: u64, closed_at: Option<u64>) -> OwnFile {
        OwnFile {
            path: PathBuf::from(format!("app.{i}.log")),
            key: NameKey {
                period: 0,
                index: i,
                compressed: false,
            },
            len,
            modified: Some(UNIX_EPOCH + Duration::from_secs(modified_secs)),
            closed_at: closed_at.map(Duration::from_secs),
        }
    }

    #[test]
    fn count_and_bytes_take_the_oldest_first() {
        let files: Vec<_> = (1..=5).map(|i| file(i, 100, 1000, None)).collect();
        let now = UNIX_EPOCH + Duration::from_secs(1000);
        let r = Retention {
            max_files: Some(3),
            ..Retention::default()
        };
        // 5 closed + the current one: 3 must go, the 3 oldest.
        assert_eq!(r.select(&files, 10, now, Duration::ZERO), [0, 1, 2]);
        let r = Retention {
            max_total_bytes: Some(250),
            ..Retention::default()
        };
        // 500 + 50 bytes: keep 2 closed files (200 + 50 <= 250).
        assert_eq!(r.select(&files, 50, now, Duration::ZERO), [0, 1, 2]);
        // The current file alone over the limit: every closed file goes, never it.
        assert_eq!(r.select(&files, 1000, now, Duration::ZERO).len(), 5);
    }

    #[test]
    fn age_needs_both_clocks_for_files_this_run_closed() {
        let day = 86_400;
        let r = Retention {
            max_age: Some(Duration::from_secs(day)),
            ..Retention::default()
        };
        let files = [
            file(1, 1, 0, None),      // an earlier run's file, 10 days old
            file(2, 1, 0, Some(100)), // closed by this run 100 s into it
            file(3, 1, 9 * day, None),
        ];
        // The wall clock says 10 days later, the monotonic clock 200 s: a jump.
        let now = UNIX_EPOCH + Duration::from_secs(10 * day);
        assert_eq!(r.select(&files, 0, now, Duration::from_secs(200)), [0]);
        // Two real days later, file 2 is old on both clocks.
        let mono = Duration::from_secs(100 + 2 * day);
        assert_eq!(r.select(&files, 0, now, mono), [0, 1]);
        // A clock stepped back before the files' times deletes nothing.
        assert!(r.select(&files, 0, UNIX_EPOCH, mono).is_empty());
    }
}
