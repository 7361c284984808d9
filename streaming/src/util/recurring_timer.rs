//! A timer that calls back at every multiple of its period on a [`Clock`] (Spark's
//! RecurringTimer). If the clock jumps several periods, every missed time is called back in
//! order, so a manual clock advanced by three intervals yields three batches.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::clock::Clock;
use crate::time::Time;

pub(crate) struct RecurringTimer {
    cancel: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl RecurringTimer {
    /// Starts calling `callback(t)` for `t = start, start + period, …`.
    pub(crate) fn start(
        name: &str,
        clock: Arc<dyn Clock>,
        start: Time,
        period: Duration,
        mut callback: impl FnMut(Time) -> bool + Send + 'static,
    ) -> std::io::Result<Self> {
        let cancel = Arc::new(AtomicBool::new(false));
        let flag = cancel.clone();
        let thread = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                let mut next = start;
                // Checked every round: a timer far behind its clock (missed times called
                // back in a row) must still stop when told.
                while !flag.load(Ordering::SeqCst) && clock.wait_to_work(next, &flag) {
                    if !callback(next) {
                        break;
                    }
                    next = next + period;
                }
                clock.done_waiting();
            })?;
        Ok(RecurringTimer {
            cancel,
            thread: Some(thread),
        })
    }

    /// The first multiple of `period` strictly after `now`.
    pub(crate) fn next_time(now: Time, period: Duration) -> Time {
        now.floor(period) + period
    }

    /// Stops the timer and waits for its thread.
    pub(crate) fn stop(&mut self) {
        self.cancel.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                log::error!("a timer thread panicked");
            }
        }
    }
}

impl Drop for RecurringTimer {
    fn drop(&mut self) {
        self.stop();
    }
}
