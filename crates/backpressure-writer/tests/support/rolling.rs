//! Reading back what a rolling sink left in its directory, and an injectable fault.
#![allow(dead_code)]

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use backpressure_writer::rolling::IoHook;
use flate2::read::GzDecoder;

/// 2026-12-06 16:15:42 UTC.
pub(crate) fn start_time() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_796_573_742)
}

/// The text of a file, decompressed if its name ends in `.gz` (or `.zst`, with the
/// crate's `zstd` feature).
pub(crate) fn read_text(path: &Path) -> String {
    let raw = fs::read(path).unwrap();
    if path.extension().is_some_and(|e| e == "gz") {
        let mut s = String::new();
        GzDecoder::new(&raw[..]).read_to_string(&mut s).unwrap();
        s
    } else if path.extension().is_some_and(|e| e == "zst") {
        unzstd(&raw)
    } else {
        String::from_utf8(raw).unwrap()
    }
}

/// Every frame of a zstd file, one after another (the sink writes a frame per block).
#[cfg(feature = "zstd")]
fn unzstd(raw: &[u8]) -> String {
    let mut out = vec![0; 64 << 20];
    let n = ruzstd::decoding::FrameDecoder::new()
        .decode_all(raw, &mut out)
        .unwrap();
    out.truncate(n);
    String::from_utf8(out).unwrap()
}

#[cfg(not(feature = "zstd"))]
fn unzstd(_: &[u8]) -> String {
    panic!("a .zst file, read without the `zstd` feature")
}

/// Every regular file of `dir` by name, sorted.
pub(crate) fn files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| fs::symlink_metadata(p).unwrap().file_type().is_file())
        .collect();
    v.sort();
    v
}

pub(crate) fn names(dir: &Path) -> Vec<String> {
    files(dir)
        .iter()
        .map(|p| p.file_name().unwrap().to_str().unwrap().to_owned())
        .collect()
}

/// Every line of every file in `dir` (each file must end with a whole line).
pub(crate) fn all_lines(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for f in files(dir) {
        let text = read_text(&f);
        assert!(
            text.is_empty() || text.ends_with('\n'),
            "{f:?} ends mid-line"
        );
        out.extend(text.lines().map(str::to_owned));
    }
    out
}

/// What the hook breaks now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    None,
    /// Writes fail with ENOSPC after letting `n` bytes through once (a short write).
    Full {
        short: usize,
    },
    /// Opens of paths whose name contains the text fail.
    NoCreate(&'static str),
}

#[derive(Debug)]
pub(crate) struct Faults {
    fault: Mutex<Fault>,
    /// Bytes of the short write still to let through.
    short_left: AtomicUsize,
}

impl Faults {
    pub(crate) fn new() -> Self {
        Faults {
            fault: Mutex::new(Fault::None),
            short_left: AtomicUsize::new(0),
        }
    }

    pub(crate) fn set(&self, f: Fault) {
        if let Fault::Full { short } = f {
            self.short_left.store(short, Ordering::SeqCst);
        }
        *self.fault.lock().unwrap() = f;
    }
}

fn enospc() -> io::Error {
    io::Error::from_raw_os_error(28)
}

impl IoHook for Faults {
    fn open(&self, path: &Path) -> io::Result<()> {
        match *self.fault.lock().unwrap() {
            Fault::NoCreate(text) if path.to_str().unwrap().contains(text) => Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "injected: cannot create",
            )),
            _ => Ok(()),
        }
    }

    fn write(&self, _path: &Path, len: usize) -> io::Result<usize> {
        match *self.fault.lock().unwrap() {
            Fault::Full { .. } => match self.short_left.swap(0, Ordering::SeqCst) {
                0 => Err(enospc()),
                n => Ok(n.min(len)),
            },
            _ => Ok(len),
        }
    }
}
