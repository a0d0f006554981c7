//! The breaker's notices: where each goes ([`NoticeRoute`]) and the one
//! lazily started thread that emits them, fed by a bounded channel.
//!
//! A transition (see the glue in [`breaker`](super::breaker)) is handed to
//! [`NoticeRoute::send`]. A subscriber must not be re-entered from inside its
//! own filtering (the per-layer filter state is thread-local and would be
//! overwritten, and a scoped dispatcher hands nested events to a no-op), so a
//! notice is emitted from another thread, into the dispatcher the sampler is
//! part of, else into the global default. That dispatcher is, first one named
//! by `SamplingHandle::set_notice_dispatch`; else the one a global layer is
//! told (`on_register_dispatch`); else the one a per-layer filter recognises
//! ([`NoticeRoute::capture`]).
//!
//! One thread serves every sampler in the process. It starts with the first
//! transition and then waits on the channel for the life of the process (an
//! idle thread costs a stack and nothing else). The channel holds at most
//! [`CAPACITY`] notices: a transition that finds it full loses its notice, not
//! the transition itself, which is counted in the stats either way. Sending
//! never blocks, so a notice emitted from the notice thread that trips another
//! breaker cannot deadlock.

use std::fmt;
use std::sync::{Mutex, OnceLock};

use tracing_core::dispatcher::{get_default, Dispatch, WeakDispatch};

use super::Transition;

pub(crate) use crate::decide::NOTICE_TARGET;

/// Notices waiting for the notice thread, at most.
pub(crate) const CAPACITY: usize = 256;

/// The notice thread's name (short enough to survive Linux's 15-byte limit).
pub(crate) const THREAD_NAME: &str = "sampler-notice";

struct Notice {
    dispatch: Option<WeakDispatch>,
    job: Job,
}

/// What the notice thread does under a notice's dispatcher.
enum Job {
    Transition(Transition),
    /// Other lines the sampler writes from outside its filter (repeat summaries).
    Run(Box<dyn FnOnce() + Send>),
}

/// `None` if the thread could not be started (then notices are lost, counted
/// transitions are not).
static NOTICES: OnceLock<Option<flume::Sender<Notice>>> = OnceLock::new();

/// Where one sampler's notices go.
pub(crate) struct NoticeRoute {
    /// The dispatcher this sampler is part of (told or recognised).
    found: OnceLock<WeakDispatch>,
    /// Named by `SamplingHandle::set_notice_dispatch`; wins over `found`.
    named: Mutex<Option<WeakDispatch>>,
    /// The id of the sampler a dispatcher holds as its per-layer filter, if
    /// any (only the filter type can look for itself in a dispatcher).
    recognise: fn(&Dispatch) -> Option<usize>,
}

impl fmt::Debug for NoticeRoute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NoticeRoute")
            .field("found", &self.found.get().is_some())
            .finish_non_exhaustive()
    }
}

impl NoticeRoute {
    pub(crate) fn new(recognise: fn(&Dispatch) -> Option<usize>) -> Self {
        NoticeRoute {
            found: OnceLock::new(),
            named: Mutex::new(None),
            recognise,
        }
    }

    /// A global layer is told its dispatcher (`on_register_dispatch`).
    pub(crate) fn told(&self, dispatch: &Dispatch) {
        let _ = self.found.set(dispatch.downgrade());
    }

    /// The user names the dispatcher; wins over any other.
    pub(crate) fn name(&self, dispatch: &Dispatch) {
        *self.named.lock().unwrap_or_else(|e| e.into_inner()) = Some(dispatch.downgrade());
    }

    /// Remembers the dispatcher sampler `id` is part of, when the sampler is
    /// a per-layer filter (a global layer is told; a filter is not). Called
    /// where we are not inside a dispatch (callsite registration, handle
    /// calls): if the thread's current dispatcher holds this very sampler,
    /// keep a weak reference to it. The first `SamplingFilter` in a stack is
    /// the one found, so a second sampler in the same stack, or one inside a
    /// filter combinator, is not recognised and its notices go to the global
    /// default dispatcher.
    pub(crate) fn capture(&self, id: usize) {
        if self.found.get().is_some() {
            return;
        }
        get_default(|d| {
            if (self.recognise)(d) == Some(id) {
                let _ = self.found.set(d.downgrade());
            }
        });
    }

    /// Queues the notice of `t` for the dispatcher named or found.
    pub(crate) fn send(&self, t: Transition) {
        notify(self.weak(), Job::Transition(t));
    }

    /// Queues `job` to run under the dispatcher named or found; `false` if
    /// the channel is full (or there is no thread).
    pub(crate) fn run(&self, job: Box<dyn FnOnce() + Send>) -> bool {
        notify(self.weak(), Job::Run(job))
    }

    /// The dispatcher named or found, if it is still alive.
    pub(crate) fn dispatch(&self) -> Option<Dispatch> {
        self.weak()?.upgrade()
    }

    fn weak(&self) -> Option<WeakDispatch> {
        let named = self.named.lock().unwrap_or_else(|e| e.into_inner()).clone();
        named.or_else(|| self.found.get().cloned())
    }
}

/// Queues one job (a transition's WARN notice, target `sampling_layer`).
fn notify(dispatch: Option<WeakDispatch>, job: Job) -> bool {
    let notice = Notice { dispatch, job };
    match NOTICES.get_or_init(start) {
        // Full (or no thread): the notice is lost, never the caller's time.
        Some(tx) => tx.try_send(notice).is_ok(),
        None => false,
    }
}

impl Job {
    fn run(self) {
        match self {
            Job::Transition(t) => emit(t),
            Job::Run(f) => f(),
        }
    }
}

fn start() -> Option<flume::Sender<Notice>> {
    let (tx, rx) = flume::bounded::<Notice>(CAPACITY);
    std::thread::Builder::new()
        .name(THREAD_NAME.into())
        .spawn(move || {
            for n in rx.iter() {
                match n.dispatch.and_then(|d| d.upgrade()) {
                    Some(d) => tracing::dispatcher::with_default(&d, || n.job.run()),
                    None => n.job.run(),
                }
            }
        })
        .ok()?;
    Some(tx)
}

/// A figure that may be unknown (the ratio before two traffic samples).
struct Known(Option<f64>);

impl std::fmt::Display for Known {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(v) => write!(f, "{v}"),
            None => f.write_str("unknown"),
        }
    }
}

fn emit(t: Transition) {
    if t.opened {
        tracing::warn!(
            target: NOTICE_TARGET,
            error_rate = t.rate,
            threshold = t.threshold,
            trigger = t.trigger.map_or("threshold", |t| t.as_str()),
            error_ratio = %Known(t.ratio),
            baseline = %Known(t.baseline),
            "circuit breaker opened: errors above threshold, sampling suspended (keeping every event)"
        );
    } else {
        tracing::warn!(
            target: NOTICE_TARGET,
            error_rate = t.rate,
            threshold = t.threshold,
            "circuit breaker closed: error rate below threshold for the hold period, sampling resumed"
        );
    }
}
