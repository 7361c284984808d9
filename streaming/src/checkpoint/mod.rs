//! Metadata checkpoints: what a restarted driver needs to carry on (the format is described
//! in README.md beside this file). Written by the job generator thread, the one writer,
//! after each batch is generated (before its jobs run, so a batch whose outputs may have been
//! written is always known to the next start) and after each batch completes. The newest few
//! are kept; a damaged newest file is skipped with a warning naming it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use emberflow_core::framing::FileFrame;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::time::Time;

/// Bumped when the layout of [`Checkpoint`] changes.
pub(crate) const FORMAT_VERSION: u32 = 1;
/// Every metadata checkpoint file is one frame (see `emberflow_core::framing`).
const FRAME: FileFrame = FileFrame::new(b"EMBRMETA", Some(FORMAT_VERSION));
const KEEP: usize = 3;
const PREFIX: &str = "checkpoint-";

/// One node of the graph as the fingerprint records it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct NodePrint {
    pub(crate) id: usize,
    pub(crate) description: String,
}

/// Everything a restart restores.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Checkpoint {
    pub(crate) version: u32,
    pub(crate) batch_interval_ms: u64,
    pub(crate) zero_time: Time,
    /// The batch time this checkpoint was written for.
    pub(crate) time: Time,
    /// Orders all checkpoints of a job, across restarts.
    pub(crate) sequence: u64,
    pub(crate) graph: Vec<NodePrint>,
    /// Batches generated and not completed.
    pub(crate) pending: Vec<Time>,
    /// The newest batch generated.
    pub(crate) last_generated: Option<Time>,
    /// Each stream's own data (files per batch, checkpointed state), by stream id.
    pub(crate) streams: BTreeMap<usize, Vec<u8>>,
    /// Data checkpoint directories this checkpoint refers to.
    pub(crate) data_paths: BTreeSet<PathBuf>,
}

/// Encodes a stream's checkpoint data; a failure names the stream (described only then)
/// and fails the checkpoint.
pub(crate) fn encode_stream_data<D: Serialize + ?Sized>(
    data: &D,
    stream: impl FnOnce() -> String,
) -> Result<Vec<u8>> {
    bincode::serialize(data).map_err(|e| Error::CheckpointEncoding {
        stream: stream(),
        reason: e.to_string(),
    })
}

/// Named by a sequence number that grows across restarts (a restart continues from the
/// restored checkpoint's), so name order is write order even when a restart re-runs an
/// earlier batch time.
fn file_name(time: Time, sequence: u64) -> String {
    format!("{PREFIX}{sequence:020}-{}", time.millis())
}

/// Checkpoint files in `dir`, newest first.
fn list(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with(PREFIX))
            })
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(Error::io(dir, e)),
    };
    files.sort();
    files.reverse();
    Ok(files)
}

/// Writes `c` into `dir` atomically and durably, keeps the newest few, and removes data
/// checkpoint directories under `data_root` that no kept checkpoint refers to.
pub(crate) fn write(
    dir: &Path,
    c: &Checkpoint,
    data_root: Option<&Path>,
    durable: bool,
) -> Result<PathBuf> {
    let payload = bincode::serialize(c)
        .map_err(|e| Error::user(format!("cannot encode a checkpoint: {e}")))?;
    let path = dir.join(file_name(c.time, c.sequence));
    emberflow_core::write_replacing(&path, &FRAME.encode(&payload), durable)?;
    let files = list(dir)?;
    let mut referenced: BTreeSet<PathBuf> = BTreeSet::new();
    for (i, f) in files.iter().enumerate() {
        if i < KEEP {
            if let Some(old) = std::fs::read(f)
                .ok()
                .and_then(|b| FRAME.decode(&b).ok().map(<[u8]>::to_vec))
            {
                if let Ok(k) = bincode::deserialize::<Checkpoint>(&old) {
                    referenced.extend(k.data_paths);
                }
            }
        } else if let Err(e) = std::fs::remove_file(f) {
            log::warn!("cannot remove old checkpoint {}: {e}", f.display());
        }
    }
    // Only with no batch pending: a queued job may still read a state written when its
    // batch was generated, even if newer checkpoints no longer refer to it.
    if let (Some(root), true) = (data_root, c.pending.is_empty()) {
        remove_unreferenced(root, &referenced, &c.data_paths);
    }
    Ok(path)
}

/// Deletes `ctx-*/rdd-*` directories under `root` that no kept checkpoint refers to, except
/// those of the newest checkpoint (which are referenced by construction).
fn remove_unreferenced(root: &Path, referenced: &BTreeSet<PathBuf>, newest: &BTreeSet<PathBuf>) {
    let Ok(ctx_dirs) = std::fs::read_dir(root) else {
        return;
    };
    for ctx_dir in ctx_dirs.filter_map(|e| e.ok()).map(|e| e.path()) {
        if !ctx_dir
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("ctx-"))
        {
            continue;
        }
        let Ok(rdds) = std::fs::read_dir(&ctx_dir) else {
            continue;
        };
        for rdd in rdds.filter_map(|e| e.ok()).map(|e| e.path()) {
            if !referenced.contains(&rdd)
                && !newest.contains(&rdd)
                && rdd.join("_partitions").exists()
            {
                if let Err(e) = std::fs::remove_dir_all(&rdd) {
                    log::warn!("cannot remove old data checkpoint {}: {e}", rdd.display());
                }
            }
        }
    }
}

/// The newest readable checkpoint in `dir`, if any. Damaged files are skipped with a
/// warning naming them; if every file is damaged, that is an error.
pub(crate) fn read_latest(dir: &Path) -> Result<Option<Checkpoint>> {
    let files = list(dir)?;
    let mut problems = Vec::new();
    for f in &files {
        let bytes = std::fs::read(f).map_err(|e| Error::io(f, e))?;
        let decoded = FRAME.decode(&bytes).and_then(|p| {
            bincode::deserialize::<Checkpoint>(p).map_err(|e| format!("cannot decode: {e}"))
        });
        match decoded {
            Ok(c) => {
                if !problems.is_empty() {
                    log::warn!("using checkpoint {} instead", f.display());
                }
                return Ok(Some(c));
            }
            Err(reason) => {
                log::warn!("skipping damaged checkpoint {}: {reason}", f.display());
                problems.push(format!("{}: {reason}", f.display()));
            }
        }
    }
    if problems.is_empty() {
        Ok(None)
    } else {
        Err(Error::Core(emberflow_core::Error::CorruptCheckpoint {
            path: dir.to_path_buf(),
            reason: format!("no readable metadata checkpoint: {}", problems.join("; ")),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(time: u64, seq: u64) -> Checkpoint {
        Checkpoint {
            version: FORMAT_VERSION,
            batch_interval_ms: 1000,
            zero_time: Time::ZERO,
            time: Time::from_millis(time),
            sequence: seq,
            graph: vec![NodePrint {
                id: 0,
                description: "queue_input slide=1000ms".into(),
            }],
            pending: vec![Time::from_millis(time)],
            last_generated: Some(Time::from_millis(time)),
            streams: BTreeMap::new(),
            data_paths: BTreeSet::new(),
        }
    }

    #[test]
    fn newest_wins_damaged_ones_are_skipped_and_few_are_kept() {
        let dir = tempfile::tempdir().expect("temp dir");
        for t in 1..=5 {
            // Generation (fsynced) and completion (not) checkpoints alternate, as in a stream.
            write(dir.path(), &sample(t * 1000, t), None, t % 2 == 0).expect("write");
        }
        assert_eq!(list(dir.path()).expect("list").len(), KEEP);
        assert_eq!(
            read_latest(dir.path()).expect("read").expect("some").time,
            Time::from_millis(5000)
        );
        // Truncate the newest: the one before is used.
        let newest = list(dir.path()).expect("list")[0].clone();
        let bytes = std::fs::read(&newest).expect("read");
        std::fs::write(&newest, &bytes[..bytes.len() - 3]).expect("truncate");
        assert_eq!(
            read_latest(dir.path()).expect("read").expect("some").time,
            Time::from_millis(4000)
        );
        // All damaged: an error that says so.
        for f in list(dir.path()).expect("list") {
            std::fs::write(&f, b"garbage").expect("write");
        }
        let err = read_latest(dir.path()).unwrap_err().to_string();
        assert!(err.contains("no readable metadata checkpoint"), "{err}");
        assert!(read_latest(&dir.path().join("none"))
            .expect("empty")
            .is_none());
    }
}
