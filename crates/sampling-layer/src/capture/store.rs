//! The per-span buffers, their bounds and their figures.
//!
//! One mutex over every buffer: it is taken once per captured line (which has
//! just paid for a formatting or a record), once per trigger and once per
//! capturing span's close, never on the sampled-out path outside capturing
//! spans.
//!
//! A span's lines live back to back in one ring of bytes, each behind a small
//! header, so a captured line costs a copy into its span's ring and no
//! allocation of its own (a `Vec` per line cost an allocation, a free and a
//! second copy: about 350 instructions a line). Bytes are counted as memory,
//! not as text: each ring's capacity, plus a fixed cost per span buffer for the
//! map entries, so the total bound bounds what the store holds
//! (`tests/memory/capture.rs` measures it with a counting allocator). A ring
//! grows by doubling up to the span's byte bound, and never past it.
//!
//! Each line carries its place in the order lines were captured, across
//! every span: a trigger inside nested capturing spans writes their lines
//! merged back into the order they were logged, and a capturing span that
//! closes cleanly hands its lines to the capturing span around it merged the
//! same way (the outer span's failure is what its reader debugs, and the
//! inner span's lines are part of it).

use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};

use crate::directive::capture_spec::CaptureSettings;

/// A line's header in its span's ring: its capture order (`u64`) and its
/// length (`u32`), little-endian.
pub(crate) const HEADER: usize = 12;
/// What one span's buffer costs beside its ring: its hash-map and
/// ordering entries, the ring's header, and the maps' spare capacity.
pub(crate) const SPAN_COST: usize = 384;

/// Figures of a sampler's context capture (`stats().capture`, from [`SamplingHandle::stats`](crate::SamplingHandle::stats)).
///
/// Every captured line ends in exactly one place:
/// `captured == flushed + discarded + evicted_span_cap + evicted_total_cap + buffered_lines`.
/// All counters are monotonic; `buffered_*` are gauges.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CaptureStats {
    /// Sampled-out lines put into a capturing span's buffer.
    pub captured: u64,
    /// Lines written ahead of a trigger line.
    pub flushed: u64,
    /// Lines discarded because their span closed without a trigger and no
    /// capturing span around it was open to take them.
    pub discarded: u64,
    /// Lines dropped by a span's own bounds (lines or bytes; the oldest
    /// first, or the new line alone if it is larger than the byte bound).
    pub evicted_span_cap: u64,
    /// Lines dropped with the oldest spans' buffers under the total byte bound.
    pub evicted_total_cap: u64,
    /// Span buffers evicted whole under the total byte bound.
    pub evicted_spans: u64,
    /// Triggers that flushed at least one line (one per trigger line, however
    /// many nested spans' buffers it wrote).
    pub triggers: u64,
    /// Lines held now.
    pub buffered_lines: u64,
    /// Bytes held now, as counted against the total bound.
    pub buffered_bytes: u64,
    /// Span buffers held now.
    pub buffered_spans: u64,
    /// Sampled-out events inside capturing spans that were not captured
    /// because this sampler had no [`CaptureLayer`](crate::capture::CaptureLayer)
    /// in a subscriber or no [`CaptureWriter`](crate::capture::CaptureWriter)
    /// to write them through: they stay sampled out (counted dropped in the
    /// sampler's figures) and are written nowhere. Not part of the identity
    /// above: none of them was captured.
    pub no_writer: u64,
}

/// One span's lines, oldest first.
#[derive(Debug)]
struct SpanBuf {
    /// Creation order, for the total bound's "oldest first".
    seq: u64,
    /// Each line: `HEADER` bytes (capture order, length), then its bytes.
    ring: VecDeque<u8>,
    lines: usize,
}

/// A line's capture order and bytes, read out of a ring on the rare paths
/// (a trigger, a hand-up).
type Held = (u64, Vec<u8>);

impl SpanBuf {
    fn new(seq: u64) -> Self {
        SpanBuf {
            seq,
            ring: VecDeque::new(),
            lines: 0,
        }
    }

    /// What the buffer counts against the bounds: its ring's capacity.
    fn cost(&self) -> usize {
        self.ring.capacity()
    }

    /// The bytes its lines take in the ring, headers included.
    fn used(&self) -> usize {
        self.ring.len()
    }

    /// Drops the oldest line; `false` if there was none.
    fn pop_front(&mut self) -> bool {
        if self.lines == 0 {
            return false;
        }
        let len = u32::from_le_bytes([self.ring[8], self.ring[9], self.ring[10], self.ring[11]]);
        self.ring.drain(..HEADER + len as usize);
        self.lines -= 1;
        true
    }

    /// Appends a line (room made by the caller), growing the ring by doubling
    /// but never past `bound` bytes (a line that alone is larger was refused).
    /// A new ring starts with room for four lines of this one's size: a
    /// request's few captured lines then cost one allocation, not one per
    /// doubling.
    fn push_back(&mut self, order: u64, line: &[u8], bound: usize) {
        let size = HEADER + line.len();
        let need = self.ring.len() + size;
        if need > self.ring.capacity() {
            let grown = (self.ring.capacity() * 2).max(4 * size);
            let target = grown.clamp(need, bound.max(need));
            self.ring.reserve_exact(target - self.ring.len());
        }
        let mut header = [0; HEADER];
        header[..8].copy_from_slice(&order.to_le_bytes());
        header[8..].copy_from_slice(&(line.len() as u32).to_le_bytes());
        self.ring.extend(&header);
        self.ring.extend(line);
        self.lines += 1;
    }

    /// Every line, oldest first, copied out.
    fn into_lines(mut self) -> Vec<Held> {
        let bytes = self.ring.make_contiguous();
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
    fn from_lines(seq: u64, lines: &[Held]) -> Self {
        let size = lines.iter().map(|l| HEADER + l.1.len()).sum();
        let mut buf = SpanBuf::new(seq);
        buf.ring = VecDeque::with_capacity(size);
        for (order, line) in lines {
            buf.push_back(*order, line, size);
        }
        buf
    }
}

/// Two or more runs each in capture order, merged into one. The standard
/// stable sort finds the ascending runs and merges them: linear for the two
/// runs of a span close, and run only on a trigger or a close, never per line.
fn merged(mut lines: Vec<Held>) -> Vec<Held> {
    lines.sort_by_key(|h| h.0);
    lines
}

/// Span ids are the registry's, not chosen by anyone outside the process, so
/// the map needs no keyed hash: one multiply and a fold (SipHash, measured
/// at ~460 instructions per captured line over the three lookups it then
/// took, was the largest cost of the store).
#[derive(Default, Clone, Copy, Debug)]
struct SpanIdHasher(u64);

impl Hasher for SpanIdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used; fold anything else in case that changes.
        for b in bytes {
            self.write_u64(self.0.rotate_left(8) ^ u64::from(*b));
        }
    }
    fn write_u64(&mut self, n: u64) {
        // Odd multiplier: a bijection, low bits spread into the high ones the
        // table's control bytes use, and folded back into the low ones.
        let h = n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        self.0 = h ^ (h >> 29);
    }
}

#[derive(Debug, Default)]
pub(crate) struct Store {
    spans: HashMap<u64, SpanBuf, BuildHasherDefault<SpanIdHasher>>,
    /// (seq, span id) of every buffer, oldest first: sorted by seq, as buffers are made
    /// in seq order and a handed-up one keeps its seq. Spans mostly close in the order
    /// they opened, so a removal is a binary search and a shift of a few entries (a
    /// `BTreeMap` cost ~250 instructions a span for its node bookkeeping).
    order: VecDeque<(u64, u64)>,
    next_seq: u64,
    /// Capture order of the next line, across spans.
    next_line: u64,
    /// The rings' capacities plus `SPAN_COST` per buffer.
    bytes: usize,
    lines: u64,
    figures: CaptureStats,
}

impl Store {
    pub(crate) fn push(&mut self, owner: u64, line: &[u8], limits: &CaptureSettings) {
        self.figures.captured += 1;
        let size = line.len() + HEADER;
        if size > limits.span_bytes
            || limits.span_lines == 0
            || size + SPAN_COST > limits.total_bytes
        {
            self.figures.evicted_span_cap += 1;
            return;
        }
        // One lookup: the span's buffer, made on its first line.
        let buf = match self.spans.entry(owner) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(v) => {
                let seq = self.next_seq;
                self.next_seq += 1;
                self.order.push_back((seq, owner));
                self.bytes += SPAN_COST;
                v.insert(SpanBuf::new(seq))
            }
        };
        // Room first, so that the ring never grows past the bound for one line.
        // The new line fits the span's bounds alone (checked above): at worst the
        // buffer empties.
        while buf.lines + 1 > limits.span_lines || buf.used() + size > limits.span_bytes {
            if !buf.pop_front() {
                break;
            }
            self.lines -= 1;
            self.figures.evicted_span_cap += 1;
        }
        let before = buf.cost();
        buf.push_back(self.next_line, line, limits.span_bytes);
        self.bytes = self.bytes - before + buf.cost();
        self.next_line += 1;
        self.lines += 1;
        // Oldest buffers first, but not the one just written to: if it is the
        // only one left, its own oldest lines go and its ring shrinks to fit.
        while self.bytes > limits.total_bytes {
            if let Some(victim) = self.order.iter().map(|e| e.1).find(|&v| v != owner) {
                let buf = self.remove(victim).expect("ordered spans exist");
                self.figures.evicted_total_cap += buf.lines as u64;
                self.figures.evicted_spans += 1;
                continue;
            }
            let buf = self.spans.get_mut(&owner).expect("inserted above");
            let before = buf.cost();
            let others = self.bytes - before;
            // (Ordered before the line just pushed: never it.)
            while buf.lines > 1 && others + buf.used() > limits.total_bytes {
                buf.pop_front();
                self.lines -= 1;
                self.figures.evicted_total_cap += 1;
            }
            buf.ring.shrink_to_fit();
            self.bytes = others + buf.cost();
            break;
        }
    }

    fn remove(&mut self, owner: u64) -> Option<SpanBuf> {
        let buf = self.spans.remove(&owner)?;
        if let Ok(at) = self.order.binary_search_by_key(&buf.seq, |e| e.0) {
            self.order.remove(at);
        }
        self.bytes -= buf.cost() + SPAN_COST;
        self.lines -= buf.lines as u64;
        Some(buf)
    }

    /// A trigger: the lines of every span in `owners`, merged into the order
    /// they were captured; the spans keep capturing (into fresh buffers, the
    /// newest).
    pub(crate) fn take(&mut self, owners: &[u64]) -> Vec<Vec<u8>> {
        let lines: Vec<Held> = owners
            .iter()
            .filter_map(|&o| self.remove(o))
            .flat_map(SpanBuf::into_lines)
            .collect();
        self.figures.flushed += lines.len() as u64;
        self.figures.triggers += u64::from(!lines.is_empty());
        merged(lines).into_iter().map(|h| h.1).collect()
    }

    /// A capturing span closed without (another) trigger inside the
    /// capturing span `parent`: its lines join `parent`'s, in capture order,
    /// within `parent`'s bounds (its oldest go first, counted as evicted by a
    /// span bound). The total only shrinks: one buffer fewer, and the merged
    /// ring sized to the lines it keeps.
    pub(crate) fn hand_up(&mut self, child: u64, parent: u64, limits: &CaptureSettings) {
        let Some(buf) = self.remove(child) else {
            return;
        };
        let (seq, lines) = match self.remove(parent) {
            Some(p) => {
                let seq = p.seq;
                let both = p.into_lines().into_iter().chain(buf.into_lines());
                (seq, merged(both.collect()))
            }
            // The child's buffer becomes the parent's, keeping its age for the
            // total bound.
            None => (buf.seq, buf.into_lines()),
        };
        // The newest lines within the span's bounds.
        let (mut keep, mut size) = (0, 0);
        for (_, line) in lines.iter().rev() {
            if keep == limits.span_lines || size + HEADER + line.len() > limits.span_bytes {
                break;
            }
            keep += 1;
            size += HEADER + line.len();
        }
        let dropped = lines.len() - keep;
        self.figures.evicted_span_cap += dropped as u64;
        let joined = SpanBuf::from_lines(seq, &lines[dropped..]);
        let at = self
            .order
            .binary_search_by_key(&seq, |e| e.0)
            .unwrap_or_else(|at| at);
        self.order.insert(at, (seq, parent));
        self.bytes += joined.cost() + SPAN_COST;
        self.lines += joined.lines as u64;
        self.spans.insert(parent, joined);
    }

    /// A line captured after capture was switched off: discarded at once.
    pub(crate) fn reject(&mut self) {
        self.figures.captured += 1;
        self.figures.discarded += 1;
    }

    /// The span closed without (another) trigger.
    pub(crate) fn discard(&mut self, owner: u64) {
        if let Some(buf) = self.remove(owner) {
            self.figures.discarded += buf.lines as u64;
        }
    }

    /// Capture was switched off: every buffer goes, counted as discarded.
    pub(crate) fn discard_all(&mut self) {
        let owners: Vec<u64> = self.spans.keys().copied().collect();
        for o in owners {
            self.discard(o);
        }
        self.spans.shrink_to_fit();
        self.order.shrink_to_fit();
    }

    pub(crate) fn stats(&self, no_writer: u64) -> CaptureStats {
        CaptureStats {
            no_writer,
            buffered_lines: self.lines,
            buffered_bytes: self.bytes as u64,
            buffered_spans: self.spans.len() as u64,
            ..self.figures.clone()
        }
    }
}

#[cfg(all(test, not(sampling_layer_loom)))]
mod tests {
    use super::*;

    fn limits(span_lines: usize, span_bytes: usize, total_bytes: usize) -> CaptureSettings {
        CaptureSettings {
            span_lines,
            span_bytes,
            total_bytes,
            ..CaptureSettings::default()
        }
    }

    fn line(n: u8) -> [u8; 1] {
        [n]
    }

    fn balanced(s: &CaptureStats) -> bool {
        s.captured
            == s.flushed + s.discarded + s.evicted_span_cap + s.evicted_total_cap + s.buffered_lines
    }

    #[test]
    fn a_span_keeps_its_newest_lines_and_counts_the_rest() {
        let mut st = Store::default();
        let l = limits(3, 1 << 20, 1 << 20);
        for n in 0..10 {
            st.push(1, &line(n), &l);
        }
        let s = st.stats(0);
        assert_eq!(
            (s.captured, s.evicted_span_cap, s.buffered_lines),
            (10, 7, 3)
        );
        let kept: Vec<u8> = st.take(&[1]).into_iter().map(|l| l[0]).collect();
        assert_eq!(kept, [7, 8, 9]);
        assert!(balanced(&st.stats(0)));
        assert_eq!(st.stats(0).buffered_bytes, 0);
    }

    #[test]
    fn the_total_bound_evicts_the_oldest_spans_whole() {
        let mut st = Store::default();
        // What one span of two lines counts: measured, as the ring's growth decides it.
        let per_span = {
            let mut one = Store::default();
            one.push(1, &line(0), &limits(100, 1 << 20, 1 << 20));
            one.push(1, &line(1), &limits(100, 1 << 20, 1 << 20));
            one.stats(0).buffered_bytes as usize
        };
        assert!(per_span >= SPAN_COST + 2 * (HEADER + 1), "{per_span}");
        let l = limits(100, 1 << 20, 3 * per_span);
        for span in 1..=5 {
            st.push(span, &line(0), &l);
            st.push(span, &line(1), &l);
        }
        let s = st.stats(0);
        assert_eq!(
            (s.buffered_spans, s.evicted_spans, s.evicted_total_cap),
            (3, 2, 4)
        );
        assert!(s.buffered_bytes as usize <= 3 * per_span);
        assert!(st.take(&[1]).is_empty() && st.take(&[2]).is_empty());
        assert_eq!(st.take(&[3]).len(), 2);
        st.discard(4);
        let s = st.stats(0);
        assert_eq!((s.flushed, s.discarded, s.buffered_lines), (2, 2, 2));
        assert!(balanced(&s));
    }

    #[test]
    fn a_trigger_over_nested_spans_writes_their_lines_in_capture_order() {
        let mut st = Store::default();
        let l = limits(100, 1 << 20, 1 << 20);
        for (span, n) in [(1, 1), (2, 2), (1, 3), (2, 4)] {
            st.push(span, &line(n), &l);
        }
        let lines: Vec<u8> = st.take(&[1, 2]).into_iter().map(|l| l[0]).collect();
        assert_eq!(lines, [1, 2, 3, 4]);
        let s = st.stats(0);
        assert_eq!((s.flushed, s.triggers, s.buffered_spans), (4, 1, 0));
        assert!(balanced(&s));
    }

    #[test]
    fn a_span_closing_inside_another_hands_its_lines_up_within_the_outer_bound() {
        let mut st = Store::default();
        let l = limits(3, 1 << 20, 1 << 20);
        for (span, n) in [(1, 1), (2, 2), (1, 3), (2, 4), (2, 5)] {
            st.push(span, &line(n), &l);
        }
        st.hand_up(2, 1, &l);
        let s = st.stats(0);
        assert_eq!(
            (s.buffered_spans, s.buffered_lines, s.evicted_span_cap),
            (1, 3, 2)
        );
        // The merged ring is sized to the three lines it keeps.
        let one = SPAN_COST + 3 * (HEADER + 1);
        assert_eq!(s.buffered_bytes as usize, one);
        let lines: Vec<u8> = st.take(&[1]).into_iter().map(|l| l[0]).collect();
        assert_eq!(lines, [3, 4, 5]);
        // Into a parent with no buffer: the child's becomes its.
        st.push(3, &line(6), &l);
        st.hand_up(3, 1, &l);
        assert_eq!(st.take(&[3]).len(), 0);
        assert_eq!(st.take(&[1]).len(), 1);
        let s = st.stats(0);
        assert_eq!((s.buffered_bytes, s.discarded), (0, 0));
        assert!(balanced(&s));
    }

    /// Lines of every length through a ring that wraps many times: what a
    /// trigger reads back is exactly the newest lines that fit, byte for byte,
    /// and the ring never counts more than the span's bound.
    #[test]
    fn a_wrapping_ring_gives_back_exactly_the_newest_lines_that_fit() {
        let bound = 1_000;
        let l = limits(1_000, bound, 1 << 20);
        let mut st = Store::default();
        let lines: Vec<Vec<u8>> = (0..500u32)
            .map(|i| {
                let len = (i * 37 % 200) as usize;
                (0..len).map(|b| (i as usize * 7 + b) as u8).collect()
            })
            .collect();
        for line in &lines {
            st.push(1, line, &l);
            assert!(st.stats(0).buffered_bytes as usize <= bound + SPAN_COST);
        }
        let (mut expect, mut size) = (Vec::new(), 0);
        for line in lines.iter().rev() {
            if size + HEADER + line.len() > bound {
                break;
            }
            size += HEADER + line.len();
            expect.insert(0, line.clone());
        }
        let s = st.stats(0);
        assert_eq!(s.buffered_lines, expect.len() as u64);
        assert_eq!(s.evicted_span_cap, 500 - expect.len() as u64);
        assert_eq!(st.take(&[1]), expect);
        let s = st.stats(0);
        assert_eq!((s.buffered_bytes, s.buffered_lines), (0, 0));
        assert!(balanced(&s));
    }

    /// Alone past the total bound, a span drops its own oldest lines and its
    /// ring shrinks to what it keeps.
    #[test]
    fn a_span_alone_past_the_total_bound_keeps_its_newest_lines_within_it() {
        let total = SPAN_COST + 10 * (HEADER + 10);
        let l = limits(1_000, 1 << 20, total);
        let mut st = Store::default();
        for n in 0..20u8 {
            st.push(1, &[n; 10], &l);
            assert!(
                st.stats(0).buffered_bytes as usize <= total,
                "{:?}",
                st.stats(0)
            );
        }
        let kept: Vec<u8> = st.take(&[1]).into_iter().map(|l| l[0]).collect();
        // Ten lines of 22 bytes are what fits beside the span's fixed cost.
        assert_eq!(kept.len(), 10, "{kept:?}");
        assert_eq!(kept.last(), Some(&19));
        assert!(kept.windows(2).all(|w| w[1] == w[0] + 1), "{kept:?}");
        let s = st.stats(0);
        assert_eq!(s.evicted_total_cap, 20 - kept.len() as u64);
        assert!(balanced(&s));
    }
}
