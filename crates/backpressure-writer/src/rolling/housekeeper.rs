//! The housekeeping thread: compresses closed files, one at a time, and applies
//! retention after each, so neither ever runs on the worker's write path or a producer's.
//! It runs below normal priority and, while the writer is busy, paces its compression so
//! that it takes little of the cores the producers and the worker need.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use super::builder::Compression;
use super::clock::Clock;
use super::compress::{compress, Pace, PART_SUFFIX};
use super::io_hook::IoHook;
use super::naming::Pattern;
use super::retention::{scan, Retention};
use super::spare;
use super::stats::RollShared;

pub(crate) enum Job {
    /// A file the sink has moved on from: close it (`file`, its handle if still open),
    /// compress it (if asked), then sweep. `this_run`: closed by this process now (its
    /// age then also counts on the monotonic clock), not left by an earlier run.
    Closed {
        path: PathBuf,
        file: Option<File>,
        this_run: bool,
    },
    /// Apply retention (at start-up).
    Sweep,
    /// The sink is gone: close the spare files now (each close of an unnamed file frees
    /// an inode, file-system work), as a job, so that `wait_housekeeping` covers it.
    Shutdown,
}

/// What the thread needs to know, fixed at build.
#[derive(Debug)]
pub(crate) struct Settings {
    pub(crate) dir: PathBuf,
    pub(crate) pattern: Pattern,
    pub(crate) retention: Retention,
    pub(crate) compression: Compression,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) hook: Arc<dyn IoHook>,
}

/// The sending side; the thread ends when it is dropped (with the sink) and its queue is
/// done.
#[derive(Debug)]
pub(crate) struct Housekeeper {
    tx: Sender<Job>,
    shared: Arc<RollShared>,
}

impl Housekeeper {
    pub(crate) fn spawn(settings: Settings, shared: Arc<RollShared>) -> io::Result<Self> {
        let (tx, rx) = mpsc::channel();
        let thread_shared = Arc::clone(&shared);
        thread::Builder::new()
            .name("rolling-housekeeper".into())
            .spawn(move || run(settings, thread_shared, rx))?;
        Ok(Housekeeper { tx, shared })
    }

    /// Queues a job (an allocation and a channel send, once per rotation).
    pub(crate) fn send(&self, job: Job) {
        *self
            .shared
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner) += 1;
        if self.tx.send(job).is_err() {
            self.shared.job_done();
        }
    }
}

impl Drop for Housekeeper {
    /// The sink is dropped: the last job. The thread ends once it is done, the channel
    /// then being closed.
    fn drop(&mut self) {
        self.send(Job::Shutdown);
    }
}

/// The niceness the housekeeping thread gives itself: compression and retention are
/// background work, and on a busy machine they must yield the cores to the producers and
/// the writer's worker before anything else does.
pub(crate) const NICENESS: i32 = 10;

/// Lowers the calling thread's scheduling priority to [`NICENESS`]; best effort (a
/// refusal leaves it at normal priority). On Linux, `setpriority(PRIO_PROCESS, 0, ..)`
/// applies to the calling thread alone (threads are tasks with their own nice value);
/// elsewhere there is no per-thread equivalent and the thread keeps normal priority.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn lower_priority() {
    // SAFETY: `setpriority` takes plain integers and touches no memory of ours.
    let _ = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, NICENESS) };
}

#[cfg(not(target_os = "linux"))]
fn lower_priority() {}

/// While the writer is busy, the compressor sleeps this many times as long as its last
/// block took before each block: so it takes at most a twentieth of one core from the
/// producers and the worker (nice 10 alone left it several times that on a machine with
/// as many busy threads as cores). While the writer is idle it runs flat out. Under a
/// writer that never pauses, compression goes at a twentieth of its speed, and closed
/// files wait their turn until the writer slows down.
pub(crate) const BUSY_YIELD_FACTOR: u32 = 19;

/// The longest sleep before a block, so a block slowed down by a busy machine does not
/// stall compression for long.
const MAX_NAP: Duration = Duration::from_millis(100);

/// [`Pace`] by the writer's activity: the sink publishes its count of write calls; a
/// change since the last look means the writer is busy. It lives as long as the thread,
/// so the first block of a file (closed by a rotation: the writer was just busy) is
/// paced by the last block of the one before. `nap` is `thread::sleep` (a recorder in
/// the tests).
struct WriterPace<'a, N: FnMut(Duration)> {
    writes: &'a AtomicU64,
    seen: u64,
    block_start: Instant,
    /// How long the last block took (a guess of one millisecond before the first).
    last_block: Duration,
    nap: N,
}

impl<'a, N: FnMut(Duration)> WriterPace<'a, N> {
    fn new(writes: &'a AtomicU64, nap: N) -> Self {
        WriterPace {
            writes,
            seen: writes.load(Relaxed),
            block_start: Instant::now(),
            last_block: Duration::from_millis(1),
            nap,
        }
    }
}

impl<N: FnMut(Duration)> Pace for WriterPace<'_, N> {
    fn before_block(&mut self) {
        if self.writes.load(Relaxed) != self.seen {
            (self.nap)((self.last_block * BUSY_YIELD_FACTOR).min(MAX_NAP));
            // Writes during the sleep are the writer using the time it was given.
            self.seen = self.writes.load(Relaxed);
        }
        self.block_start = Instant::now();
    }

    fn after_block(&mut self) {
        self.last_block = self.block_start.elapsed();
    }
}

/// Removes the partial copies (`name.gz.part` or `name.zst.part`, `name` the sink's own)
/// a process that stopped mid-compression left behind; their originals are still there
/// and are compressed again. Only with compression on: a sink that never compresses never
/// writes such a file, so it does not claim one. One sink per directory and pattern (as
/// everywhere in this module): a `.part` is never another live sink's.
fn remove_partial_copies(s: &Settings) {
    let Ok(entries) = std::fs::read_dir(&s.dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(PART_SUFFIX)) else {
            continue;
        };
        let own = s.pattern.parse(stem).is_some_and(|k| k.compressed);
        if own && entry.file_type().is_ok_and(|t| t.is_file()) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Spare files kept ready: enough for the rotations that come while the compressor
/// sleeps between two blocks (up to 100 ms) under a writer rotating every few
/// milliseconds; unnamed, they cost an inode each and leave nothing behind.
const SPARES: usize = 4;

/// Tops the spares up to [`SPARES`] unnamed files (see `spare`); gives spares up for good
/// if the directory cannot have them. Each file is created outside the lock (tens of
/// microseconds on ext4) and only pushed under it, so a rotation taking a spare meanwhile
/// waits for a push at most. Only this thread adds spares and the sink only takes them,
/// so the count cannot pass [`SPARES`] between the look and the push.
fn refill_spare(s: &Settings, shared: &RollShared) {
    let count = || {
        shared
            .spares
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    };
    while !shared.spares_off.load(Relaxed) && count() < SPARES {
        match spare::create(&s.dir) {
            Ok(f) => shared
                .spares
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(f),
            Err(_) => shared.spares_off.store(true, Relaxed),
        }
    }
}

/// The writer's pace, plus a spare for the sink between two blocks: a long, paced
/// compression does not leave the next rotation without one.
struct Between<'a, P> {
    pace: P,
    s: &'a Settings,
    shared: &'a RollShared,
}

impl<P: Pace> Pace for Between<'_, P> {
    fn before_block(&mut self) {
        refill_spare(self.s, self.shared);
        self.pace.before_block();
    }

    fn after_block(&mut self) {
        self.pace.after_block();
    }
}

fn run(s: Settings, shared: Arc<RollShared>, rx: Receiver<Job>) {
    lower_priority();
    refill_spare(&s, &shared);
    // Before any job: a compression this run starts writes its own `.part` afresh.
    if s.compression != Compression::None {
        remove_partial_copies(&s);
    }
    // When this process closed each file, on the monotonic clock (see `Retention::select`).
    let mut closed_at: HashMap<OsString, Duration> = HashMap::new();
    let mut pace = Between {
        pace: WriterPace::new(&shared.writes, thread::sleep),
        s: &s,
        shared: &shared,
    };
    for job in rx {
        match job {
            Job::Closed {
                path,
                file,
                this_run,
            } => {
                drop(file);
                refill_spare(&s, &shared);
                let mut name = path.file_name().map(OsString::from).unwrap_or_default();
                if this_run {
                    closed_at.insert(name.clone(), s.clock.monotonic());
                }
                if s.compression != Compression::None {
                    compress_one(&s, &shared, &mut pace, &path, &mut name, &mut closed_at);
                }
                sweep(&s, &shared, &mut closed_at);
            }
            Job::Sweep => sweep(&s, &shared, &mut closed_at),
            // The sink is gone: its spares go now, not when the last handle does.
            Job::Shutdown => {
                shared
                    .spares
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clear();
            }
        }
        shared.job_done();
    }
}

fn compress_one(
    s: &Settings,
    shared: &RollShared,
    pace: &mut dyn Pace,
    path: &std::path::Path,
    name: &mut OsString,
    closed_at: &mut HashMap<OsString, Duration>,
) {
    let c = &shared.counters;
    match compress(path, s.compression, &*s.hook, pace) {
        Ok((bytes, ext)) => {
            RollShared::bump(&c.files_compressed);
            c.bytes_compressed.fetch_add(bytes, Relaxed);
            if let Some(at) = closed_at.remove(&*name) {
                name.push(ext);
                closed_at.insert(name.clone(), at);
            }
        }
        Err(_) => RollShared::bump(&c.compression_failures),
    }
}

fn sweep(s: &Settings, shared: &RollShared, closed_at: &mut HashMap<OsString, Duration>) {
    if !s.retention.is_set() {
        return;
    }
    let Ok(mut files) = scan(&s.dir, &s.pattern) else {
        return;
    };
    let current = shared.current();
    let mut current_len = 0;
    files.retain(|f| {
        if f.path == current {
            current_len = f.len;
            false
        } else {
            true
        }
    });
    for f in &mut files {
        f.closed_at = f.path.file_name().and_then(|n| closed_at.get(n)).copied();
    }
    let doomed = s
        .retention
        .select(&files, current_len, s.clock.now(), s.clock.monotonic());
    let c = &shared.counters;
    for i in doomed {
        let f = &files[i];
        match std::fs::remove_file(&f.path) {
            Ok(()) => {
                RollShared::bump(&c.files_deleted);
                if let Some(n) = f.path.file_name() {
                    closed_at.remove(n);
                }
            }
            Err(_) => RollShared::bump(&c.delete_failures),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    /// Counted, not timed: a nap before a block exactly when the writer wrote since the
    /// last look, as long as the last block took times the factor (at most `MAX_NAP`).
    #[test]
    fn the_compressor_naps_only_while_the_writer_is_busy() {
        let writes = AtomicU64::new(0);
        let naps = RefCell::new(Vec::new());
        let mut pace = WriterPace::new(&writes, |d| naps.borrow_mut().push(d));
        pace.before_block(); // the writer idle: no nap
        pace.after_block();
        assert!(naps.borrow().is_empty());

        writes.store(1, Relaxed); // the writer wrote during that block
        let last = pace.last_block;
        pace.before_block();
        pace.after_block();
        assert_eq!(*naps.borrow(), [(last * BUSY_YIELD_FACTOR).min(MAX_NAP)]);

        pace.before_block(); // nothing written since the nap
        pace.after_block();
        assert_eq!(naps.borrow().len(), 1);

        writes.store(2, Relaxed);
        pace.last_block = Duration::from_secs(1); // a block slowed down by a busy machine
        pace.before_block();
        assert_eq!(naps.borrow()[1], MAX_NAP);
        assert_eq!(naps.borrow().len(), 2);
    }
}
