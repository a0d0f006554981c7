//! The parts of a line `fmt` lets a user switch on and off: the time, the level, the
//! target, the file and line, the thread's name and id. The layer keeps them as one
//! byte of the bits below that every record carries; the thread's texts are the only
//! part read on the caller (they are the caller's), the rest comes from the callsite's
//! metadata on the writer's thread.

use std::cell::OnceCell;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::record::{Fields, Item, Record, Unreadable, Value};
use crate::format::fields::skips_log_fields;

/// No timestamp (`fmt`'s `without_time`).
pub(crate) const NO_TIME: u8 = 1;
/// No level (`with_level(false)`).
pub(crate) const NO_LEVEL: u8 = 1 << 1;
/// No target (`with_target(false)`).
pub(crate) const NO_TARGET: u8 = 1 << 2;
/// The source file (`with_file(true)`).
pub(crate) const FILE: u8 = 1 << 3;
/// The line number (`with_line_number(true)`).
pub(crate) const LINE: u8 = 1 << 4;
/// The thread's name (`with_thread_names(true)`).
pub(crate) const THREAD_NAMES: u8 = 1 << 5;
/// The thread's id (`with_thread_ids(true)`).
pub(crate) const THREAD_IDS: u8 = 1 << 6;
/// The bits that make a record carry its thread's texts.
pub(crate) const THREAD: u8 = THREAD_NAMES | THREAD_IDS;

/// A thread's name and the `Debug` text of its id, as `fmt` prints them.
struct ThreadTexts {
    name: Option<Box<str>>,
    id: Box<str>,
}

impl ThreadTexts {
    fn current() -> Self {
        let thread = std::thread::current();
        ThreadTexts {
            name: thread.name().map(Box::from),
            id: format!("{:?}", thread.id()).into_boxed_str(),
        }
    }

    /// `name_present:u8 [name:text] id:text`.
    fn push(&self, buf: &mut Vec<u8>) {
        let text = |buf: &mut Vec<u8>, s: &str| {
            buf.extend_from_slice(&(s.len() as u32).to_le_bytes());
            buf.extend_from_slice(s.as_bytes());
        };
        match &self.name {
            Some(name) => {
                buf.push(1);
                text(buf, name);
            }
            None => buf.push(0),
        }
        text(buf, &self.id);
    }
}

thread_local! {
    /// This thread's texts, read once: a thread's name and id never change.
    static THREAD_TEXTS: OnceCell<ThreadTexts> = const { OnceCell::new() };
}

/// Appends the calling thread's name and id to a record (when the layout shows either).
/// Costs a thread-local read and two short copies; the first event of a thread asks
/// `std::thread::current()` once.
pub(crate) fn push_thread(buf: &mut Vec<u8>) {
    let cached = THREAD_TEXTS.try_with(|t| t.get_or_init(ThreadTexts::current).push(buf));
    if cached.is_err() {
        // Past this thread's thread-locals (an event from a destructor): asked afresh, as
        // `fmt` asks on every line.
        ThreadTexts::current().push(buf);
    }
}

/// The thread's texts a record carries.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Thread<'a> {
    pub(crate) name: Option<&'a str>,
    pub(crate) id: &'a str,
}

/// Reads what [`push_thread`] wrote, through the record reader's `text`.
pub(crate) fn read_thread<'a>(
    flag: u8,
    mut text: impl FnMut() -> Result<&'a str, Unreadable>,
) -> Result<Thread<'a>, Unreadable> {
    let name = match flag {
        0 => None,
        1 => Some(text()?),
        _ => return Err(Unreadable::Damaged),
    };
    Ok(Thread { name, id: text()? })
}

/// What the text line shows for the thread, as `fmt::format()` writes it: the name
/// padded to the longest seen so far, or the id in its place when the thread has no name
/// and ids are not shown; then the id. Each part is followed by a space.
pub(crate) fn write_thread(out: &mut impl fmt::Write, layout: u8, thread: Thread<'_>) {
    // `fmt` keeps the longest name it printed in a process-wide maximum and pads to it;
    // this one does the same for the lines laid out here (`fmt`'s own is private, so a
    // process that prints thread names through both pads each its own way).
    static LONGEST: AtomicUsize = AtomicUsize::new(0);
    let ids = layout & THREAD_IDS != 0;
    if layout & THREAD_NAMES != 0 {
        match thread.name {
            Some(name) => {
                let width = LONGEST.fetch_max(name.len(), Ordering::Relaxed);
                let _ = write!(out, "{name:>width$} ");
            }
            None if !ids => {
                let _ = write!(out, "{:0>2} ", thread.id);
            }
            None => {}
        }
    }
    if ids {
        let _ = write!(out, "{:0>2} ", thread.id);
    }
}

/// Where an event comes from, as `fmt` prints it: the callsite's target, file and line,
/// or for a `log` record its own (`tracing-log` names every event it makes "log event"
/// and carries the record's in `log.target`, `log.file` and `log.line`), when `fmt` reads
/// them (the build that skips `log.*` fields is the one that does).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Origin<'a> {
    pub(crate) target: &'a str,
    pub(crate) file: Option<&'a str>,
    pub(crate) line: Option<u32>,
}

impl<'a> Origin<'a> {
    pub(crate) fn of(record: &Record<'_>, fields: &Fields<'a>) -> Result<Self, Unreadable> {
        let meta = record.meta;
        if meta.name() != "log event" || !skips_log_fields() {
            return Ok(Origin {
                target: meta.target(),
                file: meta.file(),
                line: meta.line(),
            });
        }
        // `fmt` takes a `log` record's metadata whole: a part the record lacks is absent,
        // not the callsite's.
        let mut origin = Origin {
            target: meta.target(),
            file: None,
            line: None,
        };
        let mut fields = fields.clone();
        while let Some(item) = fields.next()? {
            match item {
                Item::Value(f, Value::Str(s)) if f.name() == "log.target" => origin.target = s,
                Item::Value(f, Value::Str(s)) if f.name() == "log.file" => origin.file = Some(s),
                Item::Value(f, Value::U64(n)) if f.name() == "log.line" => {
                    origin.line = u32::try_from(n).ok();
                }
                _ => {}
            }
        }
        Ok(origin)
    }
}
