//! The watermark of an event stream: the greatest event time its batches held, minus the
//! delay, taken when a batch ends and in force for the next; it never goes back. The event
//! times a batch held go to the context's services for the batch's progress report.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use super::types::EventTime;
use crate::services::{EventTimeStats, Services};
use crate::time::Time;

/// Where the watermark is; what a checkpoint saves of it (but `counted`).
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
struct State {
    /// The batch the watermark below is in force for.
    batch: Option<Time>,
    current: Option<EventTime>,
    /// The greatest event time of the batches before `batch`.
    max_before: Option<EventTime>,
    /// The greatest event time `batch` held so far (its tasks report as they end).
    max_now: Option<EventTime>,
    /// Whether a scan of `batch` already counts its records for the progress report.
    #[serde(skip)]
    counted: bool,
    /// The newest batch that held records.
    last_data: Option<Time>,
}

/// One event stream's watermark, shared by every operator on it, and the replay of the
/// batches its operators' restored state has not seen.
pub(crate) struct Watermark {
    id: usize,
    delay: Duration,
    services: Arc<Services>,
    state: Mutex<State>,
    /// Each operator's "generate your RDD of this batch" (which leaves its batch work), to
    /// replay batches after a restart.
    replayers: Mutex<Vec<Replayer>>,
    /// After a restart: the first batch an operator's restored state has not seen.
    replay_from: Mutex<Option<Time>>,
    /// With idle advance: how long (batch time) without records before the watermark moves
    /// on with the batches.
    idle: Mutex<Option<Duration>>,
    /// A union's inputs: its watermark is the least of theirs.
    inputs: Vec<Arc<Watermark>>,
}

/// Generates one operator's RDD of a batch (its state update becomes batch work).
pub(crate) type Replayer = Box<dyn Fn(Time) -> crate::error::Result<()> + Send + Sync>;

/// The watermark's state, as an operator's checkpoint data carries it.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub(crate) struct Saved {
    state: State,
    /// A union's inputs' watermarks.
    inputs: Vec<Saved>,
}

/// How a scan of a batch reports: the watermark in force, and whether this scan is the one
/// whose records the progress report counts (several operators may read the same batch).
#[derive(Clone, Copy)]
pub(crate) struct Scan {
    pub(crate) watermark: Option<EventTime>,
    pub(crate) counts: bool,
}

impl Watermark {
    pub(crate) fn new(id: usize, delay: Duration, services: Arc<Services>) -> Self {
        Watermark {
            id,
            delay,
            services,
            state: Mutex::new(State::default()),
            replayers: Mutex::new(Vec::new()),
            replay_from: Mutex::new(None),
            idle: Mutex::new(None),
            inputs: Vec::new(),
        }
    }

    /// The watermark of a union of event streams: the least of the inputs' watermarks
    /// (undefined until each has one), never going back.
    pub(crate) fn union(id: usize, inputs: Vec<Arc<Watermark>>, services: Arc<Services>) -> Self {
        Watermark {
            inputs,
            ..Watermark::new(id, Duration::ZERO, services)
        }
    }

    /// Whether this is a union's watermark.
    pub(crate) fn is_union(&self) -> bool {
        !self.inputs.is_empty()
    }

    /// See `EventStream::idle_advance`.
    pub(crate) fn set_idle(&self, after: Duration) {
        *self.idle.lock() = Some(after);
    }

    /// Registers an operator's replayer (see [`catch_up`](Self::catch_up)).
    pub(crate) fn add_replayer(&self, r: Replayer) {
        self.replayers.lock().push(r);
    }

    /// The state to save with an operator's checkpoint data.
    pub(crate) fn save(&self) -> Saved {
        Saved {
            state: self.state.lock().clone(),
            inputs: self.inputs.iter().map(|w| w.save()).collect(),
        }
    }

    /// Restores a saved state (the newest of those the operators saved wins), and asks for
    /// the batches from `first_unseen` on to be replayed before the next batch runs.
    pub(crate) fn restore(&self, saved: Saved, first_unseen: Time) {
        self.restore_state(saved);
        let mut from = self.replay_from.lock();
        *from = Some(from.map_or(first_unseen, |f| f.min(first_unseen)));
    }

    /// Restores a saved state, with a union's inputs' (the newest saved wins).
    fn restore_state(&self, saved: Saved) {
        {
            let mut s = self.state.lock();
            if saved.state.batch > s.batch {
                // Its batch was scanned before the save: its records are counted.
                *s = State {
                    counted: true,
                    ..saved.state
                };
            }
        }
        for (w, saved) in self.inputs.iter().zip(saved.inputs) {
            w.restore_state(saved);
        }
    }

    /// Run first by every operator's work for batch `time`: after a restart, replays the
    /// batches before it that some operator's restored state has not seen — every operator
    /// generates its RDD of the batch, then the batch's works run, in order (outputs are not
    /// run: those batches completed before the restart).
    pub(crate) fn catch_up(&self, time: Time, slide: Duration) -> crate::error::Result<()> {
        let Some(mut b) = self.replay_from.lock().take() else {
            return Ok(());
        };
        while b < time {
            log::info!("event time: replaying batch {b} into the restored state");
            for r in self.replayers.lock().iter() {
                r(b)?;
            }
            for work in self.services.take_batch_work(b) {
                work()?;
            }
            b = b + slide;
        }
        Ok(())
    }

    /// The watermark in force for batch `time`, moving it on when `time` is a new batch
    /// (batches run in order, each after the previous one's jobs ended).
    pub(crate) fn begin(&self, time: Time) -> Scan {
        if self.is_union() {
            let all: Vec<Option<EventTime>> = self
                .inputs
                .iter()
                .map(|w| w.begin(time).watermark)
                .collect();
            let least = if all.iter().all(Option::is_some) {
                all.into_iter().flatten().min()
            } else {
                None
            };
            let mut s = self.state.lock();
            s.current = s.current.max(least);
            s.batch = Some(time);
            return Scan {
                watermark: s.current,
                counts: false,
            };
        }
        let mut s = self.state.lock();
        if s.batch.is_none_or(|b| b < time) {
            let previous = s.batch;
            if s.max_now.is_some() {
                s.last_data = previous;
            }
            s.max_before = s.max_before.max(s.max_now.take());
            let moved = s.max_before.map(|m| m.minus(self.delay));
            s.current = s.current.max(moved);
            // Idle advance: long enough without records, event time is taken to move with
            // the batches.
            if let (Some(idle), Some(last), Some(prev), Some(wm)) =
                (*self.idle.lock(), s.last_data, previous, s.current)
            {
                if time - last >= idle {
                    s.current = Some(wm.plus(time - prev));
                }
            }
            s.batch = Some(time);
            s.counted = false;
            self.services
                .event_times
                .lock()
                .entry(time)
                .or_default()
                .entry(self.id)
                .or_default()
                .watermark = s.current.map(EventTime::millis);
        }
        let counts = !s.counted;
        s.counted = true;
        Scan {
            watermark: s.current,
            counts,
        }
    }

    /// The watermark in force for the latest batch.
    pub(crate) fn current(&self) -> Option<EventTime> {
        self.state.lock().current
    }

    /// A task of batch `time` read records with these event times.
    fn observe(&self, time: Time, scan: Scan, seen: EventTimeStats) {
        {
            let mut s = self.state.lock();
            if s.batch != Some(time) {
                return;
            }
            s.max_now = s.max_now.max(seen.max.map(EventTime::from_millis));
        }
        if !scan.counts {
            return;
        }
        let mut all = self.services.event_times.lock();
        let stats = all.entry(time).or_default().entry(self.id).or_default();
        stats.min = match (stats.min, seen.min) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        stats.max = stats.max.max(seen.max);
        stats.sum += seen.sum;
        stats.count += seen.count;
    }
}

/// A batch's records as they are, their event times noted for the watermark as each task
/// reads its partition (no copy: the parent's records pass through).
pub(crate) struct ObservedRdd<T: 'static> {
    meta: emberflow_core::plumbing::RddMeta,
    parent: emberflow_core::Rdd<T>,
    time_of: super::TimeOf<T>,
    watermark: Arc<Watermark>,
    time: Time,
    scan: Scan,
}

impl<T: emberflow_core::Data> ObservedRdd<T> {
    pub(crate) fn rdd(
        parent: emberflow_core::Rdd<T>,
        time_of: super::TimeOf<T>,
        watermark: Arc<Watermark>,
        time: Time,
        scan: Scan,
    ) -> emberflow_core::Rdd<T> {
        emberflow_core::Rdd::from_node(ObservedRdd {
            meta: emberflow_core::plumbing::RddMeta::new(parent.context(), "event_times"),
            parent,
            time_of,
            watermark,
            time,
            scan,
        })
    }
}

impl<T: emberflow_core::Data> emberflow_core::plumbing::RddBase for ObservedRdd<T> {
    fn meta(&self) -> &emberflow_core::plumbing::RddMeta {
        &self.meta
    }
    fn dependencies(&self) -> Vec<emberflow_core::plumbing::Dependency> {
        vec![emberflow_core::plumbing::Dependency::Narrow(
            self.parent.as_base(),
        )]
    }
    fn num_partitions(&self) -> usize {
        self.parent.num_partitions()
    }
}

impl<T: emberflow_core::Data> emberflow_core::plumbing::RddNode<T> for ObservedRdd<T> {
    fn compute<'a>(
        &'a self,
        split: usize,
        tc: &'a emberflow_core::plumbing::TaskContext,
    ) -> emberflow_core::Result<emberflow_core::plumbing::BoxIter<'a, T>> {
        Ok(Box::new(emberflow_core::plumbing::ChunkIter::new(
            self.compute_chunks(split, tc)?,
        )))
    }
    fn compute_chunks<'a>(
        &'a self,
        split: usize,
        tc: &'a emberflow_core::plumbing::TaskContext,
    ) -> emberflow_core::Result<emberflow_core::plumbing::BoxChunks<'a, T>>
    where
        T: 'a,
    {
        Ok(Box::new(Observing {
            chunks: self.parent.chunks(split, tc)?,
            node: self,
            seen: EventTimeStats::default(),
            done: false,
        }))
    }
}

/// The records of one partition, chunk by chunk, noting event times; reported once, at the
/// end.
struct Observing<'a, T: 'static> {
    chunks: emberflow_core::plumbing::BoxChunks<'a, T>,
    node: &'a ObservedRdd<T>,
    seen: EventTimeStats,
    done: bool,
}

impl<T> emberflow_core::plumbing::Chunks<T> for Observing<'_, T> {
    fn next_chunk(&mut self, out: &mut Vec<T>) -> bool {
        let before = out.len();
        let more = self.chunks.next_chunk(out);
        let s = &mut self.seen;
        for r in &out[before..] {
            let ms = (self.node.time_of)(r).millis();
            s.min = Some(s.min.map_or(ms, |m| m.min(ms)));
            s.max = Some(s.max.map_or(ms, |m| m.max(ms)));
            s.sum += i128::from(ms);
            s.count += 1;
        }
        if !more && !std::mem::replace(&mut self.done, true) {
            self.node
                .watermark
                .observe(self.node.time, self.node.scan, self.seen);
        }
        more
    }
}
