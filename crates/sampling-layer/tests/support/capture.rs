//! Helpers of the context-capture tests: the capture accounting identity, and a
//! writer that records which thread wrote each line.

use std::io;
use std::sync::{Arc, Mutex};
use std::thread::ThreadId;

use sampling_layer::capture::CaptureStats;
use tracing_subscriber::fmt::MakeWriter;

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
