//! Repeat suppression from the outside: exact counts on the builder's
//! manual clock, summaries through the layer, JSON that parses. One binary (it installs
//! the process's `log` logger), a module per topic; the helpers are here.

#[path = "../support/mod.rs"]
mod support;

use std::time::Duration;

use sampling_layer::capture::Capture;
use sampling_layer::repeat::CLOCK_READ_EVERY;
use sampling_layer::{clock::ManualClock, Breaker, SamplingFilter, SamplingHandle};
use serde_json::Value;
use support::Output;
use tracing::{error, info, warn, Dispatch};
use tracing_subscriber::{fmt, prelude::*};

const PER_SEC: u64 = 50_000;
const STEP: Duration = Duration::from_micros(1_000_000 / PER_SEC);

/// One test at a time in this binary: the tests share helper callsites (`storm`,
/// `refused`), and tracing keeps one cached interest per callsite for the whole process,
/// rebuilt whenever a test's dispatcher comes or goes; a rebuild racing another test's
/// events could let an event of a repeat target skip the sampler's judgement.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn sampler(clock: &ManualClock, breaker: Breaker, directives: &str) -> SamplingFilter {
    SamplingFilter::builder()
        .clock(clock.clone())
        .breaker(breaker)
        .parse(directives)
        .unwrap()
}

/// Runs `f` under a JSON layer filtered by `s`, whose notices (and repeat
/// summaries) go to the same dispatcher; returns the parsed lines.
fn json_run(s: SamplingFilter, f: impl FnOnce(&SamplingHandle)) -> (Vec<Value>, SamplingHandle) {
    json_run_watched(s, |h, _| f(h))
}

/// [`json_run`], with the output readable while `f` runs.
fn json_run_watched(
    s: SamplingFilter,
    f: impl FnOnce(&SamplingHandle, &Output),
) -> (Vec<Value>, SamplingHandle) {
    let cap = Output::new();
    let handle = s.handle();
    let layer = fmt::layer().json().with_writer(cap.clone()).with_filter(s);
    let dispatch = Dispatch::new(tracing_subscriber::registry().with(layer));
    handle.set_notice_dispatch(&dispatch);
    tracing::dispatcher::with_default(&dispatch, || f(&handle, &cap));
    let lines = cap
        .lines()
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    (lines, handle)
}

fn message(v: &Value) -> &str {
    v["fields"]["message"].as_str().unwrap_or("")
}

fn summaries(lines: &[Value]) -> Vec<&Value> {
    lines
        .iter()
        .filter(|v| message(v) == "repeated event suppressed")
        .collect()
}

fn field_u64(v: &Value, name: &str) -> u64 {
    v["fields"][name]
        .as_u64()
        .unwrap_or_else(|| panic!("no {name} in {v}"))
}

/// `secs` simulated seconds of `PER_SEC` copies of one ERROR, with the
/// distinct errors `extra` (second, index) mixed in.
fn storm(clock: &ManualClock, secs: u64, extra: &[(u64, u64)]) {
    for sec in 0..secs {
        for i in 0..PER_SEC {
            if extra.contains(&(sec, i)) {
                error!(target: "app::db", sec, "pool exhausted, giving up");
            }
            refused(i);
            clock.advance(STEP);
        }
    }
}

/// The storm's one callsite.
fn refused(i: u64) {
    error!(target: "app::db", attempt = i, "connection refused (attempt {i})");
}

mod directives;
mod interplay;
mod windows;
