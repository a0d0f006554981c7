//! Wall time per captured event with one thread capturing, and with two at once: what
//! threads that capture together cost each other (shared lock words, reference counts,
//! the store's lock). Events four to a capturing `request` span at rate 0, recorded by
//! `backpressure_writer::deferred`'s layer into `io::sink`; `off` is the same with
//! capture off (sampled out), for the part of the difference that is not capture's.
//!
//! ```text
//! cargo run --release -p benches --example capture_threads -- 1 capture
//! cargo run --release -p benches --example capture_threads -- 2 capture
//! cargo run --release -p benches --example capture_threads -- 2 off
//! ```

use std::sync::{Arc, Barrier};
use std::time::Instant;

use backpressure_writer::deferred::DeferredLayer;
use sampling_layer::capture::{Capture, CaptureLayer, CaptureWriter};
use sampling_layer::{Breaker, SamplingFilter};
use tracing::{info, Dispatch};
use tracing_subscriber::prelude::*;

/// Events each thread logs.
const EVENTS: u64 = 400_000;

fn main() {
    let mut args = std::env::args().skip(1);
    let usage = "usage: capture_threads <threads> capture|off";
    let threads: usize = args.next().and_then(|a| a.parse().ok()).expect(usage);
    let capture = match args.next().as_deref() {
        Some("capture") => true,
        Some("off") => false,
        _ => panic!("{usage}"),
    };
    let builder = SamplingFilter::builder().breaker(Breaker::disabled());
    let builder = if capture {
        builder.capture(Capture::default().span("request"))
    } else {
        builder
    };
    let sampler = builder.parse("app=0").expect("valid directives");
    let handle = sampler.handle();
    let writer = CaptureWriter::new(std::io::sink, &handle);
    let layer = CaptureLayer::new(DeferredLayer::new(writer), &handle).with_filter(sampler);
    let dispatch: Dispatch = tracing_subscriber::registry().with(layer).into();
    let start = Arc::new(Barrier::new(threads));
    let runs: Vec<_> = (0..threads)
        .map(|_| {
            let (dispatch, start) = (dispatch.clone(), Arc::clone(&start));
            std::thread::spawn(move || {
                tracing::dispatcher::with_default(&dispatch, || {
                    start.wait();
                    let t = Instant::now();
                    for i in 0..EVENTS / 4 {
                        let span = tracing::info_span!("request", id = i);
                        let _e = span.enter();
                        for step in 0..4u64 {
                            info!(target: "app", step, "event");
                        }
                    }
                    t.elapsed().as_nanos() as f64 / EVENTS as f64
                })
            })
        })
        .collect();
    for run in runs {
        println!("{:.1} ns/event", run.join().expect("thread"));
    }
}
