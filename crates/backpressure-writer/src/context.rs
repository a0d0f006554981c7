//! Flushed context: a `MakeWriter` for the lines an error-triggered capture (such as
//! `sampling-layer`'s `CaptureWriter`) writes ahead of its trigger line, possibly hundreds
//! at once.
//!
//! [`NonBlocking::context_writer`](crate::NonBlocking::context_writer) gives the capture a
//! writer for them. A line for a keep-level trigger goes into the keep room, so the
//! overflow policy cannot drop the context at the moment it is needed; but only while the
//! keep room's occupancy (lines and bytes, context or not) is below a share of it, so that
//! context never crowds out real WARN/ERROR lines, which may use the whole room. Since
//! every context line entered below the share mark and counts in the occupancy, context
//! never holds more than the share, and a real keep line always finds the rest.
//!
//! The builder's [`ContextShare`] sets the share (a quarter by default, refused outside (0, 1]) and
//! the context's own wait bound, 1 ms by default and independent of `keep_timeout` and of
//! the overflow policy: a context line that finds the share full waits at most that long,
//! then is dropped and counted under [`Dropped::context`](crate::stats::Dropped::context);
//! after such a timeout later context lines do not wait until the keep room has drained to
//! half the share, so a flush against a stalled sink costs one wait, not one per line.
//! Context lines keep their order with the trigger line (one thread, one order); when the
//! share fills up during a flush, the lines that get in are its first ones (later ones only
//! as the worker drains the room), while the capture's own buffer keeps a span's newest
//! lines. For a trigger below `keep_level` the context follows the overflow policy, as the
//! trigger itself does.
//!
//! A threshold on the whole room rather than a count of the context lines in it: the worker
//! then needs no per-line tag (it settles keep lines without knowing which were context),
//! and context also yields when real keep lines already fill the room past the share, when
//! the room is under pressure anyway.
//!
//! ```
//! use backpressure_writer::context::ContextShare;
//! use backpressure_writer::NonBlockingBuilder;
//! use sampling_layer::capture::{Capture, CaptureLayer, CaptureWriter};
//! use sampling_layer::SamplingFilter;
//! use tracing_subscriber::{fmt, prelude::*};
//!
//! let (writer, _guard) = NonBlockingBuilder::default()
//!     .context_share(ContextShare::default().share_of_keep_capacity(0.25))
//!     .try_finish(std::io::sink())?;
//! let sampler = SamplingFilter::builder()
//!     .capture(Capture::default().span("request"))
//!     .parse("0.01")
//!     .unwrap();
//! let handle = sampler.handle();
//! let capture = CaptureWriter::new(writer.clone(), &handle)
//!     .with_context_writer(writer.context_writer());
//! let layer = CaptureLayer::new(fmt::layer().with_writer(capture), &handle);
//! let _subscriber = tracing_subscriber::registry().with(layer.with_filter(sampler));
//! # Ok::<(), backpressure_writer::BuildError>(())
//! ```

use std::fmt;
use std::io;
use std::time::{Duration, Instant};

use tracing_core::Metadata;
use tracing_subscriber::fmt::MakeWriter;

use crate::admit::Admission;
use crate::error::BuildError;
use crate::shared::{KeepWait, Shared, State};
use crate::stats::DropReason;
use crate::sync::Arc;

/// How much of the keep room flushed context may use, and how long a context line waits
/// for it: a setting of [`NonBlockingBuilder::context_share`](crate::NonBlockingBuilder::context_share),
/// checked by its `try_finish` (a share outside (0, 1] is
/// [`BuildError::ContextShare`]). Default: a quarter of the keep room, waits of at most
/// 1 ms.
///
/// ```
/// use std::time::Duration;
/// use backpressure_writer::context::ContextShare;
/// use backpressure_writer::NonBlockingBuilder;
///
/// let share = ContextShare::default()
///     .share_of_keep_capacity(0.5)
///     .wait(Duration::from_micros(500));
/// let (writer, _guard) = NonBlockingBuilder::default()
///     .context_share(share)
///     .try_finish(std::io::sink())
///     .unwrap();
/// let _context = writer.context_writer();
///
/// let err = NonBlockingBuilder::default()
///     .context_share(ContextShare::default().share_of_keep_capacity(1.5))
///     .try_finish(std::io::sink())
///     .unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "backpressure-writer: the context share of keep_capacity must be in (0, 1] (got 1.5)"
/// );
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[must_use = "a context share does nothing until it is given to `NonBlockingBuilder::context_share`"]
pub struct ContextShare {
    share: f64,
    wait: Duration,
}

impl ContextShare {
    /// The default share of the keep room context may fill: a quarter.
    pub const DEFAULT_SHARE: f64 = 0.25;
    /// The default wait bound of a context line: 1 ms. Short, as a flush may hold many
    /// lines and runs on the caller's thread, and after one context line timed out the
    /// rest do not wait (see [`Dropped::context`](crate::stats::Dropped::context)); so a flush
    /// against a stalled sink costs one wait, not one per line.
    pub const DEFAULT_WAIT: Duration = Duration::from_millis(1);

    /// The share of the keep room context lines may fill, in (0, 1]: a context line is
    /// admitted while the keep room holds fewer than `share × keep_capacity` lines (at
    /// least one) and its bytes stay within `share ×` the keep room's bytes.
    pub fn share_of_keep_capacity(mut self, share: f64) -> Self {
        self.share = share;
        self
    }

    /// How long a context line waits for room below the share before it is dropped
    /// (counted under [`Dropped::context`](crate::stats::Dropped::context)); zero never waits.
    /// The context's own bound: the writer's `keep_timeout` and overflow policy do not
    /// apply to it.
    pub fn wait(mut self, wait: Duration) -> Self {
        self.wait = wait;
        self
    }

    /// [`BuildError::ContextShare`] for a share outside (0, 1] (or NaN).
    pub(crate) fn validate(&self) -> Result<(), BuildError> {
        if !(self.share > 0.0 && self.share <= 1.0) {
            return Err(BuildError::ContextShare { share: self.share });
        }
        Ok(())
    }
}

impl Default for ContextShare {
    fn default() -> Self {
        ContextShare {
            share: Self::DEFAULT_SHARE,
            wait: Self::DEFAULT_WAIT,
        }
    }
}

/// The share in the writer's units.
#[derive(Debug, Clone, Copy)]
struct Limits {
    lines: usize,
    bytes: usize,
    wait: Duration,
}

impl Limits {
    fn fits(&self, st: &State, len: usize) -> bool {
        st.keep_occupancy() < self.lines && st.keep_bytes() + len <= self.bytes
    }
}

/// A `MakeWriter` for flushed context lines, made by
/// [`NonBlocking::context_writer`](crate::NonBlocking::context_writer): lines it is given
/// for a keep-level event (`make_writer_for`, as `CaptureWriter` calls it with the
/// trigger's metadata), or without metadata (`make_writer`), go into the keep room within
/// the [`ContextShare`]; for an event below the keep level they follow the overflow policy
/// as that event's own line would.
#[derive(Clone)]
pub struct ContextWriter {
    shared: Arc<Shared>,
    limits: Limits,
}

impl fmt::Debug for ContextWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ContextWriter")
            .field("max_lines", &self.limits.lines)
            .field("max_bytes", &self.limits.bytes)
            .field("wait", &self.limits.wait)
            .finish_non_exhaustive()
    }
}

impl ContextWriter {
    pub(crate) fn new(shared: Arc<Shared>, share: ContextShare) -> Self {
        let scale = |n: usize| ((n as f64 * share.share) as usize).clamp(1, n.max(1));
        let limits = Limits {
            lines: scale(shared.config.keep_capacity),
            bytes: scale(shared.config.keep_byte_capacity),
            wait: share.wait,
        };
        ContextWriter { shared, limits }
    }

    /// The most keep-room lines under which a context line is admitted
    /// (`share × keep_capacity`, at least 1).
    pub fn max_lines(&self) -> usize {
        self.limits.lines
    }

    /// The most keep-room bytes a context line may bring the room to.
    pub fn max_bytes(&self) -> usize {
        self.limits.bytes
    }
}

impl<'a> MakeWriter<'a> for ContextWriter {
    type Writer = ContextLineWriter<'a>;

    /// A context line without a level: within the share.
    fn make_writer(&'a self) -> Self::Writer {
        ContextLineWriter {
            shared: &self.shared,
            limits: Some(&self.limits),
        }
    }

    /// A context line in the class of the trigger `meta` describes.
    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> Self::Writer {
        let keeps = self.shared.config.keeps(meta.level());
        ContextLineWriter {
            shared: &self.shared,
            limits: keeps.then_some(&self.limits),
        }
    }
}

/// The per-line writer [`ContextWriter`] makes. Each `write` call is one line.
pub struct ContextLineWriter<'a> {
    shared: &'a Shared,
    /// `None`: the trigger is below the keep level, the line follows the policy.
    limits: Option<&'a Limits>,
}

impl fmt::Debug for ContextLineWriter<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ContextLineWriter")
            .field("keep", &self.limits.is_some())
            .finish_non_exhaustive()
    }
}

impl io::Write for ContextLineWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.limits {
            Some(limits) => self.shared.submit_context(buf, limits),
            None => self.shared.submit(buf, false),
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Shared {
    /// Admits one context line into the keep room below the share, or drops it (counted
    /// under `context`). In submission order with the caller's other lines, as any line.
    fn submit_context(&self, line: &[u8], limits: &Limits) {
        let len = line.len();
        if len == 0 {
            return;
        }
        let Some(mut st) = self.lock_accepting() else {
            return;
        };
        // After a context timeout, waiting resumes once the room has drained to half the
        // share (as for keep lines, see `KeepWait`): checked here, lazily, so the worker
        // needs to know nothing of context.
        if st.context_wait == KeepWait::Stalled
            && st.keep_occupancy() <= limits.lines / 2
            && st.keep_bytes() <= limits.bytes / 2
        {
            st.context_wait = KeepWait::Wait;
        }
        if limits.fits(&st, len) {
            return self.enqueue(st, line, true);
        }
        // Longer than the share could ever hold, or told not to wait now: dropped at once.
        if len > limits.bytes
            || limits.wait.is_zero()
            || st.context_wait == KeepWait::Stalled
            || st.keep_wait == KeepWait::Stalled
        {
            return st.drop_line(DropReason::Context);
        }
        let deadline = crate::deadline::after(Instant::now(), limits.wait);
        let (mut st, admitted) =
            self.wait_for_room(st, Some(deadline), true, true, |st| limits.fits(st, len));
        match admitted {
            Admission::Room => self.enqueue(st, line, true),
            Admission::TimedOut => {
                st.drop_line(DropReason::Context);
                st.context_wait = KeepWait::Stalled;
            }
            Admission::WorkerGone => st.drop_line(DropReason::WorkerGone),
        }
    }
}
