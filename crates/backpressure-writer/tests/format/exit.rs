//! Formatting from a thread-local's destructor, after the formatters' own per-thread
//! buffers are gone (an event logged while a thread exits): the same text, no panic.

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
fn format_now() -> (String, String) {
    let fields = META.fields();
    let (answer, name) = (
        fields.field("answer").unwrap(),
        fields.field("name").unwrap(),
    );
    let values = [
        (&answer, Some(&42u64 as &dyn Value)),
        (&name, Some(&"x" as &dyn Value)),
    ];
    let set = fields.value_set(&values);
    let mut text = String::new();
    PlainFields::new()
        .format_fields(
            Writer::new(&mut text),
            tracing_core::span::Record::new(&set),
        )
        .unwrap();
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
