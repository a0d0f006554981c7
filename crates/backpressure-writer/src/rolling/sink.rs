//! [`RollingFile`]: the `io::Write` the worker writes its batches into, switching files
//! only between two lines.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::atomic::Ordering::{Acquire, Relaxed};
use std::sync::{Arc, PoisonError};

use super::builder::{Compression, RollingFileBuilder};
use super::clock::Clock;
use super::error::BuildError;
use super::housekeeper::{Housekeeper, Job, Settings};
use super::io_hook::IoHook;
use super::naming::{Pattern, Rotation};
use super::retention::{scan, Retention};
use super::spare;
use super::stats::{RollShared, RollingHandle};

/// How many existing, already full files of one period a single write may step over
/// (after a restart or a clock stepped back) before it writes into the last one anyway.
const MAX_SKIP: u32 = 64;

pub(crate) struct SinkSettings {
    pub(crate) dir: PathBuf,
    pub(crate) pattern: Pattern,
    pub(crate) current_link: Option<String>,
    pub(crate) max_file_size: Option<u64>,
    pub(crate) offset_secs: i32,
    pub(crate) retention: Retention,
    pub(crate) compression: Compression,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) hook: Arc<dyn IoHook>,
}

/// A file sink that rotates by size and/or time, for
/// [`NonBlockingBuilder::finish`](crate::NonBlockingBuilder::finish). The module docs are
/// its manual.
#[derive(Debug)]
pub struct RollingFile {
    dir: PathBuf,
    pattern: Pattern,
    current_link: Option<PathBuf>,
    max_file_size: Option<u64>,
    offset_secs: i32,
    clock: Arc<dyn Clock>,
    hook: Arc<dyn IoHook>,
    shared: Arc<RollShared>,
    housekeeper: Housekeeper,
    file: Option<File>,
    path: PathBuf,
    period: i64,
    index: u32,
    size: u64,
    /// `size` just after the last `\n` written: where a line begins. The sink changes
    /// files only when `size == line_start`.
    line_start: u64,
    /// A file rotated out, handed to the housekeeper once the next file's name is
    /// published (so that its sweep counts the new file as the current one) and the next
    /// file is open (so that the housekeeper's refill does not race the open for a spare). Its handle
    /// goes along: the housekeeper closes it, since a close can wait on the file system
    /// (a network file system writes the file back on close).
    closed: Option<(PathBuf, File)>,
    /// Write calls so far, published in `shared.writes` for the housekeeper's pacing.
    writes: u64,
}

impl RollingFile {
    /// A builder with the defaults.
    pub fn builder() -> RollingFileBuilder {
        RollingFileBuilder::default()
    }

    /// The handle on this sink's figures, reopen and housekeeping; take it before the sink
    /// moves into the writer.
    pub fn handle(&self) -> RollingHandle {
        RollingHandle {
            shared: Arc::clone(&self.shared),
        }
    }

    pub(crate) fn start(s: SinkSettings) -> Result<Self, BuildError> {
        let io_err = |path: &PathBuf| {
            let path = path.clone();
            move |source| BuildError::Io { path, source }
        };
        fs::create_dir_all(&s.dir).map_err(io_err(&s.dir))?;
        let current_link = s.current_link.as_ref().map(|l| s.dir.join(l));
        let existing = scan(&s.dir, &s.pattern).map_err(io_err(&s.dir))?;
        let period = s.pattern.rotation.period(s.clock.now(), s.offset_secs);
        // A restart appends to this period's newest file (unless it was compressed).
        let index = match existing.iter().rfind(|f| f.key.period == period) {
            Some(f) if f.key.compressed => f.key.index + 1,
            Some(f) => f.key.index,
            None => 0,
        };
        let shared = Arc::new(RollShared::default());
        let housekeeper = Housekeeper::spawn(
            Settings {
                dir: s.dir.clone(),
                pattern: s.pattern.clone(),
                retention: s.retention,
                compression: s.compression,
                clock: Arc::clone(&s.clock),
                hook: Arc::clone(&s.hook),
            },
            Arc::clone(&shared),
        )
        .map_err(io_err(&s.dir))?;
        let mut sink = RollingFile {
            dir: s.dir,
            current_link,
            pattern: s.pattern,
            max_file_size: s.max_file_size,
            offset_secs: s.offset_secs,
            clock: s.clock,
            hook: s.hook,
            shared,
            housekeeper,
            file: None,
            path: PathBuf::new(),
            period,
            index,
            size: 0,
            line_start: 0,
            closed: None,
            writes: 0,
        };
        if let Err(e) = sink.open() {
            return Err(BuildError::Io {
                path: sink.path.clone(),
                source: e,
            });
        }
        // Files an earlier run closed but did not get to compress.
        if s.compression != Compression::None {
            for f in existing.iter().filter(|f| !f.key.compressed) {
                if f.path != sink.path {
                    sink.housekeeper.send(Job::Closed {
                        path: f.path.clone(),
                        file: None,
                        this_run: false,
                    });
                }
            }
        }
        sink.housekeeper.send(Job::Sweep);
        Ok(sink)
    }

    fn at_line_start(&self) -> bool {
        self.size == self.line_start
    }

    /// Opens the file for the current period and index, appending.
    fn open(&mut self) -> io::Result<()> {
        self.path = self.dir.join(self.pattern.name(self.period, self.index));
        // Published before the file exists, so retention never takes it.
        *self
            .shared
            .current
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = self.path.clone();
        let opened = self
            .hook
            .open(&self.path)
            .and_then(|()| self.open_file())
            .and_then(|file| self.end_torn_line(file));
        // Handed on only now that the next file is open: the job wakes the housekeeper,
        // which then refills its spares; sent before the open, it raced the open for
        // them, and a lost race meant creating the file here (hundreds of microseconds)
        // instead of naming a spare.
        if let Some((path, file)) = self.closed.take() {
            self.housekeeper.send(Job::Closed {
                path,
                file: Some(file),
                this_run: true,
            });
        }
        let (file, size) = match opened {
            Ok(opened) => opened,
            Err(e) => {
                RollShared::bump(&self.shared.counters.open_failures);
                return Err(e);
            }
        };
        self.size = size;
        self.line_start = self.size;
        self.shared
            .counters
            .current_file_size
            .store(self.size, Relaxed);
        self.file = Some(file);
        self.point_link();
        Ok(())
    }

    /// An existing file about to be appended to, and its size. If its last byte is not a
    /// `\n` (a crash cut its last line: the process died inside a `write`, or the
    /// machine before the page cache reached the disk), a `\n` is written first, so that
    /// the torn line ends there and the next line starts on a line of its own instead of
    /// being glued to it; [`torn_lines_ended`](super::RollingStats::torn_lines_ended)
    /// counts it.
    ///
    /// Ending the line in place rather than moving on to the next index: the torn line
    /// would then stay unterminated at the end of its file, and anything that reads the
    /// files one after another (`cat`, `zcat`, a shipper following the name) would still
    /// glue it to the next file's first line.
    ///
    /// Costs nothing for a new file (size 0); an existing one costs an `open`, a one-byte
    /// read and a `close`, at build or a reopen, never per write. If the `\n` cannot be
    /// written (a full disk), the open fails and is counted as one, and the next batch
    /// tries again: no line is ever appended to a torn one. A file that cannot be read
    /// back (no read permission) is appended to as it is.
    fn end_torn_line(&self, mut file: File) -> io::Result<(File, u64)> {
        let size = file.metadata().map_or(0, |m| m.len());
        if size == 0 || !self.ends_mid_line(size) {
            return Ok((file, size));
        }
        let allowed = self.hook.write(&self.path, 1)?;
        if allowed == 0 {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                "the file accepted 0 bytes",
            ));
        }
        file.write_all(b"\n")?;
        RollShared::bump(&self.shared.counters.torn_lines_ended);
        Ok((file, size + 1))
    }

    /// Whether the file at `self.path`, `size` bytes long, ends with anything but `\n`.
    /// Read through a handle of its own: the sink's is opened for appending only.
    fn ends_mid_line(&self, size: u64) -> bool {
        let mut last = [0u8];
        let read = File::open(&self.path).and_then(|mut f| {
            f.seek(SeekFrom::Start(size - 1))?;
            f.read_exact(&mut last)
        });
        read.is_ok() && last[0] != b'\n'
    }

    /// The file at `self.path`, for appending: the housekeeper's spare given that name if
    /// there is one and the name is free (a `linkat`, tens of microseconds), else the
    /// ordinary open, which creates the file if need be (a few hundred on ext4).
    fn open_file(&self) -> io::Result<File> {
        // The housekeeper holds this lock only to push a file it created beforehand, so
        // the wait is at most a push; a `try_lock` that gave up there created the file
        // here instead.
        let spare = self
            .shared
            .spares
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        if let Some(file) = spare {
            match spare::link(&file, &self.path) {
                Ok(()) => {
                    RollShared::bump(&self.shared.counters.spare_files_named);
                    return Ok(file);
                }
                // Named already (a restart's file, logrotate's `create`): open that one.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(_) => self.shared.spares_off.store(true, Relaxed),
            }
        }
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
    }

    /// Points the stable name at the file just opened: a new link under a temporary name,
    /// renamed over the old one, so a reader never finds the name missing.
    #[cfg(unix)]
    fn point_link(&self) {
        let (Some(link), Some(target)) = (&self.current_link, self.path.file_name()) else {
            return;
        };
        let mut tmp = link.clone().into_os_string();
        tmp.push(".tmp");
        let _ = fs::remove_file(&tmp);
        if std::os::unix::fs::symlink(target, &tmp).is_ok() && fs::rename(&tmp, link).is_err() {
            let _ = fs::remove_file(&tmp);
        }
    }

    #[cfg(not(unix))]
    fn point_link(&self) {}

    /// Takes the current file out for a rotation; the next [`open`](Self::open) hands it
    /// to the housekeeper, which closes it.
    fn rotate_out(&mut self) {
        if let Some(file) = self.file.take() {
            RollShared::bump(&self.shared.counters.rotations);
            self.closed = Some((self.path.clone(), file));
        }
    }

    /// At a line start: takes a reopen request, changes file for a new period, and makes
    /// sure a file is open that the next line (`first_line` bytes) fits in.
    ///
    /// Costs a relaxed load (the reopen request) and, with time rotation, one clock read
    /// per write call (a batch, not a line); without time rotation the period never
    /// changes and the clock is not read. A period change adds one directory listing.
    fn prepare(&mut self, first_line: u64) -> io::Result<()> {
        if self.at_line_start() {
            let reopen =
                self.shared.reopen.load(Relaxed) && self.shared.reopen.swap(false, Acquire);
            let period = match self.pattern.rotation {
                Rotation::Never => self.period,
                rotation => rotation.period(self.clock.now(), self.offset_secs),
            };
            // However many boundaries passed since the last write, this is one change.
            // A new period opens a new name anyway, which also answers a reopen request;
            // the closed file still goes to the housekeeper as any rotated one does.
            if period != self.period {
                self.rotate_out();
                self.period = period;
                self.index = self.fresh_index(period);
            } else if reopen && self.file.take().is_some() {
                RollShared::bump(&self.shared.counters.reopens);
            }
        }
        for _ in 0..MAX_SKIP {
            if self.file.is_none() {
                self.open()?;
            }
            let full = self
                .max_file_size
                .is_some_and(|max| self.size > 0 && self.size + first_line > max);
            if !(full && self.at_line_start()) {
                return Ok(());
            }
            self.rotate_out();
            self.index += 1;
        }
        Ok(())
    }

    /// The first index of `period` that names no existing file (0 on an ordinary period
    /// change; past the old files when the clock went back to a period already written).
    ///
    /// Runs on the worker at a period change: one directory listing, names only (no
    /// `stat` per file, unlike a retention sweep): any entry with one of the sink's names
    /// counts, whatever its type, which can only skip an index, never reuse one.
    fn fresh_index(&self, period: i64) -> u32 {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return 0;
        };
        entries
            .flatten()
            .filter_map(|e| e.file_name().to_str().and_then(|n| self.pattern.parse(n)))
            .filter(|k| k.period == period)
            .map(|k| k.index + 1)
            .max()
            .unwrap_or(0)
    }

    /// How much of `buf` goes into the current file: all of it if it fits; else up to the
    /// last line end that fits; else (a line longer than the room, in an empty file or
    /// finishing a line begun by an earlier call) that first line whole.
    fn portion(&self, buf: &[u8], first_line: usize) -> usize {
        let Some(max) = self.max_file_size else {
            return buf.len();
        };
        let room = max.saturating_sub(self.size);
        if buf.len() as u64 <= room {
            return buf.len();
        }
        let room = usize::try_from(room).unwrap_or(usize::MAX).min(buf.len());
        match buf[..room].iter().rposition(|&b| b == b'\n') {
            Some(p) => p + 1,
            None => first_line,
        }
    }

    /// After a failed write: takes back a torn line's bytes, so the next line starts on a
    /// line of its own. If the file cannot be cut, moves on to a new file instead.
    fn cut_torn_line(&mut self) {
        if self.at_line_start() {
            return;
        }
        let cut = self.file.as_ref().map(|f| f.set_len(self.line_start));
        if let Some(Ok(())) = cut {
            self.size = self.line_start;
            self.shared
                .counters
                .current_file_size
                .store(self.size, Relaxed);
        } else {
            self.rotate_out();
            self.index += 1;
            self.size = 0;
            self.line_start = 0;
        }
    }

    fn advance(&mut self, written: &[u8]) {
        if let Some(p) = written.iter().rposition(|&b| b == b'\n') {
            self.line_start = self.size + p as u64 + 1;
        }
        self.size += written.len() as u64;
        self.shared
            .counters
            .current_file_size
            .store(self.size, Relaxed);
        self.writes += 1;
        self.shared.writes.store(self.writes, Relaxed);
    }
}

impl Write for RollingFile {
    /// Writes a prefix of `buf` into the current file in one `write` call, and returns its
    /// length: the whole batch, unless it must continue in the next file, in which case
    /// the prefix ends at a line end and the caller's next call (the worker's write loop,
    /// or `write_all`) starts the next file. Per call: a relaxed load, a clock read (with
    /// time rotation only), a scan of the first line (with a size limit only) and back
    /// from the end to the last line end (one byte for a batch of whole lines), two
    /// relaxed atomic stores, and the file's `write`, one `write(2)` for the whole batch
    /// (or for the part that fits before a rotation); a rotation adds naming the
    /// housekeeper's spare file (or creating one), an `fstat` and a channel send (the
    /// housekeeper closes the old file).
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        // Only a size limit needs the first line's length (does it fit?): without one the
        // batch is not scanned at all.
        let first_line = match self.max_file_size {
            Some(_) => buf
                .iter()
                .position(|&b| b == b'\n')
                .map_or(buf.len(), |p| p + 1),
            None => buf.len(),
        };
        self.prepare(first_line as u64)?;
        let n = self.portion(buf, first_line);
        let result = self.hook.write(&self.path, n).and_then(|allowed| {
            let allowed = allowed.min(n);
            if allowed == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::WriteZero,
                    "the file accepted 0 bytes",
                ));
            }
            match self.file.as_mut() {
                Some(f) => f.write(&buf[..allowed]),
                None => Err(io::Error::other("no file open")),
            }
        });
        match result {
            Ok(m) => {
                self.advance(&buf[..m]);
                Ok(m)
            }
            Err(e) => {
                self.cut_torn_line();
                Err(e)
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.file.as_mut() {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }
}
