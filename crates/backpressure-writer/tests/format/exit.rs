//! Formatting from a thread-local's destructor, after the formatters' own per-thread
//! buffers are gone (an event logged while a thread exits): the same text, no panic.
//! The same for the deferred layer's record buffer, and for its thread texts.

use std::cell::RefCell;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use backpressure_writer::format::{CachedSystemTime, PlainFields};
use tracing_core::callsite::Callsite;
use tracing_core::field::{FieldSet, Value};
use tracing_core::metadata::{Kind, Level, Metadata};
use tracing_core::subscriber::Interest;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::FormatTime;
use tracing_subscriber::fmt::FormatFields;

struct Site;
static SITE: Site = Site;
static META: Metadata<'static> = Metadata::new(
    "exit",
    "format::exit",
    Level::INFO,
    None,
    None,
    None,
    FieldSet::new(&["answer", "name"], tracing_core::identify_callsite!(&SITE)),
    Kind::EVENT,
);
impl Callsite for Site {
    fn set_interest(&self, _: Interest) {}
    fn metadata(&self) -> &Metadata<'_> {
        &META
    }
}

fn fixed() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

/// The fields and the timestamp, as the formatters write them on this thread now.
/// Hands `f` the event's values: `answer = 42`, `name = "x"`.
fn with_values<R>(f: impl FnOnce(&tracing_core::field::ValueSet<'_>) -> R) -> R {
    let fields = META.fields();
    let (answer, name) = (
        fields.field("answer").unwrap(),
        fields.field("name").unwrap(),
    );
    let values = [
        (&answer, Some(&42u64 as &dyn Value)),
        (&name, Some(&"x" as &dyn Value)),
    ];
    f(&fields.value_set(&values))
}

fn format_now() -> (String, String) {
    let mut text = String::new();
    with_values(|set| {
        PlainFields::new()
            .format_fields(Writer::new(&mut text), tracing_core::span::Record::new(set))
            .unwrap()
    });
    let mut time = String::new();
    CachedSystemTime::with_clock(fixed)
        .format_time(&mut Writer::new(&mut time))
        .unwrap();
    (text, time)
}

type Seen = Arc<Mutex<Vec<(String, String)>>>;

struct FormatsOnDrop(Seen);
impl Drop for FormatsOnDrop {
    fn drop(&mut self) {
        self.0.lock().unwrap().push(format_now());
    }
}

thread_local! {
    static GUARD: RefCell<Option<FormatsOnDrop>> = const { RefCell::new(None) };
}

#[test]
fn formatting_in_a_thread_local_destructor_writes_the_same_text() {
    let seen: Seen = Arc::default();
    let inner = Arc::clone(&seen);
    std::thread::spawn(move || {
        // The guard's destructor is registered first, so it runs after the formatters'
        // buffers (registered by the first formatting below) are destroyed.
        GUARD.with(|g| *g.borrow_mut() = Some(FormatsOnDrop(Arc::clone(&inner))));
        inner.lock().unwrap().push(format_now());
    })
    .join()
    .expect("the thread exits cleanly");
    let want = (
        "answer=42 name=\"x\"".to_owned(),
        "2023-11-14T22:13:20.000000Z".to_owned(),
    );
    assert_eq!(*seen.lock().unwrap(), [want.clone(), want]);
}

/// Hands an event straight to a subscriber (no dispatcher: tracing's own thread-locals
/// may be gone too) with a deferred layer, when dropped.
struct RecordsOnDrop(Box<dyn tracing_core::Subscriber + Send>);
impl Drop for RecordsOnDrop {
    fn drop(&mut self) {
        record_now(&*self.0);
    }
}

fn record_now(subscriber: &dyn tracing_core::Subscriber) {
    with_values(|set| subscriber.event(&tracing_core::Event::new(&META, set)));
}

thread_local! {
    static RECORDER: RefCell<Option<RecordsOnDrop>> = const { RefCell::new(None) };
}

#[test]
fn recording_in_a_thread_local_destructor_writes_the_same_line() {
    use backpressure_writer::deferred::{Decoded, DeferredLayer};
    use tracing_subscriber::prelude::*;

    let out = crate::corpus::Capture::default();
    let (writer, guard) = backpressure_writer::non_blocking(Decoded::new(out.clone()));
    let make = move || -> Box<dyn tracing_core::Subscriber + Send> {
        Box::new(
            tracing_subscriber::registry()
                .with(DeferredLayer::new(writer.clone()).with_clock(fixed)),
        )
    };
    std::thread::spawn(move || {
        // Registered first, so dropped after the layer's buffer (registered by the first
        // event below) is gone.
        RECORDER.with(|r| *r.borrow_mut() = Some(RecordsOnDrop(make())));
        record_now(&*make());
    })
    .join()
    .expect("the thread exits cleanly");
    drop(guard);
    let line = "2023-11-14T22:13:20.000000Z  INFO format::exit: answer=42 name=\"x\"";
    assert_eq!(out.lines(), [line, line]);
}

/// The same with the thread shown: its texts read once per thread and kept in a
/// thread-local of their own, which is gone too by then (read afresh instead). The
/// thread is unnamed, so its id stands in the name's place (names are padded against a
/// process-wide maximum that `options.rs` owns in this binary).
#[test]
fn recording_with_the_thread_shown_in_a_thread_local_destructor_writes_the_same_line() {
    use backpressure_writer::deferred::{Decoded, DeferredLayer};
    use tracing_subscriber::prelude::*;

    let out = crate::corpus::Capture::default();
    let (writer, guard) = backpressure_writer::non_blocking(Decoded::new(out.clone()));
    let make = move || -> Box<dyn tracing_core::Subscriber + Send> {
        Box::new(
            tracing_subscriber::registry().with(
                DeferredLayer::new(writer.clone())
                    .with_clock(fixed)
                    .with_thread_names(true),
            ),
        )
    };
    let id = std::thread::spawn(move || {
        RECORDER.with(|r| *r.borrow_mut() = Some(RecordsOnDrop(make())));
        record_now(&*make());
        std::thread::current().id()
    })
    .join()
    .expect("the thread exits cleanly");
    drop(guard);
    let line =
        format!("2023-11-14T22:13:20.000000Z  INFO {id:?} format::exit: answer=42 name=\"x\"");
    assert_eq!(out.lines(), [line.clone(), line]);
}
