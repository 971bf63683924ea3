//! Read-your-writes: telling waiters how far a view has folded.
//!
//! A client that has just committed an event at seq S wants to read a view that includes it.
//! The projection crate does no I/O and runs no async runtime, so it only *reports* progress:
//! whoever folds calls [`SeqListener::folded_up_to`] (History does it after each apply). The
//! runtime plugs in its own listener — e.g. a `tokio::sync::watch::Sender<Seq>` wrapped in a
//! two-line impl, whose receivers `wait_for(|s| *s >= seq)` under a timeout. [`SeqWatch`] is
//! the blocking, std-only listener for threads and tests.

use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use aurora_events::Seq;

/// Told the last folded seq after every fold (or batch of folds). Must be cheap and must not
/// block: it runs on the folding thread.
pub trait SeqListener: Send + Sync {
    fn folded_up_to(&self, seq: Seq);
}

/// The last folded seq, and a blocking wait for it to reach a target.
#[derive(Debug, Default)]
pub struct SeqWatch {
    seq: Mutex<Seq>,
    advanced: Condvar,
}

impl SeqWatch {
    pub fn new() -> Self {
        Self::default()
    }

    // A poisoned lock holds a plain number that cannot be half-written: keep using it.
    fn lock(&self) -> MutexGuard<'_, Seq> {
        self.seq.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn current(&self) -> Seq {
        *self.lock()
    }

    /// Blocks until the folded seq is at least `seq` or `timeout` passes. Returns the folded
    /// seq: `Ok` once it reached `seq`, `Err` with how far it got on timeout.
    pub fn wait_for(&self, seq: Seq, timeout: Duration) -> Result<Seq, Seq> {
        let deadline = Instant::now() + timeout;
        let mut current = self.lock();
        while *current < seq {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(*current);
            }
            current = match self.advanced.wait_timeout(current, left) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
        Ok(*current)
    }
}

impl SeqListener for SeqWatch {
    fn folded_up_to(&self, seq: Seq) {
        let mut current = self.lock();
        // Never moves back: a listener shared by two feeders reports the furthest.
        if seq > *current {
            *current = seq;
            self.advanced.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn waits_until_the_seq_is_folded_or_times_out() {
        let watch = Arc::new(SeqWatch::new());
        assert_eq!(watch.wait_for(0, Duration::ZERO), Ok(0));
        assert_eq!(watch.wait_for(3, Duration::from_millis(10)), Err(0));
        let feeder = {
            let watch = Arc::clone(&watch);
            std::thread::spawn(move || {
                for seq in 1..=5 {
                    std::thread::sleep(Duration::from_millis(2));
                    watch.folded_up_to(seq);
                }
            })
        };
        assert!(
            watch
                .wait_for(4, Duration::from_secs(10))
                .is_ok_and(|s| s >= 4)
        );
        feeder.join().expect("feeder thread");
        watch.folded_up_to(2);
        assert_eq!(watch.current(), 5, "never moves back");
    }
}
