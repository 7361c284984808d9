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

use crate::error::{Error, Result};
use crate::time::Time;

/// Segments are rolled past this size unless configured otherwise.
pub(crate) const ROLL_BYTES: u64 = 8 << 20;
const PREFIX: &str = "log-";

/// One entry of the log.
#[derive(Serialize, Deserialize)]
pub(crate) enum Record<T> {
    /// A stored block.
    Block { id: u64, records: Vec<T> },
    /// Blocks allocated to the batch at `time`.
    Allocate { time: Time, ids: Vec<u64> },
    /// Blocks whose batch completed, or whose write failed (never acknowledged).
    Done { ids: Vec<u64> },
    /// The first record of every segment: the next block id at the time it was opened, so
    /// ids stay unique for the life of the directory even when every older segment is gone.
    Segment { next_id: u64 },
}

/// What a replay found.
pub(crate) struct Replayed<T> {
    pub(crate) blocks: BTreeMap<u64, Vec<T>>,
    pub(crate) done: BTreeSet<u64>,
}

struct Current {
    file: File,
    index: u64,
    bytes: u64,
}

struct Writer {
    current: Option<Current>,
    /// The next block id: above every id the directory ever held.
    next_id: u64,
    /// Ids of blocks whose write failed and may be partly on disk: marked done at the head
    /// of the next segment so a replay never brings back a block `store` refused.
    refused: Vec<u64>,
}

pub(crate) struct WriteAheadLog {
    dir: PathBuf,
    roll_bytes: u64,
    writer: Mutex<Writer>,
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

fn encode<T: Serialize>(record: &Record<T>) -> Result<Vec<u8>> {
    let payload = bincode::serialize(record)
        .map_err(|e| Error::user(format!("cannot encode a log record: {e}")))?;
    Ok(emberflow_core::framing::frame_record(&payload))
}

impl WriteAheadLog {
    /// A log in `dir` (created), appending to a new segment after any existing ones.
    /// [`replay`](Self::replay) must run before the first append of a reopened log.
    #[cfg(test)]
    pub(crate) fn open(dir: &Path) -> Result<Self> {
        Self::open_rolling_at(dir, ROLL_BYTES)
    }

    /// [`open`](Self::open), rolling segments past `roll_bytes`.
    pub(crate) fn open_rolling_at(dir: &Path, roll_bytes: u64) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        Ok(WriteAheadLog {
            dir: dir.to_path_buf(),
            roll_bytes: roll_bytes.max(1),
            writer: Mutex::new(Writer {
                current: None,
                next_id: 0,
                refused: Vec::new(),
            }),
            segments: Mutex::new(BTreeMap::new()),
            done: Mutex::new(BTreeSet::new()),
        })
    }

    /// Logs `records` as a new block and, once it is durable (fsynced), hands it with its id
    /// to `durable` — under the log's lock, so blocks reach the receiver in id order. On an
    /// error nothing of the block counts: it is cut off the segment and marked done ahead of
    /// anything written later.
    pub(crate) fn append_block<T: Serialize>(
        &self,
        records: Vec<T>,
        durable: impl FnOnce(u64, Vec<T>),
    ) -> Result<u64> {
        let mut w = self.writer.lock();
        let id = w.next_id;
        w.next_id += 1;
        let record = Record::Block { id, records };
        let written = self.write_locked(&mut w, &record, true);
        let Record::Block { records, .. } = record else {
            unreachable!("built above")
        };
        match written {
            Ok(index) => {
                self.segments.lock().entry(index).or_default().insert(id);
                durable(id, records);
                Ok(id)
            }
            Err(e) => {
                w.refused.push(id);
                Err(e)
            }
        }
    }

    /// Appends a record other than a block; durable (fsynced) when `sync`.
    pub(crate) fn append<T: Serialize>(&self, record: &Record<T>, sync: bool) -> Result<()> {
        debug_assert!(!matches!(record, Record::Block { .. }), "use append_block");
        let mut w = self.writer.lock();
        self.write_locked(&mut w, record, sync)?;
        drop(w);
        if let Record::Done { ids } = record {
            self.done.lock().extend(ids.iter().copied());
        }
        Ok(())
    }

    /// Writes one record to the current segment (opening one if needed) and returns the
    /// segment's index. A failed write is cut back off the segment; if even that fails, the
    /// segment is closed so the next record starts a fresh one (a replay stops at the torn
    /// record, and nothing acknowledged lies after it).
    fn write_locked<T: Serialize>(
        &self,
        w: &mut Writer,
        record: &Record<T>,
        sync: bool,
    ) -> Result<u64> {
        let bytes = encode(record)?;
        if w.current
            .as_ref()
            .is_none_or(|c| c.bytes >= self.roll_bytes)
        {
            self.open_segment(w)?;
        }
        let c = w.current.as_mut().expect("opened above");
        let path = segment_path(&self.dir, c.index);
        let result =
            c.file
                .write_all(&bytes)
                .and_then(|()| if sync { c.file.sync_data() } else { Ok(()) });
        match result {
            Ok(()) => {
                c.bytes += bytes.len() as u64;
                Ok(c.index)
            }
            Err(e) => {
                // Cut the record off (best effort), and give the segment up: after a failed
                // write or fsync its state on disk is unknown, and later records go to a
                // fresh segment that starts by marking the refused blocks done.
                let _ = c.file.set_len(c.bytes).and_then(|()| c.file.sync_data());
                w.current = None;
                Err(Error::io(&path, e))
            }
        }
    }

    /// Starts a new segment: its first record holds the next block id, then the ids of any
    /// refused blocks are marked done, all fsynced with the directory entry.
    fn open_segment(&self, w: &mut Writer) -> Result<()> {
        w.current = None;
        let index = segments(&self.dir)?.last().map_or(0, |(i, _)| i + 1);
        let path = segment_path(&self.dir, index);
        let mut file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        let mut head = encode::<()>(&Record::Segment { next_id: w.next_id })?;
        if !w.refused.is_empty() {
            head.extend(encode::<()>(&Record::Done {
                ids: w.refused.clone(),
            })?);
        }
        let written = file.write_all(&head).and_then(|()| file.sync_all());
        if let Err(e) = written {
            drop(file);
            let _ = std::fs::remove_file(&path);
            return Err(Error::io(&path, e));
        }
        emberflow_core_sync_dir(&self.dir);
        self.done.lock().extend(w.refused.drain(..));
        self.segments.lock().entry(index).or_default();
        w.current = Some(Current {
            file,
            index,
            bytes: head.len() as u64,
        });
        Ok(())
    }

    /// Deletes segments, other than the one being written, whose blocks are all done and
    /// none still held in memory (a batch restored from a checkpoint may hold blocks an
    /// earlier run marked done: they are needed until that batch completes again).
    /// `after_each` runs after each deletion (the crash tests' kill point).
    pub(crate) fn prune(&self, live: &BTreeSet<u64>, after_each: impl Fn()) {
        let current = self.writer.lock().current.as_ref().map(|c| c.index);
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
            after_each();
        }
    }

    /// Reads every segment in order. A record cut short or failing its checksum ends the
    /// replay of its segment (a torn tail, from a crash mid-write); it is logged, not fatal.
    /// Sets the next block id above every id any record names.
    pub(crate) fn replay<T: DeserializeOwned>(&self) -> Result<Replayed<T>> {
        let mut blocks = BTreeMap::new();
        let mut done = BTreeSet::new();
        let mut per_segment: BTreeMap<u64, BTreeSet<u64>> = BTreeMap::new();
        let mut next_id = 0;
        for (index, path) in segments(&self.dir)? {
            let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
            per_segment.entry(index).or_default();
            for (at, payload) in emberflow_core::framing::records(&bytes, &path) {
                match bincode::deserialize::<Record<T>>(payload) {
                    Ok(Record::Block { id, records }) => {
                        next_id = next_id.max(id + 1);
                        per_segment.entry(index).or_default().insert(id);
                        blocks.insert(id, records);
                    }
                    Ok(Record::Allocate { ids, .. }) => {
                        next_id = next_id.max(ids.iter().max().map_or(0, |m| m + 1));
                    }
                    Ok(Record::Done { ids }) => {
                        next_id = next_id.max(ids.iter().max().map_or(0, |m| m + 1));
                        done.extend(ids);
                    }
                    Ok(Record::Segment { next_id: n }) => next_id = next_id.max(n),
                    Err(e) => {
                        log::warn!(
                            "{}: undecodable record at byte {at} ({e}); ignoring the rest",
                            path.display()
                        );
                        break;
                    }
                }
            }
        }
        *self.segments.lock() = per_segment;
        *self.done.lock() = done.clone();
        let mut w = self.writer.lock();
        w.next_id = w.next_id.max(next_id);
        Ok(Replayed { blocks, done })
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

    fn block(wal: &WriteAheadLog, records: Vec<u32>) -> u64 {
        wal.append_block(records, |_, _| {}).expect("append")
    }

    #[test]
    fn replays_blocks_and_done_marks_and_ignores_a_torn_tail() {
        let dir = tempfile::tempdir().expect("temp dir");
        let wal = WriteAheadLog::open(dir.path()).expect("open");
        assert_eq!(block(&wal, vec![1, 2]), 0);
        assert_eq!(block(&wal, vec![3]), 1);
        wal.append::<u32>(
            &Record::Allocate {
                time: Time::from_millis(1000),
                ids: vec![0],
            },
            true,
        )
        .expect("append");
        wal.append::<u32>(&Record::Done { ids: vec![0] }, true)
            .expect("append");
        drop(wal);
        // A crash mid-write leaves half a record at the end.
        let seg = segments(dir.path()).expect("list")[0].1.clone();
        let mut f = OpenOptions::new().append(true).open(&seg).expect("open");
        f.write_all(&emberflow_core::framing::frame_record(b"partial record")[..9])
            .expect("write");
        drop(f);
        let wal = WriteAheadLog::open(dir.path()).expect("open");
        let r = wal.replay::<u32>().expect("replay");
        assert_eq!(r.blocks.len(), 2);
        assert_eq!(r.blocks[&1], vec![3]);
        assert!(r.done.contains(&0) && !r.done.contains(&1));
        assert_eq!(
            block(&wal, vec![4]),
            2,
            "ids continue after the replayed ones"
        );
        // A segment whose blocks are all done is deleted, unless a block is still held.
        wal.append::<u32>(&Record::Done { ids: vec![1] }, true)
            .expect("append");
        wal.prune(&[1].into_iter().collect(), || {});
        assert_eq!(
            segments(dir.path()).expect("list").len(),
            2,
            "block 1 is held: kept"
        );
        wal.prune(&BTreeSet::new(), || {});
        assert_eq!(
            segments(dir.path()).expect("list").len(),
            1,
            "the old segment is gone, the new one stays"
        );
    }

    /// Ids are unique for the life of the directory: a restart whose replayed blocks
    /// complete and whose old segments are pruned must not hand out ids its done marks name.
    #[test]
    fn block_ids_are_never_reused_after_every_old_segment_is_pruned() {
        let dir = tempfile::tempdir().expect("temp dir");
        let wal = WriteAheadLog::open(dir.path()).expect("open");
        for i in 0..5 {
            block(&wal, vec![i]);
        }
        drop(wal);
        // Second run: the blocks are replayed, their batch completes, the old segment goes.
        let wal = WriteAheadLog::open(dir.path()).expect("open");
        let r = wal.replay::<u32>().expect("replay");
        assert_eq!(r.blocks.len(), 5);
        wal.append::<u32>(
            &Record::Done {
                ids: r.blocks.keys().copied().collect(),
            },
            true,
        )
        .expect("append");
        wal.prune(&BTreeSet::new(), || {});
        assert_eq!(segments(dir.path()).expect("list").len(), 1);
        drop(wal);
        // Third run: nothing to replay, and new blocks get new ids.
        let wal = WriteAheadLog::open(dir.path()).expect("open");
        let r = wal.replay::<u32>().expect("replay");
        assert!(r.blocks.is_empty());
        let id = block(&wal, vec![99]);
        assert!(id >= 5, "id {id} was used before");
        drop(wal);
        // And that block survives the next crash.
        let wal = WriteAheadLog::open(dir.path()).expect("open");
        let r = wal.replay::<u32>().expect("replay");
        assert!(!r.done.contains(&id));
        assert_eq!(r.blocks.get(&id), Some(&vec![99]));
    }
}
