//! Instructions per sampled-out event, for `callgrind` (deterministic where
//! criterion's nanoseconds are noisy on a shared machine). Run it at two
//! counts and divide the difference of the totals by the difference of the
//! counts (`docs/benchmarks.md`, *Context capture*):
//!
//! ```text
//! valgrind --tool=callgrind ./capture_instr 100000 [capture]
//! valgrind --tool=callgrind ./capture_instr 200000 [capture]
//! ```
//!
//! With `capture`, the sampler captures `request` spans, and the events are
//! outside any: the cost every event outside capturing spans pays.

use sampling_layer::capture::Capture;
use sampling_layer::{Breaker, SamplingFilter};
use tracing::{info, Dispatch, Subscriber};
use tracing_subscriber::{layer::Context, prelude::*, Layer};

/// The end of the stack: does nothing with what reaches it.
struct Sink;

impl<S: Subscriber> Layer<S> for Sink {
    fn on_event(&self, e: &tracing::Event<'_>, _: Context<'_, S>) {
        std::hint::black_box(e);
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: u64 = args
        .next()
        .and_then(|a| a.parse().ok())
        .expect("usage: capture_instr <events> [capture]");
    let builder = SamplingFilter::builder().breaker(Breaker::disabled());
    let builder = match args.next().as_deref() {
        Some("capture") => builder.capture(Capture::default().span("request")),
        _ => builder,
    };
    let sampler = builder.parse("app=0.001").expect("valid directives");
    let dispatch: Dispatch = tracing_subscriber::registry()
        .with(Sink.with_filter(sampler))
        .into();
    tracing::dispatcher::with_default(&dispatch, || {
        for i in 0..n {
            std::hint::black_box(i);
            info!(target: "app", n = 1, "event");
        }
    });
}
