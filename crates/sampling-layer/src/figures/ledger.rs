//! Per-label figures moved out of callsites and keys: live buckets and the
//! totals of retired labels.
//!
//! Each label of the installed directive set has a bucket (a slot numbered in
//! the 12 bits a [`Rule`](crate::decide::entry::Rule) has for it, so at most
//! [`MAX_BUCKETS`] labels are live at once). Callsites and keys count in their
//! own words and move their figures here (re-resolved, evicted, or full).
//!
//! When a directive set no longer names a label, its slot is freed and its
//! figures are kept as a retired total, keyed by the label's 64-bit xxh3 hash
//! (a collision between two labels is a 2^-64 event per pair); when the label
//! comes back it carries on from them. At most [`MAX_RETIRED`] labels are
//! remembered (memory grows with the labels actually retired: a map entry of
//! 32 bytes and a queue entry of 16, with hash-table and queue slack under
//! 150 bytes per label, so under 10 MiB at the bound); past that,
//! the label retired longest ago is forgotten and counted: if it ever comes
//! back, its figures restart from zero (the one case where a label's figures
//! are not monotonic over the sampler's life).
//!
//! All of it sits behind one mutex in the sampler, which every move of figures
//! takes, and so does a stats snapshot: see `sampler::install`.

use std::collections::{HashMap, VecDeque};

use xxhash_rust::xxh3::xxh3_64;

use crate::decide::entry::Flushed;
use crate::limits::MAX_BUCKETS;

/// Retired labels whose figures are remembered.
pub(crate) const MAX_RETIRED: usize = 1 << 16;

#[derive(Debug)]
struct Slot {
    label: String,
    kept: u64,
    dropped: u64,
}

#[derive(Debug, Clone, Copy)]
struct Retired {
    kept: u64,
    dropped: u64,
    /// When it was retired (to forget the oldest first).
    seq: u64,
}

/// The figures of every label, live or retired.
#[derive(Debug, Default)]
pub(crate) struct Ledger {
    /// Indexed by bucket; `None` is a free slot.
    slots: Vec<Option<Slot>>,
    retired: HashMap<u64, Retired>,
    /// (label hash, seq) in retirement order; entries whose label came back
    /// (or was retired again later) are skipped when popped.
    order: VecDeque<(u64, u64)>,
    seq: u64,
    forgotten: u64,
    /// For the breaker's triggers: events ever moved here from a word (never decreases;
    /// with the words' own figures, every sampled-level event seen).
    pub(crate) moved: u64,
}

/// Where each label of a new directive set will count.
#[derive(Debug)]
pub(crate) struct Plan {
    pub(crate) buckets: HashMap<String, usize>,
}

impl Ledger {
    /// Buckets for `labels`: a label live now keeps its bucket, a new one takes
    /// the lowest free slot, including slots of labels `labels` drops. `Err`
    /// with the count when more than [`MAX_BUCKETS`] labels are asked for.
    pub(crate) fn plan<'a>(
        &self,
        labels: impl ExactSizeIterator<Item = &'a str>,
    ) -> Result<Plan, usize> {
        if labels.len() > MAX_BUCKETS {
            return Err(labels.len());
        }
        let live: HashMap<&str, usize> = self
            .slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.as_ref().map(|s| (s.label.as_str(), i)))
            .collect();
        let mut buckets = HashMap::with_capacity(labels.len());
        let mut fresh = Vec::new();
        let mut taken = vec![false; MAX_BUCKETS];
        for label in labels {
            match live.get(label) {
                Some(&i) => {
                    taken[i] = true;
                    buckets.insert(label.to_owned(), i);
                }
                None => fresh.push(label),
            }
        }
        let mut free = (0..MAX_BUCKETS).filter(|i| !taken[*i]);
        for label in fresh {
            let i = free.next().expect("at most MAX_BUCKETS labels");
            buckets.insert(label.to_owned(), i);
        }
        Ok(Plan { buckets })
    }

    /// Makes `plan` the live buckets. `moved[i]` holds the figures moved out
    /// of words that counted under the previous bucket `i` while they were
    /// re-resolved for the new set. Labels the plan drops are retired, labels
    /// it brings back carry on from their retired figures.
    pub(crate) fn commit(&mut self, buckets: &HashMap<String, usize>, moved: &[Flushed]) {
        self.moved += moved.iter().map(|(k, d)| k + d).sum::<u64>();
        let old = std::mem::take(&mut self.slots);
        let len = buckets.values().map(|i| i + 1).max().unwrap_or(0);
        self.slots.resize_with(len, || None);
        for (i, slot) in old.into_iter().enumerate() {
            let Some(mut slot) = slot else { continue };
            if let Some(&(k, d)) = moved.get(i) {
                slot.kept += k;
                slot.dropped += d;
            }
            if buckets.get(&slot.label) == Some(&i) {
                self.slots[i] = Some(slot);
            } else {
                self.retire(slot);
            }
        }
        for (label, &i) in buckets {
            if self.slots[i].is_none() {
                let back = self.retired.remove(&xxh3_64(label.as_bytes()));
                self.slots[i] = Some(Slot {
                    label: label.clone(),
                    kept: back.map_or(0, |r| r.kept),
                    dropped: back.map_or(0, |r| r.dropped),
                });
            }
        }
    }

    fn retire(&mut self, slot: Slot) {
        let hash = xxh3_64(slot.label.as_bytes());
        self.seq += 1;
        self.retired.insert(
            hash,
            Retired {
                kept: slot.kept,
                dropped: slot.dropped,
                seq: self.seq,
            },
        );
        self.order.push_back((hash, self.seq));
        while self.retired.len() > MAX_RETIRED {
            let Some((h, seq)) = self.order.pop_front() else {
                break;
            };
            if self.retired.get(&h).is_some_and(|r| r.seq == seq) {
                self.retired.remove(&h);
                self.forgotten += 1;
            }
        }
        // Stale entries (labels that came back) must not pile up.
        if self.order.len() > 2 * MAX_RETIRED.max(self.retired.len()) {
            let retired = &self.retired;
            self.order
                .retain(|(h, seq)| retired.get(h).is_some_and(|r| r.seq == *seq));
        }
    }

    /// Slots in use or freed (one past the highest bucket).
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    /// Adds figures moved out of a word that counted under `bucket`.
    pub(crate) fn add(&mut self, bucket: usize, (k, d): Flushed) {
        self.moved += k + d;
        if let Some(Some(s)) = self.slots.get_mut(bucket) {
            s.kept += k;
            s.dropped += d;
        }
    }

    /// The figures in each bucket (index = bucket), for a snapshot.
    pub(crate) fn figures(&self) -> Vec<Flushed> {
        self.slots
            .iter()
            .map(|s| s.as_ref().map_or((0, 0), |s| (s.kept, s.dropped)))
            .collect()
    }

    /// Labels remembered as retired, and labels forgotten since the start.
    pub(crate) fn retired(&self) -> (usize, u64) {
        (self.retired.len(), self.forgotten)
    }
}

#[cfg(all(test, not(sampling_layer_loom)))]
mod tests {
    use super::*;

    fn install(l: &mut Ledger, labels: &[&str]) -> Plan {
        let plan = l.plan(labels.iter().copied()).unwrap();
        l.commit(&plan.buckets, &[]);
        plan
    }

    #[test]
    fn dropped_labels_free_their_slot_and_come_back_with_their_figures() {
        let mut l = Ledger::default();
        let p = install(&mut l, &["a", "b"]);
        l.add(p.buckets["b"], (3, 4));
        let p = install(&mut l, &["a", "c"]);
        assert_eq!(p.buckets["c"], 1, "b's slot is reused");
        assert_eq!(l.figures()[1], (0, 0));
        assert_eq!(l.retired(), (1, 0));
        let p = install(&mut l, &["b"]);
        assert_eq!(l.figures()[p.buckets["b"]], (3, 4));
        assert_eq!(l.retired(), (2, 0), "a and c retired, b back");
    }

    #[test]
    fn moved_figures_go_to_the_label_that_counted_them() {
        let mut l = Ledger::default();
        let p = install(&mut l, &["a", "b"]);
        let (a, b) = (p.buckets["a"], p.buckets["b"]);
        let plan = l.plan(["c"].into_iter()).unwrap();
        let mut moved = vec![(0, 0); 2];
        moved[a] = (1, 1);
        moved[b] = (2, 0);
        l.commit(&plan.buckets, &moved);
        assert_eq!(l.figures(), vec![(0, 0)], "c starts at zero in slot 0");
        let p = install(&mut l, &["b", "a"]);
        let f = l.figures();
        assert_eq!((f[p.buckets["a"]], f[p.buckets["b"]]), ((1, 1), (2, 0)));
    }

    #[test]
    fn too_many_labels_at_once_are_refused_but_not_over_time() {
        let mut l = Ledger::default();
        let many: Vec<String> = (0..=MAX_BUCKETS).map(|i| format!("t{i}")).collect();
        assert_eq!(
            l.plan(many.iter().map(String::as_str)).unwrap_err(),
            MAX_BUCKETS + 1
        );
        for round in 0..3 {
            let set: Vec<String> = (0..MAX_BUCKETS).map(|i| format!("r{round}_{i}")).collect();
            let plan = l.plan(set.iter().map(String::as_str)).unwrap();
            l.commit(&plan.buckets, &[]);
        }
        assert_eq!(l.retired(), (2 * MAX_BUCKETS, 0));
    }

    #[test]
    fn retired_labels_are_bounded_and_the_oldest_forgotten() {
        let mut l = Ledger::default();
        l.add(0, (1, 1));
        let labels: Vec<String> = (0..MAX_RETIRED + 10).map(|i| format!("t{i}")).collect();
        for chunk in labels.chunks(1000) {
            let plan = l.plan(chunk.iter().map(String::as_str)).unwrap();
            l.commit(&plan.buckets, &[]);
        }
        let plan = l.plan(std::iter::empty()).unwrap();
        l.commit(&plan.buckets, &[]);
        let (remembered, forgotten) = l.retired();
        assert_eq!(remembered, MAX_RETIRED);
        assert_eq!(forgotten, 10);
        assert!(l.order.len() <= 2 * MAX_RETIRED);
    }
}
