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
    st.discard(4, &l);
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

/// The store against a model of what it promises, over random pushes, triggers,
/// hand-ups and closes on four spans: every span keeps the newest lines within its
/// bounds (lines, and bytes as its lines take them), a trigger and a hand-up merge
/// lines into the order they were captured, every figure matches the model's, the
/// identity holds after each step, and no ring counts more than its span's byte bound.
mod model {
    use std::collections::{HashMap, VecDeque};

    use proptest::prelude::*;

    use super::*;

    #[derive(Debug, Clone)]
    enum Op {
        Push(u64, usize),
        Take(Vec<u64>),
        HandUp(u64, u64),
        Discard(u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            8 => (1..5u64, 0..300usize).prop_map(|(o, len)| Op::Push(o, len)),
            1 => proptest::sample::subsequence(vec![1u64, 2, 3, 4], 1..=4).prop_map(Op::Take),
            1 => (1..5u64, 1..5u64)
                .prop_filter("a span hands up to another", |(c, p)| c != p)
                .prop_map(|(c, p)| Op::HandUp(c, p)),
            1 => (1..5u64).prop_map(Op::Discard),
        ]
    }

    /// Lines in capture order per span, and the figures.
    #[derive(Default)]
    struct Model {
        spans: HashMap<u64, VecDeque<(u64, Vec<u8>)>>,
        next: u64,
        f: CaptureStats,
    }

    fn used(lines: &VecDeque<(u64, Vec<u8>)>) -> usize {
        lines.iter().map(|l| HEADER + l.1.len()).sum()
    }

    /// The newest of `lines` within the bounds; the rest counted as evicted.
    fn newest(
        mut lines: VecDeque<(u64, Vec<u8>)>,
        l: &CaptureSettings,
        f: &mut CaptureStats,
    ) -> VecDeque<(u64, Vec<u8>)> {
        while lines.len() > l.span_lines || used(&lines) > l.span_bytes {
            lines.pop_front();
            f.evicted_span_cap += 1;
        }
        lines
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]
        #[test]
        fn the_store_keeps_what_the_model_keeps(
            span_lines in 1..8usize,
            span_bytes in HEADER..1_500usize,
            ops in proptest::collection::vec(op(), 1..120),
        ) {
            let l = limits(span_lines, span_bytes, 1 << 30);
            let (mut st, mut m) = (Store::default(), Model::default());
            for (n, op) in ops.into_iter().enumerate() {
                match op {
                    Op::Push(owner, len) => {
                        let line: Vec<u8> = (0..len).map(|i| (n + i) as u8).collect();
                        st.push(owner, &line, &l);
                        m.f.captured += 1;
                        if HEADER + len > span_bytes {
                            m.f.evicted_span_cap += 1;
                        } else {
                            let lines = m.spans.entry(owner).or_default();
                            while lines.len() + 1 > span_lines || used(lines) + HEADER + len > span_bytes {
                                lines.pop_front();
                                m.f.evicted_span_cap += 1;
                            }
                            lines.push_back((m.next, line));
                            m.next += 1;
                        }
                    }
                    Op::Take(owners) => {
                        let mut lines: Vec<(u64, Vec<u8>)> = owners
                            .iter()
                            .filter_map(|o| m.spans.remove(o))
                            .flatten()
                            .collect();
                        lines.sort_by_key(|l| l.0);
                        m.f.flushed += lines.len() as u64;
                        m.f.triggers += u64::from(!lines.is_empty());
                        let expect: Vec<Vec<u8>> = lines.into_iter().map(|l| l.1).collect();
                        prop_assert_eq!(st.take(&owners), expect);
                    }
                    Op::HandUp(child, parent) => {
                        st.hand_up(child, parent, &l);
                        if let Some(lines) = m.spans.remove(&child) {
                            let mut both: Vec<_> = m.spans.remove(&parent).unwrap_or_default().into_iter().chain(lines).collect();
                            both.sort_by_key(|l| l.0);
                            let kept = newest(both.into(), &l, &mut m.f);
                            m.spans.insert(parent, kept);
                        }
                    }
                    Op::Discard(owner) => {
                        st.discard(owner, &l);
                        m.f.discarded += m.spans.remove(&owner).map_or(0, |s| s.len() as u64);
                    }
                }
                let s = st.stats(0);
                let lines: usize = m.spans.values().map(VecDeque::len).sum();
                prop_assert_eq!(
                    (s.captured, s.flushed, s.discarded, s.evicted_span_cap, s.triggers),
                    (m.f.captured, m.f.flushed, m.f.discarded, m.f.evicted_span_cap, m.f.triggers)
                );
                prop_assert_eq!((s.buffered_lines, s.buffered_spans), (lines as u64, m.spans.len() as u64));
                prop_assert!(balanced(&s));
                let least: usize = m.spans.values().map(|v| used(v) + SPAN_COST).sum();
                prop_assert!(s.buffered_bytes as usize >= least, "{s:?}");
                prop_assert!(s.buffered_bytes as usize <= m.spans.len() * (span_bytes + SPAN_COST), "{s:?}");
                prop_assert!(st.spare.len() <= SPARES && st.spare_bytes <= SPARES * SPARE_MAX.min(span_bytes));
                prop_assert_eq!(st.spare_bytes, st.spare.iter().map(Vec::capacity).sum::<usize>());
            }
            let owners: Vec<u64> = (1..5).collect();
            let mut rest: Vec<(u64, Vec<u8>)> = m.spans.drain().flat_map(|(_, v)| v).collect();
            rest.sort_by_key(|l| l.0);
            prop_assert_eq!(st.take(&owners), rest.into_iter().map(|l| l.1).collect::<Vec<_>>());
            prop_assert_eq!(st.stats(0).buffered_bytes, 0);
        }
    }
}

/// A span that closes cleanly leaves its ring to the next span, whose lines
/// then need no allocation; spare rings are never reported as buffered.
#[test]
fn a_discarded_spans_ring_serves_the_next_span() {
    let l = limits(100, 1 << 20, 1 << 20);
    let mut st = Store::default();
    st.push(1, &[7; 100], &l);
    let held = st.stats(0).buffered_bytes as usize;
    let ring = held - SPAN_COST;
    st.discard(1, &l);
    assert_eq!((st.spare.len(), st.spare_bytes), (1, ring));
    assert_eq!(st.stats(0).buffered_bytes, 0, "a spare holds no line");
    st.push(2, &[8; 100], &l);
    assert_eq!((st.spare.len(), st.spare_bytes), (0, 0));
    assert_eq!(st.stats(0).buffered_bytes as usize, held, "the same ring");
    let s = st.stats(0);
    assert_eq!((s.discarded, s.buffered_lines), (1, 1));
    assert_eq!(st.take(&[2]), vec![vec![8; 100]]);
}

/// Spare rings count against the total bound with the held lines: none is
/// kept where it would not fit, and they go before any held line does.
#[test]
fn spare_rings_stay_within_the_total_bound_and_go_first() {
    let per_span = {
        let mut one = Store::default();
        one.push(1, &line(0), &limits(100, 1 << 20, 1 << 20));
        one.stats(0).buffered_bytes as usize
    };
    // Room for two spans' buffers, not for a third ring beside them.
    let l = limits(100, 1 << 20, 2 * per_span + per_span / 2);
    let mut st = Store::default();
    st.push(1, &line(1), &l);
    st.push(2, &line(2), &l);
    st.discard(1, &l);
    assert_eq!(st.spare.len(), 1, "fits beside span 2");
    st.push(3, &line(3), &l);
    assert_eq!(st.spare.len(), 0, "taken by span 3");
    st.discard(3, &l);
    st.push(4, &line(4), &l);
    st.push(5, &line(5), &l);
    // Span 5's fresh ring pushed the total over the bound: the oldest span
    // (2) went, and no spare is left beside the two held.
    let s = st.stats(0);
    assert_eq!((s.buffered_spans, s.evicted_spans), (2, 1), "{s:?}");
    assert!(st.bytes + st.spare_bytes <= l.total_bytes);
    assert!(st.spare.is_empty());
}

/// Over the total bound, a spare ring goes before any held line: a span whose ring grows
/// past the bound with a spare beside it costs the spare, and nothing held is evicted.
#[test]
fn a_spare_ring_goes_before_any_held_line() {
    let ring = RING_START;
    // Two one-line spans fit; so does one of them with a spare beside it, but not a grown
    // ring (twice the first) with one.
    let l = limits(100, 1 << 20, SPAN_COST + 2 * ring + ring / 2);
    let mut st = Store::default();
    st.push(1, &line(1), &l);
    st.push(2, &line(2), &l);
    st.discard(1, &l);
    assert_eq!((st.spare.len(), st.spare_bytes), (1, ring));
    // Two lines of 500 bytes grow span 2's ring to twice its start.
    st.push(2, &[5; 500], &l);
    st.push(2, &[6; 500], &l);
    let s = st.stats(0);
    assert_eq!(s.buffered_bytes as usize, SPAN_COST + 2 * ring);
    assert!(st.spare.is_empty(), "the spare went");
    assert_eq!(
        (s.evicted_spans, s.evicted_total_cap, s.buffered_lines),
        (0, 0, 3),
        "{s:?}"
    );
}
