//! A chunk the sink takes only in part: the lines wholly in the output count as written,
//! the torn one and the rest of the batch as `write_failed`.

use std::io::Write;

use crate::support::partial::Partial;
use crate::support::{assert_accounting, line};
use backpressure_writer::NonBlockingBuilder;

#[test]
fn lines_wholly_written_before_a_failure_count_as_written() {
    let sink = Partial::new(25);
    let (mut w, guard) = NonBlockingBuilder::default()
        .drop_report(false)
        .finish(sink.clone());
    w.write_all(b"first\n").unwrap();
    sink.wait_first_call();
    // Ten 7-byte lines, queued while "first" is in the sink: the next batch, one chunk.
    for i in 0..10 {
        w.write_all(line(i).as_bytes()).unwrap();
    }
    sink.release();
    // Err if the failure lands after this call starts, Ok if before: either way every
    // line is settled once it returns.
    let _ = guard.flush();
    let s = w.stats();
    // 25 bytes: "line 0\nline 1\nline 2\n" (21) and the torn "line".
    assert_eq!(
        (s.lines_written, s.dropped.write_failed),
        (1 + 3, 7),
        "{s:#?}"
    );
    assert_eq!((s.write_errors, s.bytes_written), (1, 6 + 25));
    assert_accounting(&s);
    let out = sink.out();
    assert_eq!(out, b"first\nline 0\nline 1\nline 2\nline");
}
