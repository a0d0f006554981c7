//! Shared test helpers (the one helper module of these tests): a writer that
//! captures formatted lines, a sampler with a breaker on a manual clock.
#![allow(dead_code, unreachable_pub)]

pub mod capture;
pub mod compose;
pub mod counting;

use std::io;
use std::sync::{mpsc, Arc, Mutex};

use tracing_subscriber::fmt::MakeWriter;

/// Captures everything written; `lines()` splits it. Optionally also sends each
/// write to a channel (a gate for output produced on another thread).
#[derive(Clone, Default)]
pub struct Output {
    buf: Arc<Mutex<Vec<u8>>>,
    tx: Option<Arc<Mutex<mpsc::Sender<String>>>>,
}

impl Output {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_channel() -> (Self, mpsc::Receiver<String>) {
        let (tx, rx) = mpsc::channel();
        (
            Output {
                buf: Arc::default(),
                tx: Some(Arc::new(Mutex::new(tx))),
            },
            rx,
        )
    }

    pub fn lines(&self) -> Vec<String> {
        String::from_utf8(self.buf.lock().unwrap().clone())
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    pub fn count(&self, needle: &str) -> usize {
        self.lines().iter().filter(|l| l.contains(needle)).count()
    }
}

pub struct OutputWriter(Output);

impl io::Write for OutputWriter {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.0.buf.lock().unwrap().extend_from_slice(b);
        if let Some(tx) = &self.0.tx {
            let _ = tx
                .lock()
                .unwrap()
                .send(String::from_utf8_lossy(b).into_owned());
        }
        Ok(b.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Output {
    type Writer = OutputWriter;
    fn make_writer(&'a self) -> OutputWriter {
        OutputWriter(self.clone())
    }
}

/// A plain text fmt layer into `capture`: no time, no ANSI, target shown.
pub fn text_layer<S>(
    capture: &Output,
) -> tracing_subscriber::fmt::Layer<
    S,
    tracing_subscriber::fmt::format::DefaultFields,
    tracing_subscriber::fmt::format::Format<tracing_subscriber::fmt::format::Full, ()>,
    Output,
>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    tracing_subscriber::fmt::layer()
        .without_time()
        .with_ansi(false)
        .with_writer(capture.clone())
}

/// A sampler for `d` with the breaker off, so counts depend on the directives alone.
pub fn sampler(d: &str) -> sampling_layer::SamplingFilter {
    sampling_layer::SamplingFilter::builder()
        .breaker(sampling_layer::Breaker::disabled())
        .parse(d)
        .unwrap()
}

/// A sampler at rate 0 whose breaker opens above `per_sec` ERROR events per
/// second over a 1 s window and closes after `hold`, on `clock`.
pub fn breaker_sampler(
    clock: &sampling_layer::clock::ManualClock,
    per_sec: f64,
    hold: std::time::Duration,
) -> sampling_layer::SamplingFilter {
    sampling_layer::SamplingFilter::builder()
        .breaker(
            sampling_layer::Breaker::default()
                .threshold_per_sec(per_sec)
                // The absolute trigger alone (the ratio and spike: tests/breaker/triggers.rs).
                .threshold_only()
                .window(std::time::Duration::from_secs(1))
                .hold(hold),
        )
        .clock(clock.clone())
        .parse("0")
        .unwrap()
}
