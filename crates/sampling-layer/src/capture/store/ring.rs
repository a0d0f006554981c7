//! One capturing span's lines: a ring of bytes, each line behind a header.
//!
//! The ring is a `Vec` read from an offset: lines are appended at the end and
//! dropped from the front by moving the offset, and the dead front is
//! reclaimed only when the ring would otherwise grow. A line is then one
//! `memcpy` in; a `VecDeque` copied it in through its general two-slice
//! extend (about 170 instructions a captured line for the header and line).

/// A line's header in its span's ring: its capture order (`u64`) and its
/// length (`u32`), little-endian.
pub(crate) const HEADER: usize = 12;

/// The least a ring starts with: a service's request captures a few records
/// of a few hundred bytes each, and a ring that started at four times the
/// first (often the shortest) grew by reallocation in most requests (about
/// 800 instructions a request in the service bench).
const RING_START: usize = 1 << 10;

/// One span's lines, oldest first.
#[derive(Debug)]
pub(super) struct SpanBuf {
    /// Creation order, for the total bound's "oldest first".
    pub(super) seq: u64,
    /// Each line: `HEADER` bytes (capture order, length), then its bytes;
    /// from `start` on (what is before it was dropped).
    ring: Vec<u8>,
    start: usize,
    pub(super) lines: usize,
}

/// A captured line in two parts, copied in one after the other: a deferred
/// record and its mark come as they are, with no copy to join them first.
pub(crate) type Line<'a> = (&'a [u8], &'a [u8]);

/// A line's capture order and bytes, read out of a ring on the rare paths
/// (a trigger, a hand-up).
pub(super) type Held = (u64, Vec<u8>);

impl SpanBuf {
    pub(super) fn new(seq: u64) -> Self {
        SpanBuf {
            seq,
            ring: Vec::new(),
            start: 0,
            lines: 0,
        }
    }

    /// What the buffer counts against the bounds: its ring's capacity.
    pub(super) fn cost(&self) -> usize {
        self.ring.capacity()
    }

    /// The bytes its lines take in the ring, headers included.
    pub(super) fn used(&self) -> usize {
        self.ring.len() - self.start
    }

    /// Drops the oldest line; `false` if there was none.
    pub(super) fn pop_front(&mut self) -> bool {
        if self.lines == 0 {
            return false;
        }
        let at = self.start;
        let len = u32::from_le_bytes(
            self.ring[at + 8..at + HEADER]
                .try_into()
                .expect("a header's length is 4 bytes"),
        );
        self.start += HEADER + len as usize;
        self.lines -= 1;
        if self.lines == 0 {
            self.ring.clear();
            self.start = 0;
        }
        true
    }

    /// Moves the lines to the front of the ring, reclaiming what was dropped.
    fn compact(&mut self) {
        if self.start > 0 {
            self.ring.drain(..self.start);
            self.start = 0;
        }
    }

    /// Appends a line, `line` then `tail` (room made by the caller), growing the
    /// ring by doubling but never past `bound` bytes (a line that alone is
    /// larger was refused). A new ring starts with room for [`RING_START`]
    /// bytes or four lines of this one's size: a request's few captured lines
    /// then cost one allocation, not one per doubling.
    pub(super) fn push_back(&mut self, order: u64, (line, tail): Line<'_>, bound: usize) {
        let len = line.len() + tail.len();
        let size = HEADER + len;
        if self.ring.len() + size > self.ring.capacity() {
            self.compact();
        }
        let need = self.ring.len() + size;
        if need > self.ring.capacity() {
            let grown = (self.ring.capacity() * 2).max(4 * size).max(RING_START);
            let target = grown.clamp(need, bound.max(need));
            self.ring.reserve_exact(target - self.ring.len());
        }
        let mut header = [0; HEADER];
        header[..8].copy_from_slice(&order.to_le_bytes());
        header[8..].copy_from_slice(&(len as u32).to_le_bytes());
        self.ring.extend_from_slice(&header);
        self.ring.extend_from_slice(line);
        if !tail.is_empty() {
            self.ring.extend_from_slice(tail);
        }
        self.lines += 1;
    }

    /// Gives back the ring's spare room: its capacity becomes what its lines use.
    pub(super) fn shrink(&mut self) {
        self.compact();
        self.ring.shrink_to_fit();
    }

    /// Every line, oldest first, copied out.
    pub(super) fn into_lines(self) -> Vec<Held> {
        let bytes = &self.ring[self.start..];
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
