//! Clocks. Everything that depends on time asks a [`Clock`]; tests hand the context a
//! [`ManualClock`] and advance it, so streaming behaviour is deterministic and no test sleeps.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parking_lot::{Condvar, Mutex};

use crate::Time;

/// How long a waiting thread sleeps at most before it looks at its cancel flag again.
const CANCEL_CHECK: Duration = Duration::from_millis(10);

/// The source of time for batch generation, block cutting and batch statistics.
pub trait Clock: Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> Time;

    /// Blocks until `now() >= target` or `cancel` is set. Returns whether `target` was
    /// reached.
    fn wait_until(&self, target: Time, cancel: &AtomicBool) -> bool;
}

/// Wall-clock time, in milliseconds since the Unix epoch.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Time {
        let ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        Time::from_millis(ms)
    }

    fn wait_until(&self, target: Time, cancel: &AtomicBool) -> bool {
        loop {
            if cancel.load(Ordering::SeqCst) {
                return false;
            }
            let now = self.now();
            if now >= target {
                return true;
            }
            std::thread::sleep((target - now).min(CANCEL_CHECK));
        }
    }
}

/// A clock that moves only when told to: [`set`](ManualClock::set) and
/// [`advance`](ManualClock::advance). Waiting threads wake when it moves.
///
/// ```
/// use emberflow_streaming::{Clock, ManualClock, Time};
/// use std::time::Duration;
/// let clock = ManualClock::new();
/// clock.advance(Duration::from_secs(2));
/// assert_eq!(clock.now(), Time::from_millis(2000));
/// ```
#[derive(Debug, Default)]
pub struct ManualClock {
    time: Mutex<Time>,
    moved: Condvar,
}

impl ManualClock {
    /// A manual clock at time zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// A manual clock at `time`.
    pub fn starting_at(time: Time) -> Self {
        ManualClock {
            time: Mutex::new(time),
            moved: Condvar::new(),
        }
    }

    /// Sets the time and wakes every waiter.
    pub fn set(&self, time: Time) {
        *self.time.lock() = time;
        self.moved.notify_all();
    }

    /// Moves the time forward by `d` and wakes every waiter.
    pub fn advance(&self, d: Duration) {
        let mut t = self.time.lock();
        *t = *t + d;
        drop(t);
        self.moved.notify_all();
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Time {
        *self.time.lock()
    }

    fn wait_until(&self, target: Time, cancel: &AtomicBool) -> bool {
        let mut t = self.time.lock();
        loop {
            if cancel.load(Ordering::SeqCst) {
                return false;
            }
            if *t >= target {
                return true;
            }
            // The flag has no condvar of its own; re-check it now and then.
            self.moved.wait_for(&mut t, CANCEL_CHECK);
        }
    }
}

impl<C: Clock> Clock for std::sync::Arc<C> {
    fn now(&self) -> Time {
        (**self).now()
    }
    fn wait_until(&self, target: Time, cancel: &AtomicBool) -> bool {
        (**self).wait_until(target, cancel)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn manual_clock_wakes_waiters_when_advanced() {
        let clock = Arc::new(ManualClock::new());
        let cancel = Arc::new(AtomicBool::new(false));
        let (c, k) = (clock.clone(), cancel.clone());
        let waiter = std::thread::spawn(move || c.wait_until(Time::from_millis(500), &k));
        clock.advance(Duration::from_millis(200));
        clock.advance(Duration::from_millis(300));
        assert!(waiter.join().expect("waiter"));
        let (c, k) = (clock.clone(), cancel.clone());
        let waiter = std::thread::spawn(move || c.wait_until(Time::from_millis(10_000), &k));
        cancel.store(true, Ordering::SeqCst);
        assert!(!waiter.join().expect("waiter"), "cancelled, not reached");
    }
}
