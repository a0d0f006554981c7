//! Errors: a configuration the builder refuses, and a `flush()` that could not complete.

use std::fmt;
use std::io;
use std::time::Duration;

/// Why [`NonBlockingBuilder::try_finish`](crate::NonBlockingBuilder::try_finish) refused a
/// configuration (or could not start the worker).
#[derive(Debug)]
#[non_exhaustive]
pub enum BuildError {
    /// `buffered_lines_limit(0)`: a queue that holds nothing drops or blocks every line.
    ZeroCapacity,
    /// `keep_capacity(0)`: keep-level lines would have no room at all.
    ZeroKeepCapacity,
    /// `buffered_bytes_limit(0)`: no line would ever fit.
    ZeroBytesLimit,
    /// The thread name contains a NUL byte, which no OS thread name can hold.
    ThreadNameNul {
        /// The name as given.
        name: String,
    },
    /// A timeout that must be positive was zero.
    ZeroTimeout {
        /// The setting, e.g. `"shutdown_timeout"`, `"Overflow::Block timeout"`.
        setting: &'static str,
    },
    /// [`NonBlockingBuilder::max_poll`](crate::NonBlockingBuilder::max_poll) is shorter
    /// than the shortest poll, 1 ms.
    MaxPollBelowPoll {
        /// The longest poll as given.
        max_poll: std::time::Duration,
    },
    /// The OS refused to start the worker thread.
    Spawn(io::Error),
    /// [`NonBlockingBuilder::context_share`](crate::NonBlockingBuilder::context_share): the
    /// share of the keep room given to flushed context is outside (0, 1] (or NaN).
    ContextShare {
        /// The share as given.
        share: f64,
    },
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::ZeroCapacity => {
                f.write_str("backpressure-writer: buffered_lines_limit must be at least 1 (got 0)")
            }
            BuildError::ZeroKeepCapacity => {
                f.write_str("backpressure-writer: keep_capacity must be at least 1 (got 0)")
            }
            BuildError::ZeroBytesLimit => {
                f.write_str("backpressure-writer: buffered_bytes_limit must be at least 1 (got 0)")
            }
            BuildError::ThreadNameNul { name } => write!(
                f,
                "backpressure-writer: thread_name must not contain a NUL byte (got {name:?})"
            ),
            BuildError::ZeroTimeout { setting } => write!(
                f,
                "backpressure-writer: {setting} must be greater than zero (got 0s)"
            ),
            BuildError::MaxPollBelowPoll { max_poll } => write!(
                f,
                "backpressure-writer: max_poll must be at least 1ms, the shortest poll (got {max_poll:?})"
            ),
            BuildError::ContextShare { share } => write!(
                f,
                "backpressure-writer: the context share of keep_capacity must be in (0, 1] (got {share})"
            ),
            BuildError::Spawn(e) => {
                write!(
                    f,
                    "backpressure-writer: could not spawn the worker thread: {e}"
                )
            }
        }
    }
}

impl std::error::Error for BuildError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BuildError::Spawn(e) => Some(e),
            _ => None,
        }
    }
}

/// Why [`WorkerGuard::flush`](crate::WorkerGuard::flush) could not confirm that every line
/// submitted before the call reached the sink.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FlushError {
    /// The lines were not all written and flushed within the timeout.
    TimedOut {
        /// How long the call waited.
        waited: Duration,
        /// Lines still buffered (queued or being written) when it gave up.
        pending: u64,
    },
    /// The worker thread has stopped (the writer was shut down, or the thread died).
    WorkerGone,
    /// Every line was handled, but the sink failed at least once meanwhile, so some of
    /// them were lost (see [`Dropped::write_failed`](crate::stats::Dropped::write_failed)).
    SinkFailed {
        /// Failed sink operations during the flush.
        errors: u64,
    },
}

impl fmt::Display for FlushError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FlushError::TimedOut { waited, pending } => write!(
                f,
                "backpressure-writer: flush timed out after {waited:?} with {pending} lines still buffered"
            ),
            FlushError::WorkerGone => {
                f.write_str("backpressure-writer: flush impossible, the worker thread is gone")
            }
            FlushError::SinkFailed { errors } => write!(
                f,
                "backpressure-writer: flush completed but the sink failed {errors} times meanwhile"
            ),
        }
    }
}

impl std::error::Error for FlushError {}
