//! What an event-time operator carries in every metadata checkpoint, and how it resumes.
//!
//! The state is inline (it is bounded by the watermark): each checkpoint holds the state as
//! of the last batch the operator applied, the rows it emitted for its newest batches, and
//! the watermark. A checkpoint is taken without waiting for a running state update: when
//! one runs, the previous capture is used, which is consistent too. After a restart:
//! - a batch the restored state already holds (it ran its update, not its outputs) emits the
//!   rows saved for it instead of applying it twice;
//! - batches the state has not seen that completed before the crash are replayed (their
//!   input recomputed, their updates run, their outputs not) before the next batch runs;
//! - the watermark goes on from where the newest saved one was.

use std::collections::VecDeque;
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::watermark::{Saved as SavedWatermark, Watermark};
use crate::error::{Error, Result};
use crate::time::Time;

/// How many applied batches keep their emitted rows (the ones a restart may re-run).
const KEEP_EMITTED: usize = 3;

/// An operator's progress through the batches, beside its state.
pub(crate) struct Progress<R> {
    inner: Mutex<Applied<R>>,
    /// Held for writing while a batch's update runs; a checkpoint reads under it.
    pub(crate) updating: RwLock<()>,
    /// The last capture, used while an update runs.
    last: Mutex<Option<Vec<u8>>>,
}

struct Applied<R> {
    through: Option<Time>,
    emitted: VecDeque<(Time, Vec<Arc<Vec<R>>>)>,
}

/// The checkpoint data of an event-time operator.
#[derive(Serialize, Deserialize)]
struct Saved<S, R> {
    through: Option<Time>,
    state: S,
    emitted: Vec<(Time, Vec<Vec<R>>)>,
    watermark: SavedWatermark,
}

impl<R: Clone> Progress<R> {
    pub(crate) fn new() -> Self {
        Progress {
            inner: Mutex::new(Applied {
                through: None,
                emitted: VecDeque::new(),
            }),
            updating: RwLock::new(()),
            last: Mutex::new(None),
        }
    }

    /// The rows of batch `time` if the state already holds it (a batch re-run after a
    /// restart): those saved, or none if they were not kept.
    pub(crate) fn already(&self, time: Time) -> Option<Vec<Arc<Vec<R>>>> {
        let a = self.inner.lock();
        if a.through.is_none_or(|t| time > t) {
            return None;
        }
        Some(
            a.emitted
                .iter()
                .find(|(t, _)| *t == time)
                .map(|(_, rows)| rows.clone())
                .unwrap_or_default(),
        )
    }

    /// The newest batch applied.
    pub(crate) fn through(&self) -> Option<Time> {
        self.inner.lock().through
    }

    /// Batch `time` was applied and emitted `rows`.
    pub(crate) fn applied(&self, time: Time, rows: &[Arc<Vec<R>>]) {
        let mut a = self.inner.lock();
        a.through = Some(time);
        a.emitted.push_back((time, rows.to_vec()));
        while a.emitted.len() > KEEP_EMITTED {
            a.emitted.pop_front();
        }
    }
}

impl<R: Clone + Serialize + DeserializeOwned> Progress<R> {
    /// The checkpoint data: `state()` read with the progress, unless an update is running
    /// (then the previous capture).
    pub(crate) fn capture<S: Serialize>(
        &self,
        kind: &str,
        watermark: &Watermark,
        state: impl FnOnce() -> S,
    ) -> Result<Option<Vec<u8>>> {
        let Some(_quiet) = self.updating.try_read() else {
            return Ok(self.last.lock().clone());
        };
        let a = self.inner.lock();
        let saved = Saved {
            through: a.through,
            state: state(),
            emitted: a
                .emitted
                .iter()
                .map(|(t, rows)| (*t, rows.iter().map(|r| r.as_ref().clone()).collect()))
                .collect(),
            watermark: watermark.save(),
        };
        let bytes = crate::checkpoint::encode_stream_data(&saved, || kind.to_owned())?;
        *self.last.lock() = Some(bytes.clone());
        Ok(Some(bytes))
    }

    /// Restores checkpoint data: gives the state to `load`, keeps the progress, restores the
    /// watermark and asks it to replay from the first batch the state has not seen (`zero`
    /// plus `slide` when it saw none).
    pub(crate) fn restore<S: DeserializeOwned>(
        &self,
        kind: &str,
        data: &[u8],
        watermark: &Watermark,
        zero: Time,
        slide: std::time::Duration,
        load: impl FnOnce(S),
    ) -> Result<()> {
        let saved: Saved<S, R> = bincode::deserialize(data)
            .map_err(|e| Error::user(format!("{kind}: cannot decode its checkpoint data: {e}")))?;
        {
            let mut a = self.inner.lock();
            a.through = saved.through;
            a.emitted = saved
                .emitted
                .into_iter()
                .map(|(t, rows)| (t, rows.into_iter().map(Arc::new).collect()))
                .collect();
        }
        load(saved.state);
        let first_unseen = saved.through.unwrap_or(zero) + slide;
        watermark.restore(saved.watermark, first_unseen);
        Ok(())
    }
}

/// An operator's state in hash partitions of its keys (as its batches' shuffles place
/// them), with what a checkpoint reads and a restart loads.
pub(crate) struct StateParts<K, V>(Vec<Mutex<std::collections::HashMap<K, V>>>);

impl<K: Clone + std::hash::Hash + Eq, V: Clone> StateParts<K, V> {
    pub(crate) fn new(n: usize) -> Self {
        StateParts(
            (0..n.max(1))
                .map(|_| Mutex::new(std::collections::HashMap::new()))
                .collect(),
        )
    }

    /// Every entry, for a checkpoint.
    pub(crate) fn rows(&self) -> Vec<(K, V)> {
        self.0
            .iter()
            .flat_map(|p| {
                p.lock()
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// Replaces the state with `rows`, each in the partition a batch's shuffle gives its key.
    pub(crate) fn load(&self, rows: Vec<(K, V)>) {
        let placement = emberflow_core::HashPartitioner::new(self.0.len());
        for p in &self.0 {
            p.lock().clear();
        }
        for (k, v) in rows {
            let part = emberflow_core::Partitioner::partition(&placement, &k);
            self.0[part].lock().insert(k, v);
        }
    }

    /// Entries in all partitions.
    pub(crate) fn total(&self) -> usize {
        self.0.iter().map(|p| p.lock().len()).sum()
    }
}

impl<K, V> std::ops::Deref for StateParts<K, V> {
    type Target = [Mutex<std::collections::HashMap<K, V>>];
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}
