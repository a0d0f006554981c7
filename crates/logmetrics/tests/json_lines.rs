//! A JSON-lines log file stays JSON lines: events from `fmt::layer().json()`, the writer's
//! drop reports and the start-up self-check, all through one writer built with
//! `OwnLineFormat::Json`, parse line by line with `serde_json`, every one of them.

use std::fs::File;
use std::io::{self, Write};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use backpressure_writer::{NonBlockingBuilder, Overflow, OwnLineFormat};
use serde_json::Value;
use tracing_subscriber::prelude::*;

const FLUSH: Duration = Duration::from_secs(30);

#[derive(Default)]
struct GateState {
    closed: bool,
    /// Writes that found the gate closed.
    held: u64,
}

/// A file whose writes wait while the test holds the gate closed.
struct GatedFile {
    file: File,
    gate: Arc<(Mutex<GateState>, Condvar)>,
}

impl Write for GatedFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let (m, cv) = &*self.gate;
        let mut g = m.lock().unwrap();
        if g.closed {
            g.held += 1;
            cv.notify_all();
            while g.closed {
                g = cv.wait(g).unwrap();
            }
        }
        drop(g);
        self.file.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

fn set_closed(gate: &(Mutex<GateState>, Condvar), closed: bool) {
    gate.0.lock().unwrap().closed = closed;
    gate.1.notify_all();
}

fn wait_held(gate: &(Mutex<GateState>, Condvar), n: u64) {
    let mut g = gate.0.lock().unwrap();
    while g.held < n {
        g = gate.1.wait_timeout(g, FLUSH).unwrap().0;
    }
}

#[test]
fn a_json_file_with_drop_reports_and_a_self_check_parses_line_by_line() {
    let path = tempfile::NamedTempFile::new().unwrap().into_temp_path();
    let gate = Arc::new((Mutex::new(GateState::default()), Condvar::new()));
    let sink = GatedFile {
        file: File::create(&path).unwrap(),
        gate: gate.clone(),
    };
    let (writer, guard) = NonBlockingBuilder::default()
        .buffered_lines_limit(4)
        .overflow(Overflow::DropNewest)
        .drop_report_interval(Duration::ZERO)
        .own_line_format(OwnLineFormat::Json)
        .finish(sink);
    logmetrics::self_check(&writer, &guard, FLUSH).unwrap();

    let subscriber = tracing_subscriber::registry().with(
        tracing_subscriber::fmt::layer()
            .json()
            .with_writer(writer.clone()),
    );
    tracing::subscriber::with_default(subscriber, || {
        for round in 0..2 {
            set_closed(&gate, true);
            tracing::info!(round, "first");
            // The worker is inside the file's write with "first": 3 more lines fit in the
            // limit of 4, the next 6 are dropped.
            wait_held(&gate, round + 1);
            for i in 0..9 {
                tracing::info!(round, i, "flood");
            }
            set_closed(&gate, false);
            guard.flush_timeout(FLUSH).unwrap();
        }
    });
    let stats = writer.stats();
    assert_eq!(
        (stats.lines_written, stats.dropped.newest),
        (1 + 2 * 4, 2 * 6)
    );
    drop(guard);

    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let parsed: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(text.ends_with('\n'));

    let by_target = |t: &'static str| parsed.iter().filter(move |v| v["target"] == t);
    let check: Vec<&Value> = by_target("logmetrics").collect();
    assert_eq!(check.len(), 1, "{text}");
    assert_eq!(check[0]["level"], "INFO");
    assert_eq!(
        check[0]["fields"]["message"],
        "start-up self-check: the log sink accepts writes"
    );

    assert!(
        lines[0].contains("self-check"),
        "the self-check comes first: {text}"
    );

    let reports: Vec<&Value> = by_target("backpressure_writer").collect();
    assert_eq!(reports.len(), 2, "{text}");
    for r in &reports {
        assert_eq!(r["level"], "WARN");
        assert_eq!(r["fields"]["message"], "dropped 6 lines since last report");
        assert_eq!(r["fields"]["newest"], 6);
    }

    let events = by_target("json_lines").count();
    assert_eq!(events, 8, "every written event is in the file");
    assert_eq!(parsed.len(), 1 + 8 + 2, "{text}");
    // Every line has the same four keys as fmt's own.
    for v in &parsed {
        let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["fields", "level", "target", "timestamp"], "{v}");
    }
}
