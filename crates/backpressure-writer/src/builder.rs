//! [`NonBlockingBuilder`] and [`non_blocking`]: configuration, validation, start-up.

use crate::context::ContextShare;
use std::io::Write;
use std::time::Duration;

use tracing_core::Level;

use crate::config::{Config, Overflow};
use crate::error::BuildError;
use crate::guard::WorkerGuard;
use crate::own_line::OwnLineFormat;
use crate::shared::Shared;
use crate::sync::Arc;
use crate::worker;
use crate::writer::NonBlocking;

/// Default queue capacity in lines, as tracing-appender's.
pub const DEFAULT_BUFFERED_LINES_LIMIT: usize = 128_000;

/// Default [`buffered_bytes_limit`](NonBlockingBuilder::buffered_bytes_limit): 64 MiB.
pub const DEFAULT_BUFFERED_BYTES_LIMIT: usize = 64 * 1024 * 1024;

/// Default [`keep_timeout`](NonBlockingBuilder::keep_timeout): short enough that a keep line
/// never stalls an async runtime's worker noticeably (see the setter).
const DEFAULT_KEEP_TIMEOUT: Duration = Duration::from_millis(5);

/// Starts a writer with the default settings: 128 000 lines, [`Overflow::DropNewest`],
/// WARN and ERROR kept. The same signature as `tracing_appender::non_blocking`.
///
/// Keep the returned [`WorkerGuard`] alive for as long as lines should be written.
pub fn non_blocking<W: Write + Send + 'static>(writer: W) -> (NonBlocking, WorkerGuard) {
    NonBlockingBuilder::default().finish(writer)
}

// `NonBlocking::new` lives here, beside `non_blocking`, so that `writer` (a lower module)
// never has to import the builder.
impl NonBlocking {
    /// Starts a writer on `writer` with the default settings, as
    /// `tracing_appender::non_blocking::NonBlocking::new` does: the same as
    /// [`non_blocking`]`(writer)`.
    ///
    /// Keep the returned [`WorkerGuard`] alive for as long as lines should be written.
    pub fn new<W: Write + Send + 'static>(writer: W) -> (NonBlocking, WorkerGuard) {
        NonBlockingBuilder::default().finish(writer)
    }
}

/// Configures a [`NonBlocking`] writer. `Default` gives tracing-appender's defaults plus
/// level awareness; every setter consumes and returns the builder.
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `finish` or `try_finish` builds the writer"]
pub struct NonBlockingBuilder {
    capacity: usize,
    keep_capacity: Option<usize>,
    byte_capacity: usize,
    overflow: Overflow,
    thread_name: String,
    keep_level: Option<Level>,
    keep_timeout: Duration,
    shutdown_timeout: Duration,
    flush_interval: Duration,
    drop_report: bool,
    drop_report_interval: Duration,
    error_summary_interval: Duration,
    own_line_format: OwnLineFormat,
    park_after: Duration,
    max_poll: Duration,
    context: ContextShare,
}

impl Default for NonBlockingBuilder {
    fn default() -> Self {
        NonBlockingBuilder {
            capacity: DEFAULT_BUFFERED_LINES_LIMIT,
            keep_capacity: None,
            byte_capacity: DEFAULT_BUFFERED_BYTES_LIMIT,
            overflow: Overflow::DropNewest,
            thread_name: "backpressure-writer".to_owned(),
            keep_level: Some(Level::WARN),
            keep_timeout: DEFAULT_KEEP_TIMEOUT,
            shutdown_timeout: Duration::from_secs(5),
            flush_interval: Duration::from_secs(1),
            drop_report: true,
            drop_report_interval: Duration::from_secs(1),
            error_summary_interval: Duration::from_secs(10),
            own_line_format: OwnLineFormat::Text,
            park_after: worker::PARK_AFTER,
            max_poll: worker::MAX_POLL,
            context: ContextShare::default(),
        }
    }
}

impl NonBlockingBuilder {
    /// Lines under the overflow policy that may be buffered (queued or being written) at
    /// once. Default 128 000. Must be at least 1.
    pub fn buffered_lines_limit(mut self, lines: usize) -> Self {
        self.capacity = lines;
        self
    }

    /// Bytes of lines under the overflow policy that may be buffered (queued or being
    /// written) at once, on top of the bound in lines: whichever is reached first makes
    /// the queue full, and the [`Overflow`] policy decides as it does for lines.
    /// Default [`DEFAULT_BUFFERED_BYTES_LIMIT`] (64 MiB). Must be at least 1.
    ///
    /// Keep-level lines have bytes reserved on top: 1/8 of this bound (8 MiB by default),
    /// or, with an explicit [`keep_capacity`](Self::keep_capacity), the proportion it has
    /// to `buffered_lines_limit` if that is larger. So the line bytes a writer buffers never
    /// exceed this bound times `1 + max(1/8, keep_capacity / buffered_lines_limit)` (72 MiB
    /// by default; [`Stats::keep_byte_capacity`](crate::stats::Stats::keep_byte_capacity) gives
    /// the reserve). Besides its bytes, each buffered line holds a 24-byte record, and the
    /// line bounds cap those. A line that could never fit (longer than the bound, or a
    /// keep-level line longer than its reserved room) is dropped at once, under every
    /// policy, never waited for: counted under
    /// [`Dropped::newest`](crate::stats::Dropped::newest) (a keep line under
    /// [`Dropped::keep_timeout`](crate::stats::Dropped::keep_timeout)).
    ///
    /// Memory follows use: a fresh writer holds about 1 KiB, the buffers grow (doubling,
    /// never past the bound) as lines arrive, so a writer that never sees a burst never
    /// holds it, and once the worker parks after a burst they shrink back to at most
    /// 256 KiB each, 1.25 MiB in all (`tests/memory.rs`: 2 000 lines of 1 MiB into a
    /// stalled sink hold 64 MiB, not 2 GB, and 2 KiB once idle). While a batch is written
    /// two buffers exist, the one producers fill and the one the worker writes from: the
    /// lines in both together stay within the bound, and each buffer's capacity within it
    /// too (1.5 times it under `DropOldest`, room to reclaim evicted lines cheaply), so the
    /// worst case is about twice the bound. The 24-byte records are capped by the line
    /// bounds: at most 3/8 of the keep byte reserve for keep lines without an explicit
    /// `keep_capacity` (`tests/keep_memory.rs`: 131 072 two-byte ERROR lines hold 3.3 MiB,
    /// and long lines of both classes 72 MiB, the two byte bounds).
    ///
    /// # Examples
    ///
    /// ```
    /// use backpressure_writer::NonBlockingBuilder;
    ///
    /// // At most 16 MiB of INFO lines (and 2 MiB of WARN/ERROR lines) held at once.
    /// let (writer, guard) = NonBlockingBuilder::default()
    ///     .buffered_bytes_limit(16 * 1024 * 1024)
    ///     .finish(std::io::sink());
    /// assert_eq!(writer.stats().byte_capacity, 16 * 1024 * 1024);
    /// # drop(guard);
    /// ```
    pub fn buffered_bytes_limit(mut self, bytes: usize) -> Self {
        self.byte_capacity = bytes;
        self
    }

    /// Bounds the lines reserved for keep-level lines, on top of `buffered_lines_limit`
    /// (a flood of lower-level lines never takes their room). Must be at least 1. Their
    /// room in bytes is then the same proportion of `buffered_bytes_limit`, and at least
    /// 1/8 of it.
    ///
    /// Unset (the default), keep lines are bounded by their byte reserve, 1/8 of
    /// `buffered_bytes_limit` (8 MiB by default), not by a share of the line count: a burst
    /// of ERROR lines during a stall is held, without waiting, until those bytes are full.
    /// The line bound is then one line per 64 bytes of the reserve (131 072 lines by
    /// default), which only caps the 24-byte record each buffered line holds: a formatted
    /// event is longer than that, so for it only the bytes bind.
    /// [`Stats::keep_capacity`](crate::stats::Stats::keep_capacity) gives the bound in force.
    ///
    /// # Examples
    ///
    /// ```
    /// use backpressure_writer::NonBlockingBuilder;
    ///
    /// // A 64-line queue still holds a 1 MiB burst of WARN/ERROR lines.
    /// let (writer, guard) = NonBlockingBuilder::default()
    ///     .buffered_lines_limit(64)
    ///     .buffered_bytes_limit(8 * 1024 * 1024)
    ///     .finish(std::io::sink());
    /// let s = writer.stats();
    /// assert_eq!((s.keep_byte_capacity, s.keep_capacity), (1024 * 1024, 16_384));
    ///
    /// // An explicit bound in lines: at most 100 keep lines, in 12.5% of the bytes.
    /// let (writer, _guard2) = NonBlockingBuilder::default()
    ///     .buffered_lines_limit(800)
    ///     .keep_capacity(100)
    ///     .finish(std::io::sink());
    /// assert_eq!(writer.stats().keep_capacity, 100);
    /// # drop(guard);
    /// ```
    pub fn keep_capacity(mut self, lines: usize) -> Self {
        self.keep_capacity = Some(lines);
        self
    }

    /// `true` (the default): [`Overflow::DropNewest`]; `false`:
    /// [`Overflow::Block`] without timeout. As tracing-appender's `lossy`.
    pub fn lossy(mut self, lossy: bool) -> Self {
        self.overflow = if lossy {
            Overflow::DropNewest
        } else {
            Overflow::Block { timeout: None }
        };
        self
    }

    /// What a line below `keep_level` does when the queue is full.
    pub fn overflow(mut self, overflow: Overflow) -> Self {
        self.overflow = overflow;
        self
    }

    /// The worker thread's name. Default `"backpressure-writer"`.
    pub fn thread_name(mut self, name: impl Into<String>) -> Self {
        self.thread_name = name.into();
        self
    }

    /// Lines at this level or more severe (through `make_writer_for`) are never dropped by
    /// the overflow policy: they go into their own reserved room (bounded by its bytes, or
    /// by [`keep_capacity`](Self::keep_capacity) if set), and only when that is full do
    /// they wait, up to `keep_timeout`. Default [`Level::WARN`]. A keep line that finds
    /// room never waits, however long the sink stalls (a 64-line queue stuck while
    /// 20 000 INFO and 200 ERROR lines arrive writes all 200 once it recovers:
    /// `tests/writer/keep_reserve.rs`). Context lines flushed ahead of an error get a
    /// capped share of that room ([`context`](crate::context)).
    ///
    /// # Examples
    ///
    /// With a queue of one line and a sink stuck on the first, an INFO line is dropped
    /// while a WARN line, in its reserved room, is kept:
    ///
    /// ```
    /// use backpressure_writer::NonBlockingBuilder;
    /// use tracing::Level;
    /// # use std::io::{self, Write};
    /// # use std::sync::{mpsc, Arc, Mutex};
    /// #     /// A sink that says when a write arrives and holds it until `release` is dropped.
    /// # struct Held {
    /// #     entered: mpsc::Sender<()>,
    /// #     release: mpsc::Receiver<()>,
    /// #     out: Arc<Mutex<Vec<u8>>>,
    /// # }
    /// # impl Write for Held {
    /// #     fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
    /// #         let _ = self.entered.send(());
    /// #         let _ = self.release.recv();
    /// #         self.out.lock().unwrap().extend_from_slice(buf);
    /// #         Ok(buf.len())
    /// #     }
    /// #     fn flush(&mut self) -> io::Result<()> {
    /// #         Ok(())
    /// #     }
    /// # }
    /// # fn held() -> (Held, mpsc::Receiver<()>, mpsc::Sender<()>, Arc<Mutex<Vec<u8>>>) {
    /// #     let (entered_tx, entered) = mpsc::channel();
    /// #     let (release, release_rx) = mpsc::channel();
    /// #     let out = Arc::new(Mutex::new(Vec::new()));
    /// #     let sink = Held { entered: entered_tx, release: release_rx, out: Arc::clone(&out) };
    /// #     (sink, entered, release, out)
    /// # }
    ///
    /// // `held()`: a sink that signals `entered` on each write and holds it until
    /// // `release` is dropped, recording what it gets in `out`.
    /// let (sink, entered, release, out) = held();
    /// let (writer, guard) = NonBlockingBuilder::default()
    ///     .buffered_lines_limit(1)
    ///     .keep_level(Level::WARN)
    ///     .drop_report(false)
    ///     .finish(sink);
    /// let stats = writer.clone();
    /// let subscriber = tracing_subscriber::fmt()
    ///     .with_writer(writer)
    ///     .with_ansi(false)
    ///     .without_time()
    ///     .with_target(false)
    ///     .finish();
    /// tracing::subscriber::with_default(subscriber, || {
    ///     tracing::info!("a");
    ///     entered.recv().unwrap(); // the worker is inside the sink: the queue is full
    ///     tracing::info!("b"); // dropped by the overflow policy
    ///     tracing::warn!("c"); // kept
    /// });
    /// drop(release);
    /// guard.flush().unwrap();
    ///
    /// let text = String::from_utf8(out.lock().unwrap().clone()).unwrap();
    /// let lines: Vec<&str> = text.lines().map(str::trim).collect();
    /// assert_eq!(lines, ["INFO a", "WARN c"]);
    /// assert_eq!(stats.stats().dropped.newest, 1);
    /// ```
    pub fn keep_level(mut self, level: Level) -> Self {
        self.keep_level = Some(level);
        self
    }

    /// Treats every level alike (no keep-level lines).
    pub fn keep_no_level(mut self) -> Self {
        self.keep_level = None;
        self
    }

    /// How long a keep-level line that finds its reserved room full waits for room before
    /// it is dropped (counted under `keep_timeout`), on the caller's thread. A keep line
    /// that finds room never waits, however long the sink has stalled. Default 5 ms; zero
    /// never waits (keep lines still have their reserved room, and are dropped at once
    /// when it is full).
    ///
    /// The wait blocks the thread that logs, which in an async service is a runtime worker:
    /// the default bounds that stall to a few milliseconds, at the price of losing keep
    /// lines once the sink has fallen a whole keep room behind (its byte reserve, 8 MiB by
    /// default, or `keep_capacity` lines if set) and stays so for longer than that. A
    /// program without an async runtime that would rather wait for a slow disk can raise it
    /// (seconds). After one keep line timed out, later ones that find no room are dropped
    /// at once, without waiting, until the keep backlog has drained to half the room, in
    /// lines and in bytes: a dead sink costs one wait, and a slow one one wait per backlog
    /// rather than one per line.
    ///
    /// Under [`Overflow::Block`] a keep line waits at least as long as a line under the
    /// policy would (without end under `lossy(false)`), so it is never worse off than an
    /// INFO line.
    pub fn keep_timeout(mut self, timeout: Duration) -> Self {
        self.keep_timeout = timeout;
        self
    }

    /// Bound on the guard's drain-flush-join at drop, and on `WorkerGuard::flush`.
    /// Default 5 s; must be positive.
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// The sink is flushed whenever the queue runs empty, and at least this often while it
    /// never does. Default 1 s; zero flushes after every batch.
    pub fn flush_interval(mut self, interval: Duration) -> Self {
        self.flush_interval = interval;
        self
    }

    /// Whether the worker writes a drop-report line into the output after drops (see the
    /// [`stats`](crate::stats#the-drop-report) for its format). Default `true`.
    pub fn drop_report(mut self, enabled: bool) -> Self {
        self.drop_report = enabled;
        self
    }

    /// Minimum time between two drop reports. Default 1 s; zero reports after every batch
    /// that saw drops.
    pub fn drop_report_interval(mut self, interval: Duration) -> Self {
        self.drop_report_interval = interval;
        self
    }

    /// Minimum time between two summaries of sink errors on stderr. Default 10 s.
    pub fn error_summary_interval(mut self, interval: Duration) -> Self {
        self.error_summary_interval = interval;
        self
    }

    /// The form of the lines the writer writes of its own accord (the drop report) and of
    /// those companion crates write through it (`logmetrics`' self-check reads it from
    /// [`NonBlocking::own_line_format`]): [`OwnLineFormat::Text`] (the default),
    /// [`OwnLineFormat::Json`] for output made by `fmt::layer().json()`, so the file stays
    /// one JSON object per line, or a closure.
    pub fn own_line_format(mut self, format: OwnLineFormat) -> Self {
        self.own_line_format = format;
        self
    }

    /// How long the worker keeps polling for new lines after its last batch (one timed
    /// wake-up per poll) before it parks. Default 100 ms.
    ///
    /// While it polls, a `write` call never wakes it: the first line of a burst costs what
    /// every other line costs, not a futex wake on the caller's thread (a line then waits
    /// up to one poll in the queue before the worker takes it). A poll halves, down to
    /// 1 ms, with each batch of 256 lines or more, and doubles, up to 32 ms
    /// ([`max_poll`](Self::max_poll)), with each batch of fewer than 128 or poll that finds
    /// nothing: a few lines a millisecond then cost a thirty-second of the wake-ups. Once
    /// parked, the worker costs no CPU, and the first line after that wakes it. Longer
    /// keeps bursts with longer pauses off the wake-up path, for about 0.15% of a core
    /// while polling with nothing to take (2% at 1 ms polls; measured on a 2-vCPU VM,
    /// `docs/benchmarks.md`); zero polls once, for 1 ms, after each batch, then parks.
    pub fn park_after(mut self, idle: Duration) -> Self {
        self.park_after = idle;
        self
    }

    /// The longest idle poll (see [`park_after`](Self::park_after)): how long a line may
    /// wait in the queue while lines are sparse, and how far apart the worker's wake-ups
    /// are while they keep coming a few at a time. Default 32 ms; at least 1 ms (the
    /// shortest poll), else [`BuildError::MaxPollBelowPoll`].
    ///
    /// Longer trades the delay before a sparse line reaches the sink for fewer wake-ups:
    /// each costs the worker's core some 10–25 µs on a VM, and on a small machine the
    /// service it shares the CPUs with more (`docs/benchmarks.md`, *A real service*, where
    /// 32 ms used 0.7–2.2% less CPU a request than 8 ms). Shorter suits a reader that tails the
    /// file and wants a sparse line within a few milliseconds. The batch that halves the
    /// poll grows with it (eight lines a millisecond of it), so a steady stream can reach
    /// the longer poll. A line is still written at once on `flush()`, at shutdown, on a
    /// panic, and when a queue is half full.
    pub fn max_poll(mut self, longest: Duration) -> Self {
        self.max_poll = longest;
        self
    }

    /// How much of the keep room flushed context may use, and how long a context line
    /// waits for it (see [`ContextShare`] and the [`context`](crate::context) module);
    /// what [`NonBlocking::context_writer`](crate::NonBlocking::context_writer) writes
    /// within. Default: a quarter, 1 ms. A share outside (0, 1] is refused by `try_finish`.
    pub fn context_share(mut self, share: ContextShare) -> Self {
        self.context = share;
        self
    }

    pub(crate) fn validate(&self) -> Result<Config, BuildError> {
        self.context.validate()?;
        if self.capacity == 0 {
            return Err(BuildError::ZeroCapacity);
        }
        if self.keep_capacity == Some(0) {
            return Err(BuildError::ZeroKeepCapacity);
        }
        if self.byte_capacity == 0 {
            return Err(BuildError::ZeroBytesLimit);
        }
        if self.thread_name.contains('\0') {
            return Err(BuildError::ThreadNameNul {
                name: self.thread_name.clone(),
            });
        }
        let zero = |d: Duration, setting| {
            if d.is_zero() {
                Err(BuildError::ZeroTimeout { setting })
            } else {
                Ok(())
            }
        };
        zero(self.shutdown_timeout, "shutdown_timeout")?;
        if self.max_poll < worker::POLL {
            return Err(BuildError::MaxPollBelowPoll {
                max_poll: self.max_poll,
            });
        }
        if let Overflow::Block { timeout: Some(t) } = self.overflow {
            zero(
                t,
                "Overflow::Block timeout (use Overflow::DropNewest to never wait)",
            )?;
        }
        let keep_byte_capacity =
            keep_byte_capacity(self.byte_capacity, self.keep_capacity, self.capacity);
        // Unset, the keep room is bounded by its bytes: the line bound only caps the
        // per-line records, and binds first only for lines shorter than
        // `KEEP_RESERVE_BYTES_PER_LINE`.
        let keep_capacity = self
            .keep_capacity
            .unwrap_or((keep_byte_capacity / KEEP_RESERVE_BYTES_PER_LINE).max(1));
        Ok(Config {
            capacity: self.capacity,
            keep_capacity,
            byte_capacity: self.byte_capacity,
            keep_byte_capacity,
            overflow: self.overflow,
            keep_level: self.keep_level,
            keep_timeout: self.keep_timeout,
            shutdown_timeout: self.shutdown_timeout,
            flush_interval: self.flush_interval,
            drop_report: self.drop_report,
            drop_report_interval: self.drop_report_interval,
            error_summary_interval: self.error_summary_interval,
            own_line_format: self.own_line_format.clone(),
            park_polls: worker::park_polls(self.park_after),
            max_poll_units: worker::max_poll_units(self.max_poll),
            context: self.context,
        })
    }

    /// Validates the settings and starts the worker thread on `writer`.
    pub fn try_finish<W: Write + Send + 'static>(
        self,
        writer: W,
    ) -> Result<(NonBlocking, WorkerGuard), BuildError> {
        let config = self.validate()?;
        let shared = Arc::new(Shared::new(config));
        let handle = worker::spawn(Arc::clone(&shared), writer, self.thread_name)
            .map_err(BuildError::Spawn)?;
        // Listed, so that `flush_all` and the panic hook reach it without its guard.
        crate::registry::register(&shared);
        Ok((
            NonBlocking::from_shared(Arc::clone(&shared)),
            WorkerGuard::new(shared, handle),
        ))
    }

    /// [`try_finish`](Self::try_finish), panicking with the [`BuildError`]'s message on a bad
    /// configuration, as tracing-appender's `finish` does.
    pub fn finish<W: Write + Send + 'static>(self, writer: W) -> (NonBlocking, WorkerGuard) {
        match self.try_finish(writer) {
            Ok(pair) => pair,
            Err(e) => panic!("{e}"),
        }
    }
}

/// Without an explicit `keep_capacity`, the keep room holds one line per this many bytes
/// of its byte reserve (131 072 lines for the default 8 MiB). A queued line costs a 24-byte
/// record besides its bytes: this caps the records at 3/8 of the reserve, however short
/// the lines, while lines of ordinary length (a formatted event is longer) are bounded by
/// the bytes alone, so a burst of them during a stall is held until the bytes run out.
const KEEP_RESERVE_BYTES_PER_LINE: usize = 64;

/// The bytes reserved for keep-level lines: an eighth of `bytes` (the default), or, with
/// an explicit `keep_lines`, the share of `bytes` that it is of `lines` if larger, so that
/// a small `keep_capacity` of long lines still has room for them; at least 1.
fn keep_byte_capacity(bytes: usize, keep_lines: Option<usize>, lines: usize) -> usize {
    let share = keep_lines.map_or(0, |keep| {
        let share = bytes as u128 * keep as u128 / lines.max(1) as u128;
        usize::try_from(share).unwrap_or(usize::MAX)
    });
    share.max(bytes / 8).max(1)
}
