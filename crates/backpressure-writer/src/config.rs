//! The settings a writer runs with: the [`Overflow`] policy the builder offers, and
//! [`Config`], the builder's settings once validated, which every other module reads.
//!
//! A leaf: it knows nothing of the queue, the worker or the builder, so that everything
//! above can depend on it without a cycle.

use std::time::Duration;

use tracing_core::Level;

use crate::own_line::OwnLineFormat;

/// What a line that finds the queue full does: full in lines (`buffered_lines_limit`) or
/// in bytes (`buffered_bytes_limit`), whichever comes first.
///
/// Lines at or above the writer's `keep_level` (WARN by default) never follow this policy:
/// they have their own reserved room (bounded by its bytes unless `keep_capacity` is set)
/// and, only when that is full, wait for room up to `keep_timeout` (5 ms by default). A line longer than the byte bound could never fit: under every policy it is
/// dropped at once and counted under [`Dropped::newest`](crate::stats::Dropped::newest).
///
/// # Examples
///
/// Room for two lines, and a sink stuck on the first: the next line fits, the two after
/// it find the queue full. `DropNewest` keeps the older lines, `DropOldest` the newer (the
/// line inside the sink can't be evicted).
///
/// ```
/// use backpressure_writer::{NonBlockingBuilder, Overflow};
/// # use std::io::{self, Write};
/// # use std::sync::{mpsc, Arc, Mutex};
/// # /// A sink that says when a write arrives and holds it until `release` is dropped.
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
/// fn run(overflow: Overflow) -> (String, u64, u64) {
///     // `held()`: a sink that signals `entered` on each write and holds it until
///     // `release` is dropped, recording what it gets in `out`.
///     let (sink, entered, release, out) = held();
///     let (mut writer, guard) = NonBlockingBuilder::default()
///         .buffered_lines_limit(2)
///         .overflow(overflow)
///         .drop_report(false)
///         .finish(sink);
///     writer.write_all(b"a\n").unwrap();
///     entered.recv().unwrap(); // the worker is inside the sink with "a"
///     for line in ["b\n", "c\n", "d\n"] {
///         writer.write_all(line.as_bytes()).unwrap();
///     }
///     drop(release);
///     guard.flush().unwrap();
///     let dropped = writer.stats().dropped;
///     let text = String::from_utf8(out.lock().unwrap().clone()).unwrap();
///     (text, dropped.newest, dropped.oldest)
/// }
///
/// assert_eq!(run(Overflow::DropNewest), ("a\nb\n".to_owned(), 2, 0));
/// assert_eq!(run(Overflow::DropOldest), ("a\nd\n".to_owned(), 0, 2));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Overflow {
    /// Drop the line being written and keep what is queued (tracing-appender's lossy mode).
    /// Counted under [`Dropped::newest`](crate::stats::Dropped::newest).
    DropNewest,
    /// Evict the oldest queued lines to make room for the new one (as many as its length
    /// needs), so a stalled sink leaves the most recent lines in the buffer. Counted under
    /// [`Dropped::oldest`](crate::stats::Dropped::oldest). When evicting cannot make room (every
    /// buffered line is already being written by the worker, or the new line would not fit
    /// beside those), nothing is evicted and the new line is dropped, counted under
    /// [`Dropped::newest`](crate::stats::Dropped::newest).
    DropOldest,
    /// Wait for room. `timeout: None` waits as long as it takes (tracing-appender's
    /// `lossy(false)`); `Some(t)` gives up after `t` and counts the line under
    /// [`Dropped::timeout`](crate::stats::Dropped::timeout).
    Block {
        /// How long a line may wait for room; `None` waits forever (or until the worker is
        /// gone).
        timeout: Option<Duration>,
    },
}

impl Default for Overflow {
    /// [`Overflow::DropNewest`], as tracing-appender's default `lossy(true)`.
    fn default() -> Self {
        Overflow::DropNewest
    }
}

/// The builder's settings, validated.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) capacity: usize,
    /// The builder's `keep_capacity`, or one line per `KEEP_RESERVE_BYTES_PER_LINE` bytes
    /// of `keep_byte_capacity` when it was not set.
    pub(crate) keep_capacity: usize,
    /// Bytes of lines under the policy that may be buffered (`buffered_bytes_limit`).
    pub(crate) byte_capacity: usize,
    /// Bytes reserved for keep-level lines, on top: 1/8 of `byte_capacity`, or, with an
    /// explicit `keep_capacity`, `byte_capacity` scaled by `keep_capacity / capacity` if
    /// larger.
    pub(crate) keep_byte_capacity: usize,
    pub(crate) overflow: Overflow,
    pub(crate) keep_level: Option<Level>,
    pub(crate) keep_timeout: Duration,
    pub(crate) shutdown_timeout: Duration,
    pub(crate) flush_interval: Duration,
    pub(crate) drop_report: bool,
    pub(crate) drop_report_interval: Duration,
    pub(crate) error_summary_interval: Duration,
    pub(crate) own_line_format: OwnLineFormat,
    /// What flushed context may use of the keep room (`context_share`).
    pub(crate) context: crate::context::ContextShare,
    /// Idle polls the worker makes after a batch before it parks (`park_after` in whole
    /// polls of `worker::idle::POLL`).
    pub(crate) park_polls: u32,
    /// The longest idle poll, in polls of `worker::idle::POLL` (`max_poll`).
    pub(crate) max_poll_units: u32,
}

impl Config {
    /// The most a queue of lines under the policy may grow its byte buffer to. Without
    /// evictions its bytes are all live, so the byte bound suffices; `DropOldest` leaves a
    /// dead prefix, and half the bound again keeps its compaction amortized (see
    /// `LineQueue::reserve`).
    pub(crate) fn policy_buffer_max(&self) -> usize {
        match self.overflow {
            Overflow::DropOldest => self.byte_capacity.saturating_add(self.byte_capacity / 2),
            _ => self.byte_capacity,
        }
    }

    pub(crate) fn keeps(&self, level: &Level) -> bool {
        // In tracing, more severe levels compare smaller: ERROR < WARN < INFO.
        self.keep_level.is_some_and(|keep| *level <= keep)
    }

    /// How long a keep line that finds its room full may wait (`None`: without end), and
    /// whether that bound is the overflow policy's rather than `keep_timeout`. Under
    /// `Overflow::Block` a keep line waits at least as long as a line under the policy
    /// would, so that it is never worse off than an INFO line; it then also ignores the
    /// stall state, which only shortens `keep_timeout` waits.
    pub(crate) fn keep_wait(&self) -> (Option<Duration>, bool) {
        match self.overflow {
            Overflow::Block { timeout: None } => (None, true),
            Overflow::Block { timeout: Some(t) } if t > self.keep_timeout => (Some(t), true),
            _ => (Some(self.keep_timeout), false),
        }
    }
}
