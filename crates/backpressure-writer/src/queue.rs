//! The line queue: one growable byte buffer holding lines back to back, plus a record per
//! line (length, sequence number, optional enqueue timestamp).
//!
//! Producers append to one `LineQueue` under the lock; the worker swaps the whole queue
//! out for its empty spare and reads it outside the lock. Both keep their allocations
//! across swaps, so once the buffers have grown to the working size nothing allocates.

use std::collections::VecDeque;
use std::ops::Range;

/// One queued line's bookkeeping.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LineMeta {
    /// Logical offset just past the line: bytes ever appended to this queue up to and
    /// including it. Logical offsets survive compaction, and make a run of lines findable
    /// by binary search.
    end: u64,
    /// Position in the writer-wide order of submission; the worker merges the policy and
    /// keep queues by it so that each thread's lines keep their order.
    pub(crate) seq: u64,
    /// Nanoseconds since the writer's epoch when queued, or 0 when this line isn't timed.
    pub(crate) stamp: u64,
}

#[derive(Debug, Default)]
pub(crate) struct LineQueue {
    bytes: Vec<u8>,
    /// Logical offset of `bytes[0]`.
    base: u64,
    /// Byte offset in `bytes` of the first live line: evicting or consuming the front only
    /// moves it.
    head: usize,
    metas: VecDeque<LineMeta>,
    /// Records before this index were consumed by the worker (`take_run`); producers only
    /// ever see 0 here, as the worker clears the queue before swapping it back.
    cursor: usize,
    /// Bytes moved by compactions, for the tests of their amortized cost.
    #[cfg(test)]
    moved: usize,
}

/// Below this many dead bytes at the front, compaction isn't worth the `memmove`.
const COMPACT_MIN: usize = 64 * 1024;

impl LineQueue {
    /// Lines queued (and not yet consumed).
    pub(crate) fn len(&self) -> usize {
        self.metas.len() - self.cursor
    }

    /// Bytes of the lines queued (and not yet consumed).
    pub(crate) fn live_bytes(&self) -> usize {
        self.bytes.len() - self.head
    }

    /// Heap bytes the queue holds: what its buffers have grown to, used or not.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.bytes.capacity() + self.metas.capacity() * std::mem::size_of::<LineMeta>()
    }

    /// Makes room for a line of `len` bytes before [`push`](Self::push), growing the byte
    /// buffer to at most `max_capacity` (or exactly what the line needs, if more): growth
    /// doubles, as a `Vec`'s does, but never past the byte bound, so a queue holding at
    /// most that many live bytes never holds much more memory. A dead prefix left by
    /// evictions is reclaimed first when it is at least as large as the live bytes, or when
    /// the buffer may not grow any more. With `max_capacity` half as large again as the
    /// live bytes can be, the `memmove` then costs at most two bytes moved per byte
    /// pushed.
    pub(crate) fn reserve(&mut self, len: usize, max_capacity: usize) {
        if self.bytes.capacity() - self.bytes.len() >= len {
            return;
        }
        let at_max = self.bytes.capacity() >= max_capacity;
        if self.head > 0 && (self.head >= self.live_bytes() || at_max) {
            self.compact();
            if self.bytes.capacity() - self.bytes.len() >= len {
                return;
            }
        }
        let needed = self.bytes.len() + len;
        let target = (self.bytes.capacity() * 2).min(max_capacity).max(needed);
        self.bytes.reserve_exact(target - self.bytes.len());
    }

    /// Moves the live bytes to the front of the buffer.
    fn compact(&mut self) {
        #[cfg(test)]
        {
            self.moved += self.live_bytes();
        }
        self.bytes.copy_within(self.head.., 0);
        self.bytes.truncate(self.bytes.len() - self.head);
        self.base += self.head as u64;
        self.head = 0;
    }

    pub(crate) fn push(&mut self, line: &[u8], seq: u64, stamp: u64) {
        self.bytes.extend_from_slice(line);
        self.metas.push_back(LineMeta {
            end: self.base + self.bytes.len() as u64,
            seq,
            stamp,
        });
    }

    /// Physical offset in `bytes` just past the line.
    fn end_of(&self, m: &LineMeta) -> usize {
        (m.end - self.base) as usize
    }

    /// Drops the oldest line (DropOldest). Compacts once the dead prefix is both large and
    /// at least half the buffer, so the cost stays amortized O(1) per line and memory stays
    /// bounded by about twice the live bytes.
    pub(crate) fn evict_front(&mut self) -> Option<LineMeta> {
        debug_assert_eq!(self.cursor, 0, "producers never see a consumed queue");
        let meta = self.metas.pop_front()?;
        self.head = self.end_of(&meta);
        if self.metas.is_empty() {
            self.clear();
        } else if self.head >= COMPACT_MIN && self.head * 2 >= self.bytes.len() {
            self.compact();
        }
        Some(meta)
    }

    pub(crate) fn front_seq(&self) -> Option<u64> {
        self.metas.get(self.cursor).map(|m| m.seq)
    }

    /// Takes (consumes) a run of lines from the front, for the worker: lines whose sequence
    /// number is below `stop_seq`, and no more than `max_bytes` of them, except that with
    /// `at_least_one` a first line longer than `max_bytes` still goes, alone. Returns the
    /// byte range of the run in [`Self::bytes`] and the number of lines (0 if the first
    /// line doesn't fit, or nothing is queued). A binary search, so a large batch costs
    /// O(log n) per run rather than a step per line.
    pub(crate) fn take_run(
        &mut self,
        stop_seq: u64,
        max_bytes: usize,
        at_least_one: bool,
    ) -> (Range<usize>, usize) {
        let start = self.head;
        let limit = self
            .base
            .saturating_add(start.saturating_add(max_bytes) as u64);
        let fits = self.first_from_cursor(|m| m.seq >= stop_seq || m.end > limit);
        let n = (fits - self.cursor)
            .max(usize::from(at_least_one))
            .min(self.len());
        if n == 0 {
            return (start..start, 0);
        }
        let last = self.metas[self.cursor + n - 1];
        self.cursor += n;
        self.head = self.end_of(&last);
        (start..self.head, n)
    }

    /// The index of the first record at or after the cursor for which `stop` holds (the
    /// deque's length if none), where `stop` holds for every record after one it holds for.
    /// Gallops from the cursor, then bisects: O(log k) for a run of k lines, whatever the
    /// queue's length, so a batch of many short runs (keep-level lines mixed in) costs
    /// O(1) per run rather than a search over the whole deque each.
    fn first_from_cursor(&self, stop: impl Fn(&LineMeta) -> bool) -> usize {
        let len = self.metas.len();
        // Every index below `lo` is before the answer; the answer is at most `hi`.
        let mut lo = self.cursor;
        let mut step = 1;
        let mut hi = loop {
            let probe = lo + step - 1;
            if probe >= len {
                break len;
            }
            if stop(&self.metas[probe]) {
                break probe;
            }
            lo = probe + 1;
            step *= 2;
        };
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if stop(&self.metas[mid]) {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        lo
    }

    /// How many lines end inside `range` (physical offsets of bytes already taken): for a
    /// chunk the sink accepted only partly, the lines that are wholly in the output.
    pub(crate) fn lines_ending_within(&self, range: Range<usize>) -> usize {
        let (from, to) = (self.base + range.start as u64, self.base + range.end as u64);
        self.metas.partition_point(|m| m.end <= to) - self.metas.partition_point(|m| m.end <= from)
    }

    pub(crate) fn bytes(&self, range: Range<usize>) -> &[u8] {
        &self.bytes[range]
    }

    /// The records of the lines not yet consumed.
    pub(crate) fn metas(&self) -> impl Iterator<Item = &LineMeta> {
        self.metas.range(self.cursor..)
    }

    /// Forgets every line but keeps the allocations.
    pub(crate) fn clear(&mut self) {
        self.base += self.bytes.len() as u64;
        self.bytes.clear();
        self.metas.clear();
        self.head = 0;
        self.cursor = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(q: &mut LineQueue) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        while q.len() > 0 {
            let (r, n) = q.take_run(u64::MAX, 1, true);
            assert_eq!(n, 1);
            out.push(q.bytes(r).to_vec());
        }
        out
    }

    #[test]
    fn eviction_keeps_the_newest_and_compacts() {
        let mut q = LineQueue::default();
        let line = [b'x'; 1000];
        for i in 0..200u64 {
            q.push(&line, i, 0);
        }
        for _ in 0..150 {
            q.evict_front().unwrap();
        }
        // 150 000 dead bytes of 200 000: compacted, so head is back near the start.
        assert!(q.head < COMPACT_MIN, "head {}", q.head);
        assert_eq!(q.len(), 50);
        assert_eq!(q.front_seq(), Some(150));
        assert_eq!(lines(&mut q).len(), 50);
    }

    #[test]
    fn runs_respect_the_byte_limit_after_compaction() {
        let mut q = LineQueue::default();
        let line = |i: u64| format!("{i:04}{}\n", "y".repeat(995)).into_bytes();
        for i in 0..300 {
            q.push(&line(i), i, 0);
        }
        for _ in 0..200 {
            q.evict_front().unwrap();
        }
        assert!(q.head < COMPACT_MIN, "compacted: head {}", q.head);
        // 1000-byte lines, 4500-byte limit: runs of 4 lines, whole lines only.
        let mut next = 200;
        while q.len() > 0 {
            let (r, n) = q.take_run(u64::MAX, 4500, true);
            assert_eq!(n, 4.min(300 - next as usize));
            let expected: Vec<u8> = (next..next + n as u64).flat_map(line).collect();
            assert_eq!(q.bytes(r), &expected[..]);
            next += n as u64;
        }
        assert_eq!(next, 300);
        // A line longer than the limit still goes, alone.
        q.clear();
        q.push(&line(7), 7, 0);
        let (r, n) = q.take_run(u64::MAX, 10, true);
        assert_eq!((q.bytes(r), n), (&line(7)[..], 1));
    }

    #[test]
    fn growth_doubles_but_stops_at_the_bound() {
        let mut q = LineQueue::default();
        let line = [b'x'; 1000];
        let mut capacities = Vec::new();
        for i in 0..100u64 {
            q.reserve(line.len(), 100_000);
            q.push(&line, i, 0);
            if capacities.last() != Some(&q.bytes.capacity()) {
                capacities.push(q.bytes.capacity());
            }
        }
        // 100 000 live bytes in a buffer of exactly the bound, not the 128 000 that
        // doubling from 1 000 would reach.
        assert_eq!(
            capacities,
            [1000, 2000, 4000, 8000, 16_000, 32_000, 64_000, 100_000]
        );
        // A line alone larger than the bound still gets what it needs.
        let mut q = LineQueue::default();
        q.reserve(5000, 1000);
        assert!(q.bytes.capacity() >= 5000);
    }

    /// `DropOldest` at the bound: every new line evicts an old one. The dead prefix is
    /// reclaimed within the buffer's extra half, at an amortized cost of at most two bytes
    /// moved per byte pushed, and the buffer never grows past it.
    #[test]
    fn eviction_at_the_bound_compacts_at_an_amortized_cost() {
        const BOUND: usize = 100_000;
        let mut q = LineQueue::default();
        let mut live = 0;
        let mut pushed = 0;
        for i in 0..20_000u64 {
            let len = 700 + (i as usize * 37) % 600; // 700..1300 bytes
            while live + len > BOUND {
                q.evict_front().unwrap();
                live = q.live_bytes();
            }
            q.reserve(len, BOUND + BOUND / 2);
            q.push(&vec![b'y'; len], i, 0);
            live += len;
            pushed += len;
            assert_eq!(live, q.live_bytes());
            assert!(
                q.bytes.capacity() <= BOUND + BOUND / 2,
                "grew past the bound"
            );
        }
        assert!(
            q.moved <= 2 * pushed,
            "moved {} for {pushed} pushed",
            q.moved
        );
        assert_eq!(q.front_seq().map(|s| s > 19_800), Some(true));
    }

    #[test]
    fn runs_stop_at_the_other_queues_next_sequence() {
        let mut q = LineQueue::default();
        for (i, s) in [b"a\n", b"b\n", b"c\n"].iter().enumerate() {
            q.push(*s, i as u64 * 2, 0);
        }
        let (r, n) = q.take_run(3, usize::MAX, true);
        assert_eq!((q.bytes(r), n), (&b"a\nb\n"[..], 2));
        let (r, n) = q.take_run(3, usize::MAX, true);
        assert_eq!((q.bytes(r), n), (&b"c\n"[..], 1));
        assert_eq!(q.len(), 0);
    }

    #[test]
    fn runs_can_stop_short_of_a_line_that_does_not_fit() {
        let mut q = LineQueue::default();
        q.push(b"aaaa\n", 0, 0);
        q.push(b"bbbb\n", 1, 0);
        assert_eq!(q.take_run(u64::MAX, 3, false), (0..0, 0));
        let (r, n) = q.take_run(u64::MAX, 7, false);
        assert_eq!((q.bytes(r.clone()), n), (&b"aaaa\n"[..], 1));
        // Of the bytes taken, a partial write of 7 holds one whole line; 10 hold two.
        let (r2, _) = q.take_run(u64::MAX, 5, false);
        assert_eq!(q.lines_ending_within(r.start..r.start + 7), 1);
        assert_eq!(q.lines_ending_within(r.start..r2.end), 2);
        assert_eq!(q.lines_ending_within(r2.start..r2.start + 4), 0);
    }
}
