//! `map_with_state` on an event stream: its state (values, idle times and event-time
//! timeouts) travels inline in every metadata checkpoint with the watermark, as the other
//! event-time operators' (`event_time::recovery`), so a restart continues exactly: batches
//! the state missed are replayed by the watermark's catch-up, a re-run batch the state holds
//! emits the rows saved for it.

use std::hash::Hash;
use std::sync::{Arc, Weak};

use emberflow_core::Data;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{Entry, Shared, StatePartition};
use crate::dstream::event_time::recovery::Progress;
use crate::dstream::event_time::{EventTime, Watermark};
use crate::error::Result;
use crate::time::Time;

/// A saved key: its value, the batch that last brought it one, its event-time timeout.
type SavedEntry<S> = (S, Time, Option<EventTime>);

/// Takes the checkpoint data.
type Capture = Box<dyn Fn() -> Result<Option<Vec<u8>>> + Send + Sync>;
/// Restores checkpoint data.
type Restore = Box<dyn Fn(&[u8]) -> Result<()> + Send + Sync>;

/// The inline checkpoint of one `map_with_state` on an event stream.
pub(crate) struct Inline<U> {
    pub(super) progress: Arc<Progress<U>>,
    pub(super) capture: Capture,
    pub(super) restore: Restore,
}

/// The inline checkpoint of `shared`'s state, with `watermark`'s.
pub(super) fn inline<K, V, S, U>(
    shared: &Arc<Shared<K, V, S, U>>,
    watermark: Arc<Watermark>,
    slide: std::time::Duration,
) -> Inline<U>
where
    K: Data + Hash + Eq + Serialize + DeserializeOwned,
    V: Data,
    S: Data + Serialize + DeserializeOwned,
    U: Data + Serialize + DeserializeOwned,
{
    let progress = Arc::new(Progress::<U>::new());
    let (me, p, wm) = (Arc::downgrade(shared), progress.clone(), watermark.clone());
    let capture = Box::new(move || {
        let Some(shared) = me.upgrade() else {
            return Ok(None);
        };
        p.capture("map_with_state", &wm, || entries(&shared))
    });
    let (me, p): (Weak<Shared<K, V, S, U>>, _) = (Arc::downgrade(shared), progress.clone());
    let restore = Box::new(move |data: &[u8]| {
        let Some(shared) = me.upgrade() else {
            return Ok(());
        };
        let zero = shared.store.services().zero_time().unwrap_or(Time::ZERO);
        p.restore("map_with_state", data, &watermark, zero, slide, |saved| {
            load(&shared, saved)
        })?;
        *shared.applied_through.lock() = p.through();
        Ok(())
    });
    Inline {
        progress,
        capture,
        restore,
    }
}

/// Every key with a value.
fn entries<K, V, S, U>(shared: &Shared<K, V, S, U>) -> Vec<(K, SavedEntry<S>)>
where
    K: Clone,
    S: Clone,
{
    shared
        .parts
        .iter()
        .flat_map(|p| {
            p.lock()
                .map
                .iter()
                .filter_map(|(k, e)| {
                    e.value
                        .clone()
                        .map(|v| (k.clone(), (v, e.touched, e.deadline())))
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Replaces the state with saved keys, each in its partition.
fn load<K, V, S, U>(shared: &Shared<K, V, S, U>, saved: Vec<(K, SavedEntry<S>)>)
where
    K: Clone + Hash + Eq,
{
    for p in &shared.parts {
        *p.lock() = StatePartition::default();
    }
    *shared.initial.lock() = None;
    for (k, (value, touched, deadline)) in saved {
        let mut p = shared.parts[shared.partitioner.partition(&k)].lock();
        if shared.timeout.is_some() {
            p.by_time.entry(touched).or_default().push(k.clone());
        }
        p.map.insert(
            k,
            Entry {
                value: Some(value),
                touched,
                deadline: super::deadline_of(deadline),
            },
        );
    }
}

// `map_with_state` on an event stream lives here, beside its inline checkpoint, so that the
// event-time module does not import the state module that imports it.
impl<K, V> crate::dstream::event_time::EventStream<(K, V)>
where
    K: Data + std::hash::Hash + Eq + serde::Serialize + serde::de::DeserializeOwned,
    V: Data,
{
    /// [`DStream::map_with_state`](crate::DStream::map_with_state) on the records, with event-time timeouts: a state whose
    /// function called [`State::set_timeout_timestamp`](crate::State::set_timeout_timestamp)
    /// times out once the watermark passes that time (Spark's `EventTimeTimeout`).
    ///
    /// ```
    /// use emberflow_streaming::testing::BatchRunner;
    /// use emberflow_streaming::{EventTime, State, StateSpec, Time};
    /// use std::time::Duration;
    /// let runner = BatchRunner::new(Duration::from_secs(1));
    /// // (user, event time in seconds)
    /// let events = runner.queue_input::<(u32, i64), (u32, i64)>(vec![
    ///     vec![(1, 10), (2, 11)],
    ///     vec![(1, 40)], // watermark 40 - 5 = 35 from the next batch: user 2 (timeout 21) ends
    ///     vec![],
    /// ]);
    /// let timed = events.with_watermark(|e| EventTime::from_millis(e.1 * 1000), Duration::from_secs(5));
    /// let sessions = timed.map_with_state(StateSpec::function(
    ///     |_: Time, user: &u32, at: Option<i64>, s: &mut State<u32>| match at {
    ///         Some(at) => {
    ///             s.update(s.get().copied().unwrap_or(0) + 1);
    ///             s.set_timeout_timestamp(EventTime::from_millis((at + 10) * 1000));
    ///             None
    ///         }
    ///         None => Some((*user, *s.get().unwrap())), // timing out: report the count
    ///     },
    /// ));
    /// let ended = runner.collect(&sessions);
    /// runner.run(3)?;
    /// // User 1's timeout moved to 50 s with its second event; user 2's (21 s) passed.
    /// assert_eq!(ended.batches(), vec![vec![], vec![], vec![(2, 1)]]);
    /// # Ok::<(), emberflow_streaming::Error>(())
    /// ```
    pub fn map_with_state<S, U>(
        &self,
        spec: crate::dstream::state_spec::StateSpec<K, V, S, U>,
    ) -> crate::dstream::map_with_state::MapWithStateDStream<K, V, S, U>
    where
        S: Data + serde::Serialize + serde::de::DeserializeOwned,
        U: Data + serde::Serialize + serde::de::DeserializeOwned,
    {
        self.stream
            .map_with_state_on_events(spec, self.watermark.clone(), self.time_of.clone())
    }
}
