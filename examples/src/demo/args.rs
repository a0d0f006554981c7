//! The demo's command line: a handful of flags, parsed by hand so the example needs no
//! argument-parsing dependency, with errors that name the flag and the bad value.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use backpressure_writer::Overflow;

/// Where the demo's log lines go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SinkKind {
    /// `./logs/demo.log` (or `--log-file`), read back at the end to check every WARN/ERROR.
    File,
    /// Standard output (nothing to read back: the WARN/ERROR check is skipped).
    Stdout,
    /// The log file behind a sink that is slow for the whole run, not just the burst.
    Slow,
}

/// Everything the demo can be told.
#[derive(Debug, Clone)]
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
    /// Whether to draw the one-line progress display (default: when stderr is a terminal).
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
            progress: std::io::IsTerminal::is_terminal(&std::io::stderr()),
        }
    }
}

/// A flag the demo does not understand, or a value it cannot use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgError(String);

impl fmt::Display for ArgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}\n\n{}", self.0, USAGE)
    }
}

impl std::error::Error for ArgError {}

/// The help text.
pub const USAGE: &str = "\
usage: demo [--seconds N] [--overflow drop-newest|drop-oldest|block]
            [--sink file|stdout|slow] [--log-file PATH]
            [--metrics-addr HOST:PORT|off] [--progress|--no-progress]

Rates come from RUST_LOG_SAMPLE (default: the directives printed at start-up),
levels from RUST_LOG (default: debug).";

impl Config {
    /// Parses the arguments after the program name.
    pub fn parse<I, S>(args: I) -> Result<Self, ArgError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut cfg = Config::default();
        let mut args = args.into_iter().map(Into::into);
        while let Some(flag) = args.next() {
            let (name, inline) = match flag.split_once('=') {
                Some((n, v)) => (n.to_string(), Some(v.to_string())),
                None => (flag.clone(), None),
            };
            let mut value = |what: &str| -> Result<String, ArgError> {
                inline
                    .clone()
                    .or_else(|| args.next())
                    .ok_or_else(|| ArgError(format!("{name} needs a value ({what})")))
            };
            match name.as_str() {
                "--seconds" => {
                    let v = value("a number of seconds")?;
                    let secs: f64 = v
                        .parse()
                        .ok()
                        .filter(|s: &f64| s.is_finite() && *s >= 1.0 && *s <= 3600.0)
                        .ok_or_else(|| {
                            ArgError(format!("--seconds {v:?}: expected a number from 1 to 3600"))
                        })?;
                    cfg.duration = Duration::from_secs_f64(secs);
                }
                "--overflow" => {
                    let v = value("drop-newest, drop-oldest or block")?;
                    cfg.overflow = match v.as_str() {
                        "drop-newest" => Overflow::DropNewest,
                        "drop-oldest" => Overflow::DropOldest,
                        "block" => Overflow::Block {
                            timeout: Some(Duration::from_millis(50)),
                        },
                        _ => {
                            return Err(ArgError(format!(
                                "--overflow {v:?}: expected drop-newest, drop-oldest or block"
                            )))
                        }
                    };
                }
                "--sink" => {
                    let v = value("file, stdout or slow")?;
                    cfg.sink = match v.as_str() {
                        "file" => SinkKind::File,
                        "stdout" => SinkKind::Stdout,
                        "slow" => SinkKind::Slow,
                        _ => {
                            return Err(ArgError(format!(
                                "--sink {v:?}: expected file, stdout or slow"
                            )))
                        }
                    };
                }
                "--log-file" => cfg.log_file = PathBuf::from(value("a path")?),
                "--metrics-addr" => {
                    let v = value("HOST:PORT or off")?;
                    cfg.metrics_addr = if v == "off" {
                        None
                    } else {
                        Some(v.parse().map_err(|_| {
                            ArgError(format!(
                                "--metrics-addr {v:?}: expected HOST:PORT (127.0.0.1:9000) or off"
                            ))
                        })?)
                    };
                }
                "--progress" => cfg.progress = true,
                "--no-progress" => cfg.progress = false,
                "-h" | "--help" => return Err(ArgError("help requested".into())),
                other => return Err(ArgError(format!("unknown argument {other:?}"))),
            }
        }
        Ok(cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_flags() {
        let cfg =
            Config::parse(["--seconds", "3", "--overflow=drop-oldest", "--sink", "slow"]).unwrap();
        assert_eq!(cfg.duration, Duration::from_secs(3));
        assert!(matches!(cfg.overflow, Overflow::DropOldest));
        assert_eq!(cfg.sink, SinkKind::Slow);
        let cfg = Config::parse(["--metrics-addr", "off"]).unwrap();
        assert_eq!(cfg.metrics_addr, None);
    }

    #[test]
    fn bad_values_name_the_flag() {
        for (args, needle) in [
            (vec!["--seconds", "0"], "--seconds \"0\""),
            (vec!["--seconds"], "--seconds needs a value"),
            (vec!["--overflow", "sometimes"], "--overflow \"sometimes\""),
            (vec!["--sink", "tape"], "--sink \"tape\""),
            (vec!["--metrics-addr", "nine"], "--metrics-addr \"nine\""),
            (vec!["--frobnicate"], "unknown argument \"--frobnicate\""),
        ] {
            let err = Config::parse(args).unwrap_err().to_string();
            assert!(err.contains(needle), "{err:?} lacks {needle:?}");
        }
    }
}
