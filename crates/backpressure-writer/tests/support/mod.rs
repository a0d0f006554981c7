//! Test sinks the test controls: a gate that holds the worker inside `write` or `flush`
//! until the test opens it, and a record of exactly what the sink received.
#![allow(dead_code)]

pub(crate) mod counting;
pub(crate) mod partial;
pub(crate) mod rolling;

use std::io::{self, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use backpressure_writer::stats::Stats;

#[derive(Default)]
struct Inner {
    /// Calls that may still pass a closed gate.
    permits: u64,
    open: bool,
    gate_writes: bool,
    gate_flushes: bool,
    /// Calls currently waiting at the gate, and all that ever waited there.
    waiting: u64,
    ever_waited: u64,
    data: Vec<u8>,
    writes: u64,
    flushes: u64,
    /// A write whose bytes contain this panics.
    panic_on: Option<Vec<u8>>,
    /// Count what is written but keep none of it (for memory figures).
    forget_data: bool,
}

#[derive(Clone, Default)]
pub(crate) struct Gate {
    inner: Arc<(Mutex<Inner>, Condvar)>,
}

/// What the worker writes to: every call goes through the [`Gate`].
pub(crate) struct GatedSink {
    gate: Gate,
}

impl Gate {
    /// A gate that starts closed and holds `write` calls.
    pub(crate) fn closed_on_write() -> (Gate, GatedSink) {
        Self::new(true, false, false)
    }

    /// A gate that starts closed and holds `flush` calls.
    pub(crate) fn closed_on_flush() -> (Gate, GatedSink) {
        Self::new(false, true, false)
    }

    /// An open gate: a recording sink.
    pub(crate) fn open_sink() -> (Gate, GatedSink) {
        Self::new(true, true, true)
    }

    fn new(writes: bool, flushes: bool, open: bool) -> (Gate, GatedSink) {
        let gate = Gate::default();
        {
            let mut g = gate.lock();
            g.gate_writes = writes;
            g.gate_flushes = flushes;
            g.open = open;
        }
        (gate.clone(), GatedSink { gate })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn open(&self) {
        self.lock().open = true;
        self.inner.1.notify_all();
    }

    pub(crate) fn close(&self) {
        self.lock().open = false;
    }

    /// Lets `n` more gated calls pass while closed.
    pub(crate) fn permit(&self, n: u64) {
        self.lock().permits += n;
        self.inner.1.notify_all();
    }

    /// Keeps counting writes but stores none of their bytes, so that the sink holds no
    /// memory of its own.
    pub(crate) fn forget_data(&self) {
        self.lock().forget_data = true;
    }

    pub(crate) fn panic_on(&self, marker: &str) {
        self.lock().panic_on = Some(marker.as_bytes().to_vec());
    }

    /// Waits until `n` calls in total have reached the closed gate.
    pub(crate) fn wait_arrivals(&self, n: u64) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut g = self.lock();
        while g.ever_waited < n {
            assert!(
                Instant::now() < deadline,
                "the worker never reached the gate"
            );
            g = self
                .inner
                .1
                .wait_timeout(g, Duration::from_millis(50))
                .unwrap()
                .0;
        }
    }

    /// Everything the sink received, as lines (without the newline).
    pub(crate) fn lines(&self) -> Vec<String> {
        String::from_utf8(self.lock().data.clone())
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    pub(crate) fn writes(&self) -> u64 {
        self.lock().writes
    }

    pub(crate) fn flushes(&self) -> u64 {
        self.lock().flushes
    }

    fn pass(&self, gated: impl Fn(&Inner) -> bool) -> MutexGuard<'_, Inner> {
        let mut g = self.lock();
        if gated(&g) && !g.open {
            g.waiting += 1;
            g.ever_waited += 1;
            self.inner.1.notify_all();
            while !g.open && g.permits == 0 {
                g = self.inner.1.wait(g).unwrap();
            }
            if !g.open {
                g.permits -= 1;
            }
            g.waiting -= 1;
        }
        g
    }
}

impl Write for GatedSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut g = self.gate.pass(|g| g.gate_writes);
        if let Some(marker) = &g.panic_on {
            if buf.windows(marker.len()).any(|w| w == &marker[..]) {
                drop(g);
                panic!("test sink told to panic");
            }
        }
        if !g.forget_data {
            g.data.extend_from_slice(buf);
        }
        g.writes += 1;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        let mut g = self.gate.pass(|g| g.gate_flushes);
        g.flushes += 1;
        Ok(())
    }
}

/// `submitted == lines_written + dropped.total() + queue_depth`, exactly.
#[track_caller]
pub(crate) fn assert_accounting(s: &Stats) {
    assert_eq!(
        s.submitted,
        s.lines_written + s.dropped.total() + s.queue_depth as u64,
        "accounting broken: {s:#?}"
    );
}

/// Polls a condition that another thread will make true (a gate, not a timing bet);
/// panics after a generous 30 s so a bug fails the test instead of hanging it.
#[track_caller]
pub(crate) fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

pub(crate) fn line(i: usize) -> String {
    format!("line {i}\n")
}
