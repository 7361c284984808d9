//! A receiver's rate limit, on the stream's clock.

use std::time::Duration;

use crate::time::Time;

pub(crate) struct RateLimiter {
    /// Records per second; `None`: no limit.
    per_second: Option<u64>,
    /// When the current limit began counting (on the stream's clock).
    start: Option<Time>,
    /// Records permitted since `start`.
    permitted: u64,
}

impl RateLimiter {
    pub(crate) fn new(per_second: Option<u64>) -> Self {
        RateLimiter {
            per_second,
            start: None,
            permitted: 0,
        }
    }

    /// A new limit, counted from the next record (what was permitted under the old limit
    /// does not carry over).
    pub(crate) fn set(&mut self, per_second: Option<u64>) {
        if per_second != self.per_second {
            self.per_second = per_second;
            self.start = None;
            self.permitted = 0;
        }
    }

    /// When `n` more records fit under the rate, on the stream's clock (the system clock in
    /// production; a test's manual clock makes the rate exact); `None` without a limit.
    /// The caller waits for it without holding the limiter, so the limit can change
    /// meanwhile.
    pub(crate) fn due(&mut self, n: u64, now: Time) -> Option<Time> {
        let per_second = self.per_second?;
        let start = *self.start.get_or_insert(now);
        self.permitted += n;
        Some(start + Duration::from_secs_f64(self.permitted as f64 / per_second as f64))
    }
}
