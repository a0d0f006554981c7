//! The writer's side: a sink wrapper that turns records back into lines.

use std::fmt;
use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::known::Cache;
use super::record::{frame_len, Record, Unreadable, HEADER, START};
use super::text;

/// A sink that writes each record a [`DeferredLayer`](super::DeferredLayer) made as the
/// line `fmt` would have written, and everything else as it comes.
///
/// Put it around the sink of the writer the layer writes to:
/// `backpressure_writer::non_blocking(Decoded::new(file))`. A record that
/// `sampling-layer`'s `CaptureWriter` captured (it follows the record with
/// ` captured=true`) gets that mark at the end of its line, as a captured `fmt` line has it. Text lines (the writer's own
/// report lines, other layers' lines) pass through unchanged and in order. A frame it
/// cannot read — one whose callsite no layer noted, or a damaged one: neither comes from
/// the layer — is written as the line `<unreadable log record>` and counted (read the
/// count through [`unreadable`](Self::unreadable), which stays readable after the sink
/// moved into the writer), never dropped in silence.
///
/// Errors keep the writer's accounting exact: when the inner sink fails part-way, the
/// lines it took whole are reported written (a short write), and the error comes with
/// the next call, as from any sink.
pub struct Decoded<W> {
    inner: W,
    out: Vec<u8>,
    /// For each unit of the input: where it ends in the input and in `out`.
    ends: Vec<(usize, usize)>,
    callsites: Cache,
    unreadable: Unreadables,
    /// The inner sink's error after a short write, for the next call: the writer then
    /// counts the unit the sink tore, and those after it, as failed, as it does when a
    /// sink without `Decoded` fails part-way.
    failed: Option<io::Error>,
}

/// How many frames a [`Decoded`] sink wrote as `<unreadable log record>`: a handle that
/// stays with the caller after the sink moved into the writer.
#[derive(Debug, Clone, Default)]
pub struct Unreadables(Arc<AtomicU64>);

impl Unreadables {
    /// Frames written as `<unreadable log record>` so far.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

impl<W> fmt::Debug for Decoded<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Decoded")
            .field("unreadable", &self.unreadable.get())
            .finish_non_exhaustive()
    }
}

impl<W: Write> Decoded<W> {
    /// Decodes into `inner`.
    pub fn new(inner: W) -> Self {
        Decoded {
            inner,
            out: Vec::new(),
            ends: Vec::new(),
            callsites: Cache::default(),
            unreadable: Unreadables::default(),
            failed: None,
        }
    }
}

impl<W> Decoded<W> {
    /// The count of frames written as `<unreadable log record>`, as a handle: take it
    /// before handing the sink to the writer.
    pub fn unreadable(&self) -> Unreadables {
        self.unreadable.clone()
    }

    /// The inner sink.
    pub fn get_ref(&self) -> &W {
        &self.inner
    }

    /// The inner sink, mutably.
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.inner
    }

    /// The inner sink, unwrapped.
    pub fn into_inner(self) -> W {
        self.inner
    }

    /// Lays out one frame's payload into `out`.
    fn decode(&mut self, payload: &[u8], captured: bool) -> Result<(), Unreadable> {
        let record = Record::read(payload, &mut self.callsites)?;
        #[cfg(feature = "json")]
        if record.flags & super::record::JSON != 0 {
            let at = self.out.len();
            let written =
                super::json::write_line(&mut self.out, &record, captured, &mut self.callsites);
            if written.is_err() {
                self.out.truncate(at);
            }
            return written;
        }
        #[cfg(not(feature = "json"))]
        if record.flags & super::record::JSON != 0 {
            return Err(Unreadable::Damaged);
        }
        let at = self.out.len();
        let written = text::write_line(&mut self.out, &record, captured, &mut self.callsites);
        if written.is_err() {
            self.out.truncate(at);
        }
        written
    }

    /// Decodes `buf` into `out`, unit by unit (a frame, or text up to its newline).
    fn decode_all(&mut self, buf: &[u8]) {
        self.out.clear();
        self.ends.clear();
        let mut at = 0;
        while at < buf.len() {
            let rest = &buf[at..];
            let end = match frame_len(rest) {
                Some(len) => {
                    // `sampling-layer`'s capture marks a record by the text that follows it.
                    let captured = rest[len..].starts_with(CAPTURED);
                    if self.decode(&rest[HEADER..len], captured).is_err() {
                        self.unreadable.0.fetch_add(1, Ordering::Relaxed);
                        self.out.extend_from_slice(b"<unreadable log record>\n");
                    }
                    at + len + if captured { CAPTURED.len() } else { 0 }
                }
                None => {
                    // Text runs to its newline, or to the next frame's start byte (a
                    // producer that wrote a line without one).
                    let skip = usize::from(rest[0] == START);
                    let len = rest[skip..]
                        .iter()
                        .position(|&b| b == b'\n' || b == START)
                        .map_or(rest.len(), |i| {
                            skip + i + usize::from(rest[skip + i] == b'\n')
                        });
                    self.out.extend_from_slice(&rest[..len]);
                    at + len
                }
            };
            self.ends.push((end, self.out.len()));
            at = end;
        }
    }
}

/// The mark `sampling-layer`'s `CaptureWriter` puts after a captured record.
const CAPTURED: &[u8] = b" captured=true";

impl<W: Write> Write for Decoded<W> {
    // Runs on the writer's worker, once per chunk of up to 1 MiB. A record costs about
    // 2 400 instructions to lay out (reading it, checking its texts are UTF-8, replaying
    // its values into the field visitor, the timestamp from the thread's cached second);
    // a text line a scan for its newline and a copy. The chunk's lines go to the inner
    // sink in one `write` when it takes them whole.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some(error) = self.failed.take() {
            return Err(error);
        }
        self.decode_all(buf);
        let mut written = 0;
        let mut interrupted = 0;
        while written < self.out.len() {
            match self.inner.write(&self.out[written..]) {
                Ok(0) => return self.short(written, io::ErrorKind::WriteZero.into()),
                Ok(n) => written += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted && interrupted < 16 => {
                    interrupted += 1;
                }
                Err(e) => return self.short(written, e),
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<W> Decoded<W> {
    /// After the inner sink failed with `written` bytes of `out` taken: the input of the
    /// units it took whole, the error kept for the next call (which would otherwise send
    /// a torn unit again whole, after its first part); or the error if it took none.
    fn short(&mut self, written: usize, error: io::Error) -> io::Result<usize> {
        let whole = self
            .ends
            .iter()
            .take_while(|&&(_, out_end)| out_end <= written)
            .last()
            .map_or(0, |&(in_end, _)| in_end);
        if whole > 0 {
            self.failed = Some(error);
            Ok(whole)
        } else {
            Err(error)
        }
    }
}
