//! `json_file_stream`: JSON lines of the files appearing in a directory, each line one
//! record deserialised with serde; lines that do not parse are counted, logged and skipped.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use emberflow_core::Data;

use crate::dstream::DStream;

/// The records of a JSON-lines file stream ([`StreamingContext::json_file_stream`]): a
/// [`DStream`] (it derefs to one), with the files per batch capped by
/// [`max_files_per_batch`](Self::max_files_per_batch) and the malformed lines counted.
///
/// [`StreamingContext::json_file_stream`]: crate::StreamingContext::json_file_stream
pub struct JsonFileStream<T: 'static> {
    pub(crate) stream: DStream<T>,
    pub(crate) max_files: Arc<AtomicUsize>,
    pub(crate) malformed: Arc<AtomicU64>,
}

impl<T: 'static> Clone for JsonFileStream<T> {
    fn clone(&self) -> Self {
        JsonFileStream {
            stream: self.stream.clone(),
            max_files: self.max_files.clone(),
            malformed: self.malformed.clone(),
        }
    }
}

impl<T: Data> JsonFileStream<T> {
    /// At most `n` new files per batch, oldest first; the rest wait for the next batches
    /// however long they wait (Structured Streaming's `maxFilesPerTrigger`).
    pub fn max_files_per_batch(&self, n: usize) -> DStream<T> {
        self.max_files.store(n.max(1), Ordering::Relaxed);
        self.stream.clone()
    }

    /// The records, as a plain stream.
    pub fn stream(&self) -> &DStream<T> {
        &self.stream
    }

    /// Lines skipped so far because they did not parse (blank lines are not counted).
    pub fn malformed_lines(&self) -> u64 {
        self.malformed.load(Ordering::Relaxed)
    }
}

impl<T: 'static> std::ops::Deref for JsonFileStream<T> {
    type Target = DStream<T>;
    fn deref(&self) -> &DStream<T> {
        &self.stream
    }
}

/// Parses one line; a malformed one is counted and logged (the first, then at powers of
/// two, so a file of garbage does not flood the log).
pub(crate) fn parse_line<T: serde::de::DeserializeOwned>(
    line: &str,
    malformed: &AtomicU64,
) -> Option<T> {
    if line.trim().is_empty() {
        return None;
    }
    match serde_json::from_str(line) {
        Ok(v) => Some(v),
        Err(e) => {
            let n = malformed.fetch_add(1, Ordering::Relaxed) + 1;
            if n.is_power_of_two() {
                let shown: String = line.chars().take(120).collect();
                log::warn!(
                    "json_file_stream: skipped a malformed line ({e}): {shown:?}; {n} so far"
                );
            }
            None
        }
    }
}
