//! After the first export, publishing allocates nothing of its own: keys are built once.
//!
//! A counting global allocator counts this thread's allocations around `export_now`, with a
//! no-op recorder (so only this crate's code is measured) and a writer source whose `Stats`
//! holds no heap data.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use backpressure_writer::stats::{LatencySnapshot, Stats};
use logmetrics::Exporter;

struct Counting;

thread_local! {
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: forwards to `System`; the counter is a const-initialised thread-local `Cell`,
// which never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations_during(f: impl FnOnce()) -> u64 {
    let before = ALLOCS.with(Cell::get);
    f();
    ALLOCS.with(Cell::get) - before
}

#[test]
fn exports_after_the_first_do_not_allocate() {
    let mut stats = Stats::default();
    stats.lines_written = 10;
    stats.dropped.newest = 2;
    stats.since_last_write = Some(std::time::Duration::from_secs(1));
    let calls = std::sync::atomic::AtomicU64::new(0);
    let exporter = Exporter::builder()
        .writer("app", {
            let stats = stats.clone();
            move || stats.clone()
        })
        .writer("audit", move || {
            // Histogram buckets grow between exports, so `record_many` runs every time.
            let mut s = stats.clone();
            s.queue_wait.record_many(
                LatencySnapshot::bucket_upper_bound(3),
                calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1,
            );
            s
        })
        .recorder(metrics::NoopRecorder)
        // Each reading of the clock is an export interval later, so every export keeps
        // its counters for the health window: that must not allocate either.
        .clock({
            let t0 = std::time::Instant::now();
            let ticks = std::sync::atomic::AtomicU32::new(0);
            move || {
                let n = ticks.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                t0 + logmetrics::DEFAULT_INTERVAL * n
            }
        })
        .build()
        .unwrap();
    exporter.export_now();
    let n = allocations_during(|| {
        for _ in 0..100 {
            exporter.export_now();
        }
    });
    assert_eq!(n, 0, "{n} allocations in 100 exports");
    // The counter does count: a sanity check that the test can fail.
    assert!(allocations_during(|| drop(Vec::<u8>::with_capacity(16))) >= 1);
}
