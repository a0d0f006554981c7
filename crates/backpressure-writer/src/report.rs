//! What the writer says about its own losses: the drop-report line it writes into the
//! output (its format is documented once, in the `stats` module's docs, "The drop report"; its form,
//! text or JSON, is the configured [`OwnLineFormat`]), and the sink-fault messages it
//! prints on stderr.

use std::any::Any;
use std::fmt::{self, Write as _};
use std::io;
use std::time::{Duration, Instant};

use tracing_core::Level;

use crate::own_line::{OwnLine, OwnLineFormat};
use crate::stats::Dropped;

/// The crate's name, as the text form of its own lines and its stderr messages show it.
pub(crate) const NAME: &str = "backpressure-writer";
/// The prefix of every message the writer prints on stderr.
pub(crate) const PREFIX: &str = "backpressure-writer: ";
/// The `tracing` target of the writer's own lines in the JSON form.
pub(crate) const TARGET: &str = "backpressure_writer";

/// Formats a drop report (see the `stats` module docs) for the drops in `d` into `out`, replacing
/// its contents.
pub(crate) fn format_drop_report(out: &mut String, d: &Dropped, form: &OwnLineFormat) {
    let mut message = String::with_capacity(48);
    // Writing into a String cannot fail.
    let _ = write!(message, "dropped {} lines since last report", d.total());
    // Once a second at most: a small allocation is fine here.
    let fields: Vec<(&str, u64)> = d
        .by_reason()
        .filter(|&(r, n)| r.in_every_report() || n > 0)
        .map(|(r, n)| (r.as_str(), n))
        .collect();
    let line = OwnLine::new(Level::WARN, NAME, TARGET, &message).with_fields(&fields);
    form.format(&line, out);
}

/// A failed sink operation.
#[derive(Debug)]
pub(crate) enum Fault {
    Io(io::Error),
    Panic(String),
}

impl Fault {
    pub(crate) fn from_panic(payload: Box<dyn Any + Send>) -> Self {
        let msg = if let Some(s) = payload.downcast_ref::<&str>() {
            (*s).to_owned()
        } else if let Some(s) = payload.downcast_ref::<String>() {
            s.clone()
        } else {
            "non-string panic payload".to_owned()
        };
        Fault::Panic(msg)
    }

    pub(crate) fn is_panic(&self) -> bool {
        matches!(self, Fault::Panic(_))
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Io(e) => write!(f, "sink error: {e}"),
            Fault::Panic(m) => write!(f, "sink panicked: {m}"),
        }
    }
}

/// Rate-limits sink-fault messages on stderr: the first fault in full, then one summary
/// per interval while faults continue, and a last summary when the worker stops.
#[derive(Debug)]
pub(crate) struct FaultLog {
    interval: Duration,
    seen_first: bool,
    last_summary: Option<Instant>,
    errors: u64,
    lines: u64,
}

impl FaultLog {
    pub(crate) fn new(interval: Duration) -> Self {
        FaultLog {
            interval,
            seen_first: false,
            last_summary: None,
            errors: 0,
            lines: 0,
        }
    }

    /// Notes a fault and prints what [`Self::message`] decides.
    pub(crate) fn record(&mut self, fault: &Fault, lines_lost: u64) {
        if let Some(msg) = self.message(fault, lines_lost, Instant::now()) {
            eprintln!("{msg}");
        }
    }

    /// The message to print for a fault seen at `now`, if any (the clock is a parameter so
    /// the rate limit can be tested without waiting).
    fn message(&mut self, fault: &Fault, lines_lost: u64, now: Instant) -> Option<String> {
        if !self.seen_first {
            self.seen_first = true;
            self.last_summary = Some(now);
            return Some(format!(
                "{PREFIX}{fault}; {lines_lost} lines lost (further sink errors are summarized every {:?})",
                self.interval
            ));
        }
        self.errors += 1;
        self.lines += lines_lost;
        if self
            .last_summary
            .is_none_or(|t| now.duration_since(t) >= self.interval)
        {
            return self.summary(now);
        }
        None
    }

    fn summary(&mut self, now: Instant) -> Option<String> {
        let msg = (self.errors > 0).then(|| {
            format!(
                "{PREFIX}{} more sink errors, {} lines lost since the last message",
                self.errors, self.lines
            )
        });
        self.errors = 0;
        self.lines = 0;
        self.last_summary = Some(now);
        msg
    }

    /// Prints what the rate limit held back.
    pub(crate) fn finish(&mut self) {
        if let Some(msg) = self.summary(Instant::now()) {
            eprintln!("{msg}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drop_report_has_the_documented_format() {
        let d = Dropped {
            newest: 1200,
            oldest: 30,
            write_failed: 4,
            ..Dropped::default()
        };
        let mut s = String::new();
        format_drop_report(&mut s, &d, &OwnLineFormat::Text);
        assert_eq!(
            s,
            "backpressure-writer: dropped 1234 lines since last report (newest=1200 oldest=30 \
             timeout=0 keep_timeout=0 shutdown=0 worker_gone=0 write_failed=4)\n"
        );
        format_drop_report(&mut s, &d, &OwnLineFormat::Json);
        let fields = s.split_once("\"fields\":").unwrap().1;
        assert_eq!(
            fields,
            "{\"message\":\"dropped 1234 lines since last report\",\"newest\":1200,\"oldest\":30,\
             \"timeout\":0,\"keep_timeout\":0,\"shutdown\":0,\"worker_gone\":0,\"write_failed\":4},\
             \"target\":\"backpressure_writer\"}\n"
        );
        assert!(s.starts_with("{\"timestamp\":\""), "{s}");
        assert!(s.contains("\"level\":\"WARN\""), "{s}");
    }

    #[test]
    fn context_drops_are_named_after_the_seven_reasons_only_when_there_are_some() {
        let d = Dropped {
            newest: 1,
            context: 3,
            ..Dropped::default()
        };
        let mut s = String::new();
        format_drop_report(&mut s, &d, &OwnLineFormat::Text);
        assert_eq!(
            s,
            "backpressure-writer: dropped 4 lines since last report (newest=1 oldest=0 \
             timeout=0 keep_timeout=0 shutdown=0 worker_gone=0 write_failed=0 context=3)\n"
        );
        format_drop_report(&mut s, &d, &OwnLineFormat::Json);
        assert!(s.contains(",\"write_failed\":0,\"context\":3},"), "{s}");
    }

    #[test]
    fn sink_errors_print_the_first_then_periodic_summaries() {
        let mut log = FaultLog::new(Duration::from_secs(10));
        let t0 = Instant::now();
        let err = || Fault::Io(io::Error::other("No space left on device"));
        assert_eq!(
            log.message(&err(), 5, t0).as_deref(),
            Some(
                "backpressure-writer: sink error: No space left on device; 5 lines lost \
                 (further sink errors are summarized every 10s)"
            )
        );
        assert_eq!(log.message(&err(), 7, t0 + Duration::from_secs(1)), None);
        assert_eq!(log.message(&err(), 8, t0 + Duration::from_secs(9)), None);
        assert_eq!(
            log.message(&err(), 9, t0 + Duration::from_secs(10))
                .as_deref(),
            Some("backpressure-writer: 3 more sink errors, 24 lines lost since the last message")
        );
        assert_eq!(log.message(&err(), 1, t0 + Duration::from_secs(11)), None);
        assert_eq!(
            log.summary(t0 + Duration::from_secs(12)).as_deref(),
            Some("backpressure-writer: 1 more sink errors, 1 lines lost since the last message")
        );
        assert_eq!(log.summary(t0 + Duration::from_secs(13)), None);
        let panic = Fault::from_panic(Box::new("kaboom"));
        assert!(panic.is_panic());
        assert_eq!(panic.to_string(), "sink panicked: kaboom");
    }
}
