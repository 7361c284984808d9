//! The receiver write-ahead log: with it on, a block a receiver stores is on disk (fsynced)
//! before `store` returns, the allocation of blocks to a batch is logged before the batch is
//! generated, and blocks of completed batches are marked done. On restart the log is
//! replayed: blocks of batches that will re-run come back to those batches, blocks never
//! allocated go to the next batch, done blocks are dropped. The format is described in
//! README.md beside this file.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use parking_lot::Mutex;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::{Error, Result, Time};

/// Segments are rolled past this size.
const ROLL_BYTES: u64 = 8 << 20;
const PREFIX: &str = "log-";

/// One entry of the log.
#[derive(Serialize, Deserialize)]
pub(crate) enum Record<T> {
    /// A stored block.
    Block { id: u64, records: Vec<T> },
    /// Blocks allocated to the batch at `time`.
    Allocate { time: Time, ids: Vec<u64> },
    /// Blocks whose batch completed.
    Done { ids: Vec<u64> },
}

/// What a replay found.
pub(crate) struct Replayed<T> {
    pub(crate) blocks: BTreeMap<u64, Vec<T>>,
    pub(crate) done: BTreeSet<u64>,
    pub(crate) next_id: u64,
}

struct Current {
    file: File,
    index: u64,
    bytes: u64,
}

pub(crate) struct WriteAheadLog {
    dir: PathBuf,
    current: Mutex<Option<Current>>,
    /// Block ids per segment, and those marked done: a segment whose blocks are all done
    /// (and that is not being written) is deleted.
    segments: Mutex<BTreeMap<u64, BTreeSet<u64>>>,
    done: Mutex<BTreeSet<u64>>,
}

fn segment_path(dir: &Path, index: u64) -> PathBuf {
    dir.join(format!("{PREFIX}{index:08}"))
}

fn segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(Error::io(dir, e)),
    };
    for e in entries.filter_map(|e| e.ok()) {
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(i) = name
            .strip_prefix(PREFIX)
            .and_then(|n| n.parse::<u64>().ok())
        {
            out.push((i, e.path()));
        }
    }
    out.sort();
    Ok(out)
}

fn frame(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 8);
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    out.extend_from_slice(payload);
    out
}

impl WriteAheadLog {
    /// A log in `dir` (created), appending to a new segment after any existing ones.
    pub(crate) fn open(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        Ok(WriteAheadLog {
            dir: dir.to_path_buf(),
            current: Mutex::new(None),
            segments: Mutex::new(BTreeMap::new()),
            done: Mutex::new(BTreeSet::new()),
        })
    }

    /// Appends a record; durable (fsynced) when `sync`.
    pub(crate) fn append<T: Serialize>(&self, record: &Record<T>, sync: bool) -> Result<()> {
        let payload = bincode::serialize(record)
            .map_err(|e| Error::user(format!("cannot encode a log record: {e}")))?;
        let bytes = frame(&payload);
        let mut cur = self.current.lock();
        if cur.as_ref().is_none_or(|c| c.bytes >= ROLL_BYTES) {
            let index = segments(&self.dir)?.last().map_or(0, |(i, _)| i + 1);
            let path = segment_path(&self.dir, index);
            let file = OpenOptions::new()
                .create_new(true)
                .append(true)
                .open(&path)
                .map_err(|e| Error::io(&path, e))?;
            emberflow_core_sync_dir(&self.dir);
            *cur = Some(Current {
                file,
                index,
                bytes: 0,
            });
        }
        let c = cur.as_mut().expect("opened above");
        let path = segment_path(&self.dir, c.index);
        c.file.write_all(&bytes).map_err(|e| Error::io(&path, e))?;
        if sync {
            c.file.sync_data().map_err(|e| Error::io(&path, e))?;
        }
        c.bytes += bytes.len() as u64;
        if let Record::Block { id, .. } = record {
            self.segments.lock().entry(c.index).or_default().insert(*id);
        }
        drop(cur);
        if let Record::Done { ids } = record {
            self.done.lock().extend(ids.iter().copied());
        }
        Ok(())
    }

    /// Deletes segments, other than the one being written, whose blocks are all done and
    /// none still held in memory (a batch restored from a checkpoint may hold blocks an
    /// earlier run marked done: they are needed until that batch completes again).
    pub(crate) fn prune(&self, live: &BTreeSet<u64>) {
        let current = self.current.lock().as_ref().map(|c| c.index);
        let done = self.done.lock();
        let mut segs = self.segments.lock();
        let dead: Vec<u64> = segs
            .iter()
            .filter(|(i, ids)| {
                Some(**i) != current && ids.iter().all(|id| done.contains(id) && !live.contains(id))
            })
            .map(|(i, _)| *i)
            .collect();
        for i in dead {
            let p = segment_path(&self.dir, i);
            if let Err(e) = std::fs::remove_file(&p) {
                log::warn!("cannot remove log segment {}: {e}", p.display());
            }
            segs.remove(&i);
        }
    }

    /// Reads every segment in order. A record cut short or failing its checksum ends the
    /// replay of its segment (a torn tail, from a crash mid-write); it is logged, not fatal.
    pub(crate) fn replay<T: DeserializeOwned>(&self) -> Result<Replayed<T>> {
        let mut blocks = BTreeMap::new();
        let mut done = BTreeSet::new();
        let mut per_segment: BTreeMap<u64, BTreeSet<u64>> = BTreeMap::new();
        let mut next_id = 0;
        for (index, path) in segments(&self.dir)? {
            let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
            let mut at = 0;
            while at < bytes.len() {
                if bytes.len() - at < 8 {
                    log::warn!(
                        "{}: torn record at byte {at}; ignoring the tail",
                        path.display()
                    );
                    break;
                }
                let len =
                    u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes")) as usize;
                let crc = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().expect("4 bytes"));
                let Some(payload) = bytes.get(at + 8..at + 8 + len) else {
                    log::warn!(
                        "{}: torn record at byte {at}; ignoring the tail",
                        path.display()
                    );
                    break;
                };
                if crc32fast::hash(payload) != crc {
                    log::warn!(
                        "{}: checksum mismatch at byte {at}; ignoring the rest of the segment",
                        path.display()
                    );
                    break;
                }
                match bincode::deserialize::<Record<T>>(payload) {
                    Ok(Record::Block { id, records }) => {
                        next_id = next_id.max(id + 1);
                        per_segment.entry(index).or_default().insert(id);
                        blocks.insert(id, records);
                    }
                    Ok(Record::Allocate { .. }) => {}
                    Ok(Record::Done { ids }) => done.extend(ids),
                    Err(e) => {
                        log::warn!(
                            "{}: undecodable record at byte {at} ({e}); ignoring the rest",
                            path.display()
                        );
                        break;
                    }
                }
                at += 8 + len;
            }
        }
        *self.segments.lock() = per_segment;
        *self.done.lock() = done.clone();
        Ok(Replayed {
            blocks,
            done,
            next_id,
        })
    }
}

fn emberflow_core_sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replays_blocks_and_done_marks_and_ignores_a_torn_tail() {
        let dir = tempfile::tempdir().expect("temp dir");
        let wal = WriteAheadLog::open(dir.path()).expect("open");
        wal.append(
            &Record::Block {
                id: 0,
                records: vec![1u32, 2],
            },
            true,
        )
        .expect("append");
        wal.append(
            &Record::Block {
                id: 1,
                records: vec![3u32],
            },
            true,
        )
        .expect("append");
        wal.append::<u32>(
            &Record::Allocate {
                time: Time::from_millis(1000),
                ids: vec![0],
            },
            true,
        )
        .expect("append");
        wal.append::<u32>(&Record::Done { ids: vec![0] }, false)
            .expect("append");
        drop(wal);
        // A crash mid-write leaves half a record at the end.
        let seg = segments(dir.path()).expect("list")[0].1.clone();
        let mut f = OpenOptions::new().append(true).open(&seg).expect("open");
        f.write_all(&frame(b"partial record")[..9]).expect("write");
        drop(f);
        let wal = WriteAheadLog::open(dir.path()).expect("open");
        let r = wal.replay::<u32>().expect("replay");
        assert_eq!(r.blocks.len(), 2);
        assert_eq!(r.blocks[&1], vec![3]);
        assert!(r.done.contains(&0) && !r.done.contains(&1));
        assert_eq!(r.next_id, 2);
        // New records go to a new segment; a segment whose blocks are all done is deleted,
        // unless a block is still held.
        wal.append::<u32>(&Record::Done { ids: vec![1] }, false)
            .expect("append");
        wal.prune(&[1].into_iter().collect());
        assert_eq!(
            segments(dir.path()).expect("list").len(),
            2,
            "block 1 is held: kept"
        );
        wal.prune(&BTreeSet::new());
        assert_eq!(
            segments(dir.path()).expect("list").len(),
            1,
            "the old segment is gone, the new one stays"
        );
    }
}
