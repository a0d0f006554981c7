//! `backpressure-writer` as a drop-in for `tracing_appender::non_blocking`: change the
//! import, keep the guard. `cargo run --example writer_dropin`
//!
//! What the swap adds: WARN/ERROR lines the overflow policy never drops, and exact figures.

fn main() {
    // Was: let (writer, guard) = tracing_appender::non_blocking(std::io::stdout());
    let (writer, guard) = backpressure_writer::non_blocking(std::io::stdout());
    let figures = writer.clone();
    tracing_subscriber::fmt().with_writer(writer).init();

    for i in 0..1_000 {
        tracing::info!(i, "request handled");
    }
    tracing::warn!("disk almost full");

    guard.flush().expect("every line reaches stdout");
    let s = figures.stats();
    eprintln!(
        "submitted {} = written {} + dropped {}",
        s.submitted,
        s.lines_written,
        s.dropped.total()
    );
}
