//! `queue_stream`: each batch takes the next RDD of a queue the program fills (or all of
//! them), for tests and for feeding data from the driver.

use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use emberflow_core::{Context, Data, Rdd};
use parking_lot::Mutex;

use crate::dstream::counted::RecordCounts;
use crate::error::Result;
use crate::plumbing::Source;
use crate::time::Time;

/// A queue of RDDs feeding a `queue_stream`; push more while the stream runs.
///
/// ```
/// use emberflow_core::Context;
/// use emberflow_streaming::RddQueue;
/// let ctx = Context::local(1);
/// let q = RddQueue::new();
/// q.push(ctx.parallelize(vec![1, 2], 1));
/// assert_eq!(q.len(), 1);
/// ```
pub struct RddQueue<T: 'static> {
    inner: Arc<Mutex<VecDeque<Rdd<T>>>>,
}

impl<T: 'static> Clone for RddQueue<T> {
    fn clone(&self) -> Self {
        RddQueue {
            inner: self.inner.clone(),
        }
    }
}

impl<T: Data> Default for RddQueue<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Data> RddQueue<T> {
    /// An empty queue.
    pub fn new() -> Self {
        RddQueue {
            inner: Arc::new(Mutex::new(VecDeque::new())),
        }
    }
    /// Appends an RDD.
    pub fn push(&self, rdd: Rdd<T>) {
        self.inner.lock().push_back(rdd);
    }
    /// RDDs not yet taken by a batch.
    pub fn len(&self) -> usize {
        self.inner.lock().len()
    }
    /// Whether every RDD was taken.
    pub fn is_empty(&self) -> bool {
        self.inner.lock().is_empty()
    }
}

impl<T: Data> From<Vec<Rdd<T>>> for RddQueue<T> {
    fn from(v: Vec<Rdd<T>>) -> Self {
        RddQueue {
            inner: Arc::new(Mutex::new(v.into())),
        }
    }
}

/// `queue_stream` as a source.
pub(crate) struct QueueInput<T: 'static> {
    pub(crate) ctx: Context,
    pub(crate) queue: RddQueue<T>,
    pub(crate) one_at_a_time: bool,
    pub(crate) default: Option<Rdd<T>>,
    pub(crate) counts: RecordCounts,
}

impl<T: Data> Source<T> for QueueInput<T> {
    fn kind(&self) -> &'static str {
        "queue_input"
    }
    fn name(&self) -> String {
        "queue stream".into()
    }
    fn records_read(&self, time: Time) -> Option<u64> {
        self.counts.read(time)
    }
    fn forget(&self, time: Time, keep: &BTreeSet<Time>) {
        self.counts.forget(time, keep);
    }
    fn batch(&self, time: Time) -> Result<Option<Rdd<T>>> {
        let mut q = self.queue.inner.lock();
        let taken: Vec<Rdd<T>> = if self.one_at_a_time {
            q.pop_front().into_iter().collect()
        } else {
            q.drain(..).collect()
        };
        drop(q);
        // As Spark: nothing queued gives the default RDD, or an empty one.
        let rdd = match taken.len() {
            0 => self.default.clone().unwrap_or_else(|| self.ctx.empty()),
            1 => taken.into_iter().next().expect("one element"),
            _ => self.ctx.union(&taken),
        };
        Ok(Some(self.counts.wrap(time, rdd)))
    }
}

/// The test input of `emberflow::testing`: batch `i` (at `zero + (i + 1) * interval`) holds
/// `batches[i]`, chosen by batch time, whether or not earlier batches were read (as Spark's
/// TestInputStream); later batches are empty.
pub(crate) struct BatchTableInput<T: 'static> {
    pub(crate) ctx: Context,
    pub(crate) batches: Vec<Rdd<T>>,
    pub(crate) interval: Duration,
    pub(crate) services: Arc<crate::services::Services>,
    pub(crate) counts: RecordCounts,
}

impl<T: Data> Source<T> for BatchTableInput<T> {
    fn kind(&self) -> &'static str {
        "queue_input"
    }
    fn name(&self) -> String {
        "queue stream".into()
    }
    fn records_read(&self, time: Time) -> Option<u64> {
        self.counts.read(time)
    }
    fn forget(&self, time: Time, keep: &BTreeSet<Time>) {
        self.counts.forget(time, keep);
    }
    fn batch(&self, time: Time) -> Result<Option<Rdd<T>>> {
        let zero = self.services.zero_time().ok_or_else(|| {
            crate::error::Error::IllegalState("the StreamingContext has not started".into())
        })?;
        let step = self.interval.as_millis().max(1) as u64;
        let index = ((time.millis().saturating_sub(zero.millis())) / step).checked_sub(1);
        let rdd = index
            .and_then(|i| self.batches.get(i as usize).cloned())
            .unwrap_or_else(|| self.ctx.empty());
        Ok(Some(self.counts.wrap(time, rdd)))
    }
}
