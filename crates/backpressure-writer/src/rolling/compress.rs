//! Compression of one closed file, safe against a crash or an error at any step: the
//! copy is written under a name the sink does not own (`name.gz.part`, `name.zst.part`),
//! synced, renamed into place, and only then is the original removed. The copy goes in
//! blocks, and before each block the compressor gives the cores back to the writer while
//! the writer is busy ([`Pace`]).

use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use flate2::write::GzEncoder;

use super::builder::Compression;
use super::io_hook::IoHook;

/// What a partial copy's name ends with until it is complete: `name.gz.part`.
pub(crate) const PART_SUFFIX: &str = ".part";

/// Bytes of the original read and compressed in one block: a few milliseconds of
/// deflate, so a busy writer waits at most that long for a core.
pub(crate) const BLOCK: usize = 128 * 1024;

/// Told by the copy around each block; `before_block` may sleep.
pub(crate) trait Pace {
    fn before_block(&mut self);
    fn after_block(&mut self);
}

fn with_ext(path: &Path, ext: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(ext);
    PathBuf::from(s)
}

/// Replaces `path` by its compressed copy (`path.gz`, `path.zst`). Returns the
/// original's size and the copy's extension. On error the original is left in place and
/// the partial copy removed.
pub(crate) fn compress(
    path: &Path,
    compression: Compression,
    hook: &dyn IoHook,
    pace: &mut dyn Pace,
) -> io::Result<(u64, &'static str)> {
    let ext = compression
        .extension()
        .ok_or_else(|| io::Error::other("no compression configured"))?;
    let done = with_ext(path, ext);
    let part = with_ext(&done, PART_SUFFIX);
    let result = copy(path, &part, compression, hook, pace);
    if result.is_err() {
        let _ = fs::remove_file(&part);
        return result.map(|n| (n, ext));
    }
    if let Err(e) = fs::rename(&part, &done) {
        let _ = fs::remove_file(&part);
        return Err(e);
    }
    // The rename must be on disk before the original goes, or a crash could leave
    // neither name pointing at the data.
    if let Some(dir) = path.parent() {
        File::open(dir)?.sync_all()?;
    }
    fs::remove_file(path)?;
    result.map(|n| (n, ext))
}

/// The compressed stream being written.
enum Encoder {
    Gzip(GzEncoder<BufWriter<File>>),
    #[cfg(feature = "zstd")]
    Zstd(BufWriter<File>),
}

impl Encoder {
    fn new(compression: Compression, dst: File) -> io::Result<Self> {
        let out = BufWriter::with_capacity(64 * 1024, dst);
        match compression {
            Compression::Gzip => Ok(Encoder::Gzip(GzEncoder::new(
                out,
                flate2::Compression::default(),
            ))),
            #[cfg(feature = "zstd")]
            Compression::Zstd => Ok(Encoder::Zstd(out)),
            Compression::None => Err(io::Error::other("no compression configured")),
        }
    }

    fn block(&mut self, data: &[u8]) -> io::Result<()> {
        match self {
            Encoder::Gzip(enc) => enc.write_all(data),
            #[cfg(feature = "zstd")]
            Encoder::Zstd(out) => out.write_all(&zstd_frame(data)?),
        }
    }

    fn finish(self) -> io::Result<File> {
        let mut out = match self {
            Encoder::Gzip(enc) => enc.finish()?,
            #[cfg(feature = "zstd")]
            Encoder::Zstd(out) => out,
        };
        out.flush()?;
        out.into_inner().map_err(io::IntoInnerError::into_error)
    }
}

/// One zstd frame holding `data` (a file of frames one after another is one zstd
/// stream to every reader). ruzstd's encoder unwraps its own reads and writes, so it is
/// given a slice and a `Vec`, which cannot fail; should it panic all the same, that
/// becomes an error here, counted as a failed compression with the original kept, and
/// the housekeeping thread carries on.
#[cfg(feature = "zstd")]
fn zstd_frame(data: &[u8]) -> io::Result<Vec<u8>> {
    use ruzstd::encoding::{compress_to_vec, CompressionLevel};
    std::panic::catch_unwind(|| compress_to_vec(data, CompressionLevel::Fastest))
        .map_err(|_| io::Error::other("the zstd encoder panicked"))
}

fn copy(
    path: &Path,
    part: &Path,
    compression: Compression,
    hook: &dyn IoHook,
    pace: &mut dyn Pace,
) -> io::Result<u64> {
    let mut src = File::open(path)?;
    hook.open(part)?;
    let mut enc = Encoder::new(compression, File::create(part)?)?;
    let mut block = vec![0; BLOCK];
    let mut n = 0;
    loop {
        pace.before_block();
        let got = read_block(&mut src, &mut block)?;
        if got == 0 {
            break;
        }
        enc.block(&block[..got])?;
        pace.after_block();
        n += got as u64;
    }
    enc.finish()?.sync_all()?;
    Ok(n)
}

/// Fills `buf` as far as the file goes; 0 at its end.
fn read_block(src: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match src.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}
