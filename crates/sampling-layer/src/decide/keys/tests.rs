//! The key table and the field hashing, alone.

use super::*;
use tracing_core::{callsite::Callsite, field::FieldSet, metadata::Kind, subscriber::Interest};

struct Cs;
static CS: Cs = Cs;
static META: Metadata<'static> = Metadata::new(
    "keys",
    "keys",
    tracing_core::Level::INFO,
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

fn touch(s: &KeyStore, k: u64, evicted: &mut u64) {
    s.with_entry(
        k,
        (&META, k),
        || s.evict_batch(|_| *evicted += 1),
        |e| {
            e.counts.count(None, true);
        },
    );
}

#[test]
fn bound_holds_and_evictions_are_counted() {
    let s = KeyStore::new(100);
    let mut evicted_seen = 0u64;
    for k in 0..10_000u64 {
        touch(&s, k, &mut evicted_seen);
        assert!(s.live() <= 100);
        assert!(s.map.len() <= 100);
    }
    assert_eq!(s.evicted(), evicted_seen);
    assert_eq!(s.evicted() + s.map.len() as u64, 10_000);
    // Each batch is an eighth of the store (approximately LRU, exactly sized).
    assert_eq!(evicted_seen % 12, 0, "{evicted_seen}");
}

#[test]
fn recently_touched_keys_survive_eviction() {
    let s = KeyStore::new(80);
    let mut n = 0;
    for k in 0..80u64 {
        touch(&s, k, &mut n);
    }
    // Touch the first ten again after newer inserts so they are the freshest.
    for k in 80..85u64 {
        for hot in 0..10u64 {
            touch(&s, hot, &mut n);
        }
        touch(&s, k, &mut n);
    }
    for hot in 0..10u64 {
        assert!(
            s.map.contains_key(&s.seed.mix(hot)),
            "hot key {hot} was evicted"
        );
    }
    assert!(s.evicted() >= 5);
    // The oldest untouched ones went first.
    for old in 10..20u64 {
        assert!(
            !s.map.contains_key(&s.seed.mix(old)),
            "old key {old} survived"
        );
    }
}

/// Keys that agree in their low 32 bits and in DashMap's shard bits
/// (`(h << 7) >> (64 - log2(shards))`: bits 54..57 for 8 shards) would all
/// share one shard and one home bucket if the map used them as they are.
/// Seeded, they spread like random values: over the table's low 12 bits
/// (4 096 buckets) and over the shard bits.
#[test]
fn keys_colliding_in_their_low_bits_spread_out_when_seeded() {
    let keys: Vec<u64> = (0..4096u64).map(|i| (i << 32) | 0xABCD_1234).collect();
    let spread = |state: &dyn Fn(u64) -> u64| {
        let mut buckets = std::collections::HashSet::new();
        let mut shards = [0usize; 8];
        for &k in &keys {
            let h = state(k);
            buckets.insert(h & 0xFFF);
            shards[((h << 7) >> 61) as usize] += 1;
        }
        (buckets.len(), shards)
    };
    // As the keys are (the pass-through hashing this replaced): one of each.
    let (buckets, shards) = spread(&|k| k);
    assert_eq!(buckets, 1);
    assert_eq!(shards.iter().filter(|n| **n > 0).count(), 1);
    // Seeded: fixed seeds (reproducible) and this process's seeds. 4 096
    // random values hit ~2 589 of 4 096 buckets (sd ~ 19) and ~512 per shard.
    let fixed = [
        KeySeed::with_seeds([0, 0]),
        KeySeed::with_seeds([1, 2]),
        KeySeed::with_seeds([u64::MAX, 0x1234_5678]),
    ];
    for seed in fixed.iter().chain([&KeySeed::process()]) {
        let (buckets, shards) = spread(&|k| seed.mix(k));
        assert!(buckets > 2_400, "{seed:?}: {buckets} buckets");
        for n in shards {
            assert!((384..=640).contains(&n), "{seed:?}: {shards:?}");
        }
    }
    // Two processes (here: two seeds) place the same key differently.
    assert_ne!(fixed[1].mix(42), fixed[2].mix(42));
    // The mix is invertible: distinct keys never share an entry.
    let mixed: std::collections::HashSet<u64> = keys.iter().map(|k| fixed[0].mix(*k)).collect();
    assert_eq!(mixed.len(), keys.len());
}

#[test]
fn debug_hash_matches_plain_hash_of_the_text() {
    assert_eq!(hash_debug(&format_args!("req-42")), xxh3_64(b"req-42"));
    assert_eq!(hash_debug(&12345u64), xxh3_64(b"12345"));
    let long = "x".repeat(1000);
    assert_eq!(
        hash_debug(&format_args!("{long}")),
        xxh3_64(long.as_bytes())
    );
}
