//! A per-layer `Levels` under the global default dispatcher settles the
//! callsites it first answered `sometimes` by itself (its own process: the
//! global default is set once).

use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sampling_layer::level::Levels;
use tracing::{debug, info, Metadata, Subscriber};
use tracing_core::subscriber::Interest;
use tracing_subscriber::layer::{Context, Filter, Layer};
use tracing_subscriber::prelude::*;

/// `Levels` as a per-layer filter, counting the events it is asked about.
struct Counted(Levels, Arc<AtomicU32>);

impl<S: Subscriber> Filter<S> for Counted {
    fn enabled(&self, meta: &Metadata<'_>, cx: &Context<'_, S>) -> bool {
        self.1.fetch_add(1, SeqCst);
        Filter::<S>::enabled(&self.0, meta, cx)
    }

    fn callsite_enabled(&self, meta: &'static Metadata<'static>) -> Interest {
        Filter::<S>::callsite_enabled(&self.0, meta)
    }

    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        Filter::<S>::max_level_hint(&self.0)
    }
}

/// Counts the events written.
struct Written(Arc<AtomicU32>);

impl<S: Subscriber> Layer<S> for Written {
    fn on_event(&self, _: &tracing::Event<'_>, _: Context<'_, S>) {
        self.0.fetch_add(1, SeqCst);
    }
}

#[test]
fn a_per_layer_levels_under_the_global_default_settles_by_itself() {
    let levels = Levels::try_new("info,other=debug").unwrap();
    let handle = levels.handle();
    let (asked, written) = (Arc::new(AtomicU32::new(0)), Arc::new(AtomicU32::new(0)));
    tracing_subscriber::registry()
        .with(Written(written.clone()).with_filter(Counted(levels, asked.clone())))
        .init();
    let take = |n: &AtomicU32| n.swap(0, SeqCst);
    let emit = || {
        debug!(target: "app", "below");
        info!(target: "app", "at");
    };
    emit();
    assert_eq!(
        (take(&written), take(&asked)),
        (1, 2),
        "first registered: asked"
    );
    // Settled on the filter's own thread, through the global default (a
    // rebuild through the thread's own default would have asked a no-op
    // subscriber and switched both off).
    let deadline = Instant::now() + Duration::from_secs(60);
    while handle.stats().settles == 0 {
        assert!(Instant::now() < deadline, "never settled");
        std::thread::sleep(Duration::from_millis(5));
    }
    for _ in 0..3 {
        emit();
    }
    assert_eq!(
        (take(&written), take(&asked)),
        (3, 0),
        "settled: nothing asked"
    );
    assert_eq!(handle.stats().rebuilds, 0, "no change was made");
}
