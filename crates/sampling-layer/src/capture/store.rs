//! The per-span buffers, their bounds and their figures.
//!
//! One mutex over every buffer: it is taken once per captured line (which has
//! just paid for a formatting), once per trigger and once per capturing span's
//! close, never on the sampled-out path outside capturing spans. Bytes are
//! counted as memory, not as text: a line's capacity plus its `Vec` header,
//! and a fixed cost per span buffer for the map entries and the deque, so the
//! total bound bounds what the store holds (`tests/memory/capture.rs`
//! measures it with a counting allocator).
//!
//! Each line carries its place in the order lines were captured, across
//! every span: a trigger inside nested capturing spans writes their lines
//! merged back into the order they were logged, and a capturing span that
//! closes cleanly hands its lines to the capturing span around it merged the
//! same way (the outer span's failure is what its reader debugs, and the
//! inner span's lines are part of it).

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};

use crate::directive::capture_spec::CaptureSettings;

/// One held line: its place in the capture order (across spans), and its bytes.
type Held = (u64, Vec<u8>);

/// What one line costs beside its bytes: its order and `Vec` header in the deque.
pub(crate) const LINE_COST: usize = std::mem::size_of::<Held>();
/// What one span's buffer costs beside its lines: its hash-map and
/// ordering-map entries, the deque header, and the maps' spare capacity.
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

#[derive(Debug)]
struct SpanBuf {
    /// Creation order, for the total bound's "oldest first".
    seq: u64,
    /// Oldest first (ascending capture order).
    lines: VecDeque<Held>,
    /// Of the lines: capacity plus `LINE_COST` each.
    bytes: usize,
}

fn cost(line: &Held) -> usize {
    line.1.capacity() + LINE_COST
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

/// The store's totals a span's trimming updates, borrowed apart from the map
/// that holds the span.
struct Totals<'a> {
    bytes: &'a mut usize,
    lines: &'a mut u64,
    evicted: &'a mut u64,
}

/// Drops `buf`'s oldest lines past the per-span bounds, counted as evicted by
/// a span bound; with `incoming` bytes, until one more line of that size fits.
fn trim(buf: &mut SpanBuf, totals: &mut Totals<'_>, limits: &CaptureSettings, incoming: usize) {
    let room = usize::from(incoming > 0);
    while buf.lines.len() + room > limits.span_lines || buf.bytes + incoming > limits.span_bytes {
        let Some(old) = buf.lines.pop_front() else {
            break;
        };
        buf.bytes -= cost(&old);
        *totals.bytes -= cost(&old);
        *totals.lines -= 1;
        *totals.evicted += 1;
    }
}

#[derive(Debug, Default)]
pub(crate) struct Store {
    spans: HashMap<u64, SpanBuf, BuildHasherDefault<SpanIdHasher>>,
    /// seq → span id, oldest first.
    order: BTreeMap<u64, u64>,
    next_seq: u64,
    /// Capture order of the next line, across spans.
    next_line: u64,
    /// Lines' bytes plus `SPAN_COST` per buffer.
    bytes: usize,
    lines: u64,
    figures: CaptureStats,
}

impl Store {
    pub(crate) fn push(&mut self, owner: u64, line: Vec<u8>, limits: &CaptureSettings) {
        self.figures.captured += 1;
        let size = line.capacity() + LINE_COST;
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
                self.order.insert(seq, owner);
                self.bytes += SPAN_COST;
                v.insert(SpanBuf {
                    seq,
                    lines: VecDeque::new(),
                    bytes: 0,
                })
            }
        };
        // Room first, so that the deque never holds more than the bound (it
        // would grow its allocation for one line). The new line fits the
        // span's bounds alone (checked above): at worst the buffer empties.
        let mut totals = Totals {
            bytes: &mut self.bytes,
            lines: &mut self.lines,
            evicted: &mut self.figures.evicted_span_cap,
        };
        trim(buf, &mut totals, limits, size);
        buf.bytes += size;
        buf.lines.push_back((self.next_line, line));
        self.next_line += 1;
        self.bytes += size;
        self.lines += 1;
        // Oldest buffers first, but not the one just written to: if it is the
        // only one left, its own oldest lines go.
        while self.bytes > limits.total_bytes {
            match self.order.values().find(|&&v| v != owner).copied() {
                Some(victim) => {
                    let buf = self.remove(victim).expect("ordered spans exist");
                    self.figures.evicted_total_cap += buf.lines.len() as u64;
                    self.figures.evicted_spans += 1;
                }
                None => {
                    let buf = self.spans.get_mut(&owner).expect("inserted above");
                    if buf.lines.len() <= 1 {
                        break;
                    }
                    let old = buf.lines.pop_front().expect("more than one line");
                    // (Ordered before the line just pushed: never it.)
                    buf.bytes -= cost(&old);
                    self.bytes -= cost(&old);
                    self.lines -= 1;
                    self.figures.evicted_total_cap += 1;
                }
            }
        }
    }

    /// Drops `owner`'s oldest lines past the per-span bounds, counted; with
    /// `incoming` bytes, until one more line of that size fits.
    fn trim_span(&mut self, owner: u64, limits: &CaptureSettings, incoming: usize) {
        let Some(buf) = self.spans.get_mut(&owner) else {
            return;
        };
        let mut totals = Totals {
            bytes: &mut self.bytes,
            lines: &mut self.lines,
            evicted: &mut self.figures.evicted_span_cap,
        };
        trim(buf, &mut totals, limits, incoming);
    }

    fn remove(&mut self, owner: u64) -> Option<SpanBuf> {
        let buf = self.spans.remove(&owner)?;
        self.order.remove(&buf.seq);
        self.bytes -= buf.bytes + SPAN_COST;
        self.lines -= buf.lines.len() as u64;
        Some(buf)
    }

    /// A trigger: the lines of every span in `owners`, merged into the order
    /// they were captured; the spans keep capturing (into fresh buffers, the
    /// newest).
    pub(crate) fn take(&mut self, owners: &[u64]) -> Vec<Vec<u8>> {
        let lines: Vec<Held> = owners
            .iter()
            .filter_map(|&o| self.remove(o))
            .flat_map(|b| b.lines)
            .collect();
        self.figures.flushed += lines.len() as u64;
        self.figures.triggers += u64::from(!lines.is_empty());
        merged(lines).into_iter().map(|h| h.1).collect()
    }

    /// A capturing span closed without (another) trigger inside the
    /// capturing span `parent`: its lines join `parent`'s, in capture order,
    /// within `parent`'s bounds (its oldest go first, counted as evicted by a
    /// span bound). The total only shrinks: one buffer fewer.
    pub(crate) fn hand_up(&mut self, child: u64, parent: u64, limits: &CaptureSettings) {
        let Some(buf) = self.remove(child) else {
            return;
        };
        let (bytes, lines) = (buf.bytes, buf.lines.len() as u64);
        match self.spans.get_mut(&parent) {
            Some(p) => {
                let both: Vec<Held> = p.lines.drain(..).chain(buf.lines).collect();
                p.lines = merged(both).into();
                p.bytes += bytes;
            }
            None => {
                // The child's buffer becomes the parent's, keeping its age
                // for the total bound.
                self.order.insert(buf.seq, parent);
                self.spans.insert(parent, buf);
                self.bytes += SPAN_COST;
            }
        }
        self.bytes += bytes;
        self.lines += lines;
        self.trim_span(parent, limits, 0);
    }

    /// A line captured after capture was switched off: discarded at once.
    pub(crate) fn reject(&mut self) {
        self.figures.captured += 1;
        self.figures.discarded += 1;
    }

    /// The span closed without (another) trigger.
    pub(crate) fn discard(&mut self, owner: u64) {
        if let Some(buf) = self.remove(owner) {
            self.figures.discarded += buf.lines.len() as u64;
        }
    }

    /// Capture was switched off: every buffer goes, counted as discarded.
    pub(crate) fn discard_all(&mut self) {
        let owners: Vec<u64> = self.spans.keys().copied().collect();
        for o in owners {
            self.discard(o);
        }
        self.spans.shrink_to_fit();
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

    fn line(n: u8) -> Vec<u8> {
        let mut v = Vec::with_capacity(8);
        v.push(n);
        v
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
            st.push(1, line(n), &l);
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
        let per_span = SPAN_COST + 2 * (8 + LINE_COST);
        let l = limits(100, 1 << 20, 3 * per_span);
        for span in 1..=5 {
            st.push(span, line(0), &l);
            st.push(span, line(1), &l);
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
            st.push(span, line(n), &l);
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
            st.push(span, line(n), &l);
        }
        st.hand_up(2, 1, &l);
        let s = st.stats(0);
        assert_eq!(
            (s.buffered_spans, s.buffered_lines, s.evicted_span_cap),
            (1, 3, 2)
        );
        let one = SPAN_COST + 3 * (8 + LINE_COST);
        assert_eq!(s.buffered_bytes as usize, one);
        let lines: Vec<u8> = st.take(&[1]).into_iter().map(|l| l[0]).collect();
        assert_eq!(lines, [3, 4, 5]);
        // Into a parent with no buffer: the child's becomes its.
        st.push(3, line(6), &l);
        st.hand_up(3, 1, &l);
        assert_eq!(st.take(&[3]).len(), 0);
        assert_eq!(st.take(&[1]).len(), 1);
        let s = st.stats(0);
        assert_eq!((s.buffered_bytes, s.discarded), (0, 0));
        assert!(balanced(&s));
    }
}
