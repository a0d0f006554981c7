//! A rolling file sink for the writer: files that change by size and by time between two
//! lines, retention, gzip of closed files off the write path, and reopen for logrotate.
//!
//! [`RollingFile`] is an `io::Write` for [`NonBlockingBuilder::finish`](crate::NonBlockingBuilder::finish).
//! The writer's worker thread is the only one that writes to it, a batch of whole lines
//! per `write` call (up to 1 MiB), so a file changes only between two lines and the
//! producers never see a rotation.
//!
//! ```
//! use std::time::Duration;
//! use backpressure_writer::NonBlockingBuilder;
//! use backpressure_writer::rolling::{Compression, RollingFile, Rotation};
//!
//! # let dir = tempfile::tempdir().unwrap();
//! # let dir = dir.path();
//! let file = RollingFile::builder()
//!     .filename_prefix("service")
//!     .filename_suffix("log")          // service.2026-12-06.log, service.2026-12-06.1.log, …
//!     .rotation(Rotation::Daily)       // a new date every day (UTC unless told otherwise)
//!     .max_file_size(64 * 1024 * 1024) // and a new index every 64 MiB
//!     .max_files(30)                   // the current file included
//!     .max_age(Duration::from_secs(14 * 86_400))
//!     .compression(Compression::Gzip)  // closed files become service.2026-12-06.1.log.gz
//!     .build(dir)?;
//! let files = file.handle(); // figures, reopen; take it before the sink moves
//! let (writer, guard) = NonBlockingBuilder::default().finish(file);
//! # drop((writer, guard));
//! assert_eq!(files.stats().rotations, 0);
//! # Ok::<(), backpressure_writer::rolling::BuildError>(())
//! ```
//!
//! # Names
//!
//! `prefix[.date][.index][.suffix]`, plus `.gz` once compressed. The date is
//! tracing-appender's (`%Y-%m-%d`, `-%H` hourly, `-%H-%M` minutely); without time rotation
//! there is none. The first file of a period has no index, so without a size limit the
//! names are exactly tracing-appender's; size rotation adds `.1`, `.2`, … (newer files have
//! higher indices; the date sorts, the index sorts numerically). A file is the sink's own
//! only if its name reads back exactly (same prefix, suffix and date layout, an index
//! without leading zeros) and it is a regular file in the sink's directory.
//!
//! [`current_link`](RollingFileBuilder::current_link) adds a stable name for tailing tools:
//! a symbolic link in the directory pointed at each new file as it opens (a new link
//! renamed over the old, so the name never goes missing). It is never the sink's own file,
//! so retention never touches it (Unix only).
//!
//! **Time** is reckoned in UTC (tracing-appender's choice) or in a fixed offset
//! ([`utc_offset_seconds`](RollingFileBuilder::utc_offset_seconds)). The sink does not ask
//! the system for a local offset: the `time` crate refuses to read it once a process has
//! several threads (the C library's time-zone state is not thread safe), and a sink built
//! inside a running service is in that situation. Read the local offset yourself at start,
//! before threads exist (`time::UtcOffset::current_local_offset()`, or
//! `chrono::Local::now().offset().local_minus_utc()`), and pass it in; it stays fixed for
//! the sink's life, so a DST change moves the boundary by an hour until the next start.
//!
//! A period boundary crossed while nothing was written (a stalled disk, a quiet night)
//! rotates once, at the next write, to the period of that write: never one empty file per
//! missed boundary. A clock stepped back into a period already written starts a fresh index
//! after that period's files, never reopening a closed (maybe compressed) one.
//!
//! # Sizes
//!
//! With [`max_file_size`](RollingFileBuilder::max_file_size)`(n)`: when the next line would
//! take the current file past `n` bytes, the file is closed and the next index opened; a
//! batch that does not fit is split at its last line end that fits (`write` returns that
//! prefix, and the worker's write loop hands over the rest, which starts the next file).
//! **The bound: no file exceeds `n` bytes, except a file holding exactly one line that is
//! itself longer than `n`** (a line is never split). That holds for the writer's batches,
//! which are whole lines; a caller that writes a line in several `write` calls (as
//! `write!` does) gets its line finished in the file it began in, which may pass `n` by
//! that line's rest.
//!
//! # Restart
//!
//! At build the sink appends to the newest file of the current period (continuing its
//! size and index) instead of overwriting it; if that file was already compressed, it
//! starts the next index. Files earlier runs left are its own for retention, and left
//! uncompressed ones are compressed.
//!
//! A file a crash left ending mid-line (the process died inside a `write`, or the machine
//! before the page cache reached the disk) gets a `\n` before the first new line, so the
//! torn line ends where it was cut and the next line starts on a line of its own, never
//! glued to it; [`torn_lines_ended`](RollingStats::torn_lines_ended) counts it. The same
//! holds for any existing file the sink opens to append to (a reopen onto a file another
//! program left). The line is ended in place rather than by moving on to the next index,
//! because a torn line left unterminated at the end of a closed file would still be glued
//! to the next file's first line by anything that reads the files in order (`cat`, `zcat`,
//! a shipper). That `\n` is the sink's own byte, not counted in the writer's
//! `bytes_written`. If it cannot be written (a full disk), the open fails: at build with
//! [`BuildError::Io`] naming the file, later as an open failure (counted, the batch
//! failed, the next batch tries again). Reading the last byte back costs an `open`, a
//! one-byte read and a `close` at build or a reopen of an existing file, never per
//! write; a file the process cannot read is appended to as it is.
//!
//! # Retention
//!
//! [`max_files`](RollingFileBuilder::max_files) (the current file included),
//! [`max_total_bytes`](RollingFileBuilder::max_total_bytes) (the current file included; it
//! is never deleted, so it alone may pass the limit) and
//! [`max_age`](RollingFileBuilder::max_age). Oldest first, by name order (period, then
//! index), so the order the files were written in, whatever the clock says. Only the
//! sink's own files in its own directory are ever listed (see *Names*): other files,
//! directories and symbolic links are never deleted, whatever they are called.
//!
//! Age is the wall clock minus the file's modification time; for a file this process
//! closed, the time since it closed it on the monotonic clock must exceed `max_age` too.
//! So a wall clock stepped forward (a year, by NTP or by hand) deletes no file written
//! within `max_age`; stepped back, files look younger and are kept longer. Files of an
//! earlier run have only their modification time to go by.
//!
//! Retention runs at build and after each rotation, on the housekeeping thread.
//!
//! # Compression
//!
//! [`Compression::Gzip`] (and `Compression::Zstd` with the crate's `zstd` feature): each
//! closed file is compressed on the sink's housekeeping thread (`rolling-housekeeper`),
//! one at a time, never on the worker's or a producer's path: the worker's only cost is a
//! channel send per rotation (the housekeeper also closes the old file). The copy is
//! written as `name.gz.part` (`name.zst.part`; not the sink's own name, so retention never
//! counts a half copy), synced, renamed to `name.gz` (`name.zst`), the directory synced,
//! and only then is `name` removed. On any error the partial copy is removed, the original
//! kept, and [`compression_failures`](RollingStats::compression_failures) counts it.
//!
//! The compressor keeps out of the writer's way. On Linux the thread runs at nice 10,
//! below the producers and the worker (elsewhere at normal priority). It compresses in
//! blocks of 128 KiB, and before each block it looks whether the sink wrote since its last
//! look: if so it sleeps 19 times as long as its last block took (at most 100 ms), so
//! while the writer is busy it takes at most a twentieth of one core; while the writer is
//! idle it runs flat out. Under a writer that never pauses, compression runs at a
//! twentieth of its speed and closed files wait their turn (retention by bytes counts
//! them at their uncompressed size meanwhile). Measured below, under *Costs*.
//!
//! A process that exits while a file is being compressed leaves the original and maybe
//! its `.part`; the next run (with compression on) removes every partial copy of its own
//! names at start, and compresses the original again.
//!
//! Both codecs are pure Rust, no C library: gzip (default level) through
//! `flate2`/`miniz_oxide`; zstd through `ruzstd`'s encoder (its fastest level, about
//! zstd's level 1: on log text about three times as fast as the gzip here and about half
//! again as large), one frame per 128 KiB block, so the file is a series of frames, which
//! `zstd -d`, `zstdcat` and every zstd library read as one stream. A compressed copy of
//! either kind counts as the sink's own, whatever the sink's compression now.
//!
//! # Reopen
//!
//! [`RollingHandle::reopen`] asks the sink to close its file and open the same name again
//! at its next write, for logrotate's `create` mode (logrotate renames the file, then
//! signals the program; a SIGHUP handler calls `reopen`). `copytruncate` needs nothing.
//!
//! # A full disk, a file that cannot be created
//!
//! A write the file system refuses (`ENOSPC`, `EIO`, …) fails the writer's batch: its lines
//! count under [`Dropped::write_failed`](crate::stats::Dropped::write_failed) and `write_errors`,
//! the first error goes to stderr, and lines wholly written before a short write count as
//! written. The bytes of a line cut by a short write are taken back (the file is truncated
//! to its last line end), so the next line starts on a line of its own. An open that fails
//! (a new file at a rotation, or a reopen) fails the batch the same way, and counts under
//! [`open_failures`](RollingStats::open_failures); each later batch tries again, so writing
//! resumes with the first batch after the fault clears. `accounting` holds throughout:
//! every line is written to exactly one file or counted as dropped.
//!
//! # Costs
//!
//! Per `write` call (one batch, up to 1 MiB): a relaxed load (a reopen request), a clock
//! read only with time rotation, a scan of the first line only with a size limit (does it
//! fit?), a scan back from the end to the last line end (one byte for a batch of whole
//! lines), two relaxed atomic stores (the file size, the count of writes the compressor
//! paces itself by), and the file's `write`: one `write(2)` for the whole batch (none is
//! buffered, so nothing waits in user space at a crash), or two around a rotation.
//! Counted under callgrind in a whole 1 M-line run without rotation: about 100
//! instructions per call beyond the plain `File`'s `write`, the same `write(2)` calls. A rotation adds naming a file the housekeeper created ahead
//! of need (below), an `fstat` and a channel send; the old file is closed by the
//! housekeeper (a close can wait on the file system). A change of period also lists the
//! directory (names only, no `stat` per file).
//!
//! Creating a file is most of what a rotation would cost (on ext4 the `open` with
//! `O_CREAT` and the first writes into the new inode took hundreds of microseconds), so on
//! Linux the housekeeper keeps up to four unnamed files (`O_TMPFILE`) open in the
//! directory, and a rotation gives one its name (`linkat` through `/proc/self/fd`). They
//! leave nothing behind: unused, they vanish with the process. A name that exists already
//! (a restart, logrotate's `create`) is opened as it is, and where unnamed files are not
//! to be had (another platform, a file system without them) every open is the ordinary
//! one.
//!
//! Measured (`tests/rolling/cost.rs`; figures in the repository's `docs/benchmarks.md`,
//! *Rolling file sink*): a rotation adds about 30–60 µs to the write call that makes it
//! (was 75–270 µs before the files were created ahead). While a whole run of 1 M lines
//! lasts, the paced compressor is on a CPU for about 3–5 ms (was 7–58 ms), and a run with
//! gzip beside it costs about what it costs without (1.02–1.04×). Whole runs rotating
//! every 10 MB measured 1.01× a plain file (median of 10 sets on a shared 2-core machine,
//! 0.84–1.11), and a sink that never rotates 1.00×; the 1.13–1.29× measured before came
//! from the test (which malloc arena each run's threads got, so whether the run's queue
//! memory was already mapped), not from the sink's work.

//! # Why not an existing crate
//!
//! Looked at (December 2026, versions as `cargo info` lists them). `file-rotate` 0.8
//! (MIT) rotates on one limit at a time (bytes, lines or time): `Bytes` splits the buffer
//! at the byte limit, mid-line, across two files; `Lines` makes one `write` per line (a
//! 1 MiB batch of 100-byte lines becomes about 10 000 writes); `BytesSurpassed` writes the
//! whole batch first, passing the limit by up to a batch (1 MiB here); it compresses inside
//! `write`, on the writing thread. `logroller` 0.1.12 (MIT, Rust 1.71, chrono and regex)
//! rotates by size or by age, not both; it checks the size before a write, so a batch
//! passes the limit; a size rotation renames every kept file; it starts a thread per
//! rotation to compress, and removes the original without syncing the copy; it keeps by
//! count only. `rolling-file` 0.2.0 (MIT/Apache-2.0) writes through a `BufWriter`, renames
//! every kept file at each rollover, keeps by count, does not compress, and reads local
//! time through chrono. tracing-appender's `rolling` rotates by time only and keeps by
//! count. None splits a batch at a line end, so none can hold a size bound while keeping a
//! batch one `write` call (the worker's 1 MiB batches stay one `write(2)` each here); and
//! none keeps compression and retention off the writing thread with a bounded, counted
//! path. The sink here is about 1 000 lines (tests apart) on `flate2` alone.
//!
//! # Figures
//!
//! [`RollingHandle::stats`] gives [`RollingStats`]: rotations, reopens, files deleted by
//! retention (and deletions that failed), files and bytes compressed, compression
//! failures, open failures, torn lines ended at an open, and the current file's size.

mod builder;
mod clock;
mod compress;
mod error;
mod housekeeper;
mod io_hook;
mod naming;
mod retention;
mod sink;
mod spare;
mod stats;

pub use builder::{Compression, RollingFileBuilder};
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::BuildError;
pub use io_hook::{IoHook, NoFaults};
pub use naming::Rotation;
pub use sink::RollingFile;
pub use stats::{RollingHandle, RollingStats};
