//! Waiting a little on the CPU before blocking. A thread blocked on a futex takes 15–25 µs
//! to wake on a small VM, and one batch passes through three threads (timer → executor →
//! whoever waits for the batch), so an empty batch paid three wakes. A waiter that spins a
//! short while first sees a hand-off that comes soon within a microsecond; one that waits
//! longer (the next batch of a real interval) blocks as before, having spent at most
//! [`SPIN`] of CPU.

use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, TryRecvError};

/// How long a waiter spins before it blocks.
pub(crate) const SPIN: Duration = Duration::from_micros(20);

/// Spins until `ready()` or `limit` passed; returns whether it became ready.
pub(crate) fn until(limit: Duration, mut ready: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if ready() {
            return true;
        }
        if start.elapsed() >= limit {
            return false;
        }
        // Yield rather than burn: on two cores the thread that will hand over may need
        // this CPU.
        std::thread::yield_now();
    }
}

/// [`Receiver::recv_timeout`], spinning [`SPIN`] first.
pub(crate) fn recv_timeout<T>(rx: &Receiver<T>, timeout: Duration) -> Result<T, RecvTimeoutError> {
    let mut got = None;
    let mut gone = false;
    until(SPIN.min(timeout), || match rx.try_recv() {
        Ok(v) => {
            got = Some(v);
            true
        }
        Err(TryRecvError::Disconnected) => {
            gone = true;
            true
        }
        Err(TryRecvError::Empty) => false,
    });
    match (got, gone) {
        (Some(v), _) => Ok(v),
        (None, true) => Err(RecvTimeoutError::Disconnected),
        (None, false) => rx.recv_timeout(timeout),
    }
}

/// [`Receiver::recv`], spinning [`SPIN`] first; `None` once every sender is gone.
pub(crate) fn recv<T>(rx: &Receiver<T>) -> Option<T> {
    // A timeout too far to add to now waits without one.
    recv_timeout(rx, Duration::MAX).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spinning_receive_gets_what_is_sent_before_or_after_it_blocks() {
        let (tx, rx) = crossbeam_channel::unbounded();
        tx.send(1).expect("open");
        assert_eq!(recv(&rx), Some(1), "already there: seen while spinning");
        // From another thread, whenever it runs: seen while spinning or after blocking.
        let sender = std::thread::spawn(move || tx.send(2).expect("open"));
        assert_eq!(recv(&rx), Some(2));
        sender.join().expect("sender");
        assert_eq!(recv(&rx), None, "every sender gone");
        // Nothing comes: the spin ends and the blocking wait times out.
        let (_tx, rx) = crossbeam_channel::unbounded::<u8>();
        assert_eq!(
            recv_timeout(&rx, Duration::from_millis(5)),
            Err(RecvTimeoutError::Timeout)
        );
    }
}
