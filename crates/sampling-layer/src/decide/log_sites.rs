//! Events from the `log` crate, through `tracing-log`'s `LogTracer`: sampled
//! by their real target and their own call site.
//!
//! `tracing-log` turns every `log` record into an event of one of five static
//! callsites (one per level: target `log`, name `log event`, fields
//! `message`, `log.target`, `log.module_path`, `log.file`, `log.line`), so
//! the metadata says nothing about where the record came from. Its `enabled`
//! check passes a temporary metadata with the real target but the shared
//! callsite's identity and no file or line, so the sampler cannot decide
//! there: such callsites are never decided early. They are decided in
//! `event_enabled`, from the fields:
//!
//! - the target is the record's own (`log.target`, as `tracing-log`'s
//!   `NormalizeEvent::normalized_metadata` reports it; `log` if absent), so
//!   `legacy_dep=0.1` applies to a dependency's `log::info!`;
//! - the key is the call site: hashes of the target, `log.file` and
//!   `log.line` (and the level), so every `log` call site has its own exact
//!   1-in-N, as a `tracing` callsite has.
//!
//! In consistent mode a record's value comes from its enclosing spans (a
//! `log` record has no fields of its own to carry one).
//!
//! Call sites live in a table of their own, not in the LRU key store: they
//! are bounded by the program's code, like callsites, and eviction would
//! restart a call site's 1-in-N. Each costs about 100 bytes plus its target
//! text, allocated once when first seen; at most [`MAX_LOG_SITES`] are kept,
//! further ones are decided at their shared level callsite (the behaviour
//! without this bridge, counted under the `log` target). The library does not
//! depend on `tracing-log`: its callsites are recognised by their shape,
//! which a test pins against the `tracing-log` version in use.

use std::fmt;
use std::hash::BuildHasherDefault;

use dashmap::DashMap;
use tracing_core::{
    field::{Field, Visit},
    Event, Level, Metadata,
};
use xxhash_rust::xxh3::xxh3_64;

use crate::{
    decide::entry::{Counts, RuleCache},
    decide::keys::{KeySeed, PassThrough},
    decide::mode::splitmix64,
    sync::{AtomicUsize, Ordering},
};

pub(crate) use crate::limits::MAX_LOG_SITES;

const TARGET: &str = "log.target";
const FILE: &str = "log.file";
const LINE: &str = "log.line";

/// Whether `meta` is one of `tracing-log`'s per-level callsites.
pub(crate) fn is_log_callsite(meta: &Metadata<'_>) -> bool {
    let fields = meta.fields();
    meta.is_event()
        && meta.target() == "log"
        && meta.name() == "log event"
        && fields.field(TARGET).is_some()
        && fields.field(FILE).is_some()
        && fields.field(LINE).is_some()
}

/// One `log` call site: its rule, its counts, and the target it resolves by.
#[derive(Debug)]
pub(crate) struct LogSite {
    pub(crate) rule: RuleCache,
    pub(crate) counts: Counts,
    /// For budgets: the site's estimate (see `budget`).
    pub(crate) budget: crate::decide::budget_cell::BudgetCell,
    pub(crate) target: Box<str>,
}

/// The `log` call sites seen so far. Insert-only: a site's state lives as
/// long as the sampler, so a reference to it needs no lock.
#[derive(Debug)]
pub(crate) struct LogSites {
    map: DashMap<u64, Box<LogSite>, BuildHasherDefault<PassThrough>>,
    seed: KeySeed,
    len: AtomicUsize,
}

impl LogSites {
    pub(crate) fn new() -> Self {
        LogSites {
            map: DashMap::default(),
            seed: KeySeed::process(),
            len: AtomicUsize::new(0),
        }
    }

    /// The site for `key`, made by `target()` when first seen; `None` when
    /// the table is full.
    pub(crate) fn get_or_insert(
        &self,
        key: u64,
        target: impl FnOnce() -> String,
    ) -> Option<&LogSite> {
        let key = self.seed.mix(key);
        let p: *const LogSite = match self.map.get(&key) {
            Some(s) => &**s,
            None => {
                // Reserve a place first, so the bound holds under concurrent inserts.
                if self.len.fetch_add(1, Ordering::Relaxed) >= MAX_LOG_SITES {
                    self.len.fetch_sub(1, Ordering::Relaxed);
                    return None;
                }
                let mut created = false;
                let s = self.map.entry(key).or_insert_with(|| {
                    created = true;
                    Box::new(LogSite {
                        rule: RuleCache::new(),
                        counts: Counts::new(),
                        budget: crate::decide::budget_cell::BudgetCell::new(),
                        target: target().into_boxed_str(),
                    })
                });
                if !created {
                    self.len.fetch_sub(1, Ordering::Relaxed);
                }
                &**s
            }
        };
        // SAFETY: boxes are never removed before the table is dropped, and a
        // box's contents do not move when the map rehashes.
        Some(unsafe { &*p })
    }

    /// Visits every site (stats, installs; allocates: not for the logging thread).
    pub(crate) fn for_each(&self, mut f: impl FnMut(&LogSite)) {
        for s in self.map.iter() {
            f(s.value());
        }
    }
}

/// Hashes of a record's target, file and line, read without allocating.
#[derive(Default)]
struct SiteKey {
    target: Option<u64>,
    file: u64,
    line: u64,
}

impl Visit for SiteKey {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            TARGET => self.target = Some(xxh3_64(value.as_bytes())),
            FILE => self.file = xxh3_64(value.as_bytes()),
            _ => {}
        }
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        if field.name() == LINE {
            self.line = value;
        }
    }
    fn record_debug(&mut self, _: &Field, _: &dyn fmt::Debug) {}
}

/// The record's target, copied (once per call site).
struct TargetText(Option<String>);

impl Visit for TargetText {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == TARGET {
            self.0 = Some(value.to_owned());
        }
    }
    fn record_debug(&mut self, _: &Field, _: &dyn fmt::Debug) {}
}

/// The key of the record's call site: its target, file, line and level.
pub(crate) fn site_key(event: &Event<'_>, level: Level) -> u64 {
    let mut k = SiteKey::default();
    event.record(&mut k);
    let target_hash = k.target.unwrap_or_else(|| xxh3_64(b"log"));
    splitmix64(target_hash ^ splitmix64(k.file ^ k.line.rotate_left(32)) ^ level_index(level))
}

/// The record's own target (`log` if it has none), copied: once per call site.
pub(crate) fn record_target(event: &Event<'_>) -> String {
    let mut t = TargetText(None);
    event.record(&mut t);
    t.0.unwrap_or_else(|| "log".to_owned())
}

/// A level as a small number, to keep sites of different levels apart.
fn level_index(level: Level) -> u64 {
    match level {
        Level::TRACE => 1,
        Level::DEBUG => 2,
        Level::INFO => 3,
        Level::WARN => 4,
        _ => 5,
    }
}
