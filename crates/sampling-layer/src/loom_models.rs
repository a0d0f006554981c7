//! `loom` models of the lock-free pieces. Run with
//! `RUSTFLAGS="--cfg sampling_layer_loom" cargo test -p sampling-layer --lib --release loom`.

use std::sync::Arc as StdArc;

use loom::sync::Arc;
use loom::thread;
use tracing_core::{
    callsite::Callsite, field::FieldSet, metadata::Kind, subscriber::Interest, Level, Metadata,
};

use crate::clock::ManualClock;
use crate::control::breaker::{Breaker, BreakerState};
use crate::decide::callsites::{CallsiteState, CallsiteTable};
use crate::decide::entry::{Counts, Rule, RuleCache};
use crate::directive::rate::Rate;

struct Cs;
static CS: Cs = Cs;
static META: Metadata<'static> = Metadata::new(
    "loom",
    "loom",
    Level::INFO,
    None,
    None,
    None,
    FieldSet::new(&[], tracing_core::identify_callsite!(&CS)),
    Kind::EVENT,
);
impl Callsite for Cs {
    fn set_interest(&self, _: Interest) {}
    fn metadata(&self) -> &Metadata<'_> {
        &META
    }
}

#[test]
fn loom_deterministic_counter_is_exact_under_concurrency() {
    loom::model(|| {
        let c = Arc::new(Counts::new());
        let rate = Rate::from_fraction(2, 3).unwrap();
        let spawn = |c: Arc<Counts>| {
            thread::spawn(move || {
                (0..3)
                    .filter(|_| c.count(Some(rate), false).unwrap())
                    .count()
            })
        };
        let a = spawn(c.clone());
        let b = spawn(c.clone());
        let kept = a.join().unwrap() + b.join().unwrap();
        // Six events through one word at 2/3: exactly four kept, and counted.
        assert_eq!(kept, 4);
        assert_eq!(c.peek(), (4, 2));
    });
}

/// Moving figures out (as the sampler does under its stats lock) while
/// other threads count: every event is counted once, either still in the
/// word or in what was taken, and the 1-in-3 decision stays exact.
#[test]
fn loom_fast_and_full_counting_mix_exactly() {
    loom::model(|| {
        // One figure short of full, so one of the events finds the word full.
        let c = Arc::new(Counts::from_raw((crate::decide::entry::FLUSH_AT - 2) << 44));
        let rate = Rate::from_fraction(1, 3).unwrap();
        let count_one = move |c: &Counts| loop {
            if let Some(keep) = c.try_count(Some(rate), false) {
                return (keep as u64, 0);
            }
            if let Some(keep) = c.count(Some(rate), false) {
                return (keep as u64, 0);
            }
            let (k, d) = c.take();
            let keep = c.count(Some(rate), false).expect("room after the move");
            return (keep as u64, k + d);
        };
        let fast = {
            let c = c.clone();
            thread::spawn(move || {
                let (a, b) = (count_one(&c), count_one(&c));
                (a.0 + b.0, a.1 + b.1)
            })
        };
        let other = {
            let c = c.clone();
            thread::spawn(move || count_one(&c))
        };
        let (a, b) = (fast.join().unwrap(), other.join().unwrap());
        // Three events through one word at 1/3: exactly one kept; every
        // figure is either still in the word or was taken, once.
        assert_eq!(a.0 + b.0, 1);
        let (k, d) = c.peek();
        assert_eq!(k + d + a.1 + b.1, crate::decide::entry::FLUSH_AT - 2 + 3);
    });
}

#[test]
fn loom_rule_cache_never_shows_a_torn_rule() {
    loom::model(|| {
        let a = Rule::new(Rate::from_fraction(1, 2).unwrap(), 1, false);
        let b = Rule::new(Rate::from_fraction(1, 5).unwrap(), 2, true);
        let c = Arc::new(RuleCache::new());
        assert!(c.publish(1, a, |_| {}));
        let w = {
            let c = c.clone();
            thread::spawn(move || c.publish(2, b, |old| assert_eq!(old, Some(a))))
        };
        let r = {
            let c = c.clone();
            thread::spawn(move || {
                if let Some(r) = c.get(1) {
                    // Generation 1's rule, or the newer one being published: never torn.
                    assert!(r == a || r == b);
                }
                if let Some(r) = c.get(2) {
                    assert_eq!(r, b);
                }
            })
        };
        assert!(
            w.join().unwrap(),
            "the only writer for generation 2 publishes"
        );
        r.join().unwrap();
        assert_eq!(c.get(2), Some(b));
        assert_eq!(c.current(), (2, b));
    });
}

#[test]
fn loom_rule_cache_racing_writers_leave_one_consistent_rule() {
    loom::model(|| {
        let a = Rule::new(Rate::from_fraction(1, 2).unwrap(), 1, false);
        let b = Rule::new(Rate::from_fraction(1, 5).unwrap(), 2, false);
        let c = Arc::new(RuleCache::new());
        let w1 = {
            let c = c.clone();
            thread::spawn(move || c.publish(1, a, |_| {}))
        };
        let w2 = {
            let c = c.clone();
            thread::spawn(move || c.publish(2, b, |_| {}))
        };
        let (p1, p2) = (w1.join().unwrap(), w2.join().unwrap());
        assert!(p1 || p2, "one of them publishes");
        let (generation, rule) = c.current();
        match generation {
            1 => assert!(rule == a && !p2),
            2 => assert_eq!(rule, b),
            g => panic!("generation {g}"),
        }
    });
}

/// A budget's retune (a new rate for the current generation) racing an
/// install's publish (the next generation) and a reader: the newer
/// generation's rule is never overwritten, and a reader of generation 1 sees
/// its old or its retuned rule, whole.
#[test]
fn loom_rule_cache_retune_never_overwrites_a_newer_generation() {
    loom::model(|| {
        let a = Rule::new(Rate::ONE, 1, false).with_budget();
        let tuned = a.with_rate(Rate::from_fraction(1, 8).unwrap());
        let b = Rule::new(Rate::from_fraction(1, 5).unwrap(), 2, false);
        let c = Arc::new(RuleCache::new());
        assert!(c.publish(1, a, |_| {}));
        let t = {
            let c = c.clone();
            thread::spawn(move || c.retune(1, tuned))
        };
        let w = {
            let c = c.clone();
            thread::spawn(move || c.publish(2, b, |_| {}))
        };
        let r = {
            let c = c.clone();
            thread::spawn(move || {
                if let Some(r) = c.get(1) {
                    assert!(r == a || r == tuned || r == b, "{r:?}");
                }
            })
        };
        t.join().unwrap();
        r.join().unwrap();
        if w.join().unwrap() {
            assert_eq!(c.current(), (2, b), "the install wins");
        } else {
            // The retune held the tag when the install tried: the install
            // resolves again later (as with any busy tag).
            assert_eq!(c.current(), (1, tuned));
        }
    });
}

#[test]
fn loom_callsite_table_registers_once() {
    loom::model(|| {
        let t = Arc::new(CallsiteTable::<4>::new());
        let make = || CallsiteState::new(&META, true, "sample_key", None);
        let spawn = |t: Arc<CallsiteTable<4>>| {
            thread::spawn(move || t.get_or_insert(&META, make) as *const CallsiteState as usize)
        };
        let a = spawn(t.clone());
        let reader = {
            let t = t.clone();
            thread::spawn(move || t.get(&META).map(|s| s as *const CallsiteState as usize))
        };
        let b = spawn(t.clone());
        let (a, b) = (a.join().unwrap(), b.join().unwrap());
        assert_eq!(a, b, "both registrations return the same state");
        if let Some(seen) = reader.join().unwrap() {
            assert_eq!(seen, a);
        }
        let mut n = 0;
        t.for_each(|_| n += 1);
        assert_eq!(n, 1);
    });
}

#[test]
fn loom_breaker_opens_exactly_once() {
    loom::model(|| {
        let clock = ManualClock::new();
        // The absolute trigger alone: what is modelled is the exactly-once CAS.
        let cfg = Breaker::default().threshold_per_sec(0.15).threshold_only();
        // 10 s window: two events = 0.2/s > 0.15/s.
        let b = StdArc::new(BreakerState::new(&cfg, StdArc::new(clock)));
        let spawn = |b: StdArc<BreakerState>| {
            thread::spawn(move || b.record(&mut || None).filter(|t| t.opened).is_some() as u32)
        };
        let x = spawn(b.clone());
        let y = spawn(b.clone());
        let opened = x.join().unwrap() + y.join().unwrap();
        assert_eq!(opened, 1);
        assert_eq!(b.trips(), 1);
        assert!(b.is_open());
    });
}

/// The protocol that keeps stats monotonic (`sampler::install`): figures leave a word
/// only under the ledger lock (a full word, or a re-resolution that moves
/// them to the old rule's bucket), and a snapshot holds the same lock while it
/// reads the ledger and the words. Two snapshots, a thread counting into a
/// nearly full word, and an install moving the word to another bucket: every
/// bucket's figure in the second snapshot is at least that of the first, and
/// nothing is lost or counted twice.
#[test]
fn loom_stats_snapshots_never_go_backwards() {
    use crate::decide::entry::FLUSH_AT;
    use loom::sync::Mutex;

    loom::model(|| {
        let start = FLUSH_AT - 1;
        let word = Arc::new((RuleCache::new(), Counts::from_raw(start << 44)));
        let ledger = Arc::new(Mutex::new([0u64; 2]));
        let in_bucket = |b| Rule::new(Rate::ZERO, b, false);
        assert!(word.0.publish(1, in_bucket(0), |_| {}));

        let counter = {
            let (word, ledger) = (word.clone(), ledger.clone());
            thread::spawn(move || {
                for _ in 0..2 {
                    while word.1.count(None, false).is_none() {
                        // Full: move the figures out, under the lock, to the
                        // bucket of the rule cached now.
                        let mut l = ledger.lock().unwrap();
                        let (_, rule) = word.0.current();
                        l[rule.bucket()] += word.1.take().1;
                    }
                }
            })
        };
        let install = {
            let (word, ledger) = (word.clone(), ledger.clone());
            thread::spawn(move || {
                let mut l = ledger.lock().unwrap();
                word.0.publish(2, in_bucket(1), |old| {
                    l[old.unwrap().bucket()] += word.1.take().1;
                });
            })
        };
        let snapshot = || {
            let l = ledger.lock().unwrap();
            let mut figures = *l;
            let (_, rule) = word.0.current();
            figures[rule.bucket()] += word.1.peek().1;
            figures
        };
        let first = snapshot();
        let second = snapshot();
        assert!(
            first[0] <= second[0] && first[1] <= second[1],
            "{first:?} -> {second:?}"
        );
        counter.join().unwrap();
        install.join().unwrap();
        let last = snapshot();
        assert!(second[0] <= last[0] && second[1] <= last[1]);
        assert_eq!(last[0] + last[1], start + 2, "every event once");
    });
}

/// Two spans racing for the owner table's one slot, one of them closing and a
/// third span taking the slot it freed: each span that got in is found until
/// its close and gives back its own outer owner, never the other's, and a
/// refused span is never found.
#[test]
fn loom_owner_table_never_mixes_two_spans_entries() {
    use crate::capture::ownership::table::OwnerTable;
    loom::model(|| {
        let t = Arc::new(OwnerTable::with_slots(1));
        let span = |t: &OwnerTable, id: u64, outer: Option<u64>| {
            if t.insert(id, outer) {
                assert!(t.contains(id));
                assert_eq!(t.take(id), Some(outer));
            }
            assert!(!t.contains(id), "{id} found after its close or refusal");
        };
        let a = {
            let t = t.clone();
            thread::spawn(move || {
                span(&t, 1, Some(10));
                span(&t, 3, Some(30));
            })
        };
        let b = {
            let t = t.clone();
            thread::spawn(move || span(&t, 2, None))
        };
        a.join().unwrap();
        b.join().unwrap();
        assert!(!t.contains(1) && !t.contains(2) && !t.contains(3));
    });
}
