//! The pressure phase: a flood from a *sampled* target into a slow sink, run twice
//! side by side after the main run, once without and once with the sampler's pressure
//! loop (`Pressure::new(move || writer.fill())`), to show in one run how many lines the
//! writer dropped each way. The main run's overload floods from an unsampled target,
//! which no sampler can relieve; this one floods from `demo::export`, sampled at 1/2.
//!
//! Each pass has its own writer (same queue and overflow policy as the main run) over a
//! sink throttled to the main run's slow-disk speed, and counts the WARN/ERROR lines
//! that reach the sink: every one emitted must be there, with or without pressure.

use backpressure_writer::format::{PlainFields, PlainFull};
use std::error::Error;
use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use backpressure_writer::NonBlockingBuilder;
use sampling_layer::{Annotated, Breaker, Pressure, SamplingFilter};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::{fmt, Layer};

use indicatif::ProgressBar;

use super::human;
use super::progress;
use super::scenario::{QUEUE_LINES, SLOW_SINK_BYTES_PER_SEC};
use super::sink::ThrottledSink;

/// The flooding target and its rate.
const TARGET: &str = "demo::export";
const RATE: &str = "0.5";
const DIRECTIVES: &str = "demo::export=0.5";
/// One WARN and one ERROR per this many DEBUG rows.
const KEEP_EVERY: u64 = 500;
/// Rows offered per second, the same in both passes: at rate 1/2 about five times what
/// the slow sink takes (120-byte lines at 1 MB/s).
const ROWS_PER_SEC: f64 = 80_000.0;

/// What one pass of the pressure phase did.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PressurePass {
    /// DEBUG rows offered.
    pub offered: u64,
    /// WARN + ERROR lines emitted.
    pub keep_emitted: u64,
    /// WARN + ERROR lines that reached the sink.
    pub keep_written: u64,
    /// Lines the sampler kept (handed to the writer).
    pub kept: u64,
    /// Lines the writer wrote, and dropped.
    pub written: u64,
    /// See `written`.
    pub dropped: u64,
    /// The lowest pressure scale seen (1 without pressure).
    pub min_scale: f64,
}

/// The pressure phase: the same flood without and with the pressure loop.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PressureComparison {
    /// How long each pass ran.
    pub seconds: Duration,
    /// The pass without the pressure loop.
    pub without: PressurePass,
    /// The pass with it.
    pub with: PressurePass,
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

/// Prints the phase's header, then runs both passes, each `length` long; with `live`, a
/// bar per pass on stderr shows the time, the pressure scale and the writer's drops.
pub(crate) fn compare(
    length: Duration,
    live: bool,
    out: &mut dyn Write,
) -> Result<PressureComparison, Box<dyn Error>> {
    writeln!(
        out,
        "pressure phase: {TARGET} (rate {RATE}) floods a {} MB/s sink at {} rows/s, {} per pass",
        SLOW_SINK_BYTES_PER_SEC as f64 / 1e6,
        human::count(ROWS_PER_SEC as u64),
        human::duration(length),
    )?;
    out.flush()?;
    let bar = |label| live.then(|| progress::pass_bar(label, length));
    Ok(PressureComparison {
        seconds: length,
        without: pass(length, false, bar("without pressure"))?,
        with: pass(length, true, bar("with pressure"))?,
    })
}

/// How often a pass redraws its bar and reads the scale, in rows offered: about every
/// 50 ms at [`ROWS_PER_SEC`].
const READ_EVERY_ROWS: u64 = 4_096;

fn pass(
    length: Duration,
    pressure: bool,
    bar: Option<ProgressBar>,
) -> Result<PressurePass, Box<dyn Error>> {
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
        .fmt_fields(PlainFields::new())
        .event_format(Annotated::new(PlainFull::new()))
        .with_filter(sampler);
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));

    let mut p = PressurePass {
        min_scale: 1.0,
        ..PressurePass::default()
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
            if p.offered % READ_EVERY_ROWS == 0 {
                p.min_scale = p.min_scale.min(handle.stats().pressure_scale);
                if let Some(bar) = &bar {
                    bar.set_position(start.elapsed().as_millis() as u64);
                    bar.set_message(format!(
                        "scale {} · writer dropped {}",
                        scale(handle.stats().pressure_scale),
                        human::count(writer.stats().dropped.total())
                    ));
                }
            }
        }
    });
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
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
    p.written = s.lines_written;
    p.dropped = s.dropped.total();
    p.keep_written = keep_written.load(Ordering::Relaxed);
    Ok(p)
}

/// A scale as the fraction it is (`1/1024`): the loop halves it, so it is always one.
fn scale(x: f64) -> String {
    if x >= 1.0 {
        "1".to_string()
    } else {
        format!("1/{}", (1.0 / x).round() as u64)
    }
}

impl PressureComparison {
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

    /// The phase's rows in the summary, bare numbers like the main table.
    pub(crate) fn print(&self, out: &mut dyn Write) -> io::Result<()> {
        writeln!(
            out,
            "\n{:<26} {:>9} {:>9} {:>9} {:>9} {:>6} {:>7} {:>10}",
            "pressure phase",
            "offered",
            "kept",
            "written",
            "dropped",
            "rate",
            "scale",
            "WARN+ERROR"
        )?;
        for (label, p) in [("no loop", self.without), ("loop", self.with)] {
            writeln!(
                out,
                "{:<26} {:>9} {:>9} {:>9} {:>9} {:>6} {:>7} {:>10}",
                format!("{TARGET} ({label})"),
                p.offered,
                p.kept,
                p.written,
                p.dropped,
                RATE,
                scale(p.min_scale),
                format!("{}/{}", p.keep_written, p.keep_emitted),
            )?;
        }
        writeln!(
            out,
            "(loop: with the sampler's pressure loop; scale: the lowest it set; written and \
             dropped include the WARN/ERROR lines)"
        )?;
        writeln!(
            out,
            "pressure phase: writer drops without pressure {}, with pressure {}",
            self.without.dropped, self.with.dropped
        )
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn scales_read_as_fractions() {
        assert_eq!(super::scale(1.0), "1");
        assert_eq!(super::scale(0.5), "1/2");
        assert_eq!(super::scale(0.0009765625), "1/1024");
    }
}
