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
    record::begin(&mut buf, record::SANITIZE, (1, 0), addr, None);
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
    let unreadable = sink.unreadable();
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
    assert_eq!(sink.unreadable(), 0);
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
