//! Split-and-send, in-process: the classic way to feed a file stream. A file is split into
//! chunks of N lines written to a staging directory beside the watched one; each `send` moves
//! the next chunk into the watched directory by an atomic rename, with its modification time
//! set to the moment of the move (a file stream only takes files modified after it started).
//! `data/split_and_send.sh` does the same from the shell.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::{Error, Result};

/// Chunks waiting in a staging directory, sent one at a time into a watched directory.
pub struct SplitAndSend {
    staged: std::vec::IntoIter<PathBuf>,
    target: PathBuf,
    lines: u64,
}

impl SplitAndSend {
    /// Splits `lines` (raw bytes, one entry per line) into chunks of `chunk_lines` lines in
    /// `staging` (created), to be sent into `target` (created). `staging` and `target` must be
    /// on the same file system for the rename to be atomic.
    pub fn new(
        lines: &[Vec<u8>],
        chunk_lines: usize,
        staging: &Path,
        target: &Path,
    ) -> Result<Self> {
        std::fs::create_dir_all(staging).map_err(|e| Error::io(staging, e))?;
        std::fs::create_dir_all(target).map_err(|e| Error::io(target, e))?;
        let mut staged = Vec::new();
        for (i, chunk) in lines.chunks(chunk_lines.max(1)).enumerate() {
            let path = staging.join(format!("orders-{i:05}.txt"));
            let mut bytes = Vec::new();
            for l in chunk {
                bytes.extend_from_slice(l);
                bytes.push(b'\n');
            }
            std::fs::write(&path, bytes).map_err(|e| Error::io(&path, e))?;
            staged.push(path);
        }
        Ok(SplitAndSend {
            staged: staged.into_iter(),
            target: target.to_path_buf(),
            lines: lines.len() as u64,
        })
    }

    /// Reads `file` and splits it as [`new`](Self::new) does.
    pub fn from_file(
        file: &Path,
        chunk_lines: usize,
        staging: &Path,
        target: &Path,
    ) -> Result<Self> {
        let bytes = std::fs::read(file).map_err(|e| Error::io(file, e))?;
        let mut lines: Vec<Vec<u8>> = bytes.split(|b| *b == b'\n').map(<[u8]>::to_vec).collect();
        // A final newline ends the last line; it does not start an empty one.
        if lines.last().is_some_and(|l| l.is_empty()) {
            lines.pop();
        }
        Self::new(&lines, chunk_lines, staging, target)
    }

    /// How many lines all chunks hold.
    pub fn total_lines(&self) -> u64 {
        self.lines
    }

    /// Chunks not sent yet.
    pub fn remaining(&self) -> usize {
        self.staged.len()
    }

    /// Moves the next chunk into the target directory; `None` when all are sent.
    pub fn send_next(&mut self) -> Result<Option<PathBuf>> {
        let Some(from) = self.staged.next() else {
            return Ok(None);
        };
        let name = from
            .file_name()
            .expect("staged files have names")
            .to_owned();
        let to = self.target.join(name);
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(&from)
            .map_err(|e| Error::io(&from, e))?;
        f.set_modified(SystemTime::now())
            .map_err(|e| Error::io(&from, e))?;
        drop(f);
        std::fs::rename(&from, &to).map_err(|e| Error::io(&to, e))?;
        Ok(Some(to))
    }

    /// Sends every chunk, one every `every`, on a thread of its own; the thread returns how
    /// many chunks it sent.
    pub fn spawn(mut self, every: Duration) -> std::thread::JoinHandle<Result<usize>> {
        std::thread::spawn(move || {
            let mut sent = 0;
            while self.send_next()?.is_some() {
                sent += 1;
                if self.remaining() > 0 {
                    std::thread::sleep(every);
                }
            }
            Ok(sent)
        })
    }
}
