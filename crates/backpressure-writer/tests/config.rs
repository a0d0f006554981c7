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
    assert_eq!((s.capacity, s.keep_capacity), (128_000, 16_000));
}
