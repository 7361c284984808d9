//! [`Time`]: a batch time in milliseconds. Batch times are multiples of the batch interval
//! after the context's zero time.

use std::fmt;
use std::ops::{Add, Sub};
use std::time::Duration;

/// A point in stream time, in milliseconds (Spark's `Time`).
///
/// ```
/// use emberflow_streaming::Time;
/// use std::time::Duration;
/// let t = Time::from_millis(3000);
/// assert_eq!(t + Duration::from_secs(1), Time::from_millis(4000));
/// assert!(t.is_multiple_of(Duration::from_millis(500)));
/// assert_eq!(t.to_string(), "3000 ms");
/// ```
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, serde::Serialize, serde::Deserialize,
)]
pub struct Time(u64);

impl Time {
    /// The zero time.
    pub const ZERO: Time = Time(0);

    /// A time of `ms` milliseconds.
    pub const fn from_millis(ms: u64) -> Self {
        Time(ms)
    }

    /// The time in milliseconds.
    pub const fn millis(self) -> u64 {
        self.0
    }

    /// Whether this time is a whole multiple of `d` (a zero `d` never divides).
    pub fn is_multiple_of(self, d: Duration) -> bool {
        let d = millis(d);
        d != 0 && self.0 % d == 0
    }

    /// The largest multiple of `d` not after this time.
    pub fn floor(self, d: Duration) -> Time {
        let d = millis(d).max(1);
        Time(self.0 / d * d)
    }

    /// The time `d` earlier, or zero.
    pub fn saturating_sub(self, d: Duration) -> Time {
        Time(self.0.saturating_sub(millis(d)))
    }
}

/// A duration in whole milliseconds (streaming durations are millisecond-grained).
pub(crate) fn millis(d: Duration) -> u64 {
    d.as_millis() as u64
}

impl Add<Duration> for Time {
    type Output = Time;
    fn add(self, d: Duration) -> Time {
        Time(self.0 + millis(d))
    }
}

impl Sub<Duration> for Time {
    type Output = Time;
    /// # Panics
    /// If the result would be before zero; use [`Time::saturating_sub`] where that can happen.
    fn sub(self, d: Duration) -> Time {
        Time(
            self.0
                .checked_sub(millis(d))
                .expect("time arithmetic went below zero"),
        )
    }
}

impl Sub<Time> for Time {
    type Output = Duration;
    /// The duration between two times (zero if `other` is later).
    fn sub(self, other: Time) -> Duration {
        Duration::from_millis(self.0.saturating_sub(other.0))
    }
}

impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ms", self.0)
    }
}

impl fmt::Debug for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Time({})", self.0)
    }
}
