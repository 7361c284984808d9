//! What `map_with_state` runs: the mapping function with its options ([`StateSpec`]) and the
//! state of one key as the function sees it ([`State`]).

use std::hash::Hash;
use std::sync::Arc;
use std::time::Duration;

use emberflow_core::{Data, HashPartitioner, Partitioner, Rdd};

use crate::time::Time;

/// The state of one key, as the mapping function sees it.
#[derive(Debug)]
pub struct State<S> {
    pub(crate) value: Option<S>,
    updated: bool,
    removed: bool,
    timing_out: bool,
    pub(crate) timeout_at: Option<crate::dstream::event_time::EventTime>,
}

impl<S> State<S> {
    pub(crate) fn new(value: Option<S>, timing_out: bool) -> Self {
        State {
            value,
            updated: false,
            removed: false,
            timing_out,
            timeout_at: None,
        }
    }
    /// Whether the key has a state.
    pub fn exists(&self) -> bool {
        self.value.is_some()
    }
    /// The state, if any.
    pub fn get(&self) -> Option<&S> {
        self.value.as_ref()
    }
    /// Sets the state. Ignored (with a warning) while the key is timing out: its state is
    /// removed after this call, as in Spark, where this is an error.
    pub fn update(&mut self, value: S) {
        if self.timing_out {
            log::warn!("map_with_state: update() on a state that is timing out is ignored");
            return;
        }
        self.value = Some(value);
        self.updated = true;
        self.removed = false;
    }
    /// Removes the key's state.
    pub fn remove(&mut self) {
        self.value = None;
        self.removed = true;
    }
    /// Whether the function is called because the key was idle for the timeout (with no
    /// value); the state is removed after the call.
    pub fn is_timing_out(&self) -> bool {
        self.timing_out
    }

    /// Times the state out once the watermark passes `t` (Spark's `setTimeoutTimestamp`):
    /// in a later batch the function is called with no value and
    /// [`is_timing_out`](Self::is_timing_out), and the state is removed. Only for
    /// `map_with_state` on an [`EventStream`](crate::EventStream); each call with data
    /// clears it, so set it every time.
    pub fn set_timeout_timestamp(&mut self, t: crate::dstream::event_time::EventTime) {
        self.timeout_at = Some(t);
    }

    /// The event-time timeout set in this call, if any.
    pub fn timeout_timestamp(&self) -> Option<crate::dstream::event_time::EventTime> {
        self.timeout_at
    }
}

pub(crate) type MappingFn<K, V, S, U> =
    dyn Fn(Time, &K, Option<V>, &mut State<S>) -> Option<U> + Send + Sync;

/// What `map_with_state` does: the mapping function, and optionally initial state, the
/// partitioning of the state, and an idle timeout.
///
/// ```
/// use emberflow_streaming::{State, StateSpec, Time};
/// use std::time::Duration;
/// let spec = StateSpec::function(|_t: Time, key: &u64, value: Option<f64>, state: &mut State<f64>| {
///     let total = value.unwrap_or(0.0) + state.get().copied().unwrap_or(0.0);
///     if !state.is_timing_out() { state.update(total); }
///     Some((*key, total))
/// })
/// .num_partitions(4)
/// .timeout(Duration::from_secs(30));
/// ```
pub struct StateSpec<K: 'static, V, S: 'static, U> {
    pub(crate) func: Arc<MappingFn<K, V, S, U>>,
    pub(crate) initial: Option<Rdd<(K, S)>>,
    pub(crate) partitioner: Option<Arc<dyn Partitioner<K>>>,
    pub(crate) timeout: Option<Duration>,
}

impl<K: Data + Hash, V, S: Data, U> StateSpec<K, V, S, U> {
    /// A spec with the mapping function: `(batch time, key, the new value or None when
    /// timing out, the key's state) -> record to emit, if any`.
    pub fn function<F>(f: F) -> Self
    where
        F: Fn(Time, &K, Option<V>, &mut State<S>) -> Option<U> + Send + Sync + 'static,
    {
        StateSpec {
            func: Arc::new(f),
            initial: None,
            partitioner: None,
            timeout: None,
        }
    }
    /// State to start from.
    pub fn initial_state(mut self, rdd: Rdd<(K, S)>) -> Self {
        self.initial = Some(rdd);
        self
    }
    /// Keeps the state in `n` hash partitions (default: the context's default parallelism).
    pub fn num_partitions(mut self, n: usize) -> Self {
        self.partitioner = Some(Arc::new(HashPartitioner::new(n)));
        self
    }
    /// Places the state with `partitioner`.
    pub fn partitioner(mut self, partitioner: impl Partitioner<K>) -> Self {
        self.partitioner = Some(Arc::new(partitioner));
        self
    }
    /// Removes a key idle for `idle` (no value for it in batches spanning `idle`), calling the
    /// function once more with no value and `is_timing_out()` true.
    pub fn timeout(mut self, idle: Duration) -> Self {
        self.timeout = Some(idle);
        self
    }
}
