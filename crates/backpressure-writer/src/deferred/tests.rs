use std::io::Write;

use tracing_core::callsite::Callsite;
use tracing_core::field::FieldSet;
use tracing_core::metadata::Kind;
use tracing_core::{Level, Metadata};

use super::known;
use super::record::{self, Values};
use super::Decoded;

struct Cs;
static CS: Cs = Cs;
static META: Metadata<'static> = Metadata::new(
    "e",
    "app",
    Level::INFO,
    None,
    None,
    None,
    FieldSet::new(&["n"], tracing_core::identify_callsite!(&CS)),
    Kind::EVENT,
);
/// A callsite no layer ever notes.
static STRANGER: Metadata<'static> = Metadata::new(
    "s",
    "app",
    Level::INFO,
    None,
    None,
    None,
    FieldSet::new(&[], tracing_core::identify_callsite!(&CS)),
    Kind::EVENT,
);
impl Callsite for Cs {
    fn set_interest(&self, _: tracing_core::subscriber::Interest) {}
    fn metadata(&self) -> &Metadata<'_> {
        &META
    }
}

/// A frame for `META` at 1 s past the epoch with `n = 7`, and `extra` bytes after it.
fn frame(addr: u64, extra: &[u8]) -> Vec<u8> {
    let mut buf = Vec::new();
    record::begin(&mut buf, (record::SANITIZE, 0), (1, 0), addr, None);
    buf.extend_from_slice(&[0, 0]);
    let field = META.fields().field("n").expect("n");
    tracing_core::field::Visit::record_u64(&mut Values(&mut buf), &field, 7);
    buf.extend_from_slice(extra);
    assert!(record::end(&mut buf));
    buf
}

fn decode(input: &[u8]) -> (String, u64) {
    let mut sink = Decoded::new(Vec::new());
    assert_eq!(
        sink.write(input).expect("a Vec takes every write"),
        input.len()
    );
    let unreadable = sink.unreadable().get();
    (
        String::from_utf8(sink.into_inner()).expect("utf-8"),
        unreadable,
    )
}

const LINE: &str = "1970-01-01T00:00:01.000000Z  INFO app: n=7\n";

#[test]
fn text_lines_pass_through_around_records_in_order() {
    let addr = known::note(&META);
    let mut input = b"before\n".to_vec();
    input.extend(frame(addr, &[]));
    input.extend_from_slice(b"\x1e not a frame\nafter without a newline");
    let (out, unreadable) = decode(&input);
    assert_eq!(
        out,
        format!("before\n{LINE}\x1e not a frame\nafter without a newline")
    );
    assert_eq!(unreadable, 0);
}

#[test]
fn a_frame_naming_a_callsite_no_layer_noted_is_written_as_unreadable() {
    let stranger = &STRANGER as *const Metadata<'static> as u64;
    let (out, unreadable) = decode(&frame(stranger, &[]));
    assert_eq!((out.as_str(), unreadable), ("<unreadable log record>\n", 1));
}

#[test]
fn damaged_frames_are_written_as_unreadable_and_the_next_frame_still_reads() {
    let addr = known::note(&META);
    // An unknown tag; a field index past the callsite's fields; a string cut short.
    let damaged = [
        vec![99u8, 0, 0],
        vec![1, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        vec![5, 0, 0, 9, 0, 0, 0, b'x'],
    ];
    let mut input = Vec::new();
    for extra in &damaged {
        input.extend(frame(addr, extra));
    }
    input.extend(frame(addr, &[]));
    let (out, unreadable) = decode(&input);
    assert_eq!(
        out,
        format!("{}{LINE}", "<unreadable log record>\n".repeat(3))
    );
    assert_eq!(unreadable, 3);
}

/// Text that holds the start byte and a header made without this process's key (a value
/// written into another layer's line to look like a record, here one that would swallow
/// the record after it) passes through as it came, and the record after it still reads.
#[test]
fn a_header_forged_into_a_text_line_is_text() {
    let addr = known::note(&META);
    let guess = record::key().wrapping_add(1);
    let swallowed = frame(addr, &[]);
    let len = 4 + swallowed.len() as u32;
    let mut forged = b"INFO other: user_agent=\x1e".to_vec();
    forged.extend_from_slice(&len.to_le_bytes());
    forged.extend_from_slice(&(len ^ guess).to_le_bytes());
    forged.extend_from_slice(b"abc\n");
    let mut input = forged.clone();
    input.extend(&swallowed);
    let mut sink = Decoded::new(Vec::new());
    assert_eq!(
        sink.write(&input).expect("a Vec takes every write"),
        input.len()
    );
    assert_eq!(sink.unreadable().get(), 0);
    let mut expected = forged;
    expected.extend_from_slice(LINE.as_bytes());
    assert_eq!(sink.into_inner(), expected);
}

#[test]
fn the_header_key_is_drawn_at_random_not_written_in_the_code() {
    let keys: std::collections::HashSet<u32> = (0..8).map(|_| record::random_key()).collect();
    // Eight draws of 32 bits collide with a chance of about one in 600 million.
    assert_eq!(keys.len(), 8, "{keys:?}");
    assert!(!keys.contains(&0));
    assert_ne!(record::key(), 0);
}

#[test]
fn a_header_that_does_not_check_out_is_text() {
    let addr = known::note(&META);
    let mut input = frame(addr, &[]);
    input[5] ^= 1;
    let mut sink = Decoded::new(Vec::new());
    assert_eq!(
        sink.write(&input).expect("a Vec takes every write"),
        input.len()
    );
    assert_eq!(sink.unreadable().get(), 0);
    assert_eq!(sink.into_inner(), input, "passed through as it came");
}

/// Takes `room` bytes, then fails.
struct Narrow {
    out: Vec<u8>,
    room: usize,
}

impl Write for Narrow {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.room == 0 {
            return Err(std::io::Error::other("disk full"));
        }
        let n = buf.len().min(self.room);
        self.room -= n;
        self.out.extend_from_slice(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_sink_failing_part_way_is_reported_as_the_whole_units_it_took() {
    let addr = known::note(&META);
    let one = frame(addr, &[]);
    let input = [one.clone(), one.clone(), one].concat();
    // Room for one line and half of the next.
    let mut sink = Decoded::new(Narrow {
        out: Vec::new(),
        room: LINE.len() + LINE.len() / 2,
    });
    let took = sink.write(&input).expect("one unit went through whole");
    assert_eq!(took, input.len() / 3, "the first frame's bytes, no more");
    let err = sink.write(&input[took..]).expect_err("nothing more fits");
    assert_eq!(err.to_string(), "disk full");
    assert_eq!(
        sink.get_ref().out,
        format!("{LINE}{}", &LINE[..LINE.len() / 2]).as_bytes()
    );
}

/// A field set wide enough for the round trip below.
static WIDE: Metadata<'static> = Metadata::new(
    "w",
    "app",
    Level::INFO,
    None,
    None,
    None,
    FieldSet::new(
        &["message", "a", "b", "c", "d", "e", "f"],
        tracing_core::identify_callsite!(&CS),
    ),
    Kind::EVENT,
);

/// One value of each kind a record keeps apart.
#[derive(Debug, Clone)]
enum Any {
    U(u64),
    I(i64),
    F(f64),
    B(bool),
    S(String),
    D(String),
}

impl Any {
    fn visit(&self, field: &tracing_core::field::Field, v: &mut dyn tracing_core::field::Visit) {
        match self {
            Any::U(x) => v.record_u64(field, *x),
            Any::I(x) => v.record_i64(field, *x),
            Any::F(x) => v.record_f64(field, *x),
            Any::B(x) => v.record_bool(field, *x),
            Any::S(x) => v.record_str(field, x),
            Any::D(x) => v.record_debug(field, &format_args!("{x}")),
        }
    }
}

fn any() -> impl proptest::strategy::Strategy<Value = Any> {
    use proptest::prelude::*;
    prop_oneof![
        any::<u64>().prop_map(Any::U),
        any::<i64>().prop_map(Any::I),
        any::<f64>().prop_map(Any::F),
        any::<bool>().prop_map(Any::B),
        ".{0,12}".prop_map(Any::S),
        ".{0,12}".prop_map(Any::D),
    ]
}

proptest::proptest! {
    /// Values replayed from a record print what the same values print straight into the
    /// field formatter, field by field, for every kind and any text.
    #[test]
    fn recorded_values_print_as_the_values_themselves(
        values in proptest::collection::vec((0usize..7, any()), 0..8),
        sanitize: bool,
        ansi: bool,
    ) {
        use crate::format::fields::PlainVisitor;
        use tracing_subscriber::field::VisitOutput;
        let addr = known::note(&WIDE);
        let fields: Vec<_> = WIDE.fields().iter().collect();
        let mut direct = String::new();
        let mut visitor = PlainVisitor::new(&mut direct, sanitize, ansi);
        let mut buf = Vec::new();
        let flags = if sanitize { record::SANITIZE } else { 0 } | if ansi { record::ANSI } else { 0 };
        record::begin(&mut buf, (flags, 0), (0, 0), addr, None);
        buf.extend_from_slice(&[0, 0]);
        for (i, value) in &values {
            value.visit(&fields[*i], &mut visitor);
            value.visit(&fields[*i], &mut Values(&mut buf));
        }
        let _ = visitor.finish();
        proptest::prop_assert!(record::end(&mut buf));
        let (out, unreadable) = decode(&buf);
        proptest::prop_assert_eq!(unreadable, 0);
        let head = if ansi {
            "\u{1b}[2m1970-01-01T00:00:00.000000Z\u{1b}[0m \u{1b}[32m INFO\u{1b}[0m \u{1b}[2mapp\u{1b}[0m\u{1b}[2m:\u{1b}[0m "
        } else {
            "1970-01-01T00:00:00.000000Z  INFO app: "
        };
        proptest::prop_assert_eq!(out, format!("{head}{direct}\n"));
    }

    /// Any bytes, frames with any payload among them: every byte is taken, nothing
    /// panics, and each frame that checks out is either laid out or counted unreadable.
    #[test]
    fn any_bytes_are_taken_whole_without_a_panic(
        chunks in proptest::collection::vec(
            (proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64), proptest::prelude::any::<bool>()),
            0..16,
        ),
    ) {
        let addr = known::note(&META);
        let mut input = Vec::new();
        for (bytes, framed) in &chunks {
            if *framed {
                // A consistent header naming a noted callsite, then arbitrary values.
                let mut f = Vec::new();
                record::begin(&mut f, (0, 0), (0, 0), addr, None);
                f.extend_from_slice(&[0, 0]);
                f.extend_from_slice(bytes);
                proptest::prop_assert!(record::end(&mut f));
                input.extend(f);
            } else {
                input.extend_from_slice(bytes);
            }
        }
        let mut sink = Decoded::new(Vec::new());
        proptest::prop_assert_eq!(sink.write(&input).expect("a Vec takes every write"), input.len());
        let frames = chunks.iter().filter(|c| c.1).count() as u64;
        proptest::prop_assert!(sink.unreadable().get() <= frames);
    }
}

/// The count stays readable after the sink moved into the writer.
#[test]
fn the_unreadable_count_is_read_through_its_handle_after_the_sink_moved() {
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);
    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    let out = Shared::default();
    let sink = Decoded::new(out.clone());
    let unreadable = sink.unreadable();
    let (mut writer, guard) = crate::NonBlockingBuilder::default().finish(sink);
    let stranger = &STRANGER as *const Metadata<'static> as u64;
    writer.write_all(&frame(stranger, &[])).unwrap();
    writer.write_all(&frame(known::note(&META), &[])).unwrap();
    guard.flush().expect("flushed");
    assert_eq!(unreadable.get(), 1);
    let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
    assert_eq!(text, format!("<unreadable log record>\n{LINE}"));
}

/// The writer's cache of noted callsites keeps two per set: two callsites that fall in
/// one set, logged in turn, both stay cached; a third in that set evicts the older.
#[test]
fn two_callsites_in_one_set_both_stay_cached() {
    let set = |addr: usize| known::slot(addr) & !1;
    let a = 0x7f00_1000_usize;
    let mut same = (1..).map(|i| a + 8 * i).filter(|&x| set(x) == set(a));
    let (b, c) = (same.next().unwrap(), same.next().unwrap());
    std::thread::spawn(move || {
        known::remember(a);
        known::remember(b);
        for _ in 0..3 {
            assert!(known::seen(a) && known::seen(b));
        }
        known::remember(c);
        assert!(known::seen(c) && known::seen(b) && !known::seen(a));
    })
    .join()
    .unwrap();
}

/// A span takes a slot of its layer's table when it opens and gives it back when it
/// closes (after a later `record` moved its values out, at that `record`); spans still
/// open when the stack is dropped take their values with the table.
#[test]
fn spans_give_their_slots_back_when_they_close_or_record() {
    use tracing_subscriber::prelude::*;
    let (writer, guard) = crate::non_blocking(Decoded::new(std::io::sink()));
    let dispatch = tracing::Dispatch::new(
        tracing_subscriber::registry().with(super::DeferredLayer::new(writer)),
    );
    let occupied = |d: &tracing::Dispatch| {
        d.downcast_ref::<super::DeferredLayer<crate::NonBlocking>>()
            .expect("the layer")
            .slots
            .occupied()
    };
    tracing::dispatcher::with_default(&dispatch, || {
        let spans: Vec<_> = (0..100u64)
            .map(|i| tracing::info_span!("s", i, later = tracing::field::Empty))
            .collect();
        assert_eq!(occupied(&dispatch), 100);
        spans[7].record("later", 1u64);
        assert_eq!(occupied(&dispatch), 99, "recorded values leave their slot");
        drop(spans);
        assert_eq!(occupied(&dispatch), 0);
        let long = "x".repeat(200);
        let _kept = tracing::info_span!("long", text = long.as_str());
        assert_eq!(occupied(&dispatch), 0, "too long for a slot");
    });
    drop(guard);
}
