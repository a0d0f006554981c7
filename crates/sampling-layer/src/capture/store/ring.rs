//! One capturing span's lines: a ring of bytes, each line behind a header.
//!
//! The ring is a `Vec` of bytes and two numbers: where the oldest line starts
//! and how many bytes are live. While the ring grows, a line is appended at
//! the end of the `Vec` (one copy in; a `VecDeque`'s general two-slice extend
//! cost about 170 instructions a captured line for the header and the line).
//! Once the `Vec`'s capacity is reached, the ring wraps: its length becomes
//! its capacity and lines are written at the live bytes' end, split where the
//! `Vec` ends, over the room dropped lines left at its front. So a span held
//! at its byte bound, which drops its oldest line for every new one, moves no
//! bytes but the new line's; a `Vec` compacted to make room moved every live
//! byte on every line there.

/// A line's header in its span's ring: its capture order (`u64`) and its
/// length (`u32`), little-endian.
pub(crate) const HEADER: usize = 12;

/// The least a ring starts with: a service's request captures a few records
/// of a few hundred bytes each, and a ring that started at four times the
/// first (often the shortest) grew by reallocation in most requests (about
/// 800 instructions a request in the service bench).
pub(super) const RING_START: usize = 1 << 10;

/// One span's lines, oldest first.
#[derive(Debug)]
pub(super) struct SpanBuf {
    /// Creation order, for the total bound's "oldest first".
    pub(super) seq: u64,
    /// The ring's bytes: each line is `HEADER` bytes (capture order, length),
    /// then its bytes; `used` of them live from `head` on, wrapping at the
    /// `Vec`'s length.
    ring: Vec<u8>,
    head: usize,
    used: usize,
    pub(super) lines: usize,
    /// Bytes moved to lay the ring out again (growing, wrapping, shrinking):
    /// what the tests count to check that a line costs its own copy only.
    #[cfg(test)]
    pub(super) moved: usize,
}

/// A captured line in two parts, copied in one after the other: a deferred
/// record and its mark come as they are, with no copy to join them first.
pub(crate) type Line<'a> = (&'a [u8], &'a [u8]);

/// A line's capture order and bytes, read out of a ring on the rare paths
/// (a trigger, a hand-up).
pub(super) type Held = (u64, Vec<u8>);

impl SpanBuf {
    pub(super) fn new(seq: u64) -> Self {
        Self::with_ring(seq, Vec::new())
    }

    /// A buffer that writes into `ring` (empty; its capacity is reused).
    pub(super) fn with_ring(seq: u64, ring: Vec<u8>) -> Self {
        debug_assert!(ring.is_empty());
        SpanBuf {
            seq,
            ring,
            head: 0,
            used: 0,
            lines: 0,
            #[cfg(test)]
            moved: 0,
        }
    }

    /// What the buffer counts against the bounds: its ring's capacity.
    pub(super) fn cost(&self) -> usize {
        self.ring.capacity()
    }

    /// The bytes its lines take in the ring, headers included.
    pub(super) fn used(&self) -> usize {
        self.used
    }

    /// Whether the live bytes run to the end of the `Vec` without wrapping, so
    /// that a line can be appended.
    fn appends(&self) -> bool {
        self.head + self.used == self.ring.len()
    }

    /// `out.len()` bytes of the ring from `at`, wrapping at its end.
    fn read(&self, at: usize, out: &mut [u8]) {
        let (n, first) = (out.len(), out.len().min(self.ring.len() - at));
        out[..first].copy_from_slice(&self.ring[at..at + first]);
        out[first..].copy_from_slice(&self.ring[..n - first]);
    }

    /// Writes `bytes` at `at`, wrapping at the ring's end; returns where they end.
    fn write(&mut self, at: usize, bytes: &[u8]) -> usize {
        let first = bytes.len().min(self.ring.len() - at);
        self.ring[at..at + first].copy_from_slice(&bytes[..first]);
        let rest = bytes.len() - first;
        self.ring[..rest].copy_from_slice(&bytes[first..]);
        if rest > 0 {
            rest
        } else {
            at + first
        }
    }

    /// The live bytes, oldest first, in a `Vec` of `capacity`.
    fn contiguous(&self, capacity: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(capacity);
        let first = self.used.min(self.ring.len() - self.head);
        out.extend_from_slice(&self.ring[self.head..self.head + first]);
        out.extend_from_slice(&self.ring[..self.used - first]);
        out
    }

    /// Drops the oldest line; `false` if there was none.
    pub(super) fn pop_front(&mut self) -> bool {
        if self.lines == 0 {
            return false;
        }
        let mut header = [0; HEADER];
        self.read(self.head, &mut header);
        let len = u32::from_le_bytes(header[8..].try_into().expect("4 bytes")) as usize;
        self.head = (self.head + HEADER + len) % self.ring.len();
        self.used -= HEADER + len;
        self.lines -= 1;
        if self.lines == 0 {
            // Empty: appending again from the front, the capacity kept.
            self.ring.clear();
            self.head = 0;
        }
        true
    }

    /// Appends a line, `line` then `tail` (room made by the caller), growing the
    /// ring by doubling but never past `bound` bytes (a line that alone is
    /// larger was refused). A new ring starts with room for [`RING_START`]
    /// bytes or four lines of this one's size: a request's few captured lines
    /// then cost one allocation, not one per doubling.
    pub(super) fn push_back(&mut self, order: u64, (line, tail): Line<'_>, bound: usize) {
        let len = line.len() + tail.len();
        let size = HEADER + len;
        let mut header = [0; HEADER];
        header[..8].copy_from_slice(&order.to_le_bytes());
        header[8..].copy_from_slice(&(len as u32).to_le_bytes());
        let need = self.used + size;
        // The usual case, a ring still growing into its capacity: three appends.
        if self.ring.len() + size <= self.ring.capacity() && self.appends() {
            self.ring.extend_from_slice(&header);
            self.ring.extend_from_slice(line);
            if !tail.is_empty() {
                self.ring.extend_from_slice(tail);
            }
        } else {
            self.push_wrapping(header, (line, tail), size, bound);
        }
        self.used = need;
        self.lines += 1;
    }

    /// [`push_back`](Self::push_back) past the end of the ring's capacity:
    /// grows it, or wraps it over the room at its front.
    #[inline(never)]
    fn push_wrapping(
        &mut self,
        header: [u8; HEADER],
        (line, tail): Line<'_>,
        size: usize,
        bound: usize,
    ) {
        let need = self.used + size;
        if need > self.ring.capacity() {
            let grown = (self.ring.capacity() * 2).max(4 * size).max(RING_START);
            let target = grown.clamp(need, bound.max(need));
            self.relayout(target);
        } else if self.ring.len() < self.ring.capacity() {
            // Full to its capacity's end but not to its capacity: wrap from
            // here on over the room at the front (zeroed once, never read).
            #[cfg(test)]
            {
                self.moved += self.ring.capacity() - self.ring.len();
            }
            self.ring.resize(self.ring.capacity(), 0);
        }
        if self.appends() && self.ring.len() + size <= self.ring.capacity() {
            self.ring.extend_from_slice(&header);
            self.ring.extend_from_slice(line);
            self.ring.extend_from_slice(tail);
        } else {
            let at = (self.head + self.used) % self.ring.len().max(1);
            let at = self.write(at, &header);
            let at = self.write(at, line);
            self.write(at, tail);
        }
    }

    /// Lays the live bytes out from the front of a new `Vec` of `capacity`.
    fn relayout(&mut self, capacity: usize) {
        #[cfg(test)]
        {
            self.moved += self.used;
        }
        self.ring = self.contiguous(capacity);
        self.head = 0;
    }

    /// Gives back the ring's spare room: its capacity becomes what its lines use.
    pub(super) fn shrink(&mut self) {
        self.relayout(self.used);
    }

    /// The ring, emptied, for another span.
    pub(super) fn into_ring(mut self) -> Vec<u8> {
        self.ring.clear();
        self.ring
    }

    /// Every line, oldest first, copied out.
    pub(super) fn into_lines(self) -> Vec<Held> {
        let bytes = self.contiguous(self.used);
        let mut out = Vec::with_capacity(self.lines);
        let mut at = 0;
        while at + HEADER <= bytes.len() {
            let order = u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
            let len = u32::from_le_bytes(bytes[at + 8..at + HEADER].try_into().expect("4 bytes"));
            let start = at + HEADER;
            out.push((order, bytes[start..start + len as usize].to_vec()));
            at = start + len as usize;
        }
        out
    }

    /// A buffer holding `lines` (in capture order), sized to them.
    pub(super) fn from_lines(seq: u64, lines: &[Held]) -> Self {
        let size = lines.iter().map(|l| HEADER + l.1.len()).sum();
        let mut buf = SpanBuf::new(seq);
        buf.ring = Vec::with_capacity(size);
        for (order, line) in lines {
            buf.push_back(*order, (line, &[]), size);
        }
        buf
    }
}

#[cfg(all(test, not(sampling_layer_loom)))]
mod tests {
    use super::{SpanBuf, HEADER};
    use proptest::prelude::*;
    use std::collections::VecDeque;

    /// A span held at its byte bound drops its oldest line for every new one:
    /// each line then costs its own copy, not a move of every live byte (a
    /// `Vec` compacted to make room moved the whole ring on every line).
    #[test]
    fn a_full_ring_moves_no_bytes_but_the_new_lines() {
        let bound = 4096;
        let mut buf = SpanBuf::new(0);
        let line = [7u8; 100];
        for order in 0..10_000u64 {
            while buf.used() + HEADER + line.len() > bound {
                assert!(buf.pop_front());
            }
            buf.push_back(order, (&line, &[]), bound);
            assert!(buf.cost() <= bound, "{}", buf.cost());
        }
        // Growing to the bound by doubling moves less than the bound, and
        // wrapping zeroes the rest of the capacity once.
        assert!(buf.moved <= 2 * bound, "moved {} bytes", buf.moved);
        let lines = buf.into_lines();
        assert_eq!(lines.len(), bound / (HEADER + line.len()));
        assert_eq!(lines.last().map(|l| l.0), Some(9_999));
        assert!(lines.iter().all(|l| l.1 == line));
    }

    proptest! {
        /// Any order of pushes (in one or two parts) and pops keeps what a
        /// queue of lines keeps, in order, within the bound.
        #[test]
        fn the_ring_keeps_what_a_queue_keeps(
            bound in HEADER..600usize,
            ops in proptest::collection::vec((any::<bool>(), 0..80usize, 0..20usize), 1..200),
        ) {
            let mut buf = SpanBuf::new(0);
            let mut model: VecDeque<(u64, Vec<u8>)> = VecDeque::new();
            for (order, (push, len, tail)) in ops.into_iter().enumerate() {
                let order = order as u64;
                if !push {
                    prop_assert_eq!(buf.pop_front(), model.pop_front().is_some());
                    continue;
                }
                let size = HEADER + len + tail;
                if size > bound {
                    continue;
                }
                while buf.used() + size > bound {
                    prop_assert!(buf.pop_front());
                    model.pop_front();
                }
                let line: Vec<u8> = (0..len).map(|i| (order as usize + i) as u8).collect();
                let end = vec![0xAB; tail];
                buf.push_back(order, (&line, &end), bound);
                model.push_back((order, [line, end].concat()));
                prop_assert!(buf.cost() <= bound.max(size), "{} > {}", buf.cost(), bound);
                prop_assert_eq!(buf.lines, model.len());
            }
            let held: Vec<(u64, Vec<u8>)> = model.into_iter().collect();
            prop_assert_eq!(buf.into_lines(), held);
        }
    }
}
