//! A chunk the sink takes only in part: the lines wholly in the output count as written,
//! the torn one and the rest of the batch as `write_failed`.

use std::io::{self, Write};
use std::sync::{Arc, Condvar, Mutex};

use crate::support::{assert_accounting, line};
use backpressure_writer::NonBlockingBuilder;

/// Call 1 waits for the test, then takes everything; call 2 takes 25 bytes; later calls
/// fail.
#[derive(Clone, Default)]
struct Partial(Arc<(Mutex<PartialState>, Condvar)>);

#[derive(Default)]
struct PartialState {
    calls: u32,
    released: bool,
    out: Vec<u8>,
}

impl Write for Partial {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let (m, cv) = &*self.0;
        let mut st = m.lock().unwrap();
        st.calls += 1;
        cv.notify_all();
        let n = match st.calls {
            1 => {
                while !st.released {
                    st = cv.wait(st).unwrap();
                }
                buf.len()
            }
            2 => buf.len().min(25),
            _ => return Err(io::Error::other("disk gone")),
        };
        st.out.extend_from_slice(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn lines_wholly_written_before_a_failure_count_as_written() {
    let sink = Partial::default();
    let (mut w, guard) = NonBlockingBuilder::default()
        .drop_report(false)
        .finish(sink.clone());
    w.write_all(b"first\n").unwrap();
    {
        let (m, cv) = &*sink.0;
        let mut st = m.lock().unwrap();
        while st.calls == 0 {
            st = cv.wait(st).unwrap();
        }
    }
    // Ten 7-byte lines, queued while "first" is in the sink: the next batch, one chunk.
    for i in 0..10 {
        w.write_all(line(i).as_bytes()).unwrap();
    }
    sink.0 .0.lock().unwrap().released = true;
    sink.0 .1.notify_all();
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
    let out = sink.0 .0.lock().unwrap().out.clone();
    assert_eq!(out, b"first\nline 0\nline 1\nline 2\nline");
}
