//! The last lines before a crash: the panic hook flushes every live writer
//! before the previous hook runs, `flush_all` reaches writers without their guards, and a
//! writer used after its guard was dropped says so once on stderr.
//!
//! The crash scenarios run in a child process: this test binary re-executes itself with
//! an environment variable that selects the scenario, and the parent judges the child's
//! exit, its stderr and the file it left behind.
//!
//! # How the child gets `panic = "abort"` semantics
//!
//! Test binaries are built with `panic = "unwind"` (cargo ignores the profile's `panic`
//! for tests), and building a separate `panic = "abort"` program compiles its dependencies
//! inside the test: that one runs on demand, `--ignored`
//! (`a_real_panic_abort_build_leaves_the_panic_line_and_every_line_before_it`, the same
//! scenario and the same checks from `tests/crash_child/program.rs`). The default child gets
//! the same sequence of events from this test binary instead: with
//! `panic = "abort"` the runtime calls the panic hook and then `abort()`s, with no
//! unwinding and no destructor. The child's first hook does exactly that last step (std's
//! default hook, then `abort()`), and `PanicFlush::install` chains in front of it. So the
//! panic runs our hook, then the default hook, then the process dies of SIGABRT; nothing
//! after the hook runs. The parent checks each part of the claim:
//!
//! - **no destructor ran**: the guard lives in a "service" object whose other field prints
//!   a marker when dropped; the marker is absent, and the child died of SIGABRT;
//! - **the lines were written by the hook**: the sink holds every write until the panic
//!   begins (the child checks `lines_written == 0` right before it panics), so whatever
//!   the file holds was written between the panic and the abort;
//! - **before the previous hook**: the previous hook counts the file's lines and prints
//!   the count: all of them are already there;
//! - **the panic's own line**: the file ends with the ERROR event the hook logged for the
//!   panic, after every line logged before it.

mod support;

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use backpressure_writer::non_blocking;
use backpressure_writer::panic_flush::{flush_all, FlushAllReport, PanicFlush};
use support::{assert_accounting, line, wait_until, Gate};

/// Selects the child's scenario; its value is the output file (or unused).
const CHILD: &str = "BACKPRESSURE_WRITER_TEST_CHILD";
const LINES: usize = 1000;

/// Runs this test binary's test `name` as a child with `CHILD=arg`.
fn run_child(name: &str, arg: &str) -> Output {
    Command::new(std::env::current_exe().unwrap())
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, arg)
        .output()
        .expect("the test binary runs again")
}

fn child_arg() -> Option<String> {
    std::env::var(CHILD).ok()
}

/// A file sink that holds every write until the panic begins.
struct HeldFile(fs::File);

static PANIC_BEGUN: AtomicBool = AtomicBool::new(false);

impl Write for HeldFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        while !PANIC_BEGUN.load(Ordering::Acquire) {
            std::thread::sleep(Duration::from_millis(1));
        }
        self.0.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

/// Prints a marker when dropped: proof that destructors ran.
struct DropMarker;

impl Drop for DropMarker {
    fn drop(&mut self) {
        eprintln!("CHILD: a destructor ran");
    }
}

/// A guard kept inside some service object, out of the panic hook's reach.
struct Service {
    _guard: backpressure_writer::WorkerGuard,
    _marker: DropMarker,
}

fn panicking_child(path: &Path) -> ! {
    // What the runtime does with `panic = "abort"` once the hooks returned.
    let default_hook = std::panic::take_hook();
    let file = path.to_owned();
    std::panic::set_hook(Box::new(move |info| {
        let lines = fs::read_to_string(&file)
            .unwrap_or_default()
            .lines()
            .count();
        eprintln!("CHILD: the previous hook sees {lines} lines in the file");
        default_hook(info);
        std::process::abort();
    }));
    PanicFlush::new(Duration::from_secs(30)).install().unwrap();

    let (writer, guard) = non_blocking(HeldFile(fs::File::create(path).unwrap()));
    // Bound (not `_`), so it lives until the end of this function: only unwinding or a
    // return would drop it, and neither happens.
    let _service = Service {
        _guard: guard,
        _marker: DropMarker,
    };
    let subscriber = tracing_subscriber::fmt()
        .with_writer(writer.clone())
        .with_ansi(false)
        .finish();
    tracing::subscriber::set_global_default(subscriber).unwrap();
    for i in 0..LINES {
        tracing::info!("line {i}");
    }
    assert_eq!(writer.stats().lines_written, 0);
    eprintln!("CHILD: nothing written before the panic");
    PANIC_BEGUN.store(true, Ordering::Release);
    panic!("the service fell over");
}

#[test]
fn a_panic_leaves_its_error_line_and_every_line_before_it_although_no_destructor_runs() {
    const NAME: &str =
        "a_panic_leaves_its_error_line_and_every_line_before_it_although_no_destructor_runs";
    if let Some(path) = child_arg() {
        panicking_child(Path::new(&path));
    }
    let dir = tempfile::tempdir().unwrap();
    let path: PathBuf = dir.path().join("app.log");
    let out = run_child(NAME, path.to_str().unwrap());
    assert_crashed_leaving_every_line(&out, &path, NAME);
}

/// What a child that logged `LINES` lines and panicked must leave: killed by SIGABRT, no
/// destructor run, the previous hook run after the flush, and the file holding every line
/// and then the panic's ERROR line.
fn assert_crashed_leaving_every_line(out: &Output, path: &Path, thread: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(out.status.signal(), Some(6), "died of SIGABRT: {stderr}");
    }
    assert!(!out.status.success());
    assert!(
        stderr.contains("CHILD: nothing written before the panic"),
        "{stderr}"
    );
    assert!(!stderr.contains("a destructor ran"), "{stderr}");
    // The previous hook ran, after the flush.
    assert!(
        stderr.contains(&format!(
            "CHILD: the previous hook sees {} lines in the file",
            LINES + 1
        )),
        "{stderr}"
    );

    let text = fs::read_to_string(path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), LINES + 1, "{text}");
    for (i, l) in lines[..LINES].iter().enumerate() {
        assert!(
            l.contains(" INFO ") && l.ends_with(&format!("line {i}")),
            "{l}"
        );
    }
    let last = lines[LINES];
    assert!(
        last.contains(" ERROR panic: panicked: the service fell over"),
        "{last}"
    );
    // libtest runs a test on a thread named after it (or on `main` with one thread).
    assert!(
        last.contains(&format!("thread=\"{thread}\"")) || last.contains("thread=\"main\""),
        "{last}"
    );
    assert!(
        last.contains("location=") && last.contains(".rs:"),
        "{last}"
    );
}

/// The same crash from a program really built with `panic = "abort"`
/// (`tests/crash_child/program.rs`). Ignored by default: it builds that program with cargo
/// in a target directory of its own, which compiles its dependencies once.
#[test]
#[ignore = "builds a panic = \"abort\" program with cargo; run with --ignored"]
fn a_real_panic_abort_build_leaves_the_panic_line_and_every_line_before_it() {
    if child_arg().is_some() {
        return;
    }
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("crash-child");
    fs::create_dir_all(dir.join("src")).unwrap();
    fs::write(
        dir.join("Cargo.toml"),
        format!(
            r#"[package]
name = "crash-child"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
backpressure-writer = {{ path = {writer:?} }}
tracing = {{ version = "0.1.41", default-features = false, features = ["std"] }}
tracing-subscriber = {{ version = "0.3.19", default-features = false, features = ["std", "fmt"] }}

[profile.dev]
panic = "abort"

[workspace]
"#,
            writer = manifest.to_str().unwrap()
        ),
    )
    .unwrap();
    fs::copy(
        manifest.join("tests/crash_child/program.rs"),
        dir.join("src/main.rs"),
    )
    .unwrap();
    // The workspace's versions, already downloaded: the build needs no network.
    if !dir.join("Cargo.lock").exists() {
        fs::copy(manifest.join("../../Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let built = Command::new(cargo)
        .args(["build", "--offline", "--quiet", "--manifest-path"])
        .arg(dir.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(dir.join("target"))
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .status()
        .unwrap();
    assert!(built.success(), "the panic = \"abort\" program builds");

    let out_dir = tempfile::tempdir().unwrap();
    let path = out_dir.path().join("app.log");
    let out = Command::new(dir.join("target/debug/crash-child"))
        .arg(&path)
        .output()
        .unwrap();
    assert_crashed_leaving_every_line(&out, &path, "main");
}

/// With `log_panic(false)`, a hook of the user's own installed after ours logs the panic:
/// it runs first, and its line is flushed with the rest (and only its line).
#[test]
fn a_user_hook_installed_after_it_logs_the_panic_and_is_flushed_too() {
    const NAME: &str = "a_user_hook_installed_after_it_logs_the_panic_and_is_flushed_too";
    if let Some(path) = child_arg() {
        let default_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            default_hook(info);
            std::process::abort();
        }));
        PanicFlush::new(Duration::from_secs(30))
            .log_panic(false)
            .install()
            .unwrap();
        let ours = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let message = info.payload().downcast_ref::<&str>().copied();
            tracing::error!(target: "app", "crashed: {}", message.unwrap_or("?"));
            ours(info);
        }));
        let (writer, _guard) = non_blocking(HeldFile(fs::File::create(&path).unwrap()));
        let subscriber = tracing_subscriber::fmt()
            .with_writer(writer)
            .with_ansi(false)
            .finish();
        tracing::subscriber::set_global_default(subscriber).unwrap();
        for i in 0..10 {
            tracing::info!("line {i}");
        }
        PANIC_BEGUN.store(true, Ordering::Release);
        panic!("the service fell over");
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.log");
    let out = run_child(NAME, path.to_str().unwrap());
    assert!(!out.status.success());
    let text = fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 11, "{text}");
    assert!(lines[9].ends_with("line 9"), "{text}");
    assert!(
        lines[10].contains(" ERROR app: crashed: ") && lines[10].contains("the service fell over"),
        "{text}"
    );
}

#[test]
fn a_writer_used_after_its_guard_was_dropped_says_so_once() {
    const NAME: &str = "a_writer_used_after_its_guard_was_dropped_says_so_once";
    if child_arg().is_some() {
        // A guard returned from a helper and discarded: dropped at the end of the `let`.
        let (mut writer, _) = non_blocking(io::sink());
        for _ in 0..3 {
            writer.write_all(b"lost\n").unwrap();
        }
        let s = writer.stats();
        assert_accounting(&s);
        println!(
            "CHILD: worker_gone={} submitted={}",
            s.dropped.worker_gone, s.submitted
        );
        return;
    }
    let out = run_child(NAME, "");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("CHILD: worker_gone=3 submitted=3"),
        "{stdout}"
    );
    let notices: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("backpressure-writer: "))
        .collect();
    assert_eq!(notices.len(), 1, "{stderr}");
    assert!(
        notices[0].contains("after this writer's WorkerGuard was dropped")
            && notices[0].contains("`let _ = ...`")
            && notices[0].contains("counted as worker_gone"),
        "{}",
        notices[0]
    );
}

/// A sink that calls `flush_all` from inside its own `write`, on the worker thread, as a
/// panic hook does when the sink panics.
struct FlushingSink(Arc<Mutex<Option<FlushAllReport>>>);

impl Write for FlushingSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut report = self.0.lock().unwrap();
        if report.is_none() {
            // Waiting for ourselves would take the whole hour.
            *report = Some(flush_all(Duration::from_secs(3600)));
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// One test, so that no other test's writers are in this process's list meanwhile (the
/// crash scenarios build theirs in child processes).
#[test]
fn flush_all_reaches_live_writers_only_and_never_waits_for_itself() {
    if child_arg().is_some() {
        return;
    }
    // Two live writers, lines queued: both flushed.
    let (gate_a, sink_a) = Gate::open_sink();
    let (gate_b, sink_b) = Gate::open_sink();
    let builder = backpressure_writer::NonBlockingBuilder::default()
        .flush_interval(Duration::from_secs(3600));
    let (mut a, guard_a) = builder.clone().finish(sink_a);
    let (mut b, guard_b) = builder.clone().finish(sink_b);
    for i in 0..5 {
        a.write_all(line(i).as_bytes()).unwrap();
        b.write_all(line(i).as_bytes()).unwrap();
    }
    // `Duration::MAX`, "as long as it takes", is a bound like any other.
    let report = flush_all(Duration::MAX);
    assert_eq!(
        (report.writers, report.flushed, report.skipped),
        (2, 2, 0),
        "{report:?}"
    );
    assert!(report.all_flushed());
    assert_eq!(gate_a.lines().len(), 5);
    assert_eq!(gate_b.lines().len(), 5);
    assert!(gate_a.flushes() >= 1 && gate_b.flushes() >= 1);

    // A dropped guard takes its writer out of the list.
    drop(guard_b);
    assert_eq!(flush_all(Duration::from_secs(30)).writers, 1);

    // A stuck sink: the deadline bounds the wait and the writer counts as timed out.
    let (gate_c, sink_c) = Gate::closed_on_write();
    let (mut c, guard_c) = builder.clone().finish(sink_c);
    c.write_all(line(0).as_bytes()).unwrap();
    let report = flush_all(Duration::from_millis(20));
    assert_eq!(
        (report.writers, report.flushed, report.timed_out),
        (2, 1, 1),
        "{report:?}"
    );
    gate_c.open();
    drop(guard_c);

    // Called on a writer's own worker thread: that writer is skipped, not waited for.
    let seen = Arc::new(Mutex::new(None));
    let (mut d, guard_d) = builder.finish(FlushingSink(Arc::clone(&seen)));
    d.write_all(b"x\n").unwrap();
    wait_until("the sink's write ran", || seen.lock().unwrap().is_some());
    let report = seen.lock().unwrap().unwrap();
    assert_eq!(
        (report.writers, report.flushed, report.skipped),
        (2, 1, 1),
        "{report:?}"
    );
    drop(guard_d);
    drop(guard_a);
    assert_eq!(flush_all(Duration::from_secs(1)), FlushAllReport::default());

    // The list is bounded: past 256 live writers, later ones are not listed.
    let many: Vec<_> = (0..300).map(|_| non_blocking(io::sink())).collect();
    let report = flush_all(Duration::from_secs(30));
    assert_eq!((report.writers, report.flushed), (256, 256), "{report:?}");
    drop(many);
    assert_eq!(flush_all(Duration::from_secs(1)).writers, 0);
}
