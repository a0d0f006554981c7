//! The demo's command line, parsed by `clap`: `--help` prints the flags and exits 0, a bad
//! value exits 2 with a message that names the flag and the value.

use std::ffi::OsString;
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use backpressure_writer::Overflow;
use clap::{Parser, ValueEnum};

/// Where the demo's log lines go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SinkKind {
    /// The log file (`--log-file`), read back at the end to check every WARN/ERROR line.
    File,
    /// Standard output: nothing to read back, so the WARN/ERROR check is skipped.
    Stdout,
    /// The log file behind a sink that is slow for the whole run, not just the burst.
    Slow,
}

/// The writer's overflow policy, as the command line names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum OverflowArg {
    /// Drop the line being written (`lossy(true)`, the writer's default).
    DropNewest,
    /// Evict the oldest queued line.
    DropOldest,
    /// Wait up to 50 ms for room, then drop the line.
    Block,
}

/// Help shown after the flags: what the flags do not say.
const AFTER_HELP: &str = "Rates come from RUST_LOG_SAMPLE (default: the directives printed at \
start-up), levels from RUST_LOG (default: debug).\n\n\
Exit status: 0 when every check passed, 1 when one failed (a WARN/ERROR line missing from the \
log file, accounting that does not add up), 2 for bad arguments or a run that could not start.";

/// The flags, as `clap` sees them; [`Config`] is what the run uses.
#[derive(Debug, Parser)]
#[command(
    name = "demo",
    about = "A simulated service logging through sampling-layer and backpressure-writer for \
             about 15 s: steady traffic, an overload burst into a slow sink, an error storm \
             that trips the circuit breaker, and a run-time rate change. It reads its log \
             file back and checks that every WARN/ERROR line is in it.",
    after_help = AFTER_HELP
)]
struct Args {
    /// Total run time in seconds, from 1 to 3600; the four phases split it.
    #[arg(long, value_name = "N", default_value = "15", value_parser = seconds)]
    seconds: Duration,
    /// What a line below WARN does when the writer's queue is full.
    #[arg(long, value_enum, default_value_t = OverflowArg::DropNewest)]
    overflow: OverflowArg,
    /// Where the log lines go.
    #[arg(long, value_enum, default_value_t = SinkKind::File)]
    sink: SinkKind,
    /// The log file, for `--sink file` and `--sink slow`.
    #[arg(long, value_name = "PATH", default_value = "logs/demo.log")]
    log_file: PathBuf,
    /// Where to serve `/metrics`, or `off`.
    #[arg(
        long,
        value_name = "HOST:PORT|off",
        default_value = "127.0.0.1:9000",
        value_parser = metrics_addr
    )]
    metrics_addr: MetricsAddr,
    /// Show live progress [default: when stderr is a terminal the log lines don't go to]
    ///
    /// On a terminal, a bar on stderr; elsewhere, a plain line of figures once a second.
    #[arg(long, overrides_with = "no_progress")]
    progress: bool,
    /// Show no live progress.
    #[arg(long, overrides_with = "progress")]
    no_progress: bool,
}

/// `--metrics-addr`: an address, or `off`.
#[derive(Debug, Clone, Copy)]
struct MetricsAddr(Option<SocketAddr>);

fn seconds(v: &str) -> Result<Duration, String> {
    v.parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && (1.0..=3600.0).contains(s))
        .map(Duration::from_secs_f64)
        .ok_or_else(|| "expected a number of seconds from 1 to 3600".to_string())
}

fn metrics_addr(v: &str) -> Result<MetricsAddr, String> {
    if v == "off" {
        return Ok(MetricsAddr(None));
    }
    v.parse()
        .map(|a| MetricsAddr(Some(a)))
        .map_err(|_| "expected HOST:PORT (such as 127.0.0.1:9000) or off".to_string())
}

/// Everything the demo can be told.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Total run time; the phases split it (default 15 s).
    pub duration: Duration,
    /// The writer's overflow policy (default drop-newest, as `lossy(true)`).
    pub overflow: Overflow,
    /// Where lines go.
    pub sink: SinkKind,
    /// The log file (default `logs/demo.log`).
    pub log_file: PathBuf,
    /// Where `/metrics` is served, `None` for not at all (default `127.0.0.1:9000`).
    pub metrics_addr: Option<SocketAddr>,
    /// Whether to show live progress (default: when stderr is a terminal that the log
    /// lines do not also go to).
    pub progress: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            duration: Duration::from_secs(15),
            overflow: Overflow::DropNewest,
            sink: SinkKind::File,
            log_file: PathBuf::from("logs/demo.log"),
            metrics_addr: Some(SocketAddr::from(([127, 0, 0, 1], 9000))),
            progress: progress_by_default(SinkKind::File),
        }
    }
}

/// A bar on stderr is only worth drawing on a terminal, and only if the log lines do not
/// land on the same terminal underneath it.
fn progress_by_default(sink: SinkKind) -> bool {
    std::io::stderr().is_terminal()
        && !(sink == SinkKind::Stdout && std::io::stdout().is_terminal())
}

impl Config {
    /// Parses the arguments after the program name. The error is `clap`'s: render it with
    /// [`clap::Error::render`]; [`clap::Error::exit_code`] is 0 for `--help`.
    pub fn from_args<I, S>(args: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString> + Clone,
    {
        let args = Args::try_parse_from(
            std::iter::once(OsString::from("demo")).chain(args.into_iter().map(Into::into)),
        )?;
        let progress = if args.progress || args.no_progress {
            args.progress
        } else {
            progress_by_default(args.sink)
        };
        Ok(Config {
            duration: args.seconds,
            overflow: match args.overflow {
                OverflowArg::DropNewest => Overflow::DropNewest,
                OverflowArg::DropOldest => Overflow::DropOldest,
                OverflowArg::Block => Overflow::Block {
                    timeout: Some(Duration::from_millis(50)),
                },
            },
            sink: args.sink,
            log_file: args.log_file,
            metrics_addr: args.metrics_addr.0,
            progress,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::error::ErrorKind;
    use clap::CommandFactory;

    #[test]
    fn no_flags_give_the_embedded_defaults() {
        assert_eq!(Config::from_args::<_, &str>([]).unwrap(), Config::default());
    }

    #[test]
    fn the_command_is_well_formed() {
        Args::command().debug_assert();
    }

    #[test]
    fn flags_and_their_values() {
        let cfg = Config::from_args([
            "--seconds",
            "3",
            "--overflow=drop-oldest",
            "--sink",
            "slow",
            "--no-progress",
        ])
        .unwrap();
        assert_eq!(cfg.duration, Duration::from_secs(3));
        assert_eq!(cfg.overflow, Overflow::DropOldest);
        assert_eq!(cfg.sink, SinkKind::Slow);
        assert!(!cfg.progress);
        let cfg =
            Config::from_args(["--metrics-addr", "off", "--no-progress", "--progress"]).unwrap();
        assert_eq!(cfg.metrics_addr, None);
        assert!(
            cfg.progress,
            "the last of --progress and --no-progress wins"
        );
        let cfg = Config::from_args(["--overflow", "block", "--seconds", "2.5"]).unwrap();
        assert_eq!(
            cfg.overflow,
            Overflow::Block {
                timeout: Some(Duration::from_millis(50))
            }
        );
        assert_eq!(cfg.duration, Duration::from_millis(2_500));
    }

    #[test]
    fn help_is_not_an_error() {
        for flag in ["--help", "-h"] {
            let e = Config::from_args([flag]).unwrap_err();
            assert_eq!((e.kind(), e.exit_code()), (ErrorKind::DisplayHelp, 0));
        }
    }

    #[test]
    fn bad_values_name_the_flag_and_the_value() {
        for (args, needles) in [
            (vec!["--seconds", "0"], ["--seconds <N>", "'0'"]),
            (vec!["--seconds"], ["--seconds <N>", "a value is required"]),
            (
                vec!["--overflow", "sometimes"],
                ["--overflow", "'sometimes'"],
            ),
            (vec!["--sink", "tape"], ["--sink", "'tape'"]),
            (vec!["--metrics-addr", "nine"], ["--metrics-addr", "'nine'"]),
            (
                vec!["--frobnicate"],
                ["unexpected argument", "'--frobnicate'"],
            ),
        ] {
            let e = Config::from_args(args).unwrap_err();
            assert_eq!(e.exit_code(), 2);
            let text = e.render().to_string();
            for needle in needles {
                assert!(text.contains(needle), "{text:?} lacks {needle:?}");
            }
        }
    }
}
