//! The memory sink: a stream's rows kept in a table the program can read at any time.

use std::sync::Arc;

use emberflow_core::Data;
use parking_lot::Mutex;

use crate::dstream::DStream;

/// A queryable in-memory table of a stream's rows (Spark's memory sink): each batch's rows
/// are appended, or, for an aggregate in [`OutputMode::Complete`](super::OutputMode), replace
/// the table.
///
/// ```
/// use emberflow_streaming::testing::BatchRunner;
/// let runner = BatchRunner::new(std::time::Duration::from_secs(1));
/// let table = runner.queue_input::<u32, u32>(vec![vec![1, 2], vec![3]]).to_memory_table("numbers");
/// runner.run(2)?;
/// assert_eq!(table.name(), "numbers");
/// assert_eq!(table.rows(), vec![1, 2, 3]);
/// # Ok::<(), emberflow_streaming::Error>(())
/// ```
pub struct MemoryTable<T> {
    name: String,
    rows: Arc<Mutex<Vec<T>>>,
}

impl<T> Clone for MemoryTable<T> {
    fn clone(&self) -> Self {
        MemoryTable {
            name: self.name.clone(),
            rows: self.rows.clone(),
        }
    }
}

impl<T: Data> MemoryTable<T> {
    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The rows now, in arrival order (each batch's in partition order).
    pub fn rows(&self) -> Vec<T> {
        self.rows.lock().clone()
    }
}

impl<T: Data> DStream<T> {
    /// Keeps the stream's rows in a [`MemoryTable`] (an output operation).
    pub fn to_memory_table(&self, name: impl Into<String>) -> MemoryTable<T> {
        let table = MemoryTable {
            name: name.into(),
            rows: Arc::default(),
        };
        let whole = self
            .graph
            .services
            .whole_table_streams
            .lock()
            .contains(&self.id());
        let rows = table.rows.clone();
        self.register_output("to_memory_table", move |rdd, _| {
            let batch = rdd.collect()?;
            let mut rows = rows.lock();
            if whole {
                *rows = batch;
            } else {
                rows.extend(batch);
            }
            Ok(())
        });
        table
    }
}
