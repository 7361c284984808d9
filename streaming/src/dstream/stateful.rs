//! What stateful streams share: between batches they hold their state as an RDD with no
//! lineage, so lineage depth and memory stay flat over any number of batches. Every batch
//! the new state is materialised in memory; every checkpoint interval, when the context has a
//! checkpoint directory, it is written there instead (and read back from the files).

use std::sync::Weak;
use std::time::Duration;

use emberflow_core::{Data, Rdd};
use parking_lot::Mutex;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::graph::Graph;
use crate::{Error, Result, Time};

/// Spark's default: the smallest multiple of the slide that is at least 10 s.
pub(crate) fn default_checkpoint_interval(slide: Duration) -> Duration {
    let s = slide.as_millis().max(1) as u64;
    Duration::from_millis(10_000u64.div_ceil(s) * s)
}

pub(crate) struct StateSupport {
    graph: Weak<Graph>,
    slide: Duration,
    interval: Mutex<Option<Duration>>,
    kind: &'static str,
    /// State written to the checkpoint directory, by batch time (the newest two).
    written: Mutex<std::collections::BTreeMap<Time, std::path::PathBuf>>,
}

impl StateSupport {
    pub(crate) fn new(graph: &std::sync::Arc<Graph>, slide: Duration, kind: &'static str) -> Self {
        StateSupport {
            graph: std::sync::Arc::downgrade(graph),
            slide,
            interval: Mutex::new(None),
            kind,
            written: Mutex::new(std::collections::BTreeMap::new()),
        }
    }

    pub(crate) fn set_interval(&self, d: Duration) {
        *self.interval.lock() = Some(d);
    }

    pub(crate) fn interval(&self) -> Duration {
        self.interval
            .lock()
            .unwrap_or_else(|| default_checkpoint_interval(self.slide))
    }

    pub(crate) fn graph(&self) -> Result<std::sync::Arc<Graph>> {
        self.graph.upgrade().ok_or_else(|| {
            Error::IllegalState("the StreamingContext of this DStream is gone".into())
        })
    }

    /// The checkpoint interval must be a multiple of the slide; says so at start, and warns
    /// when there is no checkpoint directory.
    pub(crate) fn validate(&self) -> Result<()> {
        let interval = self.interval();
        if !Time::from_millis(interval.as_millis() as u64).is_multiple_of(self.slide) {
            return Err(crate::context::not_a_multiple(
                "checkpoint interval",
                interval,
                "slide duration",
                self.slide,
            ));
        }
        if self.graph()?.ctx.checkpoint_dir().is_none() {
            log::warn!(
                "{}: no checkpoint directory is set, so its state lives in memory only and will not survive a restart; call StreamingContext::checkpoint(dir)",
                self.kind
            );
        }
        Ok(())
    }

    /// The state RDD of batch `time`, cut loose from its lineage: written to the checkpoint
    /// directory at checkpoint intervals (when one is set), materialised in memory otherwise.
    pub(crate) fn truncate<T>(&self, rdd: Rdd<T>, time: Time) -> Result<Rdd<T>>
    where
        T: Data + Serialize + DeserializeOwned,
    {
        let graph = self.graph()?;
        let zero = graph.zero_time().unwrap_or(Time::ZERO);
        let due =
            Time::from_millis((time - zero).as_millis() as u64).is_multiple_of(self.interval());
        if due && graph.ctx.checkpoint_dir().is_some() {
            rdd.checkpoint()?;
            let path = rdd.checkpoint_path().ok_or_else(|| {
                Error::IllegalState("checkpoint wrote no path; this is a bug".into())
            })?;
            log::debug!(
                "{}: state of batch {time} checkpointed to {}",
                self.kind,
                path.display()
            );
            let reader = graph.ctx.checkpoint_file(&path)?;
            let mut written = self.written.lock();
            written.insert(time, path);
            while written.len() > 2 {
                written.pop_first();
            }
            return Ok(reader);
        }
        Ok(rdd.materialize()?)
    }
}

impl StateSupport {
    /// The checkpoint data of a stateful stream: its written state directories by time.
    pub(crate) fn encode(&self) -> Result<Option<Vec<u8>>> {
        let written = self.written.lock();
        if written.is_empty() {
            return Ok(None);
        }
        crate::checkpoint::encode_stream_data(&*written, || "a stateful stream".into()).map(Some)
    }

    /// The state directories written, for the metadata checkpoint's references.
    pub(crate) fn paths(&self) -> Vec<std::path::PathBuf> {
        self.written.lock().values().cloned().collect()
    }

    /// Decodes checkpoint data and reads each state back: `(time, state RDD)`, oldest first.
    pub(crate) fn decode<T>(&self, data: &[u8]) -> Result<Vec<(Time, Rdd<T>)>>
    where
        T: Data + Serialize + DeserializeOwned,
    {
        let written: std::collections::BTreeMap<Time, std::path::PathBuf> =
            bincode::deserialize(data).map_err(|e| {
                Error::user(format!(
                    "{}: cannot decode its checkpoint data: {e}",
                    self.kind
                ))
            })?;
        let ctx = self.graph()?.ctx.clone();
        let mut out = Vec::new();
        for (t, path) in &written {
            out.push((*t, ctx.checkpoint_file(path)?));
        }
        *self.written.lock() = written;
        Ok(out)
    }
}

impl StateSupport {
    /// Restores checkpointed states into the memo of the stream `me` (stateful streams that
    /// read their previous batch from their own memo).
    pub(crate) fn restore_memo<T>(
        &self,
        me: &Weak<crate::dstream::DStreamInner<T>>,
        data: &[u8],
    ) -> Result<()>
    where
        T: Data + Serialize + DeserializeOwned,
    {
        let me = me
            .upgrade()
            .ok_or_else(|| Error::IllegalState(format!("{}: the stream is gone", self.kind)))?;
        for (t, rdd) in self.decode(data)? {
            me.restore_rdd(t, rdd);
        }
        Ok(())
    }
}
