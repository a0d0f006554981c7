//! One sink write: assembling a chunk of up to [`CHUNK`] bytes from the two queues of a
//! batch in submission order, and handing it to the sink with a bounded retry loop.
//!
//! A batch holds lines under the overflow policy and keep-level lines in two queues, each
//! in submission order; the sink must see them merged by sequence number. A chunk that
//! comes from one queue alone (a run of one class, the common case) is written straight
//! from that queue's buffer; a chunk that mixes the two is copied into a reusable scratch
//! buffer first, so keep-level lines ride in the same large writes as the rest instead of
//! splitting the batch into one write per run of one class.

use std::io::{self, Write};
use std::ops::Range;
use std::panic::{self, AssertUnwindSafe};

use crate::queue::LineQueue;
use crate::report::Fault;
use crate::shared::Lines;

/// Bytes handed to the sink per chunk: big enough that a file sees few syscalls
/// (1 MiB measured faster than 64 KiB and 256 KiB with 2 producers, see
/// docs/benchmarks.md), small enough that room frees up progressively while a large batch
/// is written.
pub(super) const CHUNK: usize = 1024 * 1024;

/// How many `Interrupted` errors one chunk may meet before its batch fails. std's
/// `write_all` retries them without end, so a sink that always returns `Interrupted` would
/// keep the worker spinning forever, also after the guard gave up on it.
pub(super) const MAX_INTERRUPTED: u32 = 16;

/// A run of lines of one class inside a chunk.
#[derive(Debug, Clone)]
struct Segment {
    keep: bool,
    /// Byte range in that class's queue.
    range: Range<usize>,
    lines: usize,
}

#[derive(Debug, Default)]
pub(super) struct Chunk {
    segments: Vec<Segment>,
    /// The merged bytes of a chunk with more than one segment; keeps its allocation.
    scratch: Vec<u8>,
}

fn queue<'a>(policy: &'a LineQueue, keep: &'a LineQueue, is_keep: bool) -> &'a LineQueue {
    if is_keep {
        keep
    } else {
        policy
    }
}

impl Chunk {
    /// Takes the next chunk off the front of the batch: runs of either queue, merged by
    /// sequence number, whole lines, at most [`CHUNK`] bytes unless its first line alone is
    /// longer. `None` once the batch is empty.
    pub(super) fn assemble(
        &mut self,
        policy: &mut LineQueue,
        keep: &mut LineQueue,
    ) -> Option<Lines> {
        self.segments.clear();
        let mut size = 0;
        let mut lines = Lines::default();
        while size < CHUNK {
            let (is_keep, stop) = match (policy.front_seq(), keep.front_seq()) {
                (None, None) => break,
                (Some(_), None) => (false, u64::MAX),
                (None, Some(_)) => (true, u64::MAX),
                (Some(p), Some(k)) if p < k => (false, k),
                (Some(p), Some(_)) => (true, p),
            };
            let q = if is_keep { &mut *keep } else { &mut *policy };
            let (range, n) = q.take_run(stop, CHUNK - size, self.segments.is_empty());
            if n == 0 {
                break;
            }
            size += range.len();
            if is_keep {
                lines.keep += n;
            } else {
                lines.policy += n;
            }
            self.segments.push(Segment {
                keep: is_keep,
                range,
                lines: n,
            });
        }
        if self.segments.is_empty() {
            return None;
        }
        if self.segments.len() > 1 {
            self.scratch.clear();
            for s in &self.segments {
                let q = queue(policy, keep, s.keep);
                self.scratch.extend_from_slice(q.bytes(s.range.clone()));
            }
        }
        Some(lines)
    }

    /// The sizes in bytes of the chunk last assembled, by class.
    pub(super) fn class_bytes(&self) -> Lines {
        let mut bytes = Lines::default();
        for s in &self.segments {
            if s.keep {
                bytes.keep += s.range.len();
            } else {
                bytes.policy += s.range.len();
            }
        }
        bytes
    }

    pub(super) fn oversized(&self, retain: usize) -> bool {
        self.scratch.capacity() > retain
    }

    /// Gives back the merge buffer's memory if it grew past `retain` bytes.
    pub(super) fn shrink(&mut self, retain: usize) {
        if self.scratch.capacity() > retain {
            self.scratch = Vec::new();
        }
    }

    /// The bytes of the chunk last assembled.
    pub(super) fn bytes<'a>(&'a self, policy: &'a LineQueue, keep: &'a LineQueue) -> &'a [u8] {
        match &self.segments[..] {
            [one] => queue(policy, keep, one.keep).bytes(one.range.clone()),
            _ => &self.scratch,
        }
    }

    /// Of the chunk last assembled, the lines wholly within its first `accepted` bytes.
    pub(super) fn whole_lines(
        &self,
        accepted: usize,
        policy: &LineQueue,
        keep: &LineQueue,
    ) -> Lines {
        let mut whole = Lines::default();
        let mut offset = 0;
        for s in &self.segments {
            let len = s.range.len();
            let n = if accepted >= offset + len {
                s.lines
            } else {
                let part = accepted.saturating_sub(offset);
                queue(policy, keep, s.keep).lines_ending_within(s.range.start..s.range.start + part)
            };
            if s.keep {
                whole.keep += n;
            } else {
                whole.policy += n;
            }
            if accepted < offset + len {
                break;
            }
            offset += len;
        }
        whole
    }
}

/// Writes all of `bytes` through `write` calls, as `write_all` does, except that it gives up
/// after [`MAX_INTERRUPTED`] `Interrupted` errors. `Ok(0)` (`WriteZero`), `WouldBlock` and
/// every other error fail at once, as does a panic. Returns how many bytes the sink
/// accepted, whatever the outcome.
pub(super) fn write_bounded<W: Write>(sink: &mut W, bytes: &[u8]) -> (usize, Result<(), Fault>) {
    let mut done = 0;
    let mut interrupted = 0;
    while done < bytes.len() {
        match guarded(|| sink.write(&bytes[done..])) {
            Ok(0) => {
                let e = io::Error::new(io::ErrorKind::WriteZero, "the sink accepted 0 bytes");
                return (done, Err(Fault::Io(e)));
            }
            Ok(n) => done += n.min(bytes.len() - done),
            Err(Fault::Io(ref e))
                if e.kind() == io::ErrorKind::Interrupted && interrupted < MAX_INTERRUPTED =>
            {
                interrupted += 1;
            }
            Err(fault) => return (done, Err(fault)),
        }
    }
    (done, Ok(()))
}

/// Runs a sink operation, turning a panic into a [`Fault`] so the worker survives it.
pub(super) fn guarded<T>(op: impl FnOnce() -> io::Result<T>) -> Result<T, Fault> {
    match panic::catch_unwind(AssertUnwindSafe(op)) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(Fault::Io(e)),
        Err(payload) => Err(Fault::from_panic(payload)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sink that accepts `per_call` bytes a call, and after `fail_after` bytes fails.
    struct Partial {
        per_call: usize,
        fail_after: usize,
        out: Vec<u8>,
        calls: u32,
    }

    impl Write for Partial {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.calls += 1;
            if self.out.len() >= self.fail_after {
                return Err(io::ErrorKind::Other.into());
            }
            let n = buf.len().min(self.per_call);
            self.out.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn mixed_runs_make_one_chunk_in_sequence_order() {
        let (mut p, mut k) = (LineQueue::default(), LineQueue::default());
        for seq in 0..10u64 {
            let q = if seq % 3 == 0 { &mut k } else { &mut p };
            q.push(format!("l{seq}\n").as_bytes(), seq, 0);
        }
        let mut c = Chunk::default();
        let lines = c.assemble(&mut p, &mut k).unwrap();
        assert_eq!(lines, Lines { policy: 6, keep: 4 });
        assert_eq!(c.bytes(&p, &k), b"l0\nl1\nl2\nl3\nl4\nl5\nl6\nl7\nl8\nl9\n");
        assert!(c.assemble(&mut p, &mut k).is_none());

        // A write that failed after 7 bytes ("l0\nl1\nl"): two whole lines, one of each class.
        let mut sink = Partial {
            per_call: 4,
            fail_after: 7,
            out: Vec::new(),
            calls: 0,
        };
        let (mut p, mut k) = (LineQueue::default(), LineQueue::default());
        for seq in 0..4u64 {
            let q = if seq % 2 == 0 { &mut k } else { &mut p };
            q.push(format!("l{seq}\n").as_bytes(), seq, 0);
        }
        c.assemble(&mut p, &mut k).unwrap();
        let (accepted, result) = write_bounded(&mut sink, c.bytes(&p, &k));
        assert!(result.is_err());
        assert_eq!(accepted, 8);
        assert_eq!(
            c.whole_lines(accepted, &p, &k),
            Lines { policy: 1, keep: 1 }
        );
        assert_eq!(c.whole_lines(5, &p, &k), Lines { policy: 0, keep: 1 });
    }

    #[test]
    fn interrupted_is_retried_a_bounded_number_of_times() {
        struct Always(u32);
        impl Write for Always {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                self.0 += 1;
                Err(io::ErrorKind::Interrupted.into())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let mut sink = Always(0);
        let (accepted, result) = write_bounded(&mut sink, b"x\n");
        assert!(result.is_err());
        assert_eq!((accepted, sink.0), (0, MAX_INTERRUPTED + 1));
    }
}
