//! No heap allocation per line on the producer side once the buffers have grown: the
//! counting global allocator, counting this thread's allocations.

mod support;

use std::io::Write;

use backpressure_writer::NonBlockingBuilder;
use support::counting::{allocations_in, Counting};
use support::{assert_accounting, Gate};
use tracing_subscriber::fmt::MakeWriter;

#[global_allocator]
static GLOBAL: Counting = Counting;

const CAPACITY: usize = 1_000;
const LINE: &[u8] = b"2026-01-01T00:00:00.000000Z  INFO request: handled path=/api/v1/items status=200 took_us=1234 bytes=5678 ok\n";

#[test]
fn the_counter_counts() {
    assert_eq!(
        allocations_in(|| drop(std::hint::black_box(vec![1u8; 10]))),
        1
    );
}

#[test]
fn producer_path_does_not_allocate_per_line() {
    // The worker is held in the sink's `flush`, where it holds no lines, so the producer
    // can fill a whole shared buffer: done twice, both of the worker's two buffers reach
    // full capacity before anything is counted.
    let (gate, sink) = Gate::closed_on_flush();
    let (mut w, guard) = NonBlockingBuilder::default()
        .buffered_lines_limit(CAPACITY)
        .keep_capacity(CAPACITY)
        .lossy(false)
        .drop_report(false)
        .finish(sink);
    let mut warn = w.keeping();
    let fill = |w: &mut backpressure_writer::NonBlocking,
                warn: &mut backpressure_writer::NonBlocking| {
        for _ in 0..CAPACITY {
            w.write_all(LINE).unwrap();
            warn.write_all(LINE).unwrap();
        }
    };
    w.write_all(LINE).unwrap();
    gate.wait_arrivals(1); // written and stuck in flush: nothing buffered
    fill(&mut w, &mut warn); // buffer A grows to capacity
    gate.permit(1); // the worker takes A, writes it, and sticks in the next flush
    gate.wait_arrivals(2);
    fill(&mut w, &mut warn); // buffer B grows to capacity
    gate.open();
    guard.flush().unwrap();

    let allocations = allocations_in(|| {
        for _ in 0..10_000 {
            w.write_all(LINE).unwrap();
        }
        for _ in 0..1_000 {
            warn.write_all(LINE).unwrap();
        }
        // Through the MakeWriter path that fmt::Layer uses, too.
        for _ in 0..1_000 {
            w.make_writer().write_all(LINE).unwrap();
        }
    });
    assert_eq!(allocations, 0, "the producer allocated");
    guard.flush().unwrap();
    let s = w.stats();
    assert_eq!(s.lines_written, 1 + 4 * CAPACITY as u64 + 12_000);
    assert_eq!(s.dropped.total(), 0);
    assert_accounting(&s);
}
