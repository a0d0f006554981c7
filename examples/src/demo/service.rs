//! The simulated service: a request router, a websocket layer and a connection manager
//! (the modules whose rates [`DEFAULT_DIRECTIVES`](super::DEFAULT_DIRECTIVES) embeds), each
//! with its chatty DEBUG traffic and its rarer WARN and ERROR events, plus a batch exporter
//! whose flood makes the overload burst and the upstream client whose one repeated ERROR
//! makes the error storm (its target has a repeat directive of its own: the first copies
//! per window are written, the rest counted in a summary line).
//!
//! Every event the demo emits is counted here by module and level, so the summary can
//! compare what was emitted with what the sampler kept and what reached the file.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use tracing::{debug, error, info, warn, Level};

/// A module of the simulated service: its tracing target and its place in the tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Module {
    /// `demo::router`: a tool call per request at DEBUG (sampled 5%).
    Router,
    /// `demo::websocket`: messages at DEBUG (sampled 1%).
    Websocket,
    /// `demo::connection_manager`: connection events 5%, heartbeats 1%, metrics 10%.
    ConnectionManager,
    /// `demo::exporter`: the batch job whose unsampled INFO flood overloads the sink.
    Exporter,
    /// `demo::upstream`: the client of the service's upstream, whose ERROR repeats through
    /// the error storm (`first 5/1s`: 5 copies per second written, the rest summarised).
    /// A target of its own, because repeats apply at every level of a target: the same
    /// directive on the connection manager would also collapse its sampled DEBUG traffic.
    Upstream,
}

impl Module {
    /// All modules, in table order.
    pub const ALL: [Module; 5] = [
        Module::Router,
        Module::Websocket,
        Module::ConnectionManager,
        Module::Exporter,
        Module::Upstream,
    ];

    /// The module's tracing target (what directives and the log file name it by).
    pub fn target(self) -> &'static str {
        match self {
            Module::Router => "demo::router",
            Module::Websocket => "demo::websocket",
            Module::ConnectionManager => "demo::connection_manager",
            Module::Exporter => "demo::exporter",
            Module::Upstream => "demo::upstream",
        }
    }

    /// The module whose target is `target`, if any.
    pub fn from_target(target: &str) -> Option<Module> {
        Module::ALL.into_iter().find(|m| m.target() == target)
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Events emitted, by module and by level class. WARN and ERROR events are counted only
/// when `RUST_LOG` enables them (a level check after the event, paid only on these rare
/// events), so the file check stays true under `RUST_LOG=error`. Relaxed atomics: read
/// only after the producer threads have been joined.
#[derive(Debug, Default)]
pub(crate) struct Emitted {
    total: [AtomicU64; Module::ALL.len()],
    warn: [AtomicU64; Module::ALL.len()],
    error: [AtomicU64; Module::ALL.len()],
}

impl Emitted {
    pub(crate) fn add(&self, m: Module, total: u64, warn: u64, error: u64) {
        self.total[m.index()].fetch_add(total, Relaxed);
        self.warn[m.index()].fetch_add(warn, Relaxed);
        self.error[m.index()].fetch_add(error, Relaxed);
    }

    /// Every event emitted by `m`, whatever its level.
    pub(crate) fn total(&self, m: Module) -> u64 {
        self.total[m.index()].load(Relaxed)
    }

    /// WARN events emitted by `m`.
    pub(crate) fn warn(&self, m: Module) -> u64 {
        self.warn[m.index()].load(Relaxed)
    }

    /// ERROR events emitted by `m`.
    pub(crate) fn error(&self, m: Module) -> u64 {
        self.error[m.index()].load(Relaxed)
    }

    /// Every event emitted, all modules.
    pub(crate) fn grand_total(&self) -> u64 {
        Module::ALL.into_iter().map(|m| self.total(m)).sum()
    }
}

/// A cheap deterministic generator for the simulation's choices (which request fails,
/// which client): the demo's output is then the same from run to run but for timing.
#[derive(Debug)]
pub(crate) struct Dice(u64);

impl Dice {
    /// A generator for producer thread `n`.
    pub(crate) fn new(n: u64) -> Self {
        Dice(0x9E37_79B9_7F4A_7C15 ^ (n + 1).wrapping_mul(0xD1B5_4A32_D192_ED03))
    }

    fn next(&mut self) -> u64 {
        // xorshift64*: plenty for picking branches.
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// True one time in `n`.
    pub(crate) fn one_in(&mut self, n: u64) -> bool {
        self.next() % n == 0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// One request's worth of steady traffic across the three service modules: 1 tool call,
/// 3 websocket messages, 1 connection event, 4 heartbeats and 2 latency metrics at DEBUG,
/// with WARN about 1 request in 200 and ERROR about 1 in 1000 per module.
///
/// Each request runs in a `request` span, which captures context: a request that ends in
/// an ERROR gets its sampled-out DEBUG lines written right before it (`captured=true`).
pub(crate) fn request(seq: u64, dice: &mut Dice, counts: &Emitted) {
    let span = tracing::info_span!("request");
    let _entered = span.enter();
    let client = dice.below(500);
    let tool = ["search", "read_file", "write_file", "run_tests"][dice.below(4) as usize];

    debug!(target: "demo::router", sample_key = "tool_call", request_id = seq, client, tool, "tool call routed");
    let (mut w, mut e) = (0, 0);
    if dice.one_in(200) {
        warn!(target: "demo::router", request_id = seq, tool, elapsed_ms = 950 + dice.below(500), "slow tool call");
        w += u64::from(tracing::enabled!(target: "demo::router", Level::WARN));
    }
    if dice.one_in(1000) {
        error!(target: "demo::router", request_id = seq, tool, "tool call failed: upstream returned 502");
        e += u64::from(tracing::enabled!(target: "demo::router", Level::ERROR));
    }
    counts.add(Module::Router, 1 + w + e, w, e);

    let (mut w, mut e) = (0, 0);
    for frame in 0..3 {
        debug!(target: "demo::websocket", client, frame, bytes = 64 + dice.below(4000), "message received");
    }
    if dice.one_in(250) {
        warn!(target: "demo::websocket", client, "ping timeout, reconnecting");
        w += u64::from(tracing::enabled!(target: "demo::websocket", Level::WARN));
    }
    if dice.one_in(1500) {
        error!(target: "demo::websocket", client, code = 1006, "socket closed abnormally");
        e += u64::from(tracing::enabled!(target: "demo::websocket", Level::ERROR));
    }
    counts.add(Module::Websocket, 3 + w + e, w, e);

    let (mut w, mut e) = (0, 0);
    debug!(target: "demo::connection_manager", sample_key = "connection", client, pool = "primary", "connection acquired");
    for _ in 0..4 {
        debug!(target: "demo::connection_manager", sample_key = "heartbeat", client, "heartbeat ok");
    }
    for _ in 0..2 {
        debug!(target: "demo::connection_manager", sample_key = "metrics", client, latency_us = 80 + dice.below(900), "latency sample");
    }
    if dice.one_in(300) {
        warn!(target: "demo::connection_manager", client, attempt = 1 + dice.below(3), "connection failed, retrying");
        w += u64::from(tracing::enabled!(target: "demo::connection_manager", Level::WARN));
    }
    if dice.one_in(2000) {
        error!(target: "demo::connection_manager", client, "connection refused by upstream");
        e += u64::from(tracing::enabled!(target: "demo::connection_manager", Level::ERROR));
    }
    counts.add(Module::ConnectionManager, 7 + w + e, w, e);
}

/// One row of the batch export: an INFO line no directive samples, so in the overload
/// phase it floods the writer.
pub(crate) fn export_row(row: u64, counts: &Emitted) {
    info!(target: "demo::exporter", row, table = "sessions", "exported row");
    counts.add(Module::Exporter, 1, 0, 0);
}

/// One failed request of the error storm: upstream is down; the request logs two DEBUG
/// steps (sampled out, captured) and then the storm's ERROR, the same at every request:
/// its first copies per window are written (with the context they write ahead of them),
/// the rest suppressed and counted in the window's summary line.
pub(crate) fn storm_error(seq: u64, counts: &Emitted) {
    let span = tracing::info_span!("request");
    let _entered = span.enter();
    debug!(target: "demo::connection_manager", sample_key = "connection", request_id = seq, pool = "primary", "connecting to upstream");
    debug!(target: "demo::connection_manager", sample_key = "connection", request_id = seq, attempt = 2, "retrying upstream");
    counts.add(Module::ConnectionManager, 2, 0, 0);
    error!(target: "demo::upstream", request_id = seq, "upstream unavailable: connection reset");
    let enabled = tracing::enabled!(target: "demo::upstream", Level::ERROR);
    counts.add(Module::Upstream, 1, 0, u64::from(enabled));
}

/// The storm's cause, logged once as it begins: a different ERROR of the same target (so
/// a key of its own), which the repeats of the first never hold back.
pub(crate) fn storm_cause(counts: &Emitted) {
    error!(target: "demo::upstream", expired = "2026-12-01", "upstream TLS certificate expired: every handshake fails");
    let enabled = tracing::enabled!(target: "demo::upstream", Level::ERROR);
    counts.add(Module::Upstream, 1, 0, u64::from(enabled));
}

/// Holds a loop to `per_sec` iterations per second: call [`Pacer::tick`] once per
/// iteration. Sleeps in slices of at least a millisecond, so the pacing costs no syscall
/// per iteration.
#[derive(Debug)]
pub(crate) struct Pacer {
    start: Instant,
    per_sec: f64,
    done: u64,
}

impl Pacer {
    /// A pacer for `per_sec` iterations per second (`f64::INFINITY` for flat out).
    pub(crate) fn new(per_sec: f64) -> Self {
        Self {
            start: Instant::now(),
            per_sec,
            done: 0,
        }
    }

    /// Counts one iteration, sleeping when ahead of schedule.
    pub(crate) fn tick(&mut self) {
        self.done += 1;
        if !self.per_sec.is_finite() || self.done % 32 != 0 {
            return;
        }
        let due = Duration::from_secs_f64(self.done as f64 / self.per_sec);
        let now = self.start.elapsed();
        if due > now + Duration::from_millis(1) {
            std::thread::sleep(due - now);
        }
    }
}
