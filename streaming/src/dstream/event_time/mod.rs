//! Event time: windows on a timestamp inside the records, a watermark that bounds lateness and
//! frees state, deduplication, session windows, output modes, event-time timeouts of
//! `map_with_state`, and a queryable in-memory table.
//!
//! The semantics are Spark's Structured Streaming ones, on DStreams:
//! - The **watermark** of an [`EventStream`] is the greatest event time seen minus the delay,
//!   computed when a batch ends and in force from the next batch on; it never goes back.
//!   Before any record it is undefined (nothing is late, no window closes). A union of event
//!   streams ([`EventStream::union`]) goes by the least of its inputs' watermarks.
//! - A record whose event time is **at or before the watermark** is late: every event-time
//!   aggregate and deduplication drops it (counted as `numRowsDroppedByWatermark` in the
//!   progress), and [`EventStream::late`] holds it.
//! - [`OutputMode::Append`] emits a window's row once, in the first batch whose watermark is
//!   at or past the window's end, and frees it; [`OutputMode::Update`] emits the rows the
//!   batch changed and frees windows the watermark passed; [`OutputMode::Complete`] emits
//!   the whole table every batch and keeps all of it.
//! - Windows are `[start, end)`, aligned to the epoch: a record at `t` is in every window of
//!   the given size whose start is a multiple of the slide and `start <= t < end`. A session
//!   window runs from its first event to its last plus the gap and merges with any session
//!   an event bridges it to.
//! - Deduplication remembers a key until the watermark passes its record's event time.
//! - `map_with_state` on an event stream times a state out once the watermark passes the
//!   time its function set with `State::set_timeout_timestamp` (strictly, as Spark).
//! - [`EventStream::idle_advance`] (not in Spark): after a while without records the
//!   watermark moves on with the batches, so windows close without new input.
//! - Restarts: the watermark and every operator's state travel in each metadata checkpoint
//!   (`recovery`); `get_or_create` continues exactly.
//!
//! The operators run as each batch's first jobs, on the job executor, in batch order; their
//! state lives in hash partitions next to the engine (as `map_with_state`'s).

mod aggregate;
mod dedup;
mod memory_table;
pub(crate) mod recovery;
mod session;
mod types;
mod watermark;

pub use memory_table::MemoryTable;
pub use session::SessionWindows;
pub use types::{EventTime, OutputMode, Window};

use std::sync::Arc;
use std::time::Duration;

use emberflow_core::{Data, Rdd};

use crate::dstream::DStream;
use crate::plumbing::{DStreamBase, DStreamNode};
use crate::time::Time;

/// What gives a record its event time.
pub(crate) type TimeOf<T> = Arc<dyn Fn(&T) -> EventTime + Send + Sync>;

pub(crate) use aggregate::validate_event_time;
pub(crate) use watermark::Watermark;

/// `rdd`, the records of batch `time`, noting their event times for `watermark`.
pub(crate) fn observed<T: Data>(
    rdd: Rdd<T>,
    time_of: TimeOf<T>,
    watermark: Arc<Watermark>,
    time: Time,
    scan: watermark::Scan,
) -> Rdd<T> {
    watermark::ObservedRdd::rdd(rdd, time_of, watermark, time, scan)
}

/// A stream whose records carry an event time, with a watermark: what the event-time
/// operators (windows, keyed aggregates, deduplication, the late records) read.
///
/// ```
/// use emberflow_streaming::testing::BatchRunner;
/// use emberflow_streaming::{EventTime, OutputMode, Window};
/// use std::time::Duration;
/// let runner = BatchRunner::new(Duration::from_secs(1));
/// // (event time in seconds, user)
/// let events = runner.queue_input::<(i64, u32), (i64, u32)>(vec![
///     vec![(1, 7), (4, 8), (12, 7)],
///     vec![(30, 8)], // the watermark for the next batch: 30 - 10 = 20 s
///     vec![],        // windows ending by 20 s close: emitted once, then freed
/// ]);
/// let timed = events.with_watermark(|e| EventTime::from_millis(e.0 * 1000), Duration::from_secs(10));
/// let counts = timed.window(Duration::from_secs(10), Duration::from_secs(10))
///     .count(OutputMode::Append);
/// let out = runner.collect(&counts);
/// runner.run(3)?;
/// let w = |s: i64| Window::new(EventTime::from_millis(s * 1000), Duration::from_secs(10));
/// let mut batches = out.batches();
/// batches[2].sort();
/// assert_eq!(batches, vec![vec![], vec![], vec![(w(0), 2), (w(10), 1)]]);
/// # Ok::<(), emberflow_streaming::Error>(())
/// ```
pub struct EventStream<T: 'static> {
    pub(crate) stream: DStream<T>,
    pub(crate) time_of: TimeOf<T>,
    pub(crate) watermark: Arc<Watermark>,
    /// A union's inputs (each scanned for its own watermark).
    inputs: Vec<EventStream<T>>,
}

impl<T: 'static> Clone for EventStream<T> {
    fn clone(&self) -> Self {
        EventStream {
            stream: self.stream.clone(),
            time_of: self.time_of.clone(),
            watermark: self.watermark.clone(),
            inputs: self.inputs.clone(),
        }
    }
}

impl<T: Data> DStream<T> {
    /// The stream with event times (`time_of`) and a watermark `delay` behind the greatest
    /// event time seen (Spark's `withWatermark`).
    pub fn with_watermark(
        &self,
        time_of: impl Fn(&T) -> EventTime + Send + Sync + 'static,
        delay: Duration,
    ) -> EventStream<T> {
        let services = self.graph.services.clone();
        EventStream {
            stream: self.clone(),
            time_of: Arc::new(time_of),
            watermark: Arc::new(Watermark::new(self.id(), delay, services)),
            inputs: Vec::new(),
        }
    }
}

impl<T: Data> EventStream<T> {
    /// The records, as a plain stream.
    pub fn stream(&self) -> &DStream<T> {
        &self.stream
    }

    /// Idle advance: once the stream has had no records for `after` (batch time), the
    /// watermark moves on with the batches, so windows close without new input. Records
    /// that arrive later behind it are late.
    ///
    /// # Spark
    /// Spark leaves the watermark where it is while no data arrives, and windows open.
    pub fn idle_advance(&self, after: Duration) -> EventStream<T> {
        self.watermark.set_idle(after);
        self.clone()
    }

    /// The union of this stream and `other`: its watermark is the least of theirs (Spark's
    /// default with several inputs), each going on with its own delay; the records' event
    /// times are read with this stream's extractor.
    pub fn union(&self, other: &EventStream<T>) -> EventStream<T> {
        let stream = self.stream.union(&other.stream);
        let services = self.stream.graph.services.clone();
        let inputs = vec![self.clone(), other.clone()];
        EventStream {
            watermark: Arc::new(Watermark::union(
                stream.id(),
                inputs.iter().map(|i| i.watermark.clone()).collect(),
                services,
            )),
            stream,
            time_of: self.time_of.clone(),
            inputs,
        }
    }

    /// The watermark in force for the latest batch (`None` before any record).
    pub fn watermark(&self) -> Option<EventTime> {
        self.watermark.current()
    }

    /// Windows of `size` every `slide` on event time (tumbling when they are equal).
    ///
    /// # Panics
    /// `size` or `slide` is zero, or `slide` is longer than `size`.
    pub fn window(&self, size: Duration, slide: Duration) -> EventWindows<T> {
        assert!(
            !size.is_zero() && !slide.is_zero() && slide <= size,
            "an event-time window needs 0 < slide <= size (got size {size:?}, slide {slide:?})"
        );
        EventWindows {
            events: self.clone(),
            size,
            slide,
        }
    }

    /// Session windows per `key`: a session closes after `gap` without an event of its key;
    /// sessions merge when an event (late but within the watermark) bridges them. Aggregate
    /// them with [`SessionWindows::count`].
    pub fn session_window<K>(
        &self,
        key: impl Fn(&T) -> K + Send + Sync + 'static,
        gap: Duration,
    ) -> SessionWindows<T, K>
    where
        K: Data + std::hash::Hash + Eq + serde::Serialize + serde::de::DeserializeOwned,
    {
        SessionWindows {
            events: self.clone(),
            key: Arc::new(key),
            gap,
        }
    }

    /// Records per key, over all event time (no window): rows `(key, count)`. Only
    /// [`OutputMode::Update`] and [`OutputMode::Complete`]: without a window no row ever
    /// closes, so an Append aggregate is refused when the context starts.
    pub fn count_by<K>(
        &self,
        key: impl Fn(&T) -> K + Send + Sync + 'static,
        mode: OutputMode,
    ) -> DStream<(K, u64)>
    where
        K: Data + std::hash::Hash + Eq + serde::Serialize + serde::de::DeserializeOwned,
    {
        aggregate::aggregate(
            self,
            Arc::new(move |t: &T, _| aggregate::Groups::One(Some(key(t)))),
            None,
            Arc::new(|_: &T| 1u64),
            Arc::new(|a, b| a + b),
            mode,
            "event_count_by",
        )
    }

    /// The records whose `key` was not seen before, as Spark's `dropDuplicates` with a
    /// watermark: a key is remembered until the watermark passes its record's event time,
    /// and late records are dropped (put the event time in the key, as Spark advises, so
    /// the memory stays bounded).
    pub fn drop_duplicates<K>(
        &self,
        key: impl Fn(&T) -> K + Send + Sync + 'static,
    ) -> EventStream<T>
    where
        K: Data + std::hash::Hash + Eq + serde::Serialize + serde::de::DeserializeOwned,
    {
        dedup::drop_duplicates(self, Arc::new(key))
    }

    /// The records each batch's watermark made late (dropped from every aggregate), for a
    /// side output.
    pub fn late(&self) -> DStream<T> {
        let node = LateNode {
            events: self.clone(),
        };
        DStream::from_node(&self.stream.graph, node)
    }

    /// An operator's checkpoint data: its `state` with its progress and this watermark.
    fn capture<S: serde::Serialize, R: Data + serde::Serialize + serde::de::DeserializeOwned>(
        &self,
        progress: &recovery::Progress<R>,
        kind: &str,
        state: impl FnOnce() -> S,
    ) -> crate::error::Result<Option<Vec<u8>>> {
        progress.capture(kind, &self.watermark, state)
    }

    /// Restores an operator's checkpoint data (see `capture`), handing its state to `load`.
    fn restore<
        S: serde::de::DeserializeOwned,
        R: Data + serde::Serialize + serde::de::DeserializeOwned,
    >(
        &self,
        progress: &recovery::Progress<R>,
        kind: &str,
        data: &[u8],
        load: impl FnOnce(S),
    ) -> crate::error::Result<()> {
        let services = self.services();
        progress.restore(
            kind,
            data,
            &self.watermark,
            services.zero_time().unwrap_or(Time::ZERO),
            self.stream.inner.slide(),
            load,
        )
    }

    /// An event-time operator's RDD of batch `time`. Its state update is left as the batch's
    /// work (on the executor, in batch order, once the watermark caught up after a restart):
    /// `update` gets the batch's records, noted for the watermark, and the batch's watermark,
    /// and returns the rows to emit per partition. A batch the restored state already holds
    /// emits the rows saved for it instead.
    fn operator_batch<R: Data>(
        &self,
        kind: &'static str,
        time: Time,
        partitions: usize,
        progress: Arc<recovery::Progress<R>>,
        update: impl FnOnce(Rdd<T>, Option<EventTime>) -> crate::error::Result<Vec<Arc<Vec<R>>>>
            + Send
            + 'static,
    ) -> crate::error::Result<Option<Rdd<R>>> {
        let batch = self.batch(time)?;
        let slot: crate::dstream::stateful::Slot<R> = Arc::default();
        let (events, out) = (self.clone(), slot.clone());
        let services = self.services().clone();
        let ctx = services.ctx.clone();
        let slide = self.stream.inner.slide();
        services.add_batch_work(
            time,
            Box::new(move || {
                events.watermark.catch_up(time, slide)?;
                if let Some(rows) = progress.already(time) {
                    let _ = out.set(ctx.parallelize_partitions(rows));
                    return Ok(());
                }
                let (rdd, wm) = events.scan(time, batch)?;
                let emitted = {
                    // A checkpoint taken meanwhile uses the capture before this update.
                    let _updating = progress.updating.write();
                    let emitted = update(rdd, wm)?;
                    progress.applied(time, &emitted);
                    emitted
                };
                let _ = out.set(ctx.parallelize_partitions(emitted));
                Ok(())
            }),
        );
        Ok(Some(crate::dstream::stateful::LateRdd::rdd(
            &services.ctx,
            kind,
            time,
            partitions,
            slot,
        )))
    }

    /// The stream's RDD of batch `time` (its lineage only).
    fn batch(&self, time: Time) -> crate::error::Result<Rdd<T>> {
        Ok(self
            .stream
            .inner
            .get_or_compute(time)?
            .unwrap_or_else(|| self.services().ctx.empty()))
    }

    /// Run as batch `time`'s work: the watermark in force for the batch, and `rdd` (the
    /// batch's records) noting their event times for the next watermark as its tasks run.
    fn scan(&self, time: Time, rdd: Rdd<T>) -> crate::error::Result<(Rdd<T>, Option<EventTime>)> {
        let scan = self.watermark.begin(time);
        if !self.inputs.is_empty() {
            // A union: each input's records are noted for its own watermark.
            let parts = self
                .inputs
                .iter()
                .map(|input| Ok(input.scan(time, input.batch(time)?)?.0))
                .collect::<crate::error::Result<Vec<Rdd<T>>>>()?;
            return Ok((self.services().ctx.union(&parts), scan.watermark));
        }
        let observed = observed(
            rdd,
            self.time_of.clone(),
            self.watermark.clone(),
            time,
            scan,
        );
        Ok((observed, scan.watermark))
    }

    /// The services of the stream's context.
    fn services(&self) -> &Arc<crate::services::Services> {
        &self.stream.graph.services
    }
}

/// An operator's replayer: generates its RDD of a batch (see `Watermark::catch_up`).
pub(crate) fn replayer<R: Data>(stream: &DStream<R>) -> watermark::Replayer {
    let me = Arc::downgrade(&stream.inner);
    Box::new(move |t| {
        if let Some(me) = me.upgrade() {
            me.get_or_compute(t)?;
        }
        Ok(())
    })
}

/// Whether a record at `t` is late under watermark `wm`.
fn is_late(t: EventTime, wm: Option<EventTime>) -> bool {
    wm.is_some_and(|w| t <= w)
}

/// Event-time windows of an [`EventStream`]: aggregate them with an output mode.
pub struct EventWindows<T: 'static> {
    events: EventStream<T>,
    size: Duration,
    slide: Duration,
}

impl<T: Data> EventWindows<T> {
    fn windows_of(
        &self,
    ) -> impl Fn(EventTime) -> aggregate::Groups<Window> + Send + Sync + 'static {
        let (size, slide) = (self.size, self.slide);
        move |t| {
            if size == slide {
                aggregate::Groups::One(Some(Window::tumbling(t, size)))
            } else {
                aggregate::Groups::Many(Window::containing(t, size, slide).into_iter())
            }
        }
    }

    /// Records per window: rows `(window, count)`.
    pub fn count(&self, mode: OutputMode) -> DStream<(Window, u64)> {
        let windows = self.windows_of();
        aggregate::aggregate(
            &self.events,
            Arc::new(move |_: &T, t| windows(t)),
            Some(Arc::new(|w: &Window| w.end)),
            Arc::new(|_: &T| 1u64),
            Arc::new(|a, b| a + b),
            mode,
            "event_window_count",
        )
    }

    /// Records per window and key: rows `((window, key), count)`.
    pub fn count_by<K>(
        &self,
        key: impl Fn(&T) -> K + Send + Sync + 'static,
        mode: OutputMode,
    ) -> DStream<((Window, K), u64)>
    where
        K: Data + std::hash::Hash + Eq + serde::Serialize + serde::de::DeserializeOwned,
    {
        self.reduce_by(key, |_| 1u64, |a, b| a + b, mode)
    }

    /// `value`s reduced per window and key: rows `((window, key), reduced)`.
    pub fn reduce_by<K, V>(
        &self,
        key: impl Fn(&T) -> K + Send + Sync + 'static,
        value: impl Fn(&T) -> V + Send + Sync + 'static,
        reduce: impl Fn(V, V) -> V + Send + Sync + 'static,
        mode: OutputMode,
    ) -> DStream<((Window, K), V)>
    where
        K: Data + std::hash::Hash + Eq + serde::Serialize + serde::de::DeserializeOwned,
        V: Data + serde::Serialize + serde::de::DeserializeOwned,
    {
        let (size, slide) = (self.size, self.slide);
        aggregate::aggregate(
            &self.events,
            // The key once per record; sliding windows in one allocation.
            Arc::new(move |r: &T, t| {
                let k = key(r);
                if size == slide {
                    return aggregate::Groups::One(Some((Window::tumbling(t, size), k)));
                }
                let keyed: Vec<(Window, K)> = Window::each_containing(t, size, slide)
                    .map(|w| (w, k.clone()))
                    .collect();
                aggregate::Groups::Many(keyed.into_iter())
            }),
            Some(Arc::new(|g: &(Window, K)| g.0.end)),
            Arc::new(value),
            Arc::new(reduce),
            mode,
            "event_window_reduce",
        )
    }
}

/// The late records of an event stream.
struct LateNode<T: 'static> {
    events: EventStream<T>,
}

impl<T: Data> DStreamNode<T> for LateNode<T> {
    fn kind(&self) -> &'static str {
        "event_late"
    }
    fn slide_duration(&self) -> Duration {
        self.events.stream.inner.slide()
    }
    fn dependencies(&self) -> Vec<Arc<dyn DStreamBase>> {
        vec![self.events.stream.inner.clone()]
    }
    fn validate(&self, _batch_interval: Duration) -> crate::error::Result<()> {
        aggregate::validate_event_time(self.events.services())
    }
    fn compute(&self, time: Time) -> crate::error::Result<Option<Rdd<T>>> {
        let batch = self.events.batch(time)?;
        let partitions = batch.num_partitions();
        let slot: crate::dstream::stateful::Slot<T> = Arc::default();
        let (events, out) = (self.events.clone(), slot.clone());
        // The watermark of the batch is known only once the batches before it ran: the
        // filter is decided by the batch's work, on the executor.
        let slide = self.events.stream.inner.slide();
        self.events.services().add_batch_work(
            time,
            Box::new(move || {
                events.watermark.catch_up(time, slide)?;
                let (rdd, wm) = events.scan(time, batch)?;
                let time_of = events.time_of.clone();
                let _ = out.set(rdd.filter(move |r| is_late(time_of(r), wm)));
                Ok(())
            }),
        );
        Ok(Some(crate::dstream::stateful::LateRdd::rdd(
            &self.events.services().ctx,
            "event_late",
            time,
            partitions,
            slot,
        )))
    }
}
