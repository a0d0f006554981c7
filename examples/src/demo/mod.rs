//! The demo: a simulated service logging through `sampling-layer` and
//! `backpressure-writer`, with `logmetrics` publishing the figures, in four phases, then
//! a pressure phase (`pressure.rs`) that runs a flood from a sampled target twice, without
//! and with the sampler's pressure loop, and reports the writer's drops each way.
//!
//! `examples/demo.rs` is a thin `main` around [`cli`]; keeping the work here lets the
//! integration test run the very same code for a few seconds and check its figures.
//!
//! A run is set up (`pipeline.rs`), conducted through the [`Phase`]s of its script
//! (`scenario.rs`; `conduct.rs`, with the live display in `progress.rs`), and torn down:
//! the writer is drained, the log file read back (`readback.rs`) and the verdict printed
//! ([`Outcome`]).

mod args;
mod conduct;
mod human;
mod pipeline;
mod pressure;
mod progress;
mod readback;
mod repeats;
mod report;
mod scenario;
mod service;
mod sink;

pub use args::{Config, SinkKind};
pub use pipeline::{DEFAULT_DIRECTIVES, DEFAULT_LEVELS};
pub use pressure::{PressureComparison, PressurePass};
pub use readback::{FileCounts, Summaries};
pub use repeats::RepeatRow;
pub use report::{ModuleRow, Outcome};
pub use scenario::Phase;
pub use service::Module;

use std::error::Error;
use std::ffi::OsString;
use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

use conduct::Conducted;
use pipeline::Pipeline;
use progress::{Progress, Sources};
use scenario::Schedule;
use service::Emitted;

/// The whole command: parses `args` (after the program name), runs the demo, and returns
/// the process exit code: 0 when every check passed (or for `--help`, whose text goes to
/// `out`), 1 when one failed (a WARN/ERROR line neither in the file nor counted in a
/// repeat summary, accounting that does not add up), 2 for bad arguments or a run that
/// could not start.
pub fn cli<I, S>(args: I, out: &mut dyn Write) -> u8
where
    I: IntoIterator<Item = S>,
    S: Into<OsString> + Clone,
{
    let cfg = match Config::from_args(args) {
        Ok(cfg) => cfg,
        Err(e) if e.exit_code() == 0 => {
            // `--help`: asked for, so it goes to the output, not to stderr.
            return match write!(out, "{}", e.render()) {
                Ok(()) => 0,
                Err(_) => 2,
            };
        }
        Err(e) => {
            eprint!("{}", e.render());
            return 2;
        }
    };
    match run(&cfg, out) {
        Ok(outcome) if outcome.ok() => 0,
        Ok(_) => 1,
        Err(e) => {
            eprintln!("demo: {e}");
            2
        }
    }
}

/// Runs the demo and returns its outcome; the phase headers and the summary go to `out`,
/// the live display (when `cfg.progress`) to stderr.
pub fn run(cfg: &Config, out: &mut dyn Write) -> Result<Outcome, Box<dyn Error>> {
    let started = Instant::now();
    let schedule = Schedule::new(cfg.duration);
    let pipeline = Pipeline::set_up(cfg, &schedule)?;
    pipeline.print_banner(cfg, out)?;

    let emitted = Arc::new(Emitted::default());
    let clock = Instant::now();
    let progress = if cfg.progress {
        let sources = Sources {
            writer: pipeline.writer.clone(),
            sampler: pipeline.sampler.clone(),
            emitted: Arc::clone(&emitted),
        };
        Progress::start(sources, schedule, clock)?
    } else {
        Progress::off()
    };
    let conducted = conduct::conduct(cfg, &pipeline, &schedule, clock, &emitted, &progress, out);
    progress.finish();

    let mut outcome = tear_down(cfg, pipeline, &emitted, conducted?)?;
    // The pressure phase: its own two pipelines, side by side (see `pressure`).
    let length = (cfg.duration / 10).clamp(
        std::time::Duration::from_secs(1),
        std::time::Duration::from_secs(3),
    );
    let pressure = pressure::compare(length, cfg.progress, out)?;
    pressure.check(&mut outcome.problems);
    outcome.pressure = Some(pressure);
    outcome.print(out, started.elapsed())?;
    Ok(outcome)
}

/// Drains and stops the writer, then weighs what the run emitted against what the sampler
/// kept, the writer counted and the log file holds.
fn tear_down(
    cfg: &Config,
    pipeline: Pipeline,
    emitted: &Emitted,
    conducted: Conducted,
) -> Result<Outcome, Box<dyn Error>> {
    let Pipeline {
        sampler,
        writer,
        guard,
        dispatch,
        throttle,
        metrics,
        ..
    } = pipeline;
    throttle.set(0);
    // Repeat windows still open write their summaries into the pipeline while it runs.
    sampler.flush_repeats();
    // Whether the level filter lets those summaries (the sampler's WARN) into the file.
    let summaries_visible = tracing::dispatcher::with_default(
        &dispatch,
        || tracing::enabled!(target: "sampling_layer", tracing::Level::WARN),
    );
    // The producers are gone: everything submitted is now written, dropped or queued.
    drop(dispatch);
    let flushed = guard.flush();
    drop(guard);
    let writer_stats = writer.stats();
    let sampling_stats = sampler.stats();
    let file = match cfg.sink {
        SinkKind::Stdout => None,
        SinkKind::File | SinkKind::Slow => Some(readback::count(&cfg.log_file)?),
    };
    // The last export, with the final figures, before `/metrics` goes away.
    drop(metrics);
    Ok(Outcome::new(
        emitted,
        conducted.steady.as_ref(),
        &sampling_stats,
        &writer_stats,
        file,
        summaries_visible,
        flushed.err().map(|e| e.to_string()),
    ))
}
