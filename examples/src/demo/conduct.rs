//! Conducting the run: two producer threads log the simulated service's traffic while
//! this thread walks the phases, turning the sink's throttle and the sampler's rates on
//! schedule and printing a header as each phase begins.

use std::error::Error;
use std::io::Write;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use sampling_layer::stats::SamplingStats;

use super::args::{Config, SinkKind};
use super::human;
use super::pipeline::{self, Pipeline};
use super::progress::Progress;
use super::scenario::{
    Load, Phase, Schedule, BREAKER_THRESHOLD, FLOOD_BATCH, SLOW_SINK_BYTES_PER_SEC,
    STORM_ERRORS_PER_SEC,
};
use super::service::{self, Dice, Emitted, Module, Pacer};

/// What the conductor saw on the way: the sampler's figures as the steady phase ended,
/// the actual rates before the breaker and the rate change blur them.
#[derive(Debug)]
pub(crate) struct Conducted {
    pub(crate) steady: Option<SamplingStats>,
}

/// Runs the phases from `clock` on and returns once both producers have finished.
pub(crate) fn conduct(
    cfg: &Config,
    pipeline: &Pipeline,
    schedule: &Schedule,
    clock: Instant,
    emitted: &Arc<Emitted>,
    progress: &Progress,
    out: &mut dyn Write,
) -> Result<Conducted, Box<dyn Error>> {
    let mut producers = Vec::new();
    for n in 0..2u64 {
        let dispatch = pipeline.dispatch.clone();
        let emitted = Arc::clone(emitted);
        let schedule = *schedule;
        producers.push(
            thread::Builder::new()
                .name(format!("demo-producer-{n}"))
                .spawn(move || {
                    tracing::dispatcher::with_default(&dispatch, || {
                        produce(n, clock, &schedule, &emitted)
                    })
                })?,
        );
    }

    let mut conducted = Conducted { steady: None };
    let mut announced = None;
    while clock.elapsed() < schedule.end() {
        let phase = schedule.phase_at(clock.elapsed());
        if announced != Some(phase) {
            announced = Some(phase);
            let detail = enter(phase, cfg, pipeline, schedule, &mut conducted)?;
            progress.println(out, format_args!("{phase}{detail}"))?;
        }
        thread::sleep(Duration::from_millis(10));
    }
    for p in producers {
        p.join().map_err(|_| "a producer thread panicked")?;
    }
    Ok(conducted)
}

/// Turns the knobs for `phase`; returns what its header says beyond the phase's title.
fn enter(
    phase: Phase,
    cfg: &Config,
    pipeline: &Pipeline,
    schedule: &Schedule,
    conducted: &mut Conducted,
) -> Result<String, Box<dyn Error>> {
    Ok(match phase {
        Phase::Steady => String::new(),
        Phase::Burst => {
            conducted.steady = Some(pipeline.sampler.stats());
            pipeline.throttle.set(SLOW_SINK_BYTES_PER_SEC);
            format!(" ({})", pipeline::overflow(cfg.overflow))
        }
        Phase::Storm => {
            if cfg.sink != SinkKind::Slow {
                pipeline.throttle.set(0);
            }
            format!(
                " ({STORM_ERRORS_PER_SEC} ERROR/s from {}; breaker threshold \
                 {BREAKER_THRESHOLD}/s, hold {})",
                Module::Upstream.target(),
                human::duration(schedule.breaker_hold())
            )
        }
        Phase::RateChange => {
            let change = RateChange::of(&pipeline.directives);
            pipeline.sampler.set_directives(&change.directives)?;
            // Only what changed: the whole directive string is in the banner, and a header
            // that long wraps mid-word on an ordinary terminal.
            format!(
                " through the handle: {ROUTER} {} -> {}",
                change.was.as_deref().unwrap_or("unsampled"),
                ROUTER_RAISED
            )
        }
    })
}

/// One producer thread: the load [`Schedule::load`] gives it, paced, until the run ends.
fn produce(n: u64, clock: Instant, schedule: &Schedule, emitted: &Emitted) {
    let mut dice = Dice::new(n);
    let mut seq = n << 40;
    let mut load = None;
    let mut pacer = Pacer::new(Load::Requests.per_sec());
    loop {
        let now = clock.elapsed();
        if now >= schedule.end() {
            return;
        }
        let current = schedule.load(n, now);
        if load != Some(current) {
            // A fresh pacer per stretch of load: a pacer that had been idle would
            // otherwise "catch up" on the time it did not run, flat out.
            load = Some(current);
            pacer = Pacer::new(current.per_sec());
            if current == Load::Storm {
                service::storm_cause(emitted);
            }
        }
        seq += 1;
        match current {
            Load::Flood => {
                // A batch job exporting rows far faster than the slow sink takes them.
                for row in 0..FLOOD_BATCH {
                    service::export_row(seq * FLOOD_BATCH + row, emitted);
                }
            }
            Load::Storm => service::storm_error(seq, emitted),
            Load::Requests => service::request(seq, &mut dice, emitted),
        }
        pacer.tick();
    }
}

/// The target whose rate the last phase raises, and its new rate.
const ROUTER: &str = "demo::router";
const ROUTER_RAISED: &str = "0.2";

/// The last phase's edit: the router goes from 5% to 20%, as an operator would raise a
/// rate while chasing a problem.
#[derive(Debug, PartialEq)]
struct RateChange {
    /// The whole set after the edit, for `set_directives`.
    directives: String,
    /// The router's rate before (`None`: no directive named it).
    was: Option<String>,
}

impl RateChange {
    fn of(directives: &str) -> RateChange {
        let mut was = None;
        let mut changed: Vec<String> = Vec::new();
        for d in directives.split(',') {
            match d.trim().split_once('=') {
                Some((target, rate)) if target.trim() == ROUTER => {
                    was = Some(rate.trim().to_owned())
                }
                _ => changed.push(d.to_owned()),
            }
        }
        changed.push(format!("{ROUTER}={ROUTER_RAISED}"));
        RateChange {
            directives: changed.join(","),
            was,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_change_replaces_only_the_router() {
        let c = RateChange::of("demo::router=0.05,demo::websocket=0.01,demo::router[k]=1%");
        assert_eq!(c.was.as_deref(), Some("0.05"));
        assert_eq!(
            c.directives,
            "demo::websocket=0.01,demo::router[k]=1%,demo::router=0.2"
        );
        let c = RateChange::of("demo::websocket=0.01");
        assert_eq!(c.was, None);
        assert_eq!(c.directives, "demo::websocket=0.01,demo::router=0.2");
    }
}
