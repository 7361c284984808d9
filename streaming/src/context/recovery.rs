//! The checkpoint directory, and a context recovered from it (`get_or_create`).

use super::{StreamingContext, StreamingContextBuilder};
use std::path::Path;
use std::time::Duration;

use crate::error::{Error, Result};

impl StreamingContext {
    /// Sets the checkpoint directory (created if missing): stateful streams write their state
    /// there every checkpoint interval.
    pub fn checkpoint(&self, dir: impl AsRef<Path>) -> Result<()> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        self.inner.graph.ctx.set_checkpoint_dir(dir);
        *self.inner.graph.checkpoint_dir.lock() = Some(dir.to_path_buf());
        Ok(())
    }

    /// Builds the context from `builder` and the graph with `setup`, then, if `dir` holds a
    /// checkpoint, checks the graph against it and restores into it when the context
    /// starts: the zero time, the batches that were pending (and those that fell due while
    /// the driver was down), and each stream's data (files per batch, Kafka ranges,
    /// receiver blocks, checkpointed state). `setup` runs on every
    /// start, fresh or recovered; it must build the same graph (same streams in the same
    /// order, same durations) — closures may change. A checkpoint written with another
    /// batch interval than `builder`'s is [`Error::IntervalMismatch`].
    ///
    /// # Spark
    /// Spark deserialises the graph, closures and all, so a recompiled job cannot read its
    /// checkpoint; here the graph always comes from code and only data is restored.
    pub fn get_or_create<F>(
        dir: impl AsRef<Path>,
        setup: F,
        builder: StreamingContextBuilder,
    ) -> Result<StreamingContext>
    where
        F: FnOnce(&StreamingContext) -> Result<()>,
    {
        let dir = dir.as_ref();
        let existing = crate::checkpoint::read_latest(dir)?;
        if let Some(c) = &existing {
            let interval = Duration::from_millis(c.batch_interval_ms);
            if interval != builder.batch_interval {
                return Err(Error::IntervalMismatch {
                    dir: dir.to_path_buf(),
                    checkpoint_ms: c.batch_interval_ms,
                    requested_ms: builder.batch_interval.as_millis() as u64,
                });
            }
        }
        let ssc = builder.build()?;
        ssc.checkpoint(dir)?;
        setup(&ssc)?;
        if let Some(c) = existing {
            ssc.restore(c)?;
            log::info!("restored from the checkpoint in {}", dir.display());
        }
        Ok(ssc)
    }

    fn restore(&self, c: crate::checkpoint::Checkpoint) -> Result<()> {
        let graph = &self.inner.graph;
        let now = graph.fingerprint();
        let describe = |p: Option<&crate::checkpoint::NodePrint>| match p {
            Some(p) => format!("stream {}: {}", p.id, p.description),
            None => "no stream".to_owned(),
        };
        for i in 0..now.len().max(c.graph.len()) {
            let (was, is) = (c.graph.get(i), now.get(i));
            if was != is {
                return Err(Error::GraphMismatch {
                    expected: describe(was),
                    found: describe(is),
                });
            }
        }
        // Each stream's data is restored when the context starts, all at that one moment.
        *graph.recovery.lock() = Some(crate::graph::Recovery {
            zero_time: c.zero_time,
            sequence: c.sequence,
            pending: c.pending,
            last_generated: c.last_generated,
            streams: c.streams,
        });
        Ok(())
    }
}
