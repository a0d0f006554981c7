//! The housekeeping thread: compresses closed files, one at a time, and applies
//! retention after each, so neither ever runs on the worker's write path or a producer's.

use std::collections::HashMap;
use std::ffi::OsString;
use std::io;
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, PoisonError};
use std::thread;
use std::time::Duration;

use super::clock::Clock;
use super::compress::gzip;
use super::io_hook::IoHook;
use super::naming::Pattern;
use super::retention::{scan, Retention};
use super::stats::RollShared;

pub(crate) enum Job {
    /// A closed file: compress it (if asked), then sweep. `this_run`: closed by this
    /// process now (its age then also counts on the monotonic clock), not left by an
    /// earlier run.
    Closed { path: PathBuf, this_run: bool },
    /// Apply retention (at start-up).
    Sweep,
}

/// What the thread needs to know, fixed at build.
#[derive(Debug)]
pub(crate) struct Settings {
    pub(crate) dir: PathBuf,
    pub(crate) pattern: Pattern,
    pub(crate) retention: Retention,
    pub(crate) compress: bool,
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

fn run(s: Settings, shared: Arc<RollShared>, rx: Receiver<Job>) {
    lower_priority();
    // When this process closed each file, on the monotonic clock (see `Retention::select`).
    let mut closed_at: HashMap<OsString, Duration> = HashMap::new();
    for job in rx {
        if let Job::Closed { path, this_run } = job {
            let mut name = path.file_name().map(OsString::from).unwrap_or_default();
            if this_run {
                closed_at.insert(name.clone(), s.clock.monotonic());
            }
            if s.compress {
                compress_one(&s, &shared, &path, &mut name, &mut closed_at);
            }
        }
        sweep(&s, &shared, &mut closed_at);
        shared.job_done();
    }
}

fn compress_one(
    s: &Settings,
    shared: &RollShared,
    path: &std::path::Path,
    name: &mut OsString,
    closed_at: &mut HashMap<OsString, Duration>,
) {
    let c = &shared.counters;
    match gzip(path, &*s.hook) {
        Ok(bytes) => {
            RollShared::bump(&c.files_compressed);
            c.bytes_compressed
                .fetch_add(bytes, std::sync::atomic::Ordering::Relaxed);
            if let Some(at) = closed_at.remove(&*name) {
                name.push(".gz");
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
