//! The service as a child process: started, read, stopped; and its log file, parsed.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::mpsc;

use serde_json::Value;

/// The log directory the child process writes to.
pub(crate) const CHILD_DIR: &str = "SERVICE_TEST_LOG_DIR";
/// More flags for the child process, separated by spaces.
pub(crate) const CHILD_ARGS: &str = "SERVICE_TEST_ARGS";

/// The service in a child process, its stdout read throughout (a full pipe would stall
/// its stdout writer).
pub(crate) struct Service {
    child: KillOnDrop,
    lines: mpsc::Receiver<String>,
    reader: std::thread::JoinHandle<()>,
    pub(crate) app: SocketAddr,
    pub(crate) admin: SocketAddr,
}

impl Service {
    pub(crate) fn start(dir: &std::path::Path, rust_log_sample: &str) -> Service {
        Service::start_with(dir, rust_log_sample, &[])
    }

    /// With more flags (`--otel`).
    pub(crate) fn start_with(
        dir: &std::path::Path,
        rust_log_sample: &str,
        args: &[&str],
    ) -> Service {
        let child = Command::new(std::env::current_exe().unwrap())
            .args(["service_child_process", "--exact", "--ignored"])
            .args(["--nocapture", "--test-threads=1"])
            .env(CHILD_DIR, dir)
            .env(CHILD_ARGS, args.join(" "))
            .env("RUST_LOG", "info")
            .env("RUST_LOG_SAMPLE", rust_log_sample)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut child = KillOnDrop(child);
        let (lines_tx, lines) = mpsc::channel();
        let stdout = child.0.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let _ = lines_tx.send(line.unwrap());
            }
        });
        let listening = find_after(lines.iter(), "service listening ")
            .expect("the service says where it listens");
        let addr = |name: &str| word(&listening, name).parse().unwrap();
        let (app, admin) = (addr("app"), addr("admin"));
        Service {
            child,
            lines,
            reader,
            app,
            admin,
        }
    }

    /// Sends `signal` and returns the exit status and the final report line.
    pub(crate) fn stop(mut self, signal: &str) -> (std::process::ExitStatus, String) {
        let pid = self.child.0.id().to_string();
        let kill = Command::new("kill").args([signal, &pid]).status().unwrap();
        assert!(kill.success());
        let status = self.child.0.wait().unwrap();
        self.reader.join().unwrap();
        let stopped = find_after(self.lines.try_iter(), "service stopped ")
            .expect("the service reports its final figures");
        (status, stopped)
    }
}

/// The rest of the first line containing `marker`. (libtest prints
/// `test service_child_process ... ` before the service's first line, on the same line.)
pub(crate) fn find_after(mut lines: impl Iterator<Item = String>, marker: &str) -> Option<String> {
    lines.find_map(|l| l.split_once(marker).map(|(_, rest)| rest.to_owned()))
}

/// The value of `name=value` among the words of `line`.
pub(crate) fn word<'a>(line: &'a str, name: &str) -> &'a str {
    let prefix = format!("{name}=");
    line.split(' ')
        .find_map(|w| w.strip_prefix(&prefix[..]))
        .unwrap_or_else(|| panic!("no {name}= in {line:?}"))
}

/// A failed assertion must not leave the service running.
pub(crate) struct KillOnDrop(pub(crate) std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

pub(crate) fn level_of(line: &Value) -> &str {
    line["level"].as_str().unwrap_or_default()
}

pub(crate) fn message(line: &Value) -> Option<&str> {
    line["fields"]["message"].as_str()
}

/// Every line of every file in the log directory, each parsed (or the test fails).
pub(crate) fn read_file(dir: &std::path::Path) -> Vec<Value> {
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
    assert!(!paths.is_empty());
    let mut lines = Vec::new();
    for path in paths {
        for (i, line) in std::fs::read_to_string(&path).unwrap().lines().enumerate() {
            let parsed = serde_json::from_str(line);
            lines.push(
                parsed.unwrap_or_else(|e| panic!("{}:{}: {e}: {line}", path.display(), i + 1)),
            );
        }
    }
    lines
}

/// The writer's own drop report is not a submitted line; everything else is.
pub(crate) fn lines_written(file: &[Value]) -> u64 {
    let own = |l: &&Value| {
        l["target"] == "backpressure_writer" && message(l).is_some_and(|m| m.starts_with("dropped"))
    };
    file.iter().filter(|l| !own(l)).count() as u64
}
