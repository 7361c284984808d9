//! Output operations: `foreach_rdd` and the two built on it, `print` and
//! `save_as_text_files`. Each registers with the graph; every batch, each output in
//! declaration order becomes one job.

use std::path::PathBuf;
use std::sync::Arc;

use emberflow_core::{Data, Rdd, TextRecord};

use crate::dstream::{DStream, DStreamInner};
use crate::error::Result;
use crate::plumbing::{DStreamBase, JobFn, OutputBase};
use crate::time::Time;

struct ForEachOutput<T: 'static, F> {
    name: String,
    parent: Arc<DStreamInner<T>>,
    f: Arc<F>,
}

impl<T: Data, F> OutputBase for ForEachOutput<T, F>
where
    F: Fn(Rdd<T>, Time) -> Result<()> + Send + Sync + 'static,
{
    fn name(&self) -> &str {
        &self.name
    }
    fn stream(&self) -> Arc<dyn DStreamBase> {
        self.parent.clone()
    }
    fn generate_job(&self, time: Time) -> Result<Option<JobFn>> {
        Ok(self.parent.get_or_compute(time)?.map(|rdd| {
            let f = self.f.clone();
            Box::new(move || f(rdd, time)) as JobFn
        }))
    }
}

/// The directory `save_as_text_files` writes the batch at `time` to:
/// `prefix-<time_ms>.suffix`, or `prefix-<time_ms>` for an empty suffix.
pub fn batch_output_dir(prefix: &str, suffix: &str, time: Time) -> PathBuf {
    if suffix.is_empty() {
        PathBuf::from(format!("{prefix}-{}", time.millis()))
    } else {
        PathBuf::from(format!("{prefix}-{}.{suffix}", time.millis()))
    }
}

/// Spark's `print` format for one batch: a dashed header with the time, up to `n` records,
/// `...` if there were more, and a blank line.
pub(crate) fn format_batch<T: TextRecord>(time: Time, first: &[T], n: usize) -> String {
    let mut out = String::new();
    out.push_str("-------------------------------------------\n");
    out.push_str(&format!("Time: {}\n", time));
    out.push_str("-------------------------------------------\n");
    for r in first.iter().take(n) {
        r.write_text(&mut out);
        out.push('\n');
    }
    if first.len() > n {
        out.push_str("...\n");
    }
    out.push('\n');
    out
}

impl<T: Data> DStream<T> {
    /// Runs `f` on every batch's RDD with the batch time, in the scheduler's job thread.
    /// Re-runs of a batch after recovery get the same time, so sinks can be idempotent.
    ///
    /// ```
    /// use emberflow_streaming::testing::BatchRunner;
    /// use std::sync::{Arc, Mutex};
    /// let runner = BatchRunner::new(std::time::Duration::from_secs(1));
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let s = seen.clone();
    /// runner.queue_input::<i32, i32>(vec![vec![1, 2], vec![3]]).foreach_rdd(move |rdd, time| {
    ///     s.lock().unwrap().push((time.millis(), rdd.count()?));
    ///     Ok(())
    /// });
    /// runner.run(2)?;
    /// assert_eq!(*seen.lock().unwrap(), vec![(1000, 2), (2000, 1)]);
    /// # Ok::<(), emberflow_streaming::Error>(())
    /// ```
    pub fn foreach_rdd<F>(&self, f: F)
    where
        F: Fn(Rdd<T>, Time) -> Result<()> + Send + Sync + 'static,
    {
        self.register_output("foreach_rdd", f);
    }

    pub(crate) fn register_output<F>(&self, name: &str, f: F)
    where
        F: Fn(Rdd<T>, Time) -> Result<()> + Send + Sync + 'static,
    {
        self.graph.add_output(Arc::new(ForEachOutput {
            name: name.to_owned(),
            parent: self.inner.clone(),
            f: Arc::new(f),
        }));
    }

    /// Prints the first `n` records of every batch to stdout, in Spark's format:
    ///
    /// ```text
    /// -------------------------------------------
    /// Time: 1000 ms
    /// -------------------------------------------
    /// (a,2)
    /// ...
    /// ```
    pub fn print(&self, n: usize)
    where
        T: TextRecord,
    {
        self.register_output("print", move |rdd, time| {
            let first = rdd.take(n + 1)?;
            // A closed stdout (`| head`) is not the stream's failure: ignore write errors.
            use std::io::Write as _;
            let _ = std::io::stdout()
                .lock()
                .write_all(format_batch(time, &first, n).as_bytes());
            Ok(())
        });
    }

    /// Saves every batch as text into `prefix-<time_ms>.suffix` (one directory per batch,
    /// `part-00000…` and `_SUCCESS`, written atomically). Re-running a batch rewrites its
    /// directory with the same content.
    pub fn save_as_text_files(&self, prefix: impl Into<String>, suffix: impl Into<String>)
    where
        T: TextRecord,
    {
        let (prefix, suffix) = (prefix.into(), suffix.into());
        self.register_output("save_as_text_files", move |rdd, time| {
            let dir = batch_output_dir(&prefix, &suffix, time);
            rdd.save_as_text_file_replacing(&dir)?;
            Ok(())
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn print_format_is_sparks() {
        let s = format_batch(
            Time::from_millis(2000),
            &[("a".to_string(), 1u64), ("b".to_string(), 2)],
            1,
        );
        assert_eq!(
            s,
            "-------------------------------------------\nTime: 2000 ms\n-------------------------------------------\n(a,1)\n...\n\n"
        );
        assert_eq!(
            batch_output_dir("/o/wc", "txt", Time::from_millis(500)),
            PathBuf::from("/o/wc-500.txt")
        );
        assert_eq!(
            batch_output_dir("/o/wc", "", Time::from_millis(500)),
            PathBuf::from("/o/wc-500")
        );
    }
}
