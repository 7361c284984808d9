//! The input stream of a receiver, as a [`Source`]: each batch is the blocks assigned to its
//! time, one RDD partition per block.

use std::sync::Arc;

use emberflow_core::{Context, Data, Rdd};

use crate::error::Result;
use crate::plumbing::Source;
use crate::receiver::{Receiver, ReceiverRunner};
use crate::time::Time;

pub(crate) struct ReceiverSource<R: Receiver> {
    pub(crate) ctx: Context,
    pub(crate) runner: Arc<ReceiverRunner<R>>,
}

impl<R: Receiver> Source<R::Item> for ReceiverSource<R>
where
    R::Item: Data,
{
    fn kind(&self) -> &'static str {
        "receiver_input"
    }
    fn name(&self) -> String {
        format!("receiver stream {}", self.runner.shared.name)
    }
    fn start(&self, _zero_time: Time) -> Result<()> {
        self.runner.start()
    }
    fn stop(&self) {
        self.runner.stop();
    }
    fn has_unconsumed(&self) -> bool {
        self.runner.has_unallocated()
    }
    fn assign_batch(&self, time: Time) -> Result<()> {
        self.runner.allocate(time);
        Ok(())
    }
    fn set_rate_limit(&self, records_per_second: Option<u64>) {
        self.runner.shared.set_rate_limit(records_per_second);
    }
    fn records(&self, time: Time) -> Option<u64> {
        self.runner.shared.records_of(time)
    }
    fn batch(&self, time: Time) -> Result<Option<Rdd<R::Item>>> {
        let blocks = self.runner.shared.blocks_of(time);
        Ok(Some(if blocks.is_empty() {
            self.ctx.empty()
        } else {
            self.ctx.parallelize_partitions(blocks)
        }))
    }
    fn forget(&self, time: Time, keep: &std::collections::BTreeSet<Time>) {
        self.runner.forget(time, keep);
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
}
