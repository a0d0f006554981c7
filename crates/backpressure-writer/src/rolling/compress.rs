//! Gzip of one closed file, safe against a crash or an error at any step: the copy is
//! written under a name the sink does not own (`.gz.part`), synced, renamed into place,
//! and only then is the original removed.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use flate2::write::GzEncoder;
use flate2::Compression;

use super::io_hook::IoHook;

fn with_ext(path: &Path, ext: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(ext);
    PathBuf::from(s)
}

/// Replaces `path` by `path.gz`. Returns the original's size. On error the original is
/// left in place and the partial copy removed.
pub(crate) fn gzip(path: &Path, hook: &dyn IoHook) -> io::Result<u64> {
    let part = with_ext(path, ".gz.part");
    let result = copy(path, &part, hook);
    if result.is_err() {
        let _ = fs::remove_file(&part);
        return result;
    }
    let gz = with_ext(path, ".gz");
    if let Err(e) = fs::rename(&part, &gz) {
        let _ = fs::remove_file(&part);
        return Err(e);
    }
    // The rename must be on disk before the original goes, or a crash could leave
    // neither name pointing at the data.
    if let Some(dir) = path.parent() {
        File::open(dir)?.sync_all()?;
    }
    fs::remove_file(path)?;
    result
}

fn copy(path: &Path, part: &Path, hook: &dyn IoHook) -> io::Result<u64> {
    let mut src = File::open(path)?;
    hook.open(part)?;
    let dst = File::create(part)?;
    let mut enc = GzEncoder::new(
        BufWriter::with_capacity(64 * 1024, dst),
        Compression::default(),
    );
    let n = io::copy(&mut src, &mut enc)?;
    let mut out = enc.finish()?;
    out.flush()?;
    let file = out.into_inner().map_err(io::IntoInnerError::into_error)?;
    file.sync_all()?;
    Ok(n)
}
