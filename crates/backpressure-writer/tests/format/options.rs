//! `DeferredLayer`'s line options (time, level, target, file, line, thread names and
//! ids) against `fmt`'s options of the same names, in one subscriber, over the corpus and
//! from threads named and unnamed: every line compared whole, nothing masked.

use backpressure_writer::deferred::{Decoded, DeferredLayer};
use backpressure_writer::format::CachedSystemTime;
use backpressure_writer::NonBlocking;
use tracing::Dispatch;
use tracing_subscriber::fmt;
use tracing_subscriber::prelude::*;
use tracing_subscriber::{Layer, Registry};

use crate::clock;
use crate::corpus::{corpus, Capture};
use crate::lines::assert_same;

/// The parts of a line `fmt` lets a user switch, as both layers are given them.
#[derive(Clone, Copy, Debug)]
struct Parts {
    time: bool,
    level: bool,
    target: bool,
    file: bool,
    line: bool,
    names: bool,
    ids: bool,
    /// (JSON) The event's fields at the top level.
    #[cfg_attr(not(feature = "json"), allow(dead_code))]
    flatten: bool,
}

/// `fmt`'s defaults.
const DEFAULT: Parts = Parts {
    time: true,
    level: true,
    target: true,
    file: false,
    line: false,
    names: false,
    ids: false,
    flatten: false,
};

fn ours(parts: Parts, writer: NonBlocking) -> DeferredLayer<NonBlocking> {
    let layer = DeferredLayer::new(writer)
        .with_clock(clock::now)
        .with_level(parts.level)
        .with_target(parts.target)
        .with_file(parts.file)
        .with_line_number(parts.line)
        .with_thread_names(parts.names)
        .with_thread_ids(parts.ids);
    if parts.time {
        layer
    } else {
        layer.without_time()
    }
}

type Boxed = Box<dyn Layer<Registry> + Send + Sync>;

/// `fmt::layer()` (text, or JSON with `json`) with the same parts, into `stock`.
fn stock(parts: Parts, ansi: bool, json: bool, stock: Capture) -> Boxed {
    let format = fmt::format()
        .with_level(parts.level)
        .with_target(parts.target)
        .with_file(parts.file)
        .with_line_number(parts.line)
        .with_thread_names(parts.names)
        .with_thread_ids(parts.ids);
    let timer = CachedSystemTime::with_clock(clock::now);
    let layer = fmt::layer().with_ansi(ansi).with_writer(stock);
    match (json, parts.time) {
        (false, true) => layer.event_format(format.with_timer(timer)).boxed(),
        (false, false) => layer.event_format(format.without_time()).boxed(),
        #[cfg(feature = "json")]
        (true, true) => layer
            .json()
            .event_format(format.json().flatten_event(parts.flatten).with_timer(timer))
            .boxed(),
        #[cfg(feature = "json")]
        (true, false) => layer
            .json()
            .event_format(format.json().flatten_event(parts.flatten).without_time())
            .boxed(),
        #[cfg(not(feature = "json"))]
        (true, _) => unreachable!("JSON needs the `json` feature"),
    }
}

/// Both layers in one dispatcher; `emit` logs through it. Returns `fmt`'s lines, ours,
/// and what `emit` returned (the number of events).
fn run(
    parts: Parts,
    ansi: bool,
    json: bool,
    emit: impl FnOnce(&Dispatch) -> usize,
) -> (Vec<String>, Vec<String>, usize) {
    let (stock_out, our_out) = (Capture::default(), Capture::default());
    let (writer, guard) = backpressure_writer::non_blocking(Decoded::new(our_out.clone()));
    let our_layer = ours(parts, writer).with_ansi(ansi);
    #[cfg(feature = "json")]
    let our_layer = if json {
        our_layer.json().flatten_event(parts.flatten)
    } else {
        our_layer
    };
    let dispatch = Dispatch::new(
        tracing_subscriber::registry()
            .with(vec![
                our_layer.boxed(),
                stock(parts, ansi, json, stock_out.clone()),
            ])
            .with(tracing_subscriber::filter::LevelFilter::TRACE),
    );
    let n = emit(&dispatch);
    drop(dispatch);
    drop(guard);
    (stock_out.lines(), our_out.lines(), n)
}

/// The corpus, on a thread of its own named `name` (or unnamed).
fn on_thread(dispatch: &Dispatch, name: Option<&str>, f: fn() -> usize) -> usize {
    let dispatch = dispatch.clone();
    let builder = match name {
        Some(name) => std::thread::Builder::new().name(name.to_owned()),
        None => std::thread::Builder::new(),
    };
    builder
        .spawn(move || tracing::dispatcher::with_default(&dispatch, f))
        .expect("spawn")
        .join()
        .expect("the corpus ran")
}

fn corpus_run(parts: Parts, ansi: bool, json: bool) -> (Vec<String>, Vec<String>) {
    let (stock, ours, n) = run(parts, ansi, json, |d| {
        tracing::dispatcher::with_default(d, corpus)
    });
    assert_same(&stock, &ours, n);
    (stock, ours)
}

#[test]
fn every_part_switched_on_or_off_is_fmts_byte_for_byte() {
    let everything = Parts {
        file: true,
        line: true,
        ..DEFAULT
    };
    let combinations = [
        Parts {
            time: false,
            ..DEFAULT
        },
        Parts {
            level: false,
            ..DEFAULT
        },
        Parts {
            target: false,
            ..DEFAULT
        },
        Parts {
            file: true,
            ..DEFAULT
        },
        Parts {
            line: true,
            ..DEFAULT
        },
        everything,
        Parts {
            time: false,
            level: false,
            target: false,
            ..everything
        },
    ];
    for parts in combinations {
        for ansi in [false, true] {
            let (stock, _) = corpus_run(parts, ansi, false);
            let all = stock.join("\n");
            // The parts show or not in `fmt`'s lines: the comparison meant something.
            assert_eq!(all.contains("2025-01-01T00:00:01"), parts.time, "{parts:?}");
            assert_eq!(all.contains("WARN"), parts.level, "{parts:?}");
            assert_eq!(all.contains("legacy::dep"), parts.target, "{parts:?}");
            // A `log` record's own file and line, as `fmt` reads them from the record.
            let log_origin = match (parts.file, parts.line, ansi) {
                (true, true, false) => Some("legacy.rs:12: from log 1"),
                (true, false, false) => Some("legacy.rs: from log 1"),
                (false, true, false) => Some("12: from log 1"),
                _ => None,
            };
            if let Some(origin) = log_origin {
                assert!(all.contains(origin), "{origin:?} not in\n{all}");
            }
            assert_eq!(all.contains("corpus.rs"), parts.file, "{parts:?}");
        }
    }
}

/// Thread names padded to the longest seen so far, ids, and the id in the name's place
/// for an unnamed thread, from threads run one after another. `fmt` pads against a
/// maximum it keeps for the whole process, and so does the deferred layout: this is the
/// only test of the binary that prints thread names as text, so both maxima see the same
/// names in the same order.
#[test]
fn thread_names_and_ids_are_fmts_byte_for_byte() {
    let cases = [
        (
            Parts {
                names: true,
                ..DEFAULT
            },
            false,
        ),
        (
            Parts {
                ids: true,
                ..DEFAULT
            },
            false,
        ),
        (
            Parts {
                names: true,
                ids: true,
                ..DEFAULT
            },
            false,
        ),
        (
            Parts {
                names: true,
                ids: true,
                ..DEFAULT
            },
            true,
        ),
    ];
    for (parts, ansi) in cases {
        let (stock, ours, n) = run(parts, ansi, false, |d| {
            on_thread(d, Some("corpus"), corpus)
                + on_thread(d, None, corpus)
                + on_thread(d, Some("a-much-longer-thread-name"), corpus)
                + on_thread(d, Some("corpus"), corpus)
        });
        assert_same(&stock, &ours, n);
        let all = stock.join("\n");
        assert_eq!(
            all.contains("ThreadId("),
            parts.ids || parts.names,
            "{parts:?}"
        );
        if parts.names {
            // After the longer name, the short one is padded to its width.
            assert!(
                all.contains(&format!(" {:>25} ", "corpus")),
                "no padded name in\n{all}"
            );
        }
    }
}

#[cfg(feature = "json")]
#[test]
fn json_parts_and_threads_are_fmts_byte_for_byte() {
    let everything = Parts {
        file: true,
        line: true,
        names: true,
        ids: true,
        ..DEFAULT
    };
    let combinations = [
        everything,
        Parts {
            names: true,
            ..DEFAULT
        },
        Parts {
            time: false,
            level: false,
            target: false,
            ..everything
        },
        Parts {
            flatten: true,
            ..DEFAULT
        },
        Parts {
            flatten: true,
            ..everything
        },
    ];
    for parts in combinations {
        let (stock, ours, _) = run(parts, false, true, |d| {
            on_thread(d, Some("json-thread"), corpus) + on_thread(d, None, corpus)
        });
        // (The corpus counts text lines; a JSON line never breaks.)
        assert_same(&stock, &ours, stock.len());
        let all = stock.join("\n");
        for (member, shown) in [
            ("\"timestamp\":\"", parts.time),
            ("\"level\":\"", parts.level),
            ("\"target\":\"", parts.target),
            ("\"filename\":\"legacy.rs\"", parts.file),
            ("\"line_number\":12", parts.line),
            ("\"threadName\":\"json-thread\"", parts.names),
            ("\"threadName\":\"ThreadId(", parts.names && !parts.ids),
            ("\"threadId\":\"ThreadId(", parts.ids),
            ("\"fields\":{", !parts.flatten),
            ("\"message\":\"literal message\"", true),
        ] {
            assert_eq!(
                all.contains(member),
                shown,
                "{member} with {parts:?} in\n{all}"
            );
        }
    }
}
