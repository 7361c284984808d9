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

/// Where a queue input's batches come from.
pub(crate) enum Feed<T: 'static> {
    /// `queue_stream`: each batch takes the next queued RDD (`one_at_a_time`) or all of them.
    Queue {
        queue: RddQueue<T>,
        one_at_a_time: bool,
        default: Option<Rdd<T>>,
    },
    /// The test input of `emberflow::testing`: batch `i` (at `zero + (i + 1) * interval`)
    /// holds `batches[i]`, chosen by batch time, whether or not earlier batches were read (as
    /// Spark's TestInputStream); later batches are empty.
    Table {
        batches: Vec<Rdd<T>>,
        interval: Duration,
        services: Arc<crate::services::Services>,
    },
}

/// A queue input as a source, counting the records its batches' jobs read.
pub(crate) struct QueueInput<T: 'static> {
    pub(crate) ctx: Context,
    pub(crate) feed: Feed<T>,
    pub(crate) counts: RecordCounts,
}

impl<T: Data> QueueInput<T> {
    /// The RDD the feed gives for the batch at `time`.
    fn take(&self, time: Time) -> Result<Rdd<T>> {
        Ok(match &self.feed {
            Feed::Queue {
                queue,
                one_at_a_time,
                default,
            } => {
                let mut q = queue.inner.lock();
                let taken: Vec<Rdd<T>> = if *one_at_a_time {
                    q.pop_front().into_iter().collect()
                } else {
                    q.drain(..).collect()
                };
                drop(q);
                // As Spark: nothing queued gives the default RDD, or an empty one.
                match taken.len() {
                    0 => default.clone().unwrap_or_else(|| self.ctx.empty()),
                    1 => taken.into_iter().next().expect("one element"),
                    _ => self.ctx.union(&taken),
                }
            }
            Feed::Table {
                batches,
                interval,
                services,
            } => {
                let zero = services.zero_time().ok_or_else(|| {
                    crate::error::Error::IllegalState("the StreamingContext has not started".into())
                })?;
                let step = interval.as_millis().max(1) as u64;
                let index = ((time.millis().saturating_sub(zero.millis())) / step).checked_sub(1);
                index
                    .and_then(|i| batches.get(i as usize).cloned())
                    .unwrap_or_else(|| self.ctx.empty())
            }
        })
    }
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
        let rdd = self.take(time)?;
        Ok(Some(self.counts.wrap(time, rdd)))
    }
}
