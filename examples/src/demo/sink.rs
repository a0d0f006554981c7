//! The demo's sink: a file or stdout behind a throttle the demo can tighten during the
//! overload phase, so the writer's overflow policy has something real to push against.

use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A writer that, while throttled, sleeps long enough per write to hold its throughput
/// to `bytes_per_sec`. The writer under test batches lines into large writes, so the
/// sleep is per batch, and a throttle expressed in bytes per second (not a sleep per
/// call) slows it exactly as a slow disk would.
#[derive(Debug)]
pub(crate) struct ThrottledSink<W> {
    inner: W,
    limit: Throttle,
}

/// A shared knob on a [`ThrottledSink`]: bytes per second, 0 for unthrottled.
#[derive(Debug, Clone, Default)]
pub(crate) struct Throttle(Arc<AtomicU64>);

impl Throttle {
    /// Limits the sink to `bytes_per_sec` (0 lifts the limit).
    pub(crate) fn set(&self, bytes_per_sec: u64) {
        self.0.store(bytes_per_sec, Ordering::Relaxed);
    }

    fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

impl<W: Write> ThrottledSink<W> {
    /// Wraps `inner`; the returned [`Throttle`] controls it.
    pub(crate) fn new(inner: W) -> (Self, Throttle) {
        let limit = Throttle::default();
        (
            Self {
                inner,
                limit: limit.clone(),
            },
            limit,
        )
    }
}

impl<W: Write> Write for ThrottledSink<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let limit = self.limit.get();
        if limit > 0 {
            std::thread::sleep(Duration::from_secs_f64(buf.len() as f64 / limit as f64));
        }
        self.inner.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}
