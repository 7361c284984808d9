//! The watermark of an event stream: the greatest event time its batches held, minus the
//! delay, taken when a batch ends and in force for the next; it never goes back.

use std::time::Duration;

use parking_lot::Mutex;

use super::types::EventTime;
use crate::time::Time;

/// Event times a batch held.
#[derive(Clone, Copy, Debug, Default)]
struct Seen {
    min: Option<EventTime>,
    max: Option<EventTime>,
}

impl Seen {
    fn add(&mut self, t: EventTime) {
        self.min = Some(self.min.map_or(t, |m| m.min(t)));
        self.max = Some(self.max.map_or(t, |m| m.max(t)));
    }
    fn merge(&mut self, o: Seen) {
        self.min = match (self.min, o.min) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.max = self.max.max(o.max);
    }
}

struct State {
    /// The batch the watermark below is in force for.
    batch: Option<Time>,
    current: Option<EventTime>,
    /// The greatest event time of the batches before `batch`.
    max_before: Option<EventTime>,
    /// What `batch` held so far (its tasks report as they end).
    seen: Seen,
}

/// One event stream's watermark, shared by every operator on it.
pub(crate) struct Watermark {
    delay: Duration,
    state: Mutex<State>,
}

impl Watermark {
    pub(crate) fn new(delay: Duration) -> Self {
        Watermark {
            delay,
            state: Mutex::new(State {
                batch: None,
                current: None,
                max_before: None,
                seen: Seen::default(),
            }),
        }
    }

    /// The watermark in force for batch `time`, moving it on when `time` is a new batch
    /// (batches run in order, each after the previous one's jobs ended).
    pub(crate) fn begin(&self, time: Time) -> Option<EventTime> {
        let mut s = self.state.lock();
        if s.batch.is_none_or(|b| b < time) {
            let held = s.seen.max;
            s.max_before = s.max_before.max(held);
            let moved = s.max_before.map(|m| m.minus(self.delay));
            s.current = s.current.max(moved);
            s.batch = Some(time);
            s.seen = Seen::default();
        }
        s.current
    }

    /// The watermark in force for the latest batch.
    pub(crate) fn current(&self) -> Option<EventTime> {
        self.state.lock().current
    }

    /// A task of batch `time` read records with these event times (several operators may
    /// read the same batch: the greatest time is what counts).
    pub(crate) fn observe(&self, time: Time, times: impl Iterator<Item = EventTime>) {
        let mut seen = Seen::default();
        for t in times {
            seen.add(t);
        }
        let mut s = self.state.lock();
        if s.batch == Some(time) {
            s.seen.merge(seen);
        }
    }
}
