//! A receiver's rate limit, on the stream's clock.

use std::sync::atomic::AtomicBool;
use std::time::Duration;

use crate::time::Time;

pub(crate) struct RateLimiter {
    pub(crate) per_second: u64,
    /// When the first record asked (on the stream's clock).
    pub(crate) start: Option<Time>,
    pub(crate) permitted: u64,
}

impl RateLimiter {
    /// Blocks until `n` more records fit under the rate, on the stream's clock (the system
    /// clock in production; a test's manual clock makes the rate exact); gives up when
    /// `cancel` is set (the receiver stops).
    pub(crate) fn acquire(&mut self, n: u64, clock: &dyn crate::clock::Clock, cancel: &AtomicBool) {
        let start = *self.start.get_or_insert_with(|| clock.now());
        self.permitted += n;
        let due = start + Duration::from_secs_f64(self.permitted as f64 / self.per_second as f64);
        clock.wait_until(due, cancel);
    }
}
