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
//!
//! A span that closes cleanly leaves its ring for the next span's first line
//! (a few spare rings, each at most [`SPARE_MAX`] bytes, counted against the
//! total bound like held lines and the first thing that bound frees): a
//! request's ring then costs no allocation and no free, about 230
//! instructions a request in the service bench.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};

use crate::directive::capture_spec::CaptureSettings;

mod ring;

pub(crate) use ring::Line;
#[cfg(test)]
use ring::RING_START;
use ring::{Held, SpanBuf, HEADER};

/// Spare rings kept for reuse.
const SPARES: usize = 4;
/// The largest ring kept for reuse: a request's few records fit, a span that
/// grew large gives its memory back.
pub(crate) const SPARE_MAX: usize = 4 << 10;

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
    /// Rings of closed spans, empty, for the next spans' first lines; their
    /// capacities in `spare_bytes`, held within the total bound with `bytes`
    /// but not reported as buffered (they hold no line).
    spare: Vec<Vec<u8>>,
    spare_bytes: usize,
    lines: u64,
    figures: CaptureStats,
}

impl Store {
    #[cfg(test)]
    pub(crate) fn push(&mut self, owner: u64, line: &[u8], limits: &CaptureSettings) {
        self.push_line(owner, (line, &[]), limits);
    }

    /// Stores one captured line.
    pub(crate) fn push_line(&mut self, owner: u64, line: Line<'_>, limits: &CaptureSettings) {
        self.figures.captured += 1;
        let size = line.0.len() + line.1.len() + HEADER;
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
                // (A spare never exceeds the span bound: it came from a span
                // under the same settings.)
                let ring = self.spare.pop().unwrap_or_default();
                self.spare_bytes -= ring.capacity();
                debug_assert!(ring.capacity() <= limits.span_bytes);
                self.bytes += SPAN_COST + ring.capacity();
                v.insert(SpanBuf::with_ring(seq, ring))
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
        // Spare rings first, then the oldest buffers, but not the one just
        // written to: if it is the only one left, its own oldest lines go and
        // its ring shrinks to fit.
        while self.bytes + self.spare_bytes > limits.total_bytes && !self.spare.is_empty() {
            self.drop_spare();
        }
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
            buf.shrink();
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

    /// The span closed without (another) trigger: its lines are counted
    /// discarded, its ring kept for reuse if it is small and fits the total
    /// bound.
    pub(crate) fn discard(&mut self, owner: u64, limits: &CaptureSettings) {
        let Some(buf) = self.remove(owner) else {
            return;
        };
        self.figures.discarded += buf.lines as u64;
        let ring = buf.into_ring();
        let cap = ring.capacity();
        if cap != 0
            && cap <= SPARE_MAX.min(limits.span_bytes)
            && self.spare.len() < SPARES
            && self.bytes + self.spare_bytes + cap <= limits.total_bytes
        {
            self.spare_bytes += cap;
            self.spare.push(ring);
        }
    }

    fn drop_spare(&mut self) {
        if let Some(ring) = self.spare.pop() {
            self.spare_bytes -= ring.capacity();
        }
    }

    /// Capture was switched off: every buffer goes, counted as discarded.
    pub(crate) fn discard_all(&mut self) {
        let owners: Vec<u64> = self.spans.keys().copied().collect();
        for o in owners {
            if let Some(buf) = self.remove(o) {
                self.figures.discarded += buf.lines as u64;
            }
        }
        self.spare = Vec::new();
        self.spare_bytes = 0;
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
mod tests;
