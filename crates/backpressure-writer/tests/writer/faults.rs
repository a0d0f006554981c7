//! A sink that fails (`/dev/full`) or panics: counted, reported, and survived.

use std::fs::OpenOptions;
use std::io::Write;
use std::sync::{Arc, Mutex};

use crate::support::{assert_accounting, line, Gate};
use backpressure_writer::{FlushError, NonBlocking, NonBlockingBuilder};

#[test]
fn dev_full_counts_errors_and_lost_lines_and_keeps_going() {
    let full = match OpenOptions::new().write(true).open("/dev/full") {
        Ok(f) => f,
        Err(e) => panic!("/dev/full is needed for this test: {e}"),
    };
    let (mut w, guard) = NonBlockingBuilder::default()
        .lossy(false)
        .drop_report(false)
        .finish(full);
    for i in 0..100 {
        w.write_all(line(i).as_bytes()).unwrap();
    }
    let err = guard.flush().unwrap_err();
    assert!(matches!(err, FlushError::SinkFailed { .. }), "{err:?}");
    let s = w.stats();
    assert_eq!(s.dropped.write_failed, 100);
    assert_eq!((s.lines_written, s.bytes_written), (0, 0));
    assert!(s.write_errors >= 1 && s.write_errors <= s.batches, "{s:?}");
    assert_eq!(s.since_last_write, None);
    assert_accounting(&s);

    // The worker is still there and still counting.
    for i in 100..150 {
        w.write_all(line(i).as_bytes()).unwrap();
    }
    assert!(guard.flush().is_err());
    let s = w.stats();
    assert!(s.worker_alive);
    assert_eq!(s.dropped.write_failed, 150);
    assert_accounting(&s);
}

#[test]
fn a_panicking_sink_is_caught_counted_and_survived() {
    let (gate, sink) = Gate::open_sink();
    gate.panic_on("boom");
    let (mut w, guard) = NonBlockingBuilder::default()
        .drop_report(false)
        .finish(sink);
    w.write_all(b"before\n").unwrap();
    guard.flush().unwrap();
    w.write_all(b"boom\n").unwrap();
    assert_eq!(
        guard.flush().unwrap_err(),
        FlushError::SinkFailed { errors: 1 }
    );
    w.write_all(b"after\n").unwrap();
    guard.flush().unwrap();
    assert_eq!(gate.lines(), ["before", "after"]);
    let s = w.stats();
    assert!(s.worker_alive);
    assert_eq!(
        (s.sink_panics, s.write_errors, s.dropped.write_failed),
        (1, 1, 1)
    );
    assert_eq!(s.lines_written, 2);
    assert_accounting(&s);
}

#[test]
fn the_drop_report_tells_of_failed_writes() {
    let (gate, sink) = Gate::open_sink();
    gate.panic_on("boom");
    let (mut w, guard) = NonBlockingBuilder::default().finish(sink);
    w.write_all(b"boom\n").unwrap();
    let _ = guard.flush();
    w.write_all(b"next\n").unwrap();
    guard.flush().unwrap();
    assert_eq!(
        gate.lines(),
        [
            "backpressure-writer: dropped 1 lines since last report (newest=0 oldest=0 \
             timeout=0 keep_timeout=0 shutdown=0 worker_gone=0 write_failed=1)",
            "next"
        ]
    );
}

/// A sink that logs into its own writer (say, an instrumented network client) runs on the
/// worker thread; its lines must never wait for room only the worker can make.
#[test]
fn a_sink_logging_into_its_own_writer_does_not_deadlock() {
    struct Reentrant {
        writer: Arc<Mutex<Option<NonBlocking>>>,
        inner: crate::support::GatedSink,
    }
    impl Write for Reentrant {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let mut slot = self.writer.lock().unwrap();
            if let (Some(w), true) = (slot.as_mut(), buf.starts_with(b"first")) {
                w.write_all(b"from the sink (policy)\n")?;
                w.keeping().write_all(b"from the sink (keep)\n")?;
            }
            self.inner.write(buf)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            self.inner.flush()
        }
    }
    let (gate, inner) = Gate::open_sink();
    let slot = Arc::new(Mutex::new(None));
    let (mut w, guard) = NonBlockingBuilder::default()
        .buffered_lines_limit(1)
        .keep_capacity(1)
        .keep_timeout(std::time::Duration::from_secs(3600))
        .lossy(false)
        .drop_report(false)
        .finish(Reentrant {
            writer: Arc::clone(&slot),
            inner,
        });
    *slot.lock().unwrap() = Some(w.clone());
    w.write_all(b"first\n").unwrap();
    guard.flush().unwrap();
    // While "first" is written the policy capacity (1) is full: the sink's INFO line gives
    // up instead of waiting (Block without timeout would wait forever); its keep line finds
    // the reserved slot free.
    *slot.lock().unwrap() = None;
    let s = w.stats();
    assert_eq!(s.submitted, 3);
    assert_eq!(s.dropped.timeout, 1, "{s:?}");
    assert_eq!(s.dropped.keep_timeout, 0, "{s:?}");
    assert_eq!(gate.lines()[0], "first");
    drop(guard);
    let s = w.stats();
    assert_accounting(&s);
    assert_eq!(s.lines_written, 2);
}
