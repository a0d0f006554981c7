//! Model-checks the flush and shutdown handshakes with loom: every interleaving of
//! producers, the worker and the guard (up to loom's preemption bound).
//!
//! Run: `RUSTFLAGS="--cfg backpressure_writer_loom" cargo test -p backpressure-writer --test loom --release`
#![cfg(backpressure_writer_loom)]

use std::io::{self, Write};
use std::sync::{Arc, Mutex};

use backpressure_writer::stats::Stats;
use backpressure_writer::NonBlockingBuilder;

#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<u8>>>);

impl Write for Recorder {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Recorder {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(3);
    b.check(f);
}

fn assert_accounting(s: &Stats) {
    assert_eq!(
        s.submitted,
        s.lines_written + s.dropped.total() + s.queue_depth as u64
    );
}

/// `flush()` returns only once every line written before it is in the sink, whatever
/// another producer does meanwhile.
#[test]
fn flush_sees_every_earlier_line() {
    model(|| {
        let sink = Recorder::default();
        let (mut w, guard) = NonBlockingBuilder::default()
            .buffered_lines_limit(1)
            .lossy(false)
            .drop_report(false)
            .finish(sink.clone());
        let mut w2 = w.clone();
        let other = loom::thread::spawn(move || w2.write_all(b"b\n").unwrap());
        w.write_all(b"a\n").unwrap();
        guard.flush().unwrap();
        assert!(sink.text().contains("a\n"));
        other.join().unwrap();
        drop(guard);
        let text = sink.text();
        assert!(text == "a\nb\n" || text == "b\na\n", "{text:?}");
        let s = w.stats();
        assert_eq!((s.lines_written, s.dropped.total()), (2, 0));
        assert_accounting(&s);
    });
}

/// Dropping the guard while a producer may be blocked for room never hangs, and every line
/// ends up written or counted as `worker_gone`.
#[test]
fn shutdown_never_strands_a_blocked_producer() {
    model(|| {
        let sink = Recorder::default();
        let (mut w, guard) = NonBlockingBuilder::default()
            .buffered_lines_limit(1)
            .lossy(false)
            .drop_report(false)
            .finish(sink.clone());
        let mut w2 = w.clone();
        let other = loom::thread::spawn(move || {
            w2.write_all(b"b\n").unwrap();
            w2.write_all(b"c\n").unwrap();
        });
        w.write_all(b"a\n").unwrap();
        drop(guard);
        other.join().unwrap();
        let s = w.stats();
        assert_eq!(s.submitted, 3);
        assert_eq!(s.queue_depth, 0);
        assert_eq!(s.lines_written + s.dropped.worker_gone, 3);
        assert_eq!(s.lines_written as usize, sink.text().lines().count());
        assert_accounting(&s);
    });
}

/// Keep-level lines waiting for their reserved room are woken as the worker frees it: two
/// threads race for a single reserved slot and both lines get through.
#[test]
fn keep_lines_waiting_for_room_are_woken() {
    model(|| {
        let sink = Recorder::default();
        let (w, guard) = NonBlockingBuilder::default()
            .buffered_lines_limit(1)
            .keep_capacity(1)
            .drop_report(false)
            .finish(sink.clone());
        let mut warn = w.keeping();
        let mut warn2 = w.keeping();
        let other = loom::thread::spawn(move || warn2.write_all(b"x\n").unwrap());
        warn.write_all(b"y\n").unwrap();
        other.join().unwrap();
        guard.flush().unwrap();
        let s = w.stats();
        assert_eq!((s.lines_written, s.dropped.total()), (2, 0));
        assert_accounting(&s);
        drop(guard);
        assert_eq!(sink.text().len(), 4);
    });
}

/// The same when the keep byte reserve is what is full (no `keep_capacity`: 128 bytes,
/// room for two lines by count but for one of these 100-byte lines): the waiting line is
/// woken as the worker frees the bytes, and both get through.
#[test]
fn keep_lines_waiting_for_their_byte_reserve_are_woken() {
    model(|| {
        let sink = Recorder::default();
        let (w, guard) = NonBlockingBuilder::default()
            .buffered_lines_limit(1)
            .buffered_bytes_limit(1024)
            .drop_report(false)
            .finish(sink.clone());
        let s = w.stats();
        assert_eq!((s.keep_byte_capacity, s.keep_capacity), (128, 2));
        let line = |c: u8| {
            let mut l = vec![c; 99];
            l.push(b'\n');
            l
        };
        let mut warn = w.keeping();
        let mut warn2 = w.keeping();
        let x = line(b'x');
        let other = loom::thread::spawn(move || warn2.write_all(&x).unwrap());
        warn.write_all(&line(b'y')).unwrap();
        other.join().unwrap();
        guard.flush().unwrap();
        let s = w.stats();
        assert_eq!((s.lines_written, s.dropped.total()), (2, 0));
        assert_accounting(&s);
        drop(guard);
        assert_eq!(sink.text().len(), 200);
    });
}

/// The guard gives up at once (a 1 ns shutdown timeout) while the worker may be anywhere:
/// asleep, between chunks, or inside the sink's write. Whatever the interleaving, a line
/// counted as dropped never reaches the sink, every line in the sink is counted written,
/// and the identity holds right after the drop and once the abandoned worker is gone.
#[test]
fn an_abandoned_worker_settles_only_the_chunk_in_the_sink() {
    model(|| {
        let sink = Recorder::default();
        let (mut w, guard) = NonBlockingBuilder::default()
            .shutdown_timeout(std::time::Duration::from_nanos(1))
            .drop_report(false)
            .finish(sink.clone());
        let mut w2 = w.clone();
        let other = loom::thread::spawn(move || w2.write_all(b"b\n").unwrap());
        w.write_all(b"a\n").unwrap();
        drop(guard);
        assert_accounting(&w.stats());
        other.join().unwrap();
        assert_accounting(&w.stats());
        while w.stats().worker_alive {
            loom::thread::yield_now();
        }
        let s = w.stats();
        assert_accounting(&s);
        assert_eq!((s.submitted, s.queue_depth, s.in_sink), (2, 0, 0));
        let text = sink.text();
        assert_eq!(s.lines_written as usize, text.lines().count(), "{text:?}");
        // Field by field, so that no count can make up for another (these models run in
        // release, where a wrapped subtraction would not panic).
        let (shutdown, gone) = (s.dropped.shutdown, s.dropped.worker_gone);
        assert!(shutdown <= 2 && gone <= 2, "{s:?}");
        assert_eq!(shutdown + gone + s.lines_written, 2, "{s:?}");
        assert!(
            text.is_empty()
                || text == "a\n"
                || text == "b\n"
                || text == "a\nb\n"
                || text == "b\na\n"
        );
    });
}

/// `keep_timeout(0)`: two keep lines race for one reserved slot while the worker frees it;
/// neither ever waits, and each is written or counted as a keep timeout.
#[test]
fn keep_lines_with_a_zero_timeout_never_wait() {
    model(|| {
        let sink = Recorder::default();
        let (w, guard) = NonBlockingBuilder::default()
            .keep_capacity(1)
            .keep_timeout(std::time::Duration::ZERO)
            .drop_report(false)
            .finish(sink.clone());
        let mut warn = w.keeping();
        let mut warn2 = w.keeping();
        let other = loom::thread::spawn(move || warn2.write_all(b"x\n").unwrap());
        warn.write_all(b"y\n").unwrap();
        other.join().unwrap();
        guard.flush().unwrap();
        let s = w.stats();
        assert_eq!(s.blocked_producers, 0);
        assert_eq!(s.lines_written + s.dropped.keep_timeout, 2, "{s:?}");
        assert!(s.lines_written >= 1);
        assert_accounting(&s);
        drop(guard);
        assert_eq!(sink.text().lines().count() as u64, s.lines_written);
    });
}

/// A line written while the worker polls (it is not notified) or as it goes from polling
/// to parked is still taken: the poll re-checks the queue under the lock, and the worker
/// parks only with the queue empty under that same lock. The model's polls are yields
/// (loom's timed waits never time out), two of them before the worker parks. Nothing here
/// wakes the worker but the writes themselves: the main thread only watches the figures.
#[test]
fn lines_written_while_the_worker_polls_or_parks_are_taken() {
    model(|| {
        let sink = Recorder::default();
        let (mut w, guard) = NonBlockingBuilder::default()
            .drop_report(false)
            .finish(sink.clone());
        w.write_all(b"a\n").unwrap();
        w.write_all(b"b\n").unwrap();
        while w.stats().lines_written < 2 {
            loom::thread::yield_now();
        }
        assert_eq!(sink.text(), "a\nb\n");
        assert_accounting(&w.stats());
        drop(guard);
    });
}

/// The worker's sleep states: a line that finds it idle, or napping with the queue half
/// full, wakes it, so lines reach the sink with no `flush()` or shutdown to wake it. loom's
/// timed waits never time out: a wake-up lost here would leave the worker napping forever
/// and the loop below spinning, which loom reports.
#[test]
fn lines_wake_an_idle_or_napping_worker() {
    model(|| {
        let sink = Recorder::default();
        let (mut w, guard) = NonBlockingBuilder::default()
            .buffered_lines_limit(2)
            .drop_report(false)
            .finish(sink.clone());
        let mut w2 = w.clone();
        let other = loom::thread::spawn(move || w2.write_all(b"b\n").unwrap());
        w.write_all(b"a\n").unwrap();
        other.join().unwrap();
        while w.stats().lines_written < 2 {
            loom::thread::yield_now();
        }
        let s = w.stats();
        assert_eq!((s.submitted, s.dropped.total()), (2, 0));
        assert_accounting(&s);
        drop(guard);
        let text = sink.text();
        assert!(text == "a\nb\n" || text == "b\na\n", "{text:?}");
    });
}

/// The byte bound under `lossy(false)`: two 3-byte lines against a 4-byte bound, so each
/// waits until the other is written; both are, and nothing stays counted against the
/// bound. (Under loom an idle worker frees its buffers each time, so this also runs the
/// worker's give-back path against the producers.)
#[test]
fn lines_blocked_on_the_byte_bound_are_woken() {
    model(|| {
        let sink = Recorder::default();
        let (mut w, guard) = NonBlockingBuilder::default()
            .buffered_bytes_limit(4)
            .lossy(false)
            .drop_report(false)
            .finish(sink.clone());
        let mut w2 = w.clone();
        let other = loom::thread::spawn(move || w2.write_all(b"bb\n").unwrap());
        w.write_all(b"aa\n").unwrap();
        other.join().unwrap();
        guard.flush().unwrap();
        let s = w.stats();
        assert_eq!((s.lines_written, s.dropped.total()), (2, 0));
        assert_eq!((s.queue_depth, s.buffered_bytes), (0, 0));
        assert_accounting(&s);
        drop(guard);
        let text = sink.text();
        assert!(text == "aa\nbb\n" || text == "bb\naa\n", "{text:?}");
    });
}

/// A context line waiting for its share of the keep room (its wait never times out under
/// loom) is woken as the worker frees the room, and a keep line racing it is never
/// refused: with a room of 2 and a share of 1, both get in, the context line before the
/// keep line of its own thread.
#[test]
fn context_lines_waiting_for_their_share_are_woken_and_keep_lines_get_in() {
    use backpressure_writer::context::ContextShare;
    use tracing_subscriber::fmt::MakeWriter;
    model(|| {
        let sink = Recorder::default();
        let share = ContextShare::default()
            .share_of_keep_capacity(0.5)
            .wait(std::time::Duration::from_secs(1));
        let (w, guard) = NonBlockingBuilder::default()
            .buffered_lines_limit(1)
            .keep_capacity(2)
            .context_share(share)
            .drop_report(false)
            .finish(sink.clone());
        let context = w.context_writer();
        let mut warn = w.keeping();
        let mut warn2 = w.keeping();
        let other = loom::thread::spawn(move || warn2.write_all(b"w\n").unwrap());
        context.make_writer().write_all(b"c\n").unwrap();
        context.make_writer().write_all(b"d\n").unwrap();
        warn.write_all(b"e\n").unwrap();
        other.join().unwrap();
        guard.flush().unwrap();
        let s = w.stats();
        assert_eq!((s.lines_written, s.dropped.total()), (4, 0));
        assert_accounting(&s);
        drop(guard);
        let text = sink.text().replace("w\n", "");
        assert_eq!(text, "c\nd\ne\n");
    });
}
