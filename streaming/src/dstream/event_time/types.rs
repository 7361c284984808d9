//! Event times, windows and output modes.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A time inside the data: milliseconds since the Unix epoch (UTC).
///
/// ```
/// use emberflow_streaming::EventTime;
/// let t = EventTime::from_nanos(1_424_686_735_090_000_000);
/// assert_eq!(t, EventTime::from_millis(1_424_686_735_090));
/// assert_eq!(t.to_string(), "2015-02-23T10:18:55.090Z");
/// let d = t.to_datetime().unwrap();
/// assert_eq!(EventTime::from(d), t);
/// ```
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct EventTime(i64);

/// Shown as the instant it is (`2015-02-23T10:18:55.090Z`), not as milliseconds.
impl std::fmt::Debug for EventTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

impl EventTime {
    /// From milliseconds since the epoch.
    pub const fn from_millis(ms: i64) -> Self {
        EventTime(ms)
    }
    /// From nanoseconds since the epoch (rounded down to the millisecond).
    pub const fn from_nanos(ns: i64) -> Self {
        EventTime(ns.div_euclid(1_000_000))
    }
    /// Milliseconds since the epoch.
    pub const fn millis(self) -> i64 {
        self.0
    }
    /// As a `chrono` date-time in UTC (`None` beyond chrono's range).
    pub fn to_datetime(self) -> Option<chrono::DateTime<chrono::Utc>> {
        chrono::DateTime::from_timestamp_millis(self.0)
    }
    /// `d` earlier (saturating).
    pub fn minus(self, d: Duration) -> Self {
        EventTime(
            self.0
                .saturating_sub(d.as_millis().min(i64::MAX as u128) as i64),
        )
    }
    /// `d` later (saturating).
    pub fn plus(self, d: Duration) -> Self {
        EventTime(
            self.0
                .saturating_add(d.as_millis().min(i64::MAX as u128) as i64),
        )
    }
}

impl From<chrono::DateTime<chrono::Utc>> for EventTime {
    fn from(d: chrono::DateTime<chrono::Utc>) -> Self {
        EventTime(d.timestamp_millis())
    }
}

impl std::fmt::Display for EventTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.to_datetime() {
            Some(d) => write!(f, "{}", d.format("%Y-%m-%dT%H:%M:%S%.3fZ")),
            None => write!(f, "{} ms", self.0),
        }
    }
}

/// An event-time window `[start, end)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Window {
    /// The first instant in it.
    pub start: EventTime,
    /// The first instant after it (exclusive).
    pub end: EventTime,
}

impl Window {
    /// The window of `size` starting at `start`.
    pub fn new(start: EventTime, size: Duration) -> Self {
        Window {
            start,
            end: start.plus(size),
        }
    }

    /// The window of `size` whose start is a multiple of `size` and that holds `t` (tumbling).
    pub fn tumbling(t: EventTime, size: Duration) -> Self {
        let size_ms = (size.as_millis() as i64).max(1);
        Window {
            start: EventTime(t.0 - t.0.rem_euclid(size_ms)),
            end: EventTime(t.0 - t.0.rem_euclid(size_ms) + size_ms),
        }
    }

    /// Every window of `size` whose start is a multiple of `slide` (from the epoch) and that
    /// holds `t`, oldest first (Spark's `window(col, size, slide)`).
    pub fn containing(t: EventTime, size: Duration, slide: Duration) -> Vec<Window> {
        Self::each_containing(t, size, slide).collect()
    }

    /// [`containing`](Self::containing) without collecting them.
    pub(crate) fn each_containing(
        t: EventTime,
        size: Duration,
        slide: Duration,
    ) -> impl Iterator<Item = Window> {
        let (size_ms, slide_ms) = (size.as_millis() as i64, (slide.as_millis() as i64).max(1));
        // The newest start at or before `t`, and how many starts before it still reach `t`.
        let last = t.0 - t.0.rem_euclid(slide_ms);
        let count = if size_ms > t.0 - last {
            (last - t.0 + size_ms - 1) / slide_ms + 1
        } else {
            0
        };
        (0..count).rev().map(move |i| {
            let start = last - i * slide_ms;
            Window {
                start: EventTime(start),
                end: EventTime(start + size_ms),
            }
        })
    }
}

impl std::fmt::Display for Window {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[{}, {})", self.start, self.end)
    }
}

/// Which rows of an event-time aggregate each batch emits (Spark's output modes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OutputMode {
    /// Each row once, when the watermark passes its window's end; then its state is freed.
    Append,
    /// The rows the batch changed; windows the watermark passed are freed.
    Update,
    /// The whole table, every batch; nothing is freed.
    Complete,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_time_is_in_every_sliding_window_that_holds_it() {
        let w = |s: i64, e: i64| Window {
            start: EventTime(s),
            end: EventTime(e),
        };
        let ten = Duration::from_millis(10);
        let five = Duration::from_millis(5);
        assert_eq!(Window::containing(EventTime(12), ten, ten), vec![w(10, 20)]);
        assert_eq!(Window::tumbling(EventTime(12), ten), w(10, 20));
        assert_eq!(Window::tumbling(EventTime(-3), ten), w(-10, 0));
        assert_eq!(Window::containing(EventTime(10), ten, ten), vec![w(10, 20)]);
        assert_eq!(
            Window::containing(EventTime(12), ten, five),
            vec![w(5, 15), w(10, 20)]
        );
        assert_eq!(
            Window::containing(EventTime(-3), ten, five),
            vec![w(-10, 0), w(-5, 5)]
        );
    }
}
