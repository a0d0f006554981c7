//! The settings a writer runs with: the [`Overflow`] policy the builder offers, and
//! [`Config`], the builder's settings once validated, which every other module reads.
//!
//! A leaf: it knows nothing of the queue, the worker or the builder, so that everything
//! above can depend on it without a cycle.

use std::time::Duration;

use tracing_core::Level;

use crate::own_line::OwnLineFormat;

/// What a line that finds the queue full does.
///
/// Lines at or above the writer's `keep_level` (WARN by default) never follow this policy:
/// they have their own reserved capacity and wait for room up to `keep_timeout` (5 ms by
/// default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Overflow {
    /// Drop the line being written and keep what is queued (tracing-appender's lossy mode).
    /// Counted under [`Dropped::newest`](crate::Dropped::newest).
    DropNewest,
    /// Evict the oldest queued line to make room for the new one, so a stalled sink leaves
    /// the most recent lines in the buffer. Counted under
    /// [`Dropped::oldest`](crate::Dropped::oldest). When every buffered line is already being
    /// written by the worker there is nothing to evict, and the new line is dropped and
    /// counted under [`Dropped::newest`](crate::Dropped::newest).
    DropOldest,
    /// Wait for room. `timeout: None` waits as long as it takes (tracing-appender's
    /// `lossy(false)`); `Some(t)` gives up after `t` and counts the line under
    /// [`Dropped::timeout`](crate::Dropped::timeout).
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
    pub(crate) keep_capacity: usize,
    pub(crate) overflow: Overflow,
    pub(crate) keep_level: Option<Level>,
    pub(crate) keep_timeout: Duration,
    pub(crate) shutdown_timeout: Duration,
    pub(crate) flush_interval: Duration,
    pub(crate) drop_report: bool,
    pub(crate) drop_report_interval: Duration,
    pub(crate) error_summary_interval: Duration,
    pub(crate) own_line_format: OwnLineFormat,
    /// Idle polls the worker makes after a batch before it parks (latency hook, see
    /// `worker::POLL`).
    pub(crate) park_polls: u32,
}

impl Config {
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
