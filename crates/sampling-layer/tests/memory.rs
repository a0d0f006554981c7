//! One million distinct keys: the live count and the memory stay bounded.
//! (Its own test binary: the counting allocator sees the whole process.)

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use sampling_layer::{Breaker, SamplingFilter, BYTES_PER_KEY};
use tracing::info;
use tracing_subscriber::prelude::*;

struct Counting;

static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to the system allocator and only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE_BYTES.fetch_add(l.size() as isize, Ordering::Relaxed);
        System.alloc(l)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE_BYTES.fetch_sub(l.size() as isize, Ordering::Relaxed);
        System.dealloc(p, l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        LIVE_BYTES.fetch_add(new as isize - l.size() as isize, Ordering::Relaxed);
        System.realloc(p, l, new)
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

#[test]
fn one_million_distinct_keys_stay_within_max_keys_and_the_byte_bound() {
    const MAX: usize = 10_000;
    const N: u64 = 1_000_000;
    let s = SamplingFilter::builder()
        .max_keys(MAX)
        .breaker(Breaker::disabled())
        .parse("1/2")
        .unwrap();
    let handle = s.handle();
    let sub = tracing_subscriber::registry().with(s);
    tracing::subscriber::with_default(sub, || {
        info!(sample_key = u64::MAX, "warm-up");
        let before = LIVE_BYTES.load(Ordering::Relaxed);
        let mut peak = before;
        for i in 0..N {
            info!(sample_key = i, "x");
            if i % 4096 == 0 {
                peak = peak.max(LIVE_BYTES.load(Ordering::Relaxed));
                assert!(handle.stats().active_keys <= MAX);
            }
        }
        let grown = (peak.max(LIVE_BYTES.load(Ordering::Relaxed)) - before) as usize;
        assert!(
            grown <= MAX * BYTES_PER_KEY,
            "key store grew by {grown} bytes, bound {} ({BYTES_PER_KEY} per key)",
            MAX * BYTES_PER_KEY
        );
        eprintln!(
            "key store growth for {MAX} keys: {grown} bytes ({} per key)",
            grown / MAX
        );
    });
    let st = handle.stats();
    assert!(
        st.active_keys <= MAX && st.active_keys >= MAX - MAX / 8,
        "{}",
        st.active_keys
    );
    // Every key but the live ones was evicted, and counted.
    assert_eq!(st.evicted_keys + st.active_keys as u64, N + 1);
    // Evicted entries' counts are kept: one key per event, first event of each key kept.
    let t = &st.targets[0];
    assert_eq!((t.seen, t.kept, t.dropped), (N + 1, N + 1, 0));
}
