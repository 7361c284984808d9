//! `text_file_stream` / `file_stream`: each batch reads the files that appeared in a
//! directory since the previous batch, by modification time (Spark's FileInputDStream).
//!
//! A file is taken by the batch at `t` when its modification time is in `[threshold, t]` and
//! no remembered batch took it; `threshold` is the start time for new-files-only streams and
//! otherwise reaches back the remember window (60 s, rounded up to whole batches). Files
//! should appear by atomic rename; names starting with `.` or `_` and temporary suffixes are
//! ignored. Modification times are compared with the context's clock, so tests on a manual
//! clock set them explicitly.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use emberflow_core::{Context, Rdd};
use parking_lot::Mutex;

use crate::error::{Error, Result};
use crate::plumbing::Source;
use crate::time::Time;

/// How far back a file stream looks for files it has not seen (Spark's minimum remember).
const MIN_REMEMBER: Duration = Duration::from_secs(60);

const TEMP_SUFFIXES: [&str; 5] = [".tmp", "._COPYING_", ".crc", ".part", "~"];

/// A predicate on file paths for `file_stream`.
pub(crate) type PathFilter = Arc<dyn Fn(&Path) -> bool + Send + Sync>;

/// Whether a file name is one a file stream never reads.
pub(crate) fn is_ignored_name(name: &str) -> bool {
    name.starts_with('.')
        || name.starts_with('_')
        || TEMP_SUFFIXES.iter().any(|s| name.ends_with(s))
}

pub(crate) struct FileInputState {
    pub(crate) ctx: Context,
    pub(crate) dir: PathBuf,
    pub(crate) filter: Option<PathFilter>,
    pub(crate) new_files_only: bool,
    pub(crate) interval: Duration,
    pub(crate) clock: Arc<dyn crate::clock::Clock>,
    initial_threshold: Mutex<Time>,
    batch_files: Mutex<BTreeMap<Time, Vec<PathBuf>>>,
    /// Set by a restart: the start threshold comes from the checkpoint, not the clock.
    restored: std::sync::atomic::AtomicBool,
    /// Lines per batch, counted as they are read.
    counts: crate::dstream::counted::RecordCounts,
    /// Files a batch takes at most (0: all), oldest first (`maxFilesPerTrigger`).
    pub(crate) max_files: Arc<std::sync::atomic::AtomicUsize>,
    /// The first file (modification time, path) a capped batch left for the next ones: it
    /// and the files after it stay eligible however old they grow.
    backlog: Mutex<Option<(u64, PathBuf)>>,
}

impl FileInputState {
    pub(crate) fn new(
        ctx: &Context,
        dir: PathBuf,
        filter: Option<PathFilter>,
        new_files_only: bool,
        interval: Duration,
        clock: Arc<dyn crate::clock::Clock>,
    ) -> Self {
        FileInputState {
            ctx: ctx.clone(),
            dir,
            filter,
            new_files_only,
            interval,
            clock,
            initial_threshold: Mutex::new(Time::ZERO),
            batch_files: Mutex::new(BTreeMap::new()),
            restored: std::sync::atomic::AtomicBool::new(false),
            counts: Default::default(),
            max_files: Arc::default(),
            backlog: Mutex::new(None),
        }
    }

    fn remember_window(&self) -> Duration {
        let batch = self.interval.as_millis().max(1);
        let n = MIN_REMEMBER.as_millis().div_ceil(batch);
        Duration::from_millis((n * batch) as u64)
    }

    /// The files the batch at `time` reads, in the order of the batch times that took them.
    pub(crate) fn files_of(&self, time: Time) -> Option<Vec<PathBuf>> {
        self.batch_files.lock().get(&time).cloned()
    }

    fn find_new_files(&self, time: Time) -> Result<Vec<PathBuf>> {
        let threshold =
            (*self.initial_threshold.lock()).max(time.saturating_sub(self.remember_window()));
        let seen: HashSet<PathBuf> = self
            .batch_files
            .lock()
            .values()
            .flatten()
            .cloned()
            .collect();
        let backlog = self.backlog.lock().clone();
        let entries = std::fs::read_dir(&self.dir).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::MissingDirectory {
                    path: self.dir.clone(),
                }
            } else {
                Error::Io {
                    path: self.dir.clone(),
                    source: e,
                }
            }
        })?;
        let mut found: Vec<(u64, PathBuf)> = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| Error::Io {
                path: self.dir.clone(),
                source: e,
            })?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if is_ignored_name(&name) {
                continue;
            }
            let path = entry.path();
            // A file renamed away between listing and stat is simply not there.
            let Ok(meta) = entry.metadata() else { continue };
            if !meta.is_file() {
                continue;
            }
            if let Some(f) = &self.filter {
                if !f(&path) {
                    continue;
                }
            }
            let mtime = meta
                .modified()
                .ok()
                .and_then(|m| m.duration_since(UNIX_EPOCH).ok())
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0);
            let held_back = backlog
                .as_ref()
                .is_some_and(|b| (mtime, &path) >= (b.0, &b.1));
            if (mtime < threshold.millis() && !held_back)
                || mtime > time.millis()
                || seen.contains(&path)
            {
                continue;
            }
            found.push((mtime, path));
        }
        found.sort();
        let cap = self.max_files.load(std::sync::atomic::Ordering::Relaxed);
        let mut backlog = self.backlog.lock();
        if cap > 0 && found.len() > cap {
            *backlog = Some(found[cap].clone());
            found.truncate(cap);
        } else {
            *backlog = None;
        }
        Ok(found.into_iter().map(|(_, p)| p).collect())
    }
}

impl FileInputState {
    fn encode(&self) -> Result<Option<Vec<u8>>> {
        let data = (
            *self.initial_threshold.lock(),
            self.batch_files.lock().clone(),
        );
        crate::checkpoint::encode_stream_data(&data, || {
            format!("the file stream of {}", self.dir.display())
        })
        .map(Some)
    }

    fn decode(&self, data: &[u8]) -> Result<()> {
        let (threshold, files): (Time, BTreeMap<Time, Vec<PathBuf>>) = bincode::deserialize(data)
            .map_err(|e| {
            Error::user(format!(
                "file stream {}: cannot decode its checkpoint data: {e}",
                self.dir.display()
            ))
        })?;
        *self.initial_threshold.lock() = threshold;
        *self.batch_files.lock() = files;
        self.restored
            .store(true, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }
}

/// The file stream as a source: each batch's new files, decided on the generator thread,
/// read (and their lines counted) by the batch's jobs.
impl Source<String> for FileInputState {
    fn kind(&self) -> &'static str {
        "file_input"
    }
    /// The files the batch read (Spark's file source reports its log offset; the names say
    /// more here).
    fn describe_batch(&self, time: Time) -> Option<crate::plumbing::BatchOffsets> {
        let files = self.files_of(time)?;
        let names: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
        Some(crate::plumbing::BatchOffsets {
            end: serde_json::json!({ "files": names }),
            ..Default::default()
        })
    }
    fn name(&self) -> String {
        format!("file stream {}", self.dir.display())
    }
    fn validate(&self) -> Result<()> {
        if !self.dir.is_dir() {
            return Err(Error::MissingDirectory {
                path: self.dir.clone(),
            });
        }
        Ok(())
    }
    fn start(&self, _zero: Time) -> Result<()> {
        if self.restored.load(std::sync::atomic::Ordering::SeqCst) {
            return Ok(());
        }
        *self.initial_threshold.lock() = if self.new_files_only {
            self.clock.now()
        } else {
            Time::ZERO
        };
        Ok(())
    }
    fn records_read(&self, time: Time) -> Option<u64> {
        self.counts.read(time)
    }
    fn forget(&self, time: Time, keep: &std::collections::BTreeSet<Time>) {
        self.counts.forget(time, keep);
        let keep_after = time.saturating_sub(self.remember_window());
        let mut files = self.batch_files.lock();
        let mut newer = files.split_off(&keep_after);
        for t in keep {
            if let Some(f) = files.remove(t) {
                newer.insert(*t, f);
            }
        }
        *files = newer;
    }
    fn checkpoint_data(&self) -> Result<Option<Vec<u8>>> {
        self.encode()
    }
    fn restore(&self, data: &[u8]) -> Result<()> {
        self.decode(data)
    }
    fn batch(&self, time: Time) -> Result<Option<Rdd<String>>> {
        let files = match self.files_of(time) {
            Some(f) => f,
            None => {
                let f = self.find_new_files(time)?;
                if !f.is_empty() {
                    log::info!(
                        "file stream {}: batch {time} reads {} new files",
                        self.dir.display(),
                        f.len()
                    );
                }
                self.batch_files.lock().insert(time, f.clone());
                f
            }
        };
        let rdd = if files.is_empty() {
            self.ctx.empty()
        } else {
            self.ctx.text_files(&files, files.len())?
        };
        Ok(Some(self.counts.wrap(time, rdd)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_and_temporary_names_are_ignored() {
        for n in [
            ".x",
            "_SUCCESS",
            "a.tmp",
            "b._COPYING_",
            "c.crc",
            "d~",
            "e.part",
        ] {
            assert!(is_ignored_name(n), "{n}");
        }
        for n in ["a.txt", "orders-1", "x_y"] {
            assert!(!is_ignored_name(n), "{n}");
        }
    }
}
