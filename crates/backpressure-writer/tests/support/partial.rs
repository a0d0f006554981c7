//! A sink that takes a chunk only in part: its first call waits for the test and takes
//! everything, its second takes a set number of bytes, and every later call fails (or,
//! [`recovering`](Partial::recovering), only the third, after which it takes everything).

use std::io::{self, Write};
use std::sync::{Arc, Condvar, Mutex};

#[derive(Clone)]
pub(crate) struct Partial(Arc<(Mutex<State>, Condvar)>);

struct State {
    calls: u32,
    released: bool,
    /// What the second call takes.
    room: usize,
    /// Whether calls after the failing third take everything.
    recovers: bool,
    out: Vec<u8>,
}

impl Partial {
    /// A sink whose second call takes `room` bytes.
    pub(crate) fn new(room: usize) -> Self {
        Self::with(room, false)
    }

    /// A sink whose second call takes `room` bytes, whose third fails, and which takes
    /// everything after that.
    pub(crate) fn recovering(room: usize) -> Self {
        Self::with(room, true)
    }

    fn with(room: usize, recovers: bool) -> Self {
        Partial(Arc::new((
            Mutex::new(State {
                calls: 0,
                released: false,
                room,
                recovers,
                out: Vec::new(),
            }),
            Condvar::new(),
        )))
    }

    /// Waits until the first call is inside the sink, held there.
    pub(crate) fn wait_first_call(&self) {
        let (m, cv) = &*self.0;
        let mut st = m.lock().unwrap();
        while st.calls == 0 {
            st = cv.wait(st).unwrap();
        }
    }

    /// Lets the first call finish.
    pub(crate) fn release(&self) {
        self.0 .0.lock().unwrap().released = true;
        self.0 .1.notify_all();
    }

    /// What the sink took.
    pub(crate) fn out(&self) -> Vec<u8> {
        self.0 .0.lock().unwrap().out.clone()
    }
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
            2 => buf.len().min(st.room),
            n if n > 3 && st.recovers => buf.len(),
            _ => return Err(io::Error::other("disk gone")),
        };
        st.out.extend_from_slice(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
