//! Flushed context (`NonBlocking::context_writer`): keep class within a capped share of
//! the keep room, a wait bound of its own, refusals counted under `context`, and the
//! order with the trigger line kept.
#![cfg(not(backpressure_writer_loom))]

use std::io::Write;
use std::time::Duration;

use crate::support::{assert_accounting, Gate, GatedSink};
use backpressure_writer::context::ContextShare;
use backpressure_writer::{BuildError, NonBlocking, NonBlockingBuilder};
use tracing_subscriber::fmt::MakeWriter;

fn share(share: f64, wait: Duration) -> ContextShare {
    ContextShare::default()
        .share_of_keep_capacity(share)
        .wait(wait)
}

/// A writer whose worker is held inside the sink with the line `gate`, so that what
/// follows stays queued until the test opens the gate.
fn stalled(
    keep_capacity: usize,
    context: ContextShare,
) -> (Gate, NonBlocking, backpressure_writer::WorkerGuard) {
    let (gate, sink): (Gate, GatedSink) = Gate::closed_on_write();
    let (mut writer, guard) = NonBlockingBuilder::default()
        .context_share(context)
        .buffered_lines_limit(100)
        .keep_capacity(keep_capacity)
        .keep_timeout(Duration::from_secs(60))
        .drop_report(false)
        .finish(sink);
    writer.write_all(b"gate\n").unwrap();
    gate.wait_arrivals(1);
    (gate, writer, guard)
}

fn write_lines(mut w: impl Write, prefix: &str, n: usize) {
    for i in 0..n {
        w.write_all(format!("{prefix}{i}\n").as_bytes()).unwrap();
    }
}

fn expected(parts: &[(&str, usize)]) -> Vec<String> {
    parts
        .iter()
        .flat_map(|&(p, n)| (0..n).map(move |i| format!("{p}{i}")))
        .collect()
}

#[test]
fn a_share_outside_zero_to_one_is_refused_by_name() {
    for bad in [0.0, -0.5, 1.5, f64::NAN, f64::INFINITY] {
        let err = NonBlockingBuilder::default()
            .context_share(ContextShare::default().share_of_keep_capacity(bad))
            .try_finish(std::io::sink())
            .unwrap_err();
        assert!(matches!(err, BuildError::ContextShare { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            format!(
                "backpressure-writer: the context share of keep_capacity must be in (0, 1] (got {bad})"
            )
        );
    }
    let (whole, _guard) = NonBlockingBuilder::default()
        .keep_capacity(8)
        .context_share(ContextShare::default().share_of_keep_capacity(1.0))
        .try_finish(std::io::sink())
        .unwrap();
    assert_eq!(whole.context_writer().max_lines(), 8);
    let (d, _guard) = NonBlockingBuilder::default()
        .keep_capacity(8)
        .try_finish(std::io::sink())
        .unwrap();
    assert_eq!(d.context_writer().max_lines(), 2, "a quarter by default");
    assert_eq!(
        (ContextShare::DEFAULT_SHARE, ContextShare::DEFAULT_WAIT),
        (0.25, Duration::from_millis(1))
    );
}

#[test]
fn context_never_takes_more_than_its_share_and_warn_lines_still_find_room() {
    let (gate, writer, guard) = stalled(8, share(0.5, Duration::ZERO));
    let context = writer.context_writer();
    assert_eq!(context.max_lines(), 4);
    write_lines(context.make_writer(), "ctx", 10);
    // Half the keep room of 8 went to context, the rest was refused at once.
    let s = writer.stats();
    assert_eq!((s.dropped.context, s.queue_depth), (6, 1 + 4));
    // Real keep lines have the other half.
    write_lines(writer.keeping(), "warn", 4);
    let s = writer.stats();
    assert_eq!((s.dropped.total(), s.dropped.context), (6, 6));
    assert_eq!((s.submitted, s.queue_depth), (1 + 10 + 4, 1 + 4 + 4));
    assert_accounting(&s);

    gate.open();
    guard.flush().unwrap();
    let mut want = vec!["gate".to_owned()];
    want.extend(expected(&[("ctx", 4), ("warn", 4)]));
    assert_eq!(gate.lines(), want);
    let s = writer.stats();
    assert_eq!(
        (s.lines_written, s.dropped.context, s.queue_depth),
        (9, 6, 0)
    );
    assert_accounting(&s);
}

#[test]
fn context_yields_when_real_keep_lines_already_fill_the_share() {
    let (gate, writer, guard) = stalled(8, share(0.5, Duration::ZERO));
    let context = writer.context_writer();
    write_lines(writer.keeping(), "warn", 4);
    write_lines(context.make_writer(), "ctx", 3);
    // The keep room still has 4 free slots, and they stay for keep lines.
    write_lines(writer.keeping(), "late", 4);
    let s = writer.stats();
    assert_eq!((s.dropped.total(), s.dropped.context), (3, 3));
    assert_accounting(&s);
    gate.open();
    guard.flush().unwrap();
    let mut want = vec!["gate".to_owned()];
    want.extend(expected(&[("warn", 4), ("late", 4)]));
    assert_eq!(gate.lines(), want);
}

#[test]
fn the_share_bounds_the_keep_room_bytes_too() {
    let (gate, sink) = Gate::closed_on_write();
    let (mut writer, guard) = NonBlockingBuilder::default()
        .buffered_lines_limit(1000)
        .keep_capacity(1000)
        .buffered_bytes_limit(8000)
        .context_share(share(0.5, Duration::ZERO))
        .drop_report(false)
        .finish(sink);
    writer.write_all(b"gate\n").unwrap();
    gate.wait_arrivals(1);
    assert_eq!(writer.stats().keep_byte_capacity, 8000);
    let context = writer.context_writer();
    assert_eq!((context.max_lines(), context.max_bytes()), (500, 4000));
    // 100-byte lines: 40 fit in 4 000 bytes, long before 500 lines.
    let line = |i: usize| format!("{i:03}{}\n", "c".repeat(96));
    for i in 0..60 {
        context.make_writer().write_all(line(i).as_bytes()).unwrap();
    }
    // A line longer than the share could ever hold is refused at once, too.
    context.make_writer().write_all(&[b'x'; 4001]).unwrap();
    let s = writer.stats();
    assert_eq!(s.dropped.context, 20 + 1);
    assert_accounting(&s);
    gate.open();
    guard.flush().unwrap();
    let lines = gate.lines();
    assert_eq!(lines.len(), 1 + 40);
    for (i, l) in lines[1..].iter().enumerate() {
        assert_eq!(format!("{l}\n"), line(i));
    }
}

/// A flood of context against a stalled sink: the first line over the share waits its
/// bound and times out, every later one is dropped at once, and WARN lines after the flood
/// still get in, in order.
#[test]
fn warn_lines_after_a_flood_of_context_still_get_in() {
    let (gate, writer, guard) = stalled(16, share(0.25, Duration::from_millis(1)));
    let context = writer.context_writer();
    assert_eq!(context.max_lines(), 4);
    write_lines(context.make_writer(), "ctx", 1000);
    write_lines(writer.keeping(), "warn", 12);
    let s = writer.stats();
    assert_eq!((s.dropped.total(), s.dropped.context), (996, 996));
    assert_eq!(s.queue_depth, 1 + 4 + 12);
    assert_accounting(&s);
    gate.open();
    guard.flush().unwrap();
    let mut want = vec!["gate".to_owned()];
    want.extend(expected(&[("ctx", 4), ("warn", 12)]));
    assert_eq!(gate.lines(), want);
    // Once the keep room has drained, context is admitted again.
    write_lines(context.make_writer(), "again", 4);
    guard.flush().unwrap();
    assert_eq!(gate.lines().len(), 1 + 4 + 12 + 4);
    let s = writer.stats();
    assert_eq!((s.lines_written, s.dropped.context), (21, 996));
    assert_accounting(&s);
}

/// Below the keep level, the trigger's class is the policy's, and so is its context.
#[test]
fn context_for_a_trigger_below_the_keep_level_follows_the_policy() {
    let (gate, writer, guard) = stalled(2, share(0.5, Duration::ZERO));
    let context = writer.context_writer();
    let info = tracing::Metadata::new(
        "info",
        "t",
        tracing::Level::INFO,
        None,
        None,
        None,
        tracing_core::field::FieldSet::new(&[], tracing_core::identify_callsite!(&CALLSITE)),
        tracing_core::metadata::Kind::EVENT,
    );
    write_lines(context.make_writer_for(&info), "ctx", 3);
    let s = writer.stats();
    // Policy room (100 lines), not the keep share of 1 line.
    assert_eq!((s.dropped.total(), s.queue_depth), (0, 4));
    gate.open();
    guard.flush().unwrap();
    assert_eq!(gate.lines().len(), 4);
}

struct NoCallsite;
static CALLSITE: NoCallsite = NoCallsite;
impl tracing_core::Callsite for NoCallsite {
    fn set_interest(&self, _: tracing_core::Interest) {}
    fn metadata(&self) -> &tracing_core::Metadata<'_> {
        unimplemented!("never registered")
    }
}
