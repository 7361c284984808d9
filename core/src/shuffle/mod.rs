//! The in-memory shuffle store: map outputs per shuffle, kept for later jobs over the same
//! lineage and removed when the shuffle's RDD is dropped.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::plumbing::Bucket;

/// Outputs of one shuffle: `[map partition][reduce partition]`.
pub(crate) type ShuffleOutput = Arc<Vec<Vec<Bucket>>>;

#[derive(Default)]
pub(crate) struct ShuffleStore {
    outputs: Mutex<HashMap<usize, ShuffleOutput>>,
}

impl ShuffleStore {
    pub(crate) fn contains(&self, shuffle_id: usize) -> bool {
        self.outputs.lock().contains_key(&shuffle_id)
    }
    pub(crate) fn get(&self, shuffle_id: usize) -> Option<ShuffleOutput> {
        self.outputs.lock().get(&shuffle_id).cloned()
    }
    pub(crate) fn put(&self, shuffle_id: usize, output: Vec<Vec<Bucket>>) {
        self.outputs.lock().insert(shuffle_id, Arc::new(output));
    }
    pub(crate) fn remove(&self, shuffle_id: usize) {
        // Dropped outside the lock: freeing a large output should not block other jobs.
        let removed = self.outputs.lock().remove(&shuffle_id);
        drop(removed);
    }
    /// How many shuffles hold outputs (for tests of cleanup).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.outputs.lock().len()
    }
}
