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

/// `save_as_text_files` in a group-partitioned job: each input partition of the batch to
/// its own file, under the batch time its owner gave it, while this member owns it.
fn save_group_partitioned<T: Data + TextRecord>(
    group: &crate::group::PartitionGroup,
    rdd: &Rdd<T>,
    time: Time,
    prefix: &str,
    suffix: &str,
) -> Result<()> {
    let layout = group.layout_at(time)?;
    crate::group::check_partitions("save_as_text_files", rdd.num_partitions(), layout.len())?;
    rdd.run_job(|tc, records| {
        let slot = &layout[tc.partition()];
        let mut text = String::new();
        for r in records {
            r.write_text(&mut text);
            text.push('\n');
        }
        if text.is_empty() {
            return Ok(()); // a partition without records this batch has no file
        }
        let dir = batch_output_dir(prefix, suffix, slot.time);
        std::fs::create_dir_all(&dir).map_err(|e| emberflow_core::Error::io(&dir, e))?;
        // Checked right before writing: a member that lost the partition writes nothing.
        if let Err(e) = slot.may_write() {
            log::warn!("not writing {slot:?} to {}: {e}", dir.display());
            return Ok(());
        }
        let path = dir.join(format!("part-{}", slot.label));
        emberflow_core::write_atomically(&path, text.as_bytes())?;
        Ok(())
    })?;
    Ok(())
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
    ///
    /// In a group-partitioned job (several members sharing a Kafka consumer group's
    /// partitions), each member writes only its partitions: one file per batch and input
    /// partition that had records, `prefix-<time_ms>.suffix/part-<topic>-<partition>`, written atomically
    /// while the member still owns the partition. A member that takes a partition over runs
    /// its unfinished batch again under the same time and rewrites the same file, so across
    /// members every record is in the outputs once.
    pub fn save_as_text_files(&self, prefix: impl Into<String>, suffix: impl Into<String>)
    where
        T: TextRecord,
    {
        let (prefix, suffix) = (prefix.into(), suffix.into());
        let services = self.graph.services.clone();
        self.register_output("save_as_text_files", move |rdd, time| {
            if let Some(group) = services.group.get() {
                return save_group_partitioned(group, &rdd, time, &prefix, &suffix);
            }
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
