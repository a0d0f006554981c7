//! The live display: one `indicatif` bar for the run, on stderr, with the current phase
//! as its prefix and the writer's and sampler's figures beside it, updated four times a
//! second by a thread of its own.
//!
//! Anything the demo prints while the bar is up goes through [`Progress::println`], which
//! takes the bar down for the moment of the write, so no line runs on after the bar. Where
//! stderr is not a terminal the bar is never drawn (no `\r`, no escape sequence); asked for
//! anyway (`--progress`), the figures come as a plain line once a second instead, and
//! once more at the end.

use std::fmt;
use std::io::{self, IsTerminal, Write};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use backpressure_writer::NonBlocking;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};
use sampling_layer::{stats::OTHER_TARGET, SamplingHandle};

use super::human;
use super::scenario::Schedule;
use super::service::Emitted;

/// How often the figures are read and the bar redrawn.
const TICK: Duration = Duration::from_millis(250);
/// Ticks between two plain lines, where there is no bar.
const TICKS_PER_LINE: u32 = 4;

/// What the display reads its figures from.
#[derive(Debug)]
pub(crate) struct Sources {
    pub(crate) writer: NonBlocking,
    pub(crate) sampler: SamplingHandle,
    pub(crate) emitted: Arc<Emitted>,
}

/// The live display while it runs; [`Progress::finish`] stops it.
#[derive(Debug)]
pub(crate) struct Progress {
    /// The bar, when one is drawn.
    bar: Option<ProgressBar>,
    /// Dropping the sender stops the thread at once, without waiting out a tick.
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Progress {
    /// No display at all: [`Progress::println`] writes straight through.
    pub(crate) fn off() -> Self {
        Progress {
            bar: None,
            stop: None,
            thread: None,
        }
    }

    /// Starts the display for a run that started at `clock` and follows `schedule`: a bar
    /// if stderr is a terminal, plain lines otherwise.
    pub(crate) fn start(sources: Sources, schedule: Schedule, clock: Instant) -> io::Result<Self> {
        let bar = io::stderr().is_terminal().then(|| bar(schedule));
        let (stop, stopped) = mpsc::channel();
        let mut ticker = Ticker {
            meter: Meter::new(sources),
            schedule,
            clock,
            bar: bar.clone(),
        };
        let thread = thread::Builder::new()
            .name("demo-progress".into())
            .spawn(move || {
                let mut ticks = 0u32;
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(TICK) {
                    ticks += 1;
                    ticker.tick(ticks % TICKS_PER_LINE == 0);
                }
                // Without a bar, a last line with the final figures.
                ticker.tick(true);
            })?;
        Ok(Progress {
            bar,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Writes one line to `out` without the bar getting in its way.
    pub(crate) fn println(&self, out: &mut dyn Write, line: fmt::Arguments<'_>) -> io::Result<()> {
        match &self.bar {
            Some(bar) => bar.suspend(|| writeln!(out, "{line}")),
            None => writeln!(out, "{line}"),
        }
    }

    /// Stops the thread and clears the bar, leaving the terminal as it was before.
    pub(crate) fn finish(mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

/// The bar: its length is the run in milliseconds, its position the time elapsed.
fn bar(schedule: Schedule) -> ProgressBar {
    let total = human::duration(schedule.end());
    // The time is the bar's position (milliseconds), so it always agrees with the bar.
    let time = move |state: &ProgressState, w: &mut dyn fmt::Write| {
        let elapsed = Duration::from_millis(state.pos());
        let _ = write!(w, "{} / {total}", clock(elapsed));
    };
    // The prefix is the phase's number only: its title is on the header line printed
    // above the bar as the phase begins, and saying it twice is noise.
    let template = "{prefix:.bold} {wide_bar:.cyan/blue} {time}\n{msg}";
    let style = ProgressStyle::with_template(template)
        .expect("a valid template")
        .with_key("time", time)
        .progress_chars("━╸─");
    ProgressBar::with_draw_target(
        Some(schedule.end().as_millis() as u64),
        ProgressDrawTarget::stderr(),
    )
    .with_style(style)
}

/// A bar for one pass of the pressure phase, `length` long, labelled `label`; the pass
/// sets its position (milliseconds) and its message (the figures) as it goes.
pub(crate) fn pass_bar(label: &str, length: Duration) -> ProgressBar {
    let style = ProgressStyle::with_template("  {prefix:.bold} {wide_bar:.cyan/blue} {msg}")
        .expect("a valid template")
        .progress_chars("━╸─");
    let bar = ProgressBar::with_draw_target(
        Some(length.as_millis() as u64),
        if io::stderr().is_terminal() {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        },
    )
    .with_style(style);
    bar.set_prefix(label.to_owned());
    bar
}

/// Time into the run, in tenths of a second at a constant width, so that the bar beside
/// it does not twitch as the digits change.
fn clock(elapsed: Duration) -> String {
    format!("{:>4.1} s", elapsed.as_secs_f64())
}

/// The thread's state: where to read, where to draw.
struct Ticker {
    meter: Meter,
    schedule: Schedule,
    clock: Instant,
    bar: Option<ProgressBar>,
}

impl Ticker {
    fn tick(&mut self, line_due: bool) {
        let elapsed = self.clock.elapsed().min(self.schedule.end());
        let phase = self.schedule.phase_at(elapsed);
        let r = self.meter.read();
        let rate = format!("{} events/s", human::count(r.events_per_sec.round() as u64));
        let kept = format!("kept {} of the sampled modules", r.kept);
        let queue = format!("queue {}", r.queue);
        let dropped = format!("dropped {}", human::count(r.dropped));
        let breaker = format!("breaker {}", if r.breaker_open { "OPEN" } else { "closed" });
        match &self.bar {
            Some(bar) => {
                bar.set_prefix(phase.short());
                bar.set_position(elapsed.as_millis() as u64);
                bar.set_message(format!(
                    "  {rate} · {kept} · {breaker}\n  {queue} · {dropped}"
                ));
            }
            None if line_due => {
                let time = clock(elapsed);
                eprintln!("[{time}] {phase} | {rate} | {kept} | {queue} | {dropped} | {breaker}")
            }
            None => {}
        }
    }
}

/// The figures of one reading, rates and shares over the time since the last one, so
/// the breaker and the rate change show at once.
struct Reading {
    events_per_sec: f64,
    /// Sampled-level events kept of those seen, over the sampled modules, as a percentage.
    kept: String,
    queue: String,
    dropped: u64,
    breaker_open: bool,
}

struct Meter {
    sources: Sources,
    last_at: Instant,
    last_emitted: u64,
    /// Seen and kept over the sampled modules at the last reading.
    last_sampled: (u64, u64),
}

impl Meter {
    fn new(sources: Sources) -> Self {
        Meter {
            sources,
            last_at: Instant::now(),
            last_emitted: 0,
            last_sampled: (0, 0),
        }
    }

    fn read(&mut self) -> Reading {
        let emitted = self.sources.emitted.grand_total();
        let events_per_sec =
            (emitted - self.last_emitted) as f64 / self.last_at.elapsed().as_secs_f64().max(1e-3);
        self.last_at = Instant::now();
        self.last_emitted = emitted;
        let s = self.sources.sampler.stats();
        // Over the sampled modules only: `other` (the unsampled batch flood) would swamp
        // the figure.
        let (seen, kept) = s
            .targets
            .iter()
            .filter(|t| t.target != OTHER_TARGET)
            .fold((0, 0), |(a, b), t| (a + t.seen, b + t.kept));
        let (seen_now, kept_now) = (seen - self.last_sampled.0, kept - self.last_sampled.1);
        self.last_sampled = (seen, kept);
        let w = self.sources.writer.stats();
        Reading {
            events_per_sec,
            kept: human::percent(kept_now, seen_now),
            queue: human::queue(w.queue_depth, w.capacity, w.keep_capacity),
            dropped: w.dropped.total(),
            breaker_open: s.breaker_open,
        }
    }
}
