//! Helpers of the context-capture tests: the capture accounting identity, the
//! usual capturing subscriber, and a writer that records which thread wrote
//! each line.

use std::io;
use std::sync::{Arc, Mutex};
use std::thread::ThreadId;

use sampling_layer::capture::{CaptureLayer, CaptureStats, CaptureWriter};
use sampling_layer::{SamplingFilter, SamplingHandle};
use tracing_subscriber::fmt::{self, MakeWriter};
use tracing_subscriber::prelude::*;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

/// A text layer (no time, no ANSI) writing into `writer` (a `CaptureWriter`
/// of `handle`'s sampler), wrapped in a `CaptureLayer`.
pub fn capture_text<S, W>(writer: W, handle: &SamplingHandle) -> impl Layer<S> + Send + Sync
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let text = fmt::layer()
        .without_time()
        .with_ansi(false)
        .with_writer(writer);
    CaptureLayer::new(text, handle)
}

/// [`capture_text`] through a `CaptureWriter` into `out`, filtered by
/// `sampler`: how a user sets capture up.
pub fn text_subscriber<W>(sampler: SamplingFilter, out: W) -> impl tracing::Subscriber + Send + Sync
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let handle = sampler.handle();
    let layer = capture_text(CaptureWriter::new(out, &handle), &handle);
    tracing_subscriber::registry().with(layer.with_filter(sampler))
}

/// Every captured line is flushed, discarded, evicted by a bound, or still
/// buffered: the identity the capture figures promise in every snapshot.
pub fn balanced(s: &CaptureStats) -> bool {
    s.captured
        == s.flushed + s.discarded + s.evicted_span_cap + s.evicted_total_cap + s.buffered_lines
}

/// Records each line with the thread that wrote it.
#[derive(Clone, Default)]
pub struct ByThread(pub Arc<Mutex<Vec<(ThreadId, String)>>>);

pub struct ByThreadWriter(ByThread);

impl io::Write for ByThreadWriter {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        let line = String::from_utf8(b.to_vec()).unwrap();
        let thread = std::thread::current().id();
        self.0 .0.lock().unwrap().push((thread, line));
        Ok(b.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for ByThread {
    type Writer = ByThreadWriter;
    fn make_writer(&'a self) -> ByThreadWriter {
        ByThreadWriter(self.clone())
    }
}
