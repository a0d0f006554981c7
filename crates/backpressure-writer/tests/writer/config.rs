//! Bad configurations get a clear error, and `finish` panics with the same message.

use std::time::Duration;

use backpressure_writer::{BuildError, NonBlockingBuilder, Overflow};

fn error(b: NonBlockingBuilder) -> BuildError {
    match b.try_finish(std::io::sink()) {
        Ok(_) => panic!("configuration accepted"),
        Err(e) => e,
    }
}

#[test]
fn zero_capacity_is_refused() {
    let e = error(NonBlockingBuilder::default().buffered_lines_limit(0));
    assert!(matches!(e, BuildError::ZeroCapacity));
    assert_eq!(
        e.to_string(),
        "backpressure-writer: buffered_lines_limit must be at least 1 (got 0)"
    );
    let e = error(NonBlockingBuilder::default().keep_capacity(0));
    assert!(matches!(e, BuildError::ZeroKeepCapacity));
}

#[test]
fn a_zero_byte_bound_is_refused() {
    let e = error(NonBlockingBuilder::default().buffered_bytes_limit(0));
    assert!(matches!(e, BuildError::ZeroBytesLimit));
    assert_eq!(
        e.to_string(),
        "backpressure-writer: buffered_bytes_limit must be at least 1 (got 0)"
    );
}

/// 64 MiB by default, and the keep room in bytes is `keep_capacity`'s share of the lines,
/// at least an eighth.
#[test]
fn the_byte_bounds_by_default_and_in_proportion() {
    let stats = |b: NonBlockingBuilder| {
        let (w, guard) = b.finish(std::io::sink());
        let s = w.stats();
        drop(guard);
        (s.byte_capacity, s.keep_byte_capacity)
    };
    let mib = 1024 * 1024;
    assert_eq!(backpressure_writer::DEFAULT_BUFFERED_BYTES_LIMIT, 64 * mib);
    assert_eq!(stats(NonBlockingBuilder::default()), (64 * mib, 8 * mib));
    let half = NonBlockingBuilder::default()
        .buffered_lines_limit(1000)
        .keep_capacity(500)
        .buffered_bytes_limit(mib);
    assert_eq!(stats(half), (mib, mib / 2));
    let few = NonBlockingBuilder::default()
        .buffered_lines_limit(1000)
        .keep_capacity(1)
        .buffered_bytes_limit(mib);
    assert_eq!(stats(few), (mib, mib / 8));
}

#[test]
fn thread_name_with_nul_is_refused() {
    let e = error(NonBlockingBuilder::default().thread_name("log\0writer"));
    assert!(matches!(e, BuildError::ThreadNameNul { ref name } if name == "log\0writer"));
    assert!(e
        .to_string()
        .contains("thread_name must not contain a NUL byte"));
}

/// `keep_timeout(0)` is not among them: it means "never wait" (tests/keep_wait.rs).
#[test]
fn zero_timeouts_other_than_keep_timeout_are_refused() {
    let cases = [
        (
            NonBlockingBuilder::default().shutdown_timeout(Duration::ZERO),
            "shutdown_timeout",
        ),
        (
            NonBlockingBuilder::default().overflow(Overflow::Block {
                timeout: Some(Duration::ZERO),
            }),
            "Overflow::Block timeout",
        ),
    ];
    for (builder, setting) in cases {
        let e = error(builder);
        assert!(
            matches!(e, BuildError::ZeroTimeout { setting: s } if s.starts_with(setting)),
            "{e:?}"
        );
        assert!(e.to_string().contains("must be greater than zero"), "{e}");
    }
}

/// A longest poll shorter than the shortest one (1 ms) is refused, naming the setting and
/// the value; 1 ms itself is accepted.
#[test]
fn a_max_poll_below_one_millisecond_is_refused() {
    for bad in [Duration::ZERO, Duration::from_micros(999)] {
        let e = error(NonBlockingBuilder::default().max_poll(bad));
        assert!(
            matches!(e, BuildError::MaxPollBelowPoll { max_poll } if max_poll == bad),
            "{e:?}"
        );
        assert!(
            e.to_string().contains("max_poll must be at least 1ms")
                && e.to_string().contains(&format!("{bad:?}")),
            "{e}"
        );
    }
    let (mut w, guard) = NonBlockingBuilder::default()
        .max_poll(Duration::from_millis(1))
        .try_finish(std::io::sink())
        .expect("1 ms is the shortest poll");
    std::io::Write::write_all(&mut w, b"line\n").unwrap();
    guard.flush().unwrap();
    assert_eq!(w.stats().lines_written, 1);
}

#[test]
#[should_panic(expected = "backpressure-writer: buffered_lines_limit must be at least 1 (got 0)")]
fn finish_panics_with_the_same_message() {
    let _ = NonBlockingBuilder::default()
        .buffered_lines_limit(0)
        .finish(std::io::sink());
}

#[test]
fn the_worker_thread_gets_its_name() {
    let (w, guard) = NonBlockingBuilder::default()
        .thread_name("my-log-writer")
        .finish(std::io::sink());
    assert!(format!("{guard:?}").contains("my-log-writer"));
    let s = w.stats();
    // Unset, the keep room is bounded by its 8 MiB byte reserve, with one line per 64
    // bytes of it as the cap on line records.
    assert_eq!(
        (s.capacity, s.keep_byte_capacity, s.keep_capacity),
        (128_000, 8 * 1024 * 1024, 131_072)
    );
}
