//! The input stream of a receiver: each batch is the blocks allocated to its time, one RDD
//! partition per block.

use std::sync::Arc;
use std::time::Duration;

use emberflow_core::{Context, Data, Rdd};

use crate::error::Result;
use crate::plumbing::{DStreamBase, DStreamNode, InputBase};
use crate::receiver::{Receiver, ReceiverInput, ReceiverRunner};
use crate::time::Time;

pub(crate) struct ReceiverInputDStream<R: Receiver> {
    pub(crate) ctx: Context,
    pub(crate) runner: Arc<ReceiverRunner<R>>,
    pub(crate) interval: Duration,
}

impl<R: Receiver> DStreamNode<R::Item> for ReceiverInputDStream<R>
where
    R::Item: Data,
{
    fn kind(&self) -> &'static str {
        "receiver_input"
    }
    fn slide_duration(&self) -> Duration {
        self.interval
    }
    fn dependencies(&self) -> Vec<Arc<dyn DStreamBase>> {
        Vec::new()
    }
    fn checkpoint_data(&self) -> Result<Option<Vec<u8>>> {
        crate::checkpoint::encode_stream_data(&self.runner.shared.checkpoint(), || {
            format!("receiver stream {}", self.runner.shared.name)
        })
        .map(Some)
    }
    fn restore(&self, data: &[u8]) -> Result<()> {
        let restored = bincode::deserialize(data).map_err(|e| {
            crate::error::Error::user(format!(
                "receiver stream: cannot decode its checkpoint data: {e}"
            ))
        })?;
        self.runner.shared.set_restored(restored);
        Ok(())
    }
    fn compute(&self, time: Time) -> Result<Option<Rdd<R::Item>>> {
        let blocks = self.runner.shared.blocks_of(time);
        Ok(Some(if blocks.is_empty() {
            self.ctx.empty()
        } else {
            self.ctx.parallelize_partitions(blocks)
        }))
    }
}

pub(crate) struct ReceiverInputHandle<R: Receiver> {
    pub(crate) runner: Arc<ReceiverRunner<R>>,
}

impl<R: Receiver> InputBase for ReceiverInputHandle<R> {
    fn name(&self) -> String {
        format!("receiver stream {}", self.runner.shared.name)
    }
    fn forget(&self, time: Time, keep: &std::collections::BTreeSet<Time>) {
        self.runner.forget(time, keep);
    }
    fn receiver(&self) -> Option<Arc<dyn ReceiverInput>> {
        Some(self.runner.clone())
    }
}
