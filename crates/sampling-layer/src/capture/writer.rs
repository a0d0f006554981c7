//! [`CaptureWriter`]: the `MakeWriter` wrapper that diverts captured lines
//! into their span's buffer and writes a span's buffer ahead of its trigger.

use std::cell::Cell;
use std::fmt;
use std::io;
use std::sync::Arc;

use tracing_core::Metadata;
use tracing_subscriber::fmt::MakeWriter;

use super::{stack, CaptureState};

/// Wraps the `MakeWriter` of the layer a [`SamplingFilter`](crate::SamplingFilter)
/// filters, so that the sampler's context capture works (see the crate docs,
/// *Context capture*). Without capture configured it only forwards.
///
/// The sampler hands a sampled-out event inside a capturing span to its
/// [`CaptureLayer`](crate::capture::CaptureLayer) only while a
/// `CaptureWriter` made for it exists: with none, such an event stays
/// sampled out (counted in
/// [`CaptureStats::no_writer`](crate::capture::CaptureStats::no_writer), reported once
/// on stderr) rather than reach a writer that would print it as if kept.
///
/// For a line the sampler captured it returns a writer into the capturing
/// span's buffer, which marks the line (` captured=true` at the end of a text
/// line, `"captured":true` first in a JSON object; after a record of
/// `backpressure-writer`'s deferred layer, whose decoder puts it at the end of
/// the line it lays out). For a line at the trigger
/// level (or more severe) inside capturing spans, it first writes those spans'
/// buffered lines, each through `inner.make_writer_for(trigger's metadata)`,
/// so a level-aware writer (such as `backpressure-writer`'s) gives them the
/// trigger's class; then it returns the writer for the trigger line.
/// [`with_context_writer`](Self::with_context_writer) sends them through
/// another `MakeWriter` instead (a writer that treats context apart: a share
/// of its reserved capacity, a wait bound of its own), still before the
/// trigger line from the same thread.
///
/// ```
/// use sampling_layer::capture::{Capture, CaptureLayer, CaptureWriter};
/// use sampling_layer::SamplingFilter;
/// use tracing_subscriber::{fmt, prelude::*};
///
/// let sampler = SamplingFilter::builder()
///     .capture(Capture::default().span("request"))
///     .parse("0.01")
///     .unwrap();
/// let handle = sampler.handle();
/// let writer = CaptureWriter::new(std::io::stdout, &handle);
/// let layer = CaptureLayer::new(fmt::layer().with_writer(writer), &handle);
/// let _subscriber = tracing_subscriber::registry().with(layer.with_filter(sampler));
/// ```
pub struct CaptureWriter<M, C = M> {
    inner: M,
    /// Where flushed context goes; `None`: through `inner`.
    context: Option<C>,
    sampler: Registered,
}

/// The sampler, told that a writer able to divert its lines exists for as
/// long as this lives.
struct Registered {
    capture: Arc<CaptureState>,
    /// The sampler's identity, as its decision marks events.
    sampler: usize,
}

impl Registered {
    fn new(capture: Arc<CaptureState>, sampler: usize) -> Self {
        capture.writer_made();
        Registered { capture, sampler }
    }
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.capture.writer_dropped();
    }
}

impl<M> CaptureWriter<M> {
    /// For the sampler whose capture state and identity these are; the public
    /// constructor (`CaptureWriter::new`, beside the handle) calls this.
    pub(crate) fn for_sampler(inner: M, capture: Arc<CaptureState>, sampler: usize) -> Self {
        CaptureWriter {
            inner,
            context: None,
            sampler: Registered::new(capture, sampler),
        }
    }
}

impl<M, C> CaptureWriter<M, C> {
    /// Writes flushed context through `context.make_writer_for(trigger's
    /// metadata)` instead of through the wrapped writer; the trigger line
    /// still goes through the wrapped one, after the context.
    pub fn with_context_writer<C2>(self, context: C2) -> CaptureWriter<M, C2> {
        CaptureWriter {
            inner: self.inner,
            context: Some(context),
            sampler: self.sampler,
        }
    }
}

impl<M: fmt::Debug, C: fmt::Debug> fmt::Debug for CaptureWriter<M, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CaptureWriter")
            .field("inner", &self.inner)
            .field("context", &self.context)
            .field("capture", &self.sampler.capture)
            .finish()
    }
}

impl<'a, M, C> MakeWriter<'a> for CaptureWriter<M, C>
where
    M: MakeWriter<'a>,
    C: MakeWriter<'a>,
{
    type Writer = CaptureSink<'a, M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        CaptureSink(Sink::Inner(self.inner.make_writer()))
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> Self::Writer {
        let capture = &self.sampler.capture;
        let sampler = self.sampler.sampler;
        // Marks first, whether or not capture is still on: a line diverted
        // just before it was switched off must not reach the sink as if kept.
        // (A scan of a few entries of a `const` thread-local, beside a
        // formatting.)
        if let Some(owner) = stack::take_mark(sampler, meta) {
            if owner == crate::capture::CONTEXT_ONLY {
                // A suppressed repeat that is a trigger: its context, not its line.
                self.write_context(meta);
                return CaptureSink(Sink::Discard);
            }
            return CaptureSink(Sink::Buffer {
                capture,
                owner,
                line: Vec::new(),
            });
        }
        if !capture.is_active() {
            return CaptureSink(Sink::Inner(self.inner.make_writer_for(meta)));
        }
        if meta.is_event() && *meta.level() <= capture.trigger() {
            self.write_context(meta);
        }
        CaptureSink(Sink::Inner(self.inner.make_writer_for(meta)))
    }
}

impl<'a, M, C> CaptureWriter<M, C>
where
    M: MakeWriter<'a>,
    C: MakeWriter<'a>,
{
    /// Writes the captured lines of the spans the thread is inside, ahead of
    /// the trigger `meta`.
    fn write_context(&'a self, meta: &Metadata<'_>) {
        for line in self.sampler.capture.take_for_trigger(self.sampler.sampler) {
            // A line the sink refuses is lost like any line it refuses.
            let _ = match &self.context {
                Some(c) => io::Write::write_all(&mut c.make_writer_for(meta), &line),
                None => io::Write::write_all(&mut self.inner.make_writer_for(meta), &line),
            };
        }
    }
}

/// The writer [`CaptureWriter`] returns: the inner writer, or a span's buffer.
pub struct CaptureSink<'a, W>(Sink<'a, W>);

enum Sink<'a, W> {
    Inner(W),
    /// A suppressed repeat's line, after its context was written.
    Discard,
    /// The line is stored, marked, when the writer is dropped (`fmt` writes a
    /// line with one `write_all`, then drops the writer); a deferred record,
    /// which its layer writes whole with one `write_all`, is stored as it is
    /// written. `line` is the thread's reused buffer once a write needs it.
    Buffer {
        capture: &'a CaptureState,
        owner: u64,
        line: Vec<u8>,
    },
}

impl<W> fmt::Debug for CaptureSink<'_, W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Sink::Inner(_) => f.write_str("CaptureSink::Inner"),
            Sink::Discard => f.write_str("CaptureSink::Discard"),
            Sink::Buffer { owner, .. } => write!(f, "CaptureSink::Buffer({owner})"),
        }
    }
}

// Both inlined into the layer's one `write_all`: left to the compiler, the
// formatted line's path went out of line and measured ~40 instructions dearer
// (callgrind, `path_instr captured`).
impl<W: io::Write> io::Write for CaptureSink<'_, W> {
    #[inline(always)]
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.0 {
            Sink::Inner(w) => w.write(buf),
            Sink::Discard => Ok(buf.len()),
            Sink::Buffer {
                capture,
                owner,
                line,
            } => {
                if line.is_empty() && buf.first() == Some(&RECORD_START) {
                    store_record(capture, *owner, buf);
                    return Ok(buf.len());
                }
                if line.capacity() == 0 {
                    *line = SCRATCH.try_with(Cell::take).unwrap_or_default();
                }
                line.extend_from_slice(buf);
                Ok(buf.len())
            }
        }
    }

    #[inline(always)]
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match &mut self.0 {
            Sink::Inner(w) => w.write_all(buf),
            Sink::Discard | Sink::Buffer { .. } => self.write(buf).map(drop),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.0 {
            Sink::Inner(w) => w.flush(),
            Sink::Discard | Sink::Buffer { .. } => Ok(()),
        }
    }
}

impl<W> Drop for CaptureSink<'_, W> {
    fn drop(&mut self) {
        if let Sink::Buffer {
            capture,
            owner,
            line,
        } = &mut self.0
        {
            let mut line = std::mem::take(line);
            if !line.is_empty() {
                mark(&mut line);
                capture.store(*owner, (&line, &[]));
            }
            if line.capacity() != 0 && line.capacity() <= SCRATCH_KEEP {
                line.clear();
                // Past its thread-locals, the thread frees it instead.
                let _ = SCRATCH.try_with(|s| s.set(line));
            }
        }
    }
}

/// A deferred record, written whole: copied into its span's ring as it
/// comes, its mark after it (see [`mark`]), with no copy through the line
/// buffer and no scan for where the mark goes.
#[inline(never)]
fn store_record(capture: &CaptureState, owner: u64, record: &[u8]) {
    capture.store(owner, (record, TEXT_MARK));
}

thread_local! {
    /// The captured line being written, reused from line to line: the line is
    /// copied into its span's ring when written, so it needs no allocation of
    /// its own. (A line captured while another is being written, from a value's
    /// `Debug` that logs, finds it taken and uses a `Vec` of its own.)
    static SCRATCH: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

/// The bytes a thread's captured-line buffer keeps between lines.
const SCRATCH_KEEP: usize = 16 << 10;

const TEXT_MARK: &[u8] = b" captured=true";
const JSON_MARK: &[u8] = b"\"captured\":true";

/// The first byte of a record of `backpressure-writer`'s deferred layer, which
/// its decoder lays out as a line on the writer's thread.
const RECORD_START: u8 = 0x1e;

/// Marks a formatted line as captured, in place (the capacity was reserved):
/// the first member of a JSON object, or the end of a text line. A deferred
/// record is binary and has no end of line to put the mark before: the text
/// mark follows it, where the decoder looks for it and moves it into the line.
fn mark(line: &mut Vec<u8>) {
    if line.first() == Some(&RECORD_START) {
        line.extend_from_slice(TEXT_MARK);
        return;
    }
    let body = line.len()
        - line
            .iter()
            .rev()
            .take_while(|&&b| b == b'\n' || b == b'\r')
            .count();
    // Appended, then rotated into place: `splice` cost ~250 instructions per
    // captured line for its general machinery.
    let len = line.len();
    let at = if line.first() == Some(&b'{') && body > 0 && line[body - 1] == b'}' {
        let empty = line[1..body - 1].iter().all(u8::is_ascii_whitespace);
        line.extend_from_slice(JSON_MARK);
        if !empty {
            line.push(b',');
        }
        1
    } else {
        line.extend_from_slice(TEXT_MARK);
        body
    };
    let added = line.len() - len;
    line[at..].rotate_right(added);
}

#[cfg(all(test, not(sampling_layer_loom)))]
mod tests {
    use super::mark;

    fn marked(s: &str) -> String {
        let mut v = s.as_bytes().to_vec();
        mark(&mut v);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn marks_text_and_json() {
        assert_eq!(
            marked("DEBUG app: hi x=1\n"),
            "DEBUG app: hi x=1 captured=true\n"
        );
        assert_eq!(marked("DEBUG app: hi"), "DEBUG app: hi captured=true");
        assert_eq!(
            marked("{\"level\":\"DEBUG\"}\n"),
            "{\"captured\":true,\"level\":\"DEBUG\"}\n"
        );
        assert_eq!(marked("{}\n"), "{\"captured\":true}\n");
        // A deferred record: after it, whatever its bytes.
        assert_eq!(marked("\u{1e}rec\n\0"), "\u{1e}rec\n\0 captured=true");
    }

    /// The mark written by inserting it where it goes (the obvious way),
    /// to check the rotating one against.
    fn reference(s: &str) -> String {
        let mut line = s.as_bytes().to_vec();
        let body = line.len()
            - line
                .iter()
                .rev()
                .take_while(|&&b| b == b'\n' || b == b'\r')
                .count();
        if line.first() == Some(&b'{') && body > 0 && line[body - 1] == b'}' {
            let empty = line[1..body - 1].iter().all(u8::is_ascii_whitespace);
            let sep: &[u8] = if empty { b"" } else { b"," };
            line.splice(1..1, super::JSON_MARK.iter().chain(sep).copied());
        } else {
            line.splice(body..body, super::TEXT_MARK.iter().copied());
        }
        String::from_utf8(line).unwrap()
    }

    #[test]
    fn the_mark_goes_where_an_insertion_would_put_it() {
        for s in [
            "",
            "\n",
            "\r\n",
            "x",
            "x\r\n",
            "x\n\n",
            "{",
            "}",
            "{}",
            "{ }\n",
            "{\"a\":1}",
            "{\"a\":1}\r\n",
            "{\"a\":\"}\"}\n",
            "DEBUG span{a=1}: t: m k=v\n",
            "{x}\n",
        ] {
            assert_eq!(marked(s), reference(s), "{s:?}");
        }
    }
}
