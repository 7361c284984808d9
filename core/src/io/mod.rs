//! File I/O shared by the engine: atomic writes, and text input and output (`text.rs`).

pub(crate) mod text;

use std::io::Write;
use std::path::Path;

use crate::{Error, Result};

/// Writes `bytes` to `path` atomically: a hidden temporary file in the same directory,
/// fsynced, then renamed over `path`. Readers see the old file or the new one, never a part.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    write_replacing(path, bytes, true)
}

/// [`write_atomically`] when `durable`; otherwise the same without waiting for the disk (no
/// fsync of the file or the directory): a process that dies after it returns leaves the new
/// file whole (the page cache outlives the process), but a machine that loses power may leave
/// the old file, no file or a torn one, until [`make_durable`]. For records whose loss costs
/// only work done again and whose readers check a checksum.
pub fn write_replacing(path: &Path, bytes: &[u8], durable: bool) -> Result<()> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| Error::InvalidArgument(format!("{} has no file name", path.display())))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{:x}",
        name.to_string_lossy(),
        crate::storage::unique_token()
    ));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
        f.write_all(bytes).map_err(|e| Error::io(&tmp, e))?;
        if durable {
            f.sync_all().map_err(|e| Error::io(&tmp, e))?;
        }
        std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))?;
        if durable {
            sync_dir(dir);
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Makes a file written by [`write_replacing`] without waiting for the disk durable: the
/// file, then its name (the directory, as [`write_atomically`] does). A file no longer there
/// (replaced or removed since) needs nothing.
pub fn make_durable(path: &Path) -> Result<()> {
    match std::fs::File::open(path) {
        Ok(f) => f.sync_all().map_err(|e| Error::io(path, e))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(path, e)),
    }
    sync_dir(path.parent().unwrap_or_else(|| Path::new(".")));
    Ok(())
}

/// Makes a rename durable; best effort (not every filesystem lets a directory be fsynced).
pub(crate) fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}
