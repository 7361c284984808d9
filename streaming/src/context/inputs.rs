//! Input constructors: queue, file, socket and receiver streams, and the streams made from
//! several others (`union`, `transform`).

use super::StreamingContext;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use emberflow_core::{Data, Rdd};

use crate::dstream::file_input::{FileInputState, PathFilter};
use crate::dstream::queue_input::{Feed, QueueInput, RddQueue};
use crate::dstream::receiver_input::ReceiverSource;
use crate::dstream::DStream;
use crate::error::{Error, Result};
use crate::plumbing::DStreamNode;
use crate::receiver::socket::SocketTextReceiver;
use crate::receiver::{Receiver, ReceiverRunner};
use crate::time::Time;

impl StreamingContext {
    /// Makes this job one member of several that share its partitioned input (a Kafka
    /// consumer group's partitions): the handle a group-partitioned source works through.
    /// Partition checkpoints go to `store`, or, without one, to the context's checkpoint
    /// directory (both settled when the context starts); the context's own metadata
    /// checkpoints then go to a directory of this
    /// member's under it (`members/<member>`, removed when the member stops), never read by
    /// another member, so every start of the program builds its graph afresh and restores
    /// partitions as it gains them. One group input per job.
    pub fn group_input(
        &self,
        store: Option<Arc<dyn crate::checkpoint_store::CheckpointStore>>,
    ) -> Result<crate::plumbing::GroupInput> {
        let graph = self.graph();
        if graph.group.get().is_some() {
            return Err(Error::InvalidGraph(
                "a job has at most one group-partitioned input".into(),
            ));
        }
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let member = format!("member-{}-{nanos:x}", std::process::id());
        let group = Arc::new(crate::group::PartitionGroup::new(member));
        // Without a store, the checkpoint directory serves, as the context has it when it
        // starts (`StreamingContext::start` settles both).
        if let Some(store) = store {
            group.set_store(store);
        }
        let _ = graph.group.set(group.clone());
        Ok(crate::plumbing::GroupInput {
            services: graph.services.clone(),
            group,
        })
    }

    /// A stream fed from a queue of RDDs: each batch takes the next one (`one_at_a_time`) or
    /// all queued ones; an empty queue gives an empty RDD.
    pub fn queue_stream<T: Data>(&self, queue: &RddQueue<T>, one_at_a_time: bool) -> DStream<T> {
        self.queue_stream_with_default(queue, one_at_a_time, None)
    }

    /// [`queue_stream`](Self::queue_stream) that gives `default` when the queue is empty.
    pub fn queue_stream_with_default<T: Data>(
        &self,
        queue: &RddQueue<T>,
        one_at_a_time: bool,
        default: Option<Rdd<T>>,
    ) -> DStream<T> {
        self.ensure_initialized("queue_stream");
        DStream::from_source(
            self,
            QueueInput {
                ctx: self.inner.graph.ctx.clone(),
                feed: Feed::Queue {
                    queue: queue.clone(),
                    one_at_a_time,
                    default,
                },
                counts: Default::default(),
            },
        )
    }

    /// Lines of the text files that appear in `dir` after the start (Spark's
    /// `textFileStream`). Files should appear by atomic rename; hidden (`.`, `_`) and
    /// temporary files are ignored. A missing directory is an error at `start`.
    pub fn text_file_stream(&self, dir: impl AsRef<Path>) -> DStream<String> {
        self.file_stream_impl(dir.as_ref().to_path_buf(), None, true)
    }

    /// Lines of the files in `dir` that pass `filter`; `new_files_only: false` also reads
    /// files already there (modified within the last minute).
    pub fn file_stream<F>(
        &self,
        dir: impl AsRef<Path>,
        filter: F,
        new_files_only: bool,
    ) -> DStream<String>
    where
        F: Fn(&Path) -> bool + Send + Sync + 'static,
    {
        self.file_stream_impl(
            dir.as_ref().to_path_buf(),
            Some(Arc::new(filter)),
            new_files_only,
        )
    }

    fn file_stream_impl(
        &self,
        dir: PathBuf,
        filter: Option<PathFilter>,
        new_files_only: bool,
    ) -> DStream<String> {
        self.file_source(dir, filter, new_files_only).0
    }

    /// A file stream and the handle of its files-per-batch cap.
    fn file_source(
        &self,
        dir: PathBuf,
        filter: Option<PathFilter>,
        new_files_only: bool,
    ) -> (DStream<String>, Arc<std::sync::atomic::AtomicUsize>) {
        self.ensure_initialized("file_stream");
        let graph = &self.inner.graph;
        let source = FileInputState::new(
            &graph.ctx,
            dir,
            filter,
            new_files_only,
            graph.batch_interval,
            graph.clock.clone(),
        );
        let cap = source.max_files.clone();
        (DStream::from_source(self, source), cap)
    }

    /// Records of the JSON-lines files that appear in `dir` (as `text_file_stream`), one per
    /// line, deserialised with serde; lines that do not parse are counted
    /// ([`JsonFileStream::malformed_lines`](crate::dstream::json_input::JsonFileStream::malformed_lines)), logged and skipped.
    ///
    /// ```
    /// use emberflow_streaming::{ManualClock, StreamingContext};
    /// use emberflow_core::Context;
    /// #[derive(Clone, serde::Deserialize)]
    /// struct Event { user: String }
    /// let ssc = StreamingContext::builder(&Context::local(2), std::time::Duration::from_secs(1))
    ///     .clock(ManualClock::new())
    ///     .build()?;
    /// let dir = std::env::temp_dir();
    /// let events = ssc.json_file_stream::<Event>(&dir).max_files_per_batch(10);
    /// events.map(|e| e.user).foreach_rdd(|_, _| Ok(()));
    /// # Ok::<(), emberflow_streaming::Error>(())
    /// ```
    pub fn json_file_stream<T>(
        &self,
        dir: impl AsRef<Path>,
    ) -> crate::dstream::json_input::JsonFileStream<T>
    where
        T: Data + serde::de::DeserializeOwned,
    {
        let (lines, max_files) = self.file_source(dir.as_ref().to_path_buf(), None, true);
        let malformed = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counter = malformed.clone();
        let stream = lines
            .flat_map(move |l: String| crate::dstream::json_input::parse_line::<T>(&l, &counter));
        crate::dstream::json_input::JsonFileStream {
            stream,
            max_files,
            malformed,
        }
    }

    /// Lines read from a TCP server at `host:port`; reconnects when the connection drops or
    /// is refused, backing off, and reports each failure to listeners.
    pub fn socket_text_stream(&self, host: impl Into<String>, port: u16) -> DStream<String> {
        self.receiver_stream(SocketTextReceiver {
            host: host.into(),
            port,
        })
    }

    /// A stream fed by a user [`Receiver`] running on its own thread.
    pub fn receiver_stream<R: Receiver>(&self, receiver: R) -> DStream<R::Item> {
        self.ensure_initialized("receiver_stream");
        let graph = &self.inner.graph;
        DStream::from_source_with(graph, |id| ReceiverSource {
            ctx: graph.ctx.clone(),
            runner: Arc::new(ReceiverRunner::new(receiver, id, &graph.services)),
        })
    }

    /// The union of several streams.
    pub fn union<T: Data>(&self, streams: &[DStream<T>]) -> Result<DStream<T>> {
        DStream::union_all(streams).ok_or_else(|| Error::InvalidGraph("union of no streams".into()))
    }

    /// A stream made every batch by `f` from the RDDs of `streams` for that batch (Spark's
    /// `StreamingContext.transform`); the streams must have the same slide duration. A stream
    /// without an RDD for a batch fails that batch, as in Spark.
    ///
    /// ```
    /// use emberflow_streaming::{testing::BatchRunner, DStream};
    /// use std::time::Duration;
    /// let runner = BatchRunner::new(Duration::from_secs(1));
    /// let a: DStream<i32> = runner.queue_input(vec![vec![1, 2]]);
    /// let b: DStream<i32> = runner.queue_input(vec![vec![10]]);
    /// let c: DStream<i32> = runner.queue_input(vec![vec![100]]);
    /// let sum = runner.ssc().transform(&[a, b, c], |rdds, _time| {
    ///     let all = rdds[0].union(&rdds[1]).union(&rdds[2]);
    ///     all.map(|x| x * 2)
    /// })?;
    /// let out = runner.collect(&sum);
    /// runner.run(1)?;
    /// let mut got = out.batches().concat();
    /// got.sort();
    /// assert_eq!(got, vec![2, 4, 20, 200]);
    /// # Ok::<(), emberflow_streaming::Error>(())
    /// ```
    pub fn transform<T: Data, U: Data, F>(&self, streams: &[DStream<T>], f: F) -> Result<DStream<U>>
    where
        F: Fn(Vec<Rdd<T>>, Time) -> Rdd<U> + Send + Sync + 'static,
    {
        if streams.is_empty() {
            return Err(Error::InvalidGraph("transform of no streams".into()));
        }
        Ok(DStream::from_node(
            &self.inner.graph,
            crate::dstream::transformed::TransformedDStreamN::new(
                streams.iter().map(|s| s.inner.clone()).collect(),
                f,
            ),
        ))
    }
}

/// The streams of new kinds a context is given (for implementers, through `plumbing`): here,
/// beside the other input constructors, so that the DStream module needs nothing of the
/// context above it.
impl<T: Data> DStream<T> {
    /// A stream of a new kind (for implementers of sources and operators): adds `node` to the
    /// graph of `ssc`. The base memoises, remembers and forgets its RDDs, and saves and
    /// restores its checkpoint data.
    pub fn from_custom_node(ssc: &StreamingContext, node: impl DStreamNode<T>) -> DStream<T> {
        DStream::from_node(ssc.graph(), node)
    }

    /// An input stream of `source` (for implementers of sources, see
    /// [`plumbing::Source`](crate::plumbing::Source)): a node of the graph of `ssc` whose
    /// batches the source gives, started and stopped with the context, with its record
    /// counts in every `BatchInfo` and its recovery data in the metadata checkpoint.
    pub fn from_source<S: crate::plumbing::Source<T>>(
        ssc: &StreamingContext,
        source: S,
    ) -> DStream<T> {
        Self::from_source_with(ssc.graph(), |_| source)
    }
}
