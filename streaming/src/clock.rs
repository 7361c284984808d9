//! Clocks. Everything that depends on time asks a [`Clock`]; tests hand the context a
//! [`ManualClock`] and advance it, so streaming behaviour is deterministic and no test sleeps.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parking_lot::{Condvar, Mutex};

use crate::time::Time;

/// How long a waiting thread sleeps at most before it looks at its cancel flag again.
const CANCEL_CHECK: Duration = Duration::from_millis(10);

/// The source of time for batch generation, block cutting and batch statistics.
pub trait Clock: Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> Time;

    /// Blocks until `now() >= target` or `cancel` is set. Returns whether `target` was
    /// reached.
    fn wait_until(&self, target: Time, cancel: &AtomicBool) -> bool;

    /// As [`wait_until`](Self::wait_until), for a thread that does some work each time it
    /// is woken and then waits again (a timer): [`ManualClock::settle`] waits for that work.
    fn wait_to_work(&self, target: Time, cancel: &AtomicBool) -> bool {
        self.wait_until(target, cancel)
    }

    /// Tells the clock that the calling thread, woken by
    /// [`wait_to_work`](Self::wait_to_work), will not wait on it again (a timer that stops),
    /// so that [`ManualClock::settle`] does not wait for it.
    fn done_waiting(&self) {}
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
    state: Mutex<ManualState>,
    moved: Condvar,
    /// Bumped (under the lock) with every notification of `moved`, so a waiter can spin on
    /// it before it blocks (`spin.rs`).
    changes: AtomicU64,
}

#[derive(Debug, Default)]
struct ManualState {
    time: Time,
    /// Targets of the threads waiting now.
    sleeping: Vec<Time>,
    /// Threads a wait returned to (at its target) that have not waited again yet: they are
    /// doing what the time told them to (cutting a block, generating a batch).
    busy: usize,
}

thread_local! {
    /// The manual clock (by address) whose wait this thread returned from last, if it has
    /// not waited on it again since.
    static BUSY_FOR: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

impl ManualClock {
    /// A manual clock at time zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// A manual clock at `time`.
    pub fn starting_at(time: Time) -> Self {
        ManualClock {
            state: Mutex::new(ManualState {
                time,
                ..ManualState::default()
            }),
            moved: Condvar::new(),
            changes: AtomicU64::new(0),
        }
    }

    /// Sets the time and wakes every waiter.
    pub fn set(&self, time: Time) {
        let mut s = self.state.lock();
        s.time = time;
        self.changed(&s);
    }

    /// Moves the time forward by `d` and wakes every waiter.
    pub fn advance(&self, d: Duration) {
        let mut s = self.state.lock();
        s.time = s.time + d;
        self.changed(&s);
    }

    /// Waits until every thread the time woke has left its wait, and every one that waits
    /// to work ([`Clock::wait_to_work`]) has done its work and waits again (a receiver's
    /// block timer has cut its block) or has said it is done waiting;
    /// gives up after `limit` (a guard against a hang). Returns whether it settled.
    ///
    /// ```
    /// use emberflow_streaming::ManualClock;
    /// use std::time::Duration;
    /// let clock = ManualClock::new();
    /// clock.advance(Duration::from_millis(250));
    /// assert!(clock.settle(Duration::from_secs(10)));
    /// ```
    pub fn settle(&self, limit: Duration) -> bool {
        let deadline = std::time::Instant::now() + limit;
        let mut s = self.state.lock();
        loop {
            let now = s.time;
            if s.busy == 0 && s.sleeping.iter().all(|t| *t > now) {
                return true;
            }
            if !self.spin(&mut s, || false) && self.moved.wait_until(&mut s, deadline).timed_out() {
                return false;
            }
        }
    }

    /// Records a change made to the state (whose lock the caller holds, as `_held` says:
    /// a spinning waiter that re-locks then sees the change, or is waiting when it is told)
    /// and wakes every waiter.
    fn changed(&self, _held: &ManualState) {
        self.changes.fetch_add(1, Ordering::Release);
        self.moved.notify_all();
    }

    /// Spins a short while, unlocked, for a change or `stop()`; returns whether one came
    /// (then the caller looks again instead of blocking). A change made between the spin
    /// and the re-lock is seen here, so no notification is lost.
    fn spin(
        &self,
        s: &mut parking_lot::MutexGuard<'_, ManualState>,
        mut stop: impl FnMut() -> bool,
    ) -> bool {
        let seen = self.changes.load(Ordering::Acquire);
        parking_lot::MutexGuard::unlocked(s, || {
            crate::spin::until(crate::spin::SPIN, || {
                stop() || self.changes.load(Ordering::Acquire) != seen
            })
        });
        stop() || self.changes.load(Ordering::Acquire) != seen
    }

    fn key(&self) -> usize {
        self as *const ManualClock as usize
    }

    /// The calling thread is back (waiting again, or done): no longer busy.
    fn back(&self, s: &mut ManualState) {
        if BUSY_FOR.with(|b| b.get()) == self.key() {
            BUSY_FOR.with(|b| b.set(0));
            s.busy -= 1;
            self.changed(s);
        }
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Time {
        self.state.lock().time
    }

    fn wait_until(&self, target: Time, cancel: &AtomicBool) -> bool {
        self.wait(target, cancel, false)
    }

    fn wait_to_work(&self, target: Time, cancel: &AtomicBool) -> bool {
        self.wait(target, cancel, true)
    }

    fn done_waiting(&self) {
        let mut s = self.state.lock();
        self.back(&mut s);
    }
}

impl ManualClock {
    fn wait(&self, target: Time, cancel: &AtomicBool, works: bool) -> bool {
        let mut s = self.state.lock();
        self.back(&mut s);
        s.sleeping.push(target);
        let reached = loop {
            if cancel.load(Ordering::SeqCst) {
                break false;
            }
            if s.time >= target {
                break true;
            }
            // The flag has no condvar of its own; re-check it now and then.
            if !self.spin(&mut s, || cancel.load(Ordering::Relaxed)) {
                self.moved.wait_for(&mut s, CANCEL_CHECK);
            }
        };
        if let Some(i) = s.sleeping.iter().position(|t| *t == target) {
            s.sleeping.swap_remove(i);
        }
        if reached && works {
            s.busy += 1;
            BUSY_FOR.with(|b| b.set(self.key()));
        }
        self.changed(&s);
        reached
    }
}

impl<C: Clock> Clock for std::sync::Arc<C> {
    fn now(&self) -> Time {
        (**self).now()
    }
    fn wait_until(&self, target: Time, cancel: &AtomicBool) -> bool {
        (**self).wait_until(target, cancel)
    }
    fn wait_to_work(&self, target: Time, cancel: &AtomicBool) -> bool {
        (**self).wait_to_work(target, cancel)
    }
    fn done_waiting(&self) {
        (**self).done_waiting();
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
