//! The pressure phase: a flood from a *sampled* target into a slow sink, run twice
//! side by side after the main run, once without and once with the sampler's pressure
//! loop (`Pressure::new(move || writer.fill())`), to show in one run how many lines the
//! writer dropped each way. The main run's overload floods from an unsampled target,
//! which no sampler can relieve; this one floods from `demo::export`, sampled at 1/2.
//!
//! Each pass has its own writer (same queue and overflow policy as the main run) over a
//! sink throttled to the main run's slow-disk speed, and counts the WARN/ERROR lines
//! that reach the sink: every one emitted must be there, with or without pressure.

use std::error::Error;
use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use backpressure_writer::NonBlockingBuilder;
use sampling_layer::{Annotated, Breaker, Pressure, SamplingFilter};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::{fmt, Layer};

use super::human;
use super::scenario::{QUEUE_LINES, SLOW_SINK_BYTES_PER_SEC};
use super::sink::ThrottledSink;

/// The flooding target and its rate.
const TARGET: &str = "demo::export";
const DIRECTIVES: &str = "demo::export=0.5";
/// One WARN and one ERROR per this many DEBUG rows.
const KEEP_EVERY: u64 = 500;
/// Rows offered per second, the same in both passes: at rate 1/2 about five times what
/// the slow sink takes (120-byte lines at 1 MB/s).
const ROWS_PER_SEC: f64 = 80_000.0;

/// What one pass did.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Pass {
    /// DEBUG rows offered, and WARN + ERROR lines emitted.
    pub(crate) offered: u64,
    pub(crate) keep_emitted: u64,
    /// WARN + ERROR lines that reached the sink.
    pub(crate) keep_written: u64,
    /// Lines the sampler kept (handed to the writer) and the writer dropped.
    pub(crate) kept: u64,
    pub(crate) dropped: u64,
    /// The lowest pressure scale seen (1 without pressure).
    pub(crate) min_scale: f64,
}

/// The two passes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Comparison {
    pub(crate) seconds: Duration,
    pub(crate) without: Pass,
    pub(crate) with: Pass,
}

/// Counts WARN/ERROR lines on their way to the sink.
struct Counting(Arc<AtomicU64>);

impl Write for Counting {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        let n = text
            .lines()
            .filter(|l| l.contains(" WARN ") || l.contains(" ERROR "))
            .count();
        self.0.fetch_add(n as u64, Ordering::Relaxed);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Runs both passes, each `length` long.
pub(crate) fn compare(length: Duration) -> Result<Comparison, Box<dyn Error>> {
    Ok(Comparison {
        seconds: length,
        without: pass(length, false)?,
        with: pass(length, true)?,
    })
}

fn pass(length: Duration, pressure: bool) -> Result<Pass, Box<dyn Error>> {
    let keep_written = Arc::new(AtomicU64::new(0));
    let (sink, throttle) = ThrottledSink::new(Counting(keep_written.clone()));
    throttle.set(SLOW_SINK_BYTES_PER_SEC);
    let (writer, guard) = NonBlockingBuilder::default()
        .buffered_lines_limit(QUEUE_LINES)
        .thread_name("demo-pressure-writer")
        .try_finish(sink)?;
    let mut builder = SamplingFilter::builder().breaker(Breaker::disabled());
    if pressure {
        let w = writer.clone();
        builder = builder.pressure(Pressure::new(move || w.fill()));
    }
    let sampler = builder.parse(DIRECTIVES)?;
    let handle = sampler.handle();
    let layer = fmt::layer()
        .with_ansi(false)
        .with_writer(writer.clone())
        .event_format(Annotated::new(fmt::format()))
        .with_filter(sampler);
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));

    let mut p = Pass {
        min_scale: 1.0,
        ..Pass::default()
    };
    tracing::dispatcher::with_default(&dispatch, || {
        let start = Instant::now();
        while start.elapsed() < length {
            // Paced, so the offered load does not grow when the sampler keeps less.
            let due = start + Duration::from_secs_f64(p.offered as f64 / ROWS_PER_SEC);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            for _ in 0..64 {
                p.offered += 1;
                tracing::debug!(target: TARGET, row = p.offered, batch = "nightly", "exported row");
                if p.offered % KEEP_EVERY == 0 {
                    tracing::warn!(target: TARGET, row = p.offered, "row retried");
                    tracing::error!(target: TARGET, row = p.offered, "row rejected");
                    p.keep_emitted += 2;
                }
            }
            p.min_scale = p.min_scale.min(handle.stats().pressure_scale);
        }
    });
    drop(dispatch);
    throttle.set(0);
    guard.flush()?;
    drop(guard);
    let s = writer.stats();
    let sampled = handle.stats();
    p.kept = sampled
        .targets
        .iter()
        .find(|t| t.target == TARGET)
        .map_or(0, |t| t.kept);
    p.dropped = s.dropped.total();
    p.keep_written = keep_written.load(Ordering::Relaxed);
    Ok(p)
}

impl Comparison {
    /// Adds a problem for every WARN/ERROR line that did not reach the sink.
    pub(crate) fn check(&self, problems: &mut Vec<String>) {
        for (name, p) in [("without", self.without), ("with", self.with)] {
            if p.keep_written != p.keep_emitted {
                problems.push(format!(
                    "pressure phase, {name} the pressure loop: {} of {} WARN/ERROR lines \
                     reached the sink",
                    p.keep_written, p.keep_emitted
                ));
            }
        }
    }

    /// The phase's summary lines.
    pub(crate) fn print(&self, out: &mut dyn Write) -> io::Result<()> {
        writeln!(
            out,
            "after the four phases, pressure: a flood of {} rows/s from sampled {TARGET} (rate 1/2) into \
             a {} MB/s sink, {} per pass",
            human::count(ROWS_PER_SEC as u64),
            SLOW_SINK_BYTES_PER_SEC as f64 / 1e6,
            human::duration(self.seconds)
        )?;
        for (name, p) in [("without", self.without), ("with", self.with)] {
            writeln!(
                out,
                "  {name} the pressure loop: {} rows offered, {} kept by the sampler, \
                 writer dropped {} (lowest scale {}); WARN/ERROR {}/{} written",
                human::count(p.offered),
                human::count(p.kept),
                p.dropped,
                p.min_scale,
                p.keep_written,
                p.keep_emitted,
            )?;
        }
        writeln!(
            out,
            "pressure phase: writer drops without pressure {}, with pressure {}",
            self.without.dropped, self.with.dropped
        )
    }
}
