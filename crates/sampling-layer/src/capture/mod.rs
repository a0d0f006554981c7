//! Error-triggered context: the sampled-out lines of a span that ends in an error.
//!
#![doc = include_str!("capture.md")]

// How it is built (for maintainers):
//
// The design, top to bottom (the user-facing manual is `capture.md`):
//
// - `directive::capture_spec`: which spans capture (`+name`, `+{field}`,
//   `+name{field}`), and the settings the builder checked; `config`: the
//   public `Capture` value they come from.
// - `ownership`: the span hooks, which work out which capturing span owns
//   each span's events; capturing spans sit in its `table` of open ones, so
//   entering and closing them costs no registry lookup.
// - `stack`: two thread-locals. The stack of capturing spans the thread is
//   inside (pushed in `on_enter`, popped in `on_exit`, so it follows a task
//   across `.await` and threads), and the *marks* the decision leaves for the
//   writer: "sampler S diverted the event of callsite M into span B".
// - `store`: the per-span buffers behind one mutex, with the per-span and
//   total bounds and the figures; `store::ring` holds one span's lines.
// - `writer`: `CaptureWriter`, the `MakeWriter` wrapper that takes a mark
//   and diverts the line into the span's buffer, or, for a trigger line,
//   writes the buffers ahead of it.
// - `layer`: `CaptureLayer`, the wrapper of the layer that owns the
//   `CaptureWriter`; the sampler writes a captured event through it alone,
//   found through `registration` (a copy per thread shard, so threads that
//   capture at once share no lock word).
//
// Why this shape: a `MakeWriter` sees only the metadata, and a `Filter`
// enables an event for every layer under it. So the sampler never enables a
// sampled-out event inside a capturing span: it leaves a thread-local mark
// keyed by (sampler, callsite), hands the event straight to the one layer
// wrapped in `CaptureLayer` (formatted once, as a kept one is), whose writer,
// called on the same thread while formatting, picks the mark up; then it
// answers "sampled out", so no other layer sees the event. Outside
// capturing spans a dropped event pays one load of a `const` thread-local
// (how many capturing spans the thread is inside); `active` is read only
// when that is not zero, or on the rare kept event.
//
// What this shape needs: the sampler never sees its layer's writer, so it
// diverts only while a `CaptureLayer` (registered when added to a
// subscriber) and a `CaptureWriter` of its own exist; with either missing, an
// event it would divert stays sampled out, counted, and the sampler says so
// once on stderr. Otherwise a layer with a plain writer would write every
// sampled-out event of a capturing span as if it were kept.

mod config;
mod layer;
pub(crate) mod ownership;
mod registration;
pub(crate) mod stack;
pub(crate) mod store;
mod writer;

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use tracing_core::{Event, Level, Metadata};
use tracing_subscriber::layer::Context;

use crate::annotate;
use crate::sync::OwnLine;

pub(crate) use crate::directive::capture_spec::{CaptureSettings, CaptureSpec};
pub use config::Capture;
pub use layer::CaptureLayer;
pub use store::CaptureStats;
pub use writer::{CaptureSink, CaptureWriter};

use layer::WriteCaptured;
use ownership::table::OwnerTable;
use registration::{AnyWrite, Registration};
use store::Store;

/// One sampler's capture state. Inactive until some spec is configured, by
/// the builder or a directive.
pub(crate) struct CaptureState {
    active: AtomicBool,
    /// The builder's specs followed by the installed directive set's (on a line
    /// of its own: every new span takes its read lock).
    specs: OwnLine<RwLock<Arc<[CaptureSpec]>>>,
    settings: CaptureSettings,
    /// On lines of its own: every captured line writes the lock and the
    /// store, and the flags above are read by every event in a capturing span.
    store: OwnLine<Mutex<Store>>,
    /// `CaptureWriter`s of this sampler alive now: diverting is safe only
    /// while one exists.
    writers: AtomicUsize,
    /// The `CaptureLayer` captured events are written through: a
    /// `WriteCaptured<S>` for the subscriber type it was added to, with its
    /// registration's token. `has_layer` says whether it is set, so the
    /// decision reads an atomic, not a lock.
    layer: Registration,
    has_layer: AtomicBool,
    next_token: AtomicU64,
    /// The open capturing spans, made with the first one (see [`ownership`]).
    owners: OnceLock<OwnerTable>,
    /// Events not diverted for want of a writer (`CaptureStats::no_writer`).
    no_writer: AtomicU64,
    /// Whether the missing writer has been reported (once per sampler).
    warned: AtomicBool,
}

impl fmt::Debug for CaptureState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CaptureState")
            .field("active", &self.is_active())
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Default for CaptureState {
    fn default() -> Self {
        CaptureState {
            active: AtomicBool::new(false),
            specs: OwnLine(RwLock::new(Arc::from(Vec::new()))),
            settings: CaptureSettings::default(),
            store: OwnLine(Mutex::new(Store::default())),
            writers: AtomicUsize::new(0),
            layer: Registration::default(),
            has_layer: AtomicBool::new(false),
            next_token: AtomicU64::new(1),
            owners: OnceLock::new(),
            no_writer: AtomicU64::new(0),
            warned: AtomicBool::new(false),
        }
    }
}

impl CaptureState {
    /// Whether any span kind captures. A relaxed load: a change of directives
    /// takes effect from the next event, as for rates.
    #[inline]
    pub(crate) fn is_active(&self) -> bool {
        self.active.load(Ordering::Relaxed)
    }

    pub(crate) fn trigger(&self) -> Level {
        self.settings.trigger
    }

    /// With the builder's settings; the directives' specs come with each
    /// install ([`set_directive_specs`](Self::set_directive_specs)).
    pub(crate) fn new(settings: CaptureSettings) -> Self {
        CaptureState {
            settings,
            ..CaptureState::default()
        }
    }

    /// Installs a directive set's specs beside the builder's. With none left,
    /// capture turns off and every buffer is discarded (counted).
    pub(crate) fn set_directive_specs(&self, directive: &[CaptureSpec]) {
        let all: Arc<[CaptureSpec]> = self
            .settings
            .specs
            .iter()
            .chain(directive)
            .cloned()
            .collect();
        let active = !all.is_empty();
        *self.specs.write().unwrap_or_else(|e| e.into_inner()) = all;
        self.active.store(active, Ordering::Relaxed);
        if !active {
            self.lock().discard_all();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn stats(&self) -> CaptureStats {
        self.lock().stats(self.no_writer.load(Ordering::Relaxed))
    }

    /// A `CaptureWriter` of this sampler was made.
    pub(crate) fn writer_made(&self) {
        self.writers.fetch_add(1, Ordering::Relaxed);
    }

    /// A `CaptureWriter` of this sampler was dropped.
    pub(crate) fn writer_dropped(&self) {
        self.writers.fetch_sub(1, Ordering::Relaxed);
    }

    /// A `CaptureLayer` of this sampler was added to a subscriber: its token,
    /// or `None` (with a warning) if another one holds the place.
    pub(crate) fn register_layer(&self, write: AnyWrite) -> Option<u64> {
        let token = self.next_token.fetch_add(1, Ordering::Relaxed);
        if !self.layer.set(token, write) {
            eprintln!("{SECOND_LAYER_WARNING}");
            return None;
        }
        self.has_layer.store(true, Ordering::Relaxed);
        Some(token)
    }

    /// The `CaptureLayer` holding `token` was dropped.
    pub(crate) fn unregister_layer(&self, token: u64) {
        if self.layer.clear(token) {
            self.has_layer.store(false, Ordering::Relaxed);
        }
    }

    /// Whether a captured line has somewhere to go: a `CaptureLayer` to be
    /// written through and a `CaptureWriter` to divert it.
    #[inline]
    fn can_divert(&self) -> bool {
        self.has_layer.load(Ordering::Relaxed) && self.writers.load(Ordering::Relaxed) != 0
    }

    /// Hands an event the decision marked (captured, or a suppressed
    /// trigger's context) to the `CaptureLayer`, which formats it into its
    /// `CaptureWriter`. The caller then answers "sampled out", so no other
    /// layer sees it. It costs a read lock of this thread's copy of the
    /// registration (see [`Registration`]), held while the layer writes.
    pub(crate) fn write_diverted<S: 'static>(
        &self,
        sampler: usize,
        event: &Event<'_>,
        cx: &Context<'_, S>,
    ) {
        let written = self.layer.with(|w| {
            match w.and_then(|w| w.downcast_ref::<WriteCaptured<S>>()) {
                Some(write) => write.call(event, cx),
                None => return false,
            }
            true
        });
        // The layer went away since the decision read `has_layer` (its
        // subscriber is being dropped), sits in another subscriber type, or
        // this is a nested call while the registration changes.
        if !written {
            self.no_writer.fetch_add(1, Ordering::Relaxed);
        }
        // A layer that did not write the line (a filter inside it) leaves
        // its mark: clear it, so no later line of the callsite takes it.
        stack::clear_mark(sampler, event.metadata());
    }

    /// An event would have been diverted but no writer can take it: it stays
    /// sampled out. Returns whether this call printed the warning (the first
    /// one of this sampler does).
    #[cold]
    fn no_writer(&self) -> bool {
        self.no_writer.fetch_add(1, Ordering::Relaxed);
        if self.warned.swap(true, Ordering::Relaxed) {
            return false;
        }
        eprintln!("{NO_WRITER_WARNING}");
        true
    }

    /// `Filter::enabled`, after the sampler's early decision `keep` (`true`
    /// also means "decided later"): a sampled-out event inside a capturing
    /// span is enabled and marked for the writer; a kept one clears any mark
    /// left by an earlier event of its callsite that never reached the writer.
    #[inline(always)]
    pub(crate) fn after_enabled(&self, sampler: usize, meta: &Metadata<'_>, keep: bool) -> bool {
        if keep {
            if self.is_active() {
                stack::clear_mark(sampler, meta);
            }
            return true;
        }
        // Dropped: the thread-local first (one load of a `const` cell), so
        // that an event outside capturing spans never reads `active`.
        stack::inside_any() && self.is_active() && self.divert_inside(sampler, meta)
    }

    /// `Filter::event_enabled`: an event `enabled` diverted is not decided
    /// (and counted) again; one `decide` drops is diverted if it can be. A
    /// diverted event is written through the `CaptureLayer` here, carrying no
    /// `sample_rate`, and answered `false`: sampled out for every layer.
    #[inline]
    pub(crate) fn event_enabled<S: 'static>(
        &self,
        sampler: usize,
        event: &Event<'_>,
        cx: &Context<'_, S>,
        decide: impl FnOnce() -> bool,
    ) -> bool {
        let meta = event.metadata();
        let diverted = stack::has_mark(sampler, meta) || {
            if decide() {
                return true;
            }
            self.divert(sampler, meta)
        };
        if diverted {
            annotate::set(sampler, event, None);
            self.write_diverted(sampler, event, cx);
        }
        false
    }

    /// If the thread is inside a capturing span, leaves a mark for the writer
    /// and answers `true` (write it through the `CaptureLayer`). Outside every
    /// capturing span this is one thread-local load, inlined.
    #[inline(always)]
    fn divert(&self, sampler: usize, meta: &Metadata<'_>) -> bool {
        stack::inside_any() && self.divert_inside(sampler, meta)
    }

    /// Inside some capturing span: one scan of the thread's stack and, if
    /// this sampler owns a span there, one relaxed load of the writer count.
    #[inline(never)]
    fn divert_inside(&self, sampler: usize, meta: &Metadata<'_>) -> bool {
        let Some(owner) = stack::innermost_owner(sampler) else {
            return false;
        };
        if !self.can_divert() {
            self.no_writer();
            return false;
        }
        stack::set_mark(sampler, meta, owner);
        true
    }

    /// A copy the repeat judgement suppressed, at the trigger level, inside
    /// this sampler's capturing spans: the request failed, so its captured
    /// context is still written. The event gets a mark that tells
    /// [`CaptureWriter`] to write the context and not the line, and goes to
    /// the `CaptureLayer` ([`write_diverted`](Self::write_diverted)). `false`
    /// (stay suppressed) outside capturing spans, without capture or without
    /// a layer and writer.
    pub(crate) fn suppressed_trigger(&self, sampler: usize, meta: &Metadata<'_>) -> bool {
        if !stack::inside_any() || !self.is_active() || *meta.level() > self.trigger() {
            return false;
        }
        if stack::innermost_owner(sampler).is_none() || !self.can_divert() {
            return false;
        }
        stack::set_mark(sampler, meta, CONTEXT_ONLY);
        true
    }

    /// Stores a captured line in `owner`'s buffer.
    pub(crate) fn store(&self, owner: u64, line: store::Line<'_>) {
        let mut store = self.lock();
        // Read under the lock that `set_directive_specs`' discard takes after
        // clearing `active`: a line diverted just before capture was switched
        // off is counted as discarded, never left in a buffer nobody frees.
        if !self.is_active() {
            store.reject();
            return;
        }
        store.push_line(owner, line, &self.settings);
    }

    /// Takes the buffers of every capturing span the thread is inside,
    /// merged into the order their lines were logged.
    pub(crate) fn take_for_trigger(&self, sampler: usize) -> Vec<Vec<u8>> {
        let owners = stack::owners(sampler);
        if owners.is_empty() {
            return Vec::new();
        }
        self.lock().take(&owners)
    }
}

/// What a second `CaptureLayer` of one sampler says: only one layer can be
/// the one a captured line is written through.
const SECOND_LAYER_WARNING: &str = "warning: sampling-layer: this sampler already writes captured \
     events through a `CaptureLayer`; a second one is not used for capture (its layer sees the \
     sampler's kept events only)";

/// The mark of a suppressed trigger: write the context, drop the line (no
/// span's id is `u64::MAX`).
pub(crate) const CONTEXT_ONLY: u64 = u64::MAX;

/// What a sampler that would capture but has no writer to divert into says,
/// once: the fix, and what happens meanwhile.
const NO_WRITER_WARNING: &str = "warning: sampling-layer: context capture is configured but this \
     sampler has no `CaptureLayer` in a subscriber or no `CaptureWriter`, so nothing can be \
     captured; sampled-out events inside capturing spans are dropped as sampled out (counted in \
     `stats().capture.no_writer`). Wrap the writer of the layer this sampler filters, and the \
     layer: `CaptureLayer::new(fmt::layer().with_writer(CaptureWriter::new(writer, &handle)), \
     &handle).with_filter(sampler)`";
#[cfg(all(test, not(sampling_layer_loom)))]
mod tests {
    use super::CaptureState;

    #[test]
    fn a_missing_writer_is_reported_once_and_every_time_counted() {
        let c = CaptureState::default();
        assert!(c.no_writer());
        assert!(!c.no_writer());
        assert_eq!(c.stats().no_writer, 2);
    }
}
