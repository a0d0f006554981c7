//! The program behind `tests/panic_flush.rs`'s ignored test
//! `a_real_panic_abort_build_leaves_the_panic_line_and_every_line_before_it`, built by that test
//! with `panic = "abort"` (not a test target: cargo only discovers `tests/*/main.rs`). It logs
//! 1 000 lines through a writer whose sink holds every write until the panic begins, keeps
//! the guard in a "service" whose drop would print a marker, and panics; the runtime then
//! aborts right after the panic hooks return.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

static PANIC_BEGUN: AtomicBool = AtomicBool::new(false);

struct HeldFile(std::fs::File);

impl Write for HeldFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        while !PANIC_BEGUN.load(Ordering::Acquire) {
            std::thread::sleep(Duration::from_millis(1));
        }
        self.0.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

struct DropMarker;

impl Drop for DropMarker {
    fn drop(&mut self) {
        eprintln!("CHILD: a destructor ran");
    }
}

struct Service {
    _guard: backpressure_writer::WorkerGuard,
    _marker: DropMarker,
}

fn main() {
    assert!(cfg!(panic = "abort"), "built with panic = \"abort\"");
    let path = std::env::args().nth(1).expect("the output file");
    // The user's own hook, which the flush hook must keep and run after the flush.
    let file = path.clone();
    std::panic::set_hook(Box::new(move |_| {
        let lines = std::fs::read_to_string(&file).unwrap_or_default().lines().count();
        eprintln!("CHILD: the previous hook sees {lines} lines in the file");
    }));
    backpressure_writer::panic_flush::PanicFlush::new(Duration::from_secs(30))
        .install()
        .unwrap();

    let (writer, guard) =
        backpressure_writer::non_blocking(HeldFile(std::fs::File::create(&path).unwrap()));
    let _service = Service {
        _guard: guard,
        _marker: DropMarker,
    };
    let subscriber = tracing_subscriber::fmt()
        .with_writer(writer.clone())
        .with_ansi(false)
        .finish();
    tracing::subscriber::set_global_default(subscriber).unwrap();
    for i in 0..1000 {
        tracing::info!("line {i}");
    }
    assert_eq!(writer.stats().lines_written, 0);
    eprintln!("CHILD: nothing written before the panic");
    PANIC_BEGUN.store(true, Ordering::Release);
    panic!("the service fell over");
}
