//! Runs this package's examples as their users do: built by cargo (in this test's profile
//! and target directory; up to date already after `cargo test`, which builds them),
//! started as processes with their output piped, and killed if they outlive a deadline.

#![allow(dead_code)] // each test binary uses its own part

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How long an example may run before the test kills it and fails: a guard against a
/// hang, far above what any of them needs.
pub(crate) const DEADLINE: Duration = Duration::from_secs(120);

/// A command for the example `name`, with its output piped, no input, no `RUST_LOG` or
/// `RUST_LOG_SAMPLE` from the caller's environment, and `NO_COLOR=1`.
pub(crate) fn example(name: &str) -> Command {
    // One cargo at a time: they would queue on cargo's lock anyway.
    static BUILD: Mutex<()> = Mutex::new(());
    let _one_at_a_time = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    let exe = std::env::current_exe().expect("the test's own path");
    // <target dir>/<profile dir>/deps/<this test>
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("the test runs from <target>/<profile>/deps");
    let target_dir = profile_dir.parent().expect("a target directory");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| env!("CARGO").into());
    let mut build = Command::new(cargo);
    build
        .args([
            "build",
            "--quiet",
            "--package",
            "examples",
            "--example",
            name,
        ])
        .arg("--target-dir")
        .arg(target_dir);
    match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") => {}
        Some("release") => {
            build.arg("--release");
        }
        Some(profile) => {
            build.args(["--profile", profile]);
        }
        None => panic!("no profile directory in {}", exe.display()),
    }
    let status = build.status().expect("cargo starts");
    assert!(status.success(), "cargo build --example {name}: {status}");

    let mut cmd = Command::new(profile_dir.join("examples").join(name));
    cmd.env_remove("RUST_LOG")
        .env_remove("RUST_LOG_SAMPLE")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// What a finished example printed, and how it exited.
#[derive(Debug)]
pub(crate) struct Run {
    pub(crate) status: ExitStatus,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

/// Runs `cmd` to the end.
pub(crate) fn run(mut cmd: Command) -> Run {
    finish(cmd.spawn().expect("the example starts"))
}

/// Waits for `child` to exit (killing it past the deadline), collecting what it prints.
pub(crate) fn finish(mut child: Child) -> Run {
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("the example can be waited for") {
            break status;
        }
        if started.elapsed() > DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the example was still running after {DEADLINE:?}");
        }
        thread::sleep(Duration::from_millis(10));
    };
    Run {
        status,
        stdout: stdout.join().expect("stdout reader"),
        stderr: stderr.join().expect("stderr reader"),
    }
}

/// Reads the first line `child` prints, waiting at most until the deadline (killing it
/// then); the rest of its output is left for [`finish`].
pub(crate) fn first_line(child: &mut Child) -> String {
    let out = child.stdout.take().expect("stdout piped");
    let (tx, rx) = mpsc::channel::<(String, ChildStdout)>();
    thread::spawn(move || {
        let mut reader = BufReader::new(out);
        let mut line = String::new();
        let _ = reader.read_line(&mut line);
        // The reader's buffer holds nothing past the line: the child prints one line and
        // waits, so handing the pipe back loses nothing.
        let _ = tx.send((line, reader.into_inner()));
    });
    match rx.recv_timeout(DEADLINE) {
        Ok((line, out)) => {
            child.stdout = Some(out);
            line
        }
        Err(_) => {
            let _ = child.kill();
            panic!("the example printed nothing within {DEADLINE:?}");
        }
    }
}

fn drain(pipe: Option<impl Read + Send + 'static>) -> JoinHandle<String> {
    thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut pipe) = pipe {
            pipe.read_to_string(&mut text).expect("UTF-8 output");
        }
        text
    })
}
