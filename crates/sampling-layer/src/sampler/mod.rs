//! [`Sampler`]: the state one sampler shares with its handles, and the parts
//! it owns.
//!
//! The type and its construction are here. It owns the parts below it
//! (the tables in `decide/`, the breaker, pressure and budgets in `control/`,
//! the ledger in `figures/`, capture and repeats), and its behaviour is split
//! by job into the child modules, each an `impl Sampler` block that calls
//! into those parts:
//!
//! - [`decide`]: the per-event decision, and the path of one event through
//!   the files;
//! - [`log_record`]: the decision for a `log` record, per `log` call site;
//! - [`after`]: what runs after a decision, a short dispatcher over the
//!   optional parts (a kept event's duties of the engaged ones, the timed
//!   duties, the budget pass);
//! - [`install`]: installing a directive set, moving figures into the stats
//!   buckets, and the (monotonic) stats snapshot;
//! - [`breaker`]: how the sampler acts on the breaker's transitions (the
//!   state machine is `control::breaker`; the decision's feed is one level
//!   compare in [`decide`]);
//! - [`edit`]: changing one directive, changes that expire;
//! - [`repeat`]: where the decision asks the repeat gate.
//!
//! Nothing here imports a module above it (`filter/`): the filter and the
//! handle call into this type, never the other way round.

mod after;
mod breaker;
mod decide;
mod edit;
pub(crate) mod install;
mod installed;
mod log_record;
mod repeat;

use std::fmt;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tracing_core::{Dispatch, Level, Metadata};

use crate::capture::{CaptureSettings, CaptureState};
use crate::{
    clock::Clock,
    control::budget::Budgets,
    control::pressure::PressureState,
    decide::callsites::{CallsiteState, CallsiteTable},
    decide::extract::KeyExtractor,
    decide::keys::KeyStore,
    decide::log_sites::LogSites,
    decide::mode::Mode,
    directive::DirectiveSet,
    error::ParseError,
    figures::ledger::Ledger,
    sync::{AtomicU64, Ordering},
};

use crate::control::breaker::notice::{NoticeRoute, NOTICE_TARGET};
use crate::control::breaker::BreakerState;
use crate::control::timed::Timed;
use install::Installed;

/// Low bits of [`Sampler::state`]; any set means keep everything.
pub(crate) const DISABLED: u64 = 1;
pub(crate) const BREAKER_OPEN: u64 = 2;
pub(crate) const FLAG_BITS: u32 = 2;
pub(crate) const FLAG_MASK: u64 = (1 << FLAG_BITS) - 1;

/// Bits of [`Sampler::engaged`]: the optional parts an event must visit.
/// Repeat directives are installed (or were, and windows they opened may
/// still be listed: the bit is cleared by the first install after the last
/// window is summarised).
pub(crate) const REPEATS: u64 = 1;
/// Capture is on (some span kind captures).
pub(crate) const CAPTURE: u64 = 2;
/// A change that expires is pending.
pub(crate) const REVERTS: u64 = 4;
/// A pressure signal is wired.
pub(crate) const PRESSURE: u64 = 8;

/// The builder's settings, validated: everything a sampler needs besides
/// its directives.
#[derive(Debug)]
pub(crate) struct Settings {
    /// Error-triggered capture's settings, from the builder.
    pub(crate) capture: CaptureSettings,
    pub(crate) mode: Mode,
    pub(crate) key_field: String,
    pub(crate) keep_level: Level,
    pub(crate) seed: u64,
    pub(crate) max_keys: usize,
    pub(crate) breaker: Option<BreakerState>,
    /// For budgets: the adjustment's interval and clock.
    pub(crate) budgets: Budgets,
    /// For pressure: the signal and the scale, if wired.
    pub(crate) pressure: Option<PressureState>,
    /// The key extractor, if one is set.
    pub(crate) extractor: Option<KeyExtractor>,
    /// For expiring changes and recent figures (the breaker has its own).
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) recent_interval: Duration,
}

pub(crate) struct Sampler {
    pub(crate) mode: Mode,
    pub(crate) key_field: String,
    pub(crate) keep_level: Level,
    pub(crate) seed: u64,
    pub(crate) callsites: CallsiteTable,
    pub(crate) keys: KeyStore,
    /// `log` records' call sites (through `tracing-log`).
    pub(crate) log_sites: LogSites,
    /// `generation << 2 | DISABLED | BREAKER_OPEN`: one load tells the hot
    /// path both whether to sample and whether its cached rules are current.
    pub(crate) state: AtomicU64,
    /// Which optional parts are engaged ([`REPEATS`], [`CAPTURE`],
    /// [`REVERTS`], [`PRESSURE`]): one load tells an event whether it has
    /// anything to do besides the decision. Set where each part changes
    /// (an install, an edit with an expiry), under the edit lock, each
    /// writer setting or clearing only its own bits with one RMW; read
    /// relaxed, so a change takes effect from the next event, as for rates.
    pub(crate) engaged: AtomicU64,
    pub(crate) installed: RwLock<Arc<Installed>>,
    /// Figures moved out of callsites and keys, per stats bucket. Every move
    /// takes this lock, and so does a snapshot (see [`install`]).
    pub(crate) ledger: Mutex<Ledger>,
    pub(crate) breaker: Option<BreakerState>,
    /// For budgets: the adjustment's clock and schedule.
    pub(crate) budgets: Budgets,
    /// For pressure: the signal and the scale, if wired.
    pub(crate) pressure: Option<PressureState>,
    /// Where the breaker's notices go.
    pub(crate) notices: NoticeRoute,
    /// With a key extractor: decides events inside a trace; the
    /// mode decides the others (see `decide::count`).
    pub(crate) extractor: Option<KeyExtractor>,
    /// Edits, expiring changes and recent figures.
    pub(crate) timed: Timed,
    // CaptureState: per-span buffers of sampled-out lines.
    pub(crate) capture: Arc<CaptureState>,
    /// Repeat suppression (judged before sampling; see `crate::repeat`).
    pub(crate) repeats: Arc<crate::repeat::Repeats>,
    /// The rebuild that settles kept-level callsites first registered
    /// outside one of ours (see `crate::interest`).
    pub(crate) settler: crate::interest::Settler,
}

impl fmt::Debug for Sampler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sampler")
            .field("mode", &self.mode)
            .field("key_field", &self.key_field)
            .field("keep_level", &self.keep_level)
            .field("directives", &self.directives())
            .field("max_keys", &self.keys.max())
            .field("breaker", &self.breaker.is_some())
            .finish_non_exhaustive()
    }
}

impl Sampler {
    /// A sampler with `settings`, `set` installed. `recognise` tells whether
    /// a dispatcher holds this sampler (see [`NoticeRoute::capture`]): only
    /// the filter type knows how to look for itself in one.
    pub(crate) fn new(
        settings: Settings,
        set: DirectiveSet,
        recognise: fn(&Dispatch) -> Option<usize>,
    ) -> Result<Self, ParseError> {
        let Settings {
            capture,
            mode,
            key_field,
            keep_level,
            seed,
            max_keys,
            breaker,
            budgets,
            pressure,
            extractor,
            clock,
            recent_interval,
        } = settings;
        let repeats = Arc::new(crate::repeat::Repeats::new(clock.clone()));
        let sampler = Sampler {
            mode,
            key_field,
            keep_level,
            seed,
            callsites: CallsiteTable::new(),
            keys: KeyStore::new(max_keys),
            log_sites: LogSites::new(),
            state: AtomicU64::new(0),
            engaged: AtomicU64::new(if pressure.is_some() { PRESSURE } else { 0 }),
            installed: RwLock::new(Arc::new(Installed::empty())),
            ledger: Mutex::new(Ledger::default()),
            breaker,
            budgets,
            pressure,
            notices: NoticeRoute::new(recognise),
            extractor,
            timed: Timed::new(clock, recent_interval),
            capture: Arc::new(CaptureState::new(capture)),
            repeats,
            settler: crate::interest::Settler::default(),
        };
        sampler.install(set)?;
        // The first set needs no interest rebuild: the dispatcher this sampler
        // joins asks every callsite afresh when it is made. (A rebuild from a
        // handle call on a thread without that dispatcher would ask a no-op
        // subscriber instead, and switch every callsite off.)
        sampler.repeats.interest_settled();
        Ok(sampler)
    }

    pub(crate) fn directives(&self) -> String {
        self.current().set.source().to_owned()
    }

    pub(crate) fn current(&self) -> Arc<Installed> {
        self.installed
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub(crate) fn set_enabled(&self, enabled: bool) {
        if enabled {
            self.state.fetch_and(!DISABLED, Ordering::Release);
        } else {
            self.state.fetch_or(DISABLED, Ordering::Release);
        }
    }

    /// Sets or clears `bit` of [`engaged`](Self::engaged).
    pub(crate) fn set_engaged(&self, bit: u64, on: bool) {
        if on {
            self.engaged.fetch_or(bit, Ordering::Relaxed);
        } else {
            self.engaged.fetch_and(!bit, Ordering::Relaxed);
        }
    }

    /// Whether a kept-level callsite may be answered `always`: only inside a
    /// rebuild of ours, where the answer is stored before a change of the
    /// repeat targets can rebuild it; elsewhere it is `sometimes`, and a
    /// rebuild is scheduled to settle it (see `crate::interest`).
    pub(crate) fn settled_interest(self: &Arc<Self>) -> bool {
        if crate::interest::rebuilding() {
            return true;
        }
        crate::interest::unsettled(self);
        false
    }

    pub(crate) fn register(&self, meta: &'static Metadata<'static>) -> &CallsiteState {
        self.callsites.get_or_insert(meta, || {
            let consistent = match &self.mode {
                Mode::Consistent { field } => Some(field.as_str()),
                _ => None,
            };
            let sampled = meta.is_event()
                && *meta.level() > self.keep_level
                && meta.target() != NOTICE_TARGET;
            CallsiteState::new(meta, sampled, &self.key_field, consistent)
        })
    }

    /// After a change of the repeat targets: the interest rebuild, under this
    /// sampler's dispatcher when it is known (see `crate::interest`).
    ///
    /// Where neither is known (no event has named it, no
    /// `set_notice_dispatch`) and this thread has no subscriber, a rebuild
    /// would ask a no-op subscriber and switch every callsite off: it waits,
    /// still due, for a handle call made where there is one. Until then the
    /// change reaches callsites registered from then on, and those already
    /// registered keep their interest.
    pub(crate) fn rebuild_repeat_interest(&self) {
        let dispatch = self.notices.dispatch();
        let here = || {
            tracing_core::dispatcher::get_default(|d| {
                !d.is::<tracing_core::subscriber::NoSubscriber>()
            })
        };
        if dispatch.is_some() || here() {
            self.repeats.rebuild_interest(dispatch);
        }
    }

    /// Looks for the dispatcher this sampler is part of (see
    /// [`NoticeRoute::capture`]); called where no dispatch is under way.
    pub(crate) fn capture_dispatch(&self) {
        self.notices.capture(self.id());
    }
}

impl crate::interest::Settle for Sampler {
    fn settler(&self) -> &crate::interest::Settler {
        &self.settler
    }

    /// Under the dispatcher the breaker's notices go to (told, named or
    /// found), or the global default.
    fn settle_under(&self) -> Option<Option<Dispatch>> {
        crate::interest::under(self.notices.dispatch())
    }
}
