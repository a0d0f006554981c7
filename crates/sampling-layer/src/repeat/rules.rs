//! The installed repeat directives, with the figures each target keeps
//! across directive changes.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use crate::directive::repeat_spec::RepeatSpec;

/// A target's figures, kept across directive changes (by target name).
#[derive(Debug, Default)]
pub(crate) struct Figures {
    pub(crate) kept: AtomicU64,
    /// Suppressed copies of windows already closed (summarised or being
    /// written); live windows are added at a stats read.
    pub(crate) suppressed: AtomicU64,
    pub(crate) summaries: AtomicU64,
    pub(crate) live: AtomicU64,
    pub(crate) evicted: AtomicU64,
}

/// One installed repeat directive.
#[derive(Debug)]
pub(crate) struct Rule {
    pub(crate) target: Box<str>,
    pub(crate) spec: RepeatSpec,
    pub(crate) window_ns: u64,
    pub(crate) figures: Arc<Figures>,
}

/// The installed directives; `generation` tells callsite caches they are stale.
#[derive(Debug, Default)]
pub(crate) struct Rules {
    pub(crate) generation: u64,
    pub(crate) list: Vec<Rule>,
}

impl Rules {
    /// The rule of the longest target `target` starts with (as `EnvFilter`).
    pub(crate) fn find(&self, target: &str) -> Option<usize> {
        self.list
            .iter()
            .enumerate()
            .filter(|(_, r)| target.starts_with(&*r.target))
            .max_by_key(|(_, r)| r.target.len())
            .map(|(i, _)| i)
    }
}
