//! Through a real `tracing_subscriber::fmt()` subscriber: `make_writer_for` carries the
//! level, so a WARN event survives an INFO flood into a stalled sink.

use crate::support::{assert_accounting, Gate};
use backpressure_writer::{NonBlockingBuilder, Overflow};

#[test]
fn warn_event_survives_an_info_flood_into_a_stalled_sink() {
    let (gate, sink) = Gate::closed_on_write();
    let (writer, guard) = NonBlockingBuilder::default()
        .buffered_lines_limit(4)
        .keep_capacity(2)
        .overflow(Overflow::DropNewest)
        .drop_report(false)
        .finish(sink);
    let handle = writer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(writer)
        .with_ansi(false)
        .without_time()
        .with_target(false)
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        tracing::info!("first");
        gate.wait_arrivals(1);
        for i in 0..100 {
            tracing::info!(i, "flood");
        }
        tracing::warn!("the warning");
        tracing::error!("the error");
        tracing::debug!("filtered out by the subscriber's default level");
    });
    let s = handle.stats();
    // 1 written-in-progress + 3 queued INFO lines; 97 INFO refused; WARN and ERROR kept.
    assert_eq!(s.dropped.newest, 97);
    assert_eq!(s.dropped.total(), 97);
    assert_eq!(s.submitted, 103);
    assert_accounting(&s);

    gate.open();
    guard.flush().unwrap();
    let lines = gate.lines();
    assert_eq!(
        lines,
        [
            " INFO first",
            " INFO flood i=0",
            " INFO flood i=1",
            " INFO flood i=2",
            " WARN the warning",
            "ERROR the error",
        ]
    );
    assert_accounting(&handle.stats());
}

#[test]
fn keep_level_can_be_raised_or_disabled() {
    for (builder, kept) in [
        (
            NonBlockingBuilder::default().keep_level(tracing::Level::ERROR),
            1,
        ),
        (
            NonBlockingBuilder::default().keep_level(tracing::Level::INFO),
            2,
        ),
        (NonBlockingBuilder::default().keep_no_level(), 0),
    ] {
        let (gate, sink) = Gate::closed_on_write();
        let (writer, guard) = builder
            .buffered_lines_limit(1)
            .keep_capacity(8)
            .drop_report(false)
            .finish(sink);
        let handle = writer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(writer)
            .with_ansi(false)
            .without_time()
            .with_max_level(tracing::Level::TRACE)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            // Through a plain `write`, so the sink is stalled whatever the keep level.
            std::io::Write::write_all(&mut handle.clone(), b"stall\n").unwrap();
            gate.wait_arrivals(1);
            tracing::debug!("debug");
            tracing::info!("info");
            tracing::error!("error");
        });
        gate.open();
        guard.flush().unwrap();
        // DEBUG is never kept here; INFO and ERROR are kept when at or above keep_level.
        assert_eq!(gate.lines().len() - 1, kept, "{:?}", gate.lines());
        assert_eq!(handle.stats().dropped.newest, 3 - kept as u64);
    }
}
