//! The observer's own threads for filesystem work. Every open, stat, directory read and file read
//! an observer request causes runs here, never on tokio's blocking pool: in `aurora-scheduler
//! --dev` the agent shares a process (and so that pool) with the journal, and a sandbox can hold
//! things that make a syscall wait for a long time (a FIFO once did; a stuck network filesystem
//! still can). Here such a wait costs at most this pool's few threads.
//!
//! ```text
//!  handler ──try_acquire a slot──► (none free: 503 Busy)
//!     │ job + slot
//!     ▼
//!  queue (unbounded; the slots bound it) ──► N threads "observer-fs-i" ──► oneshot ──► handler
//! ```
//!
//! A slot is held from submission until the job has run, so at most `slots` jobs are queued or
//! running. A request's first job takes a slot or is refused at once ([`FsPool::run`]); the
//! chunks of a body already being streamed wait for one instead ([`FsPool::run_when_free`]),
//! because a response under way can no longer answer 503.

use std::panic::AssertUnwindSafe;
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};

use super::ObserverError;

/// Threads of the observer's pool.
pub const FS_THREADS: usize = 4;
/// Jobs the pool may hold at once, running or queued; beyond it a new request answers 503.
pub const FS_SLOTS: usize = 64;

type Job = Box<dyn FnOnce() + Send>;

/// A fixed set of threads running blocking filesystem jobs, bounded by slots. Threads end
/// once the pool is dropped (the queue closes) and their current job is done.
pub struct FsPool {
    jobs: Sender<Job>,
    slots: Arc<Semaphore>,
    threads: usize,
}

impl std::fmt::Debug for FsPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FsPool")
            .field("threads", &self.threads)
            .field("free_slots", &self.slots.available_permits())
            .finish()
    }
}

impl FsPool {
    /// Starts `threads` threads sharing `slots` slots (at least one per thread).
    pub fn new(threads: usize, slots: usize) -> Self {
        let (jobs, queue) = std::sync::mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        let mut started = 0;
        for i in 0..threads {
            let queue = Arc::clone(&queue);
            let spawned = std::thread::Builder::new()
                .name(format!("observer-fs-{i}"))
                .spawn(move || work(&queue));
            match spawned {
                Ok(_) => started += 1,
                Err(e) => tracing::error!(error = %e, "observer: cannot start a file thread"),
            }
        }
        // Without a thread nothing would ever run a job: no slots, so every request is told
        // "busy" at once instead of waiting forever.
        let slots = if started == 0 { 0 } else { slots.max(started) };
        Self {
            jobs,
            slots: Arc::new(Semaphore::new(slots)),
            threads: started,
        }
    }

    /// Runs `job` on the pool, or answers [`ObserverError::Busy`] at once when every slot is
    /// taken. For the first filesystem step of a request.
    pub async fn run<T, F>(&self, job: F) -> Result<T, ObserverError>
    where
        F: FnOnce() -> Result<T, ObserverError> + Send + 'static,
        T: Send + 'static,
    {
        let slot = Arc::clone(&self.slots)
            .try_acquire_owned()
            .map_err(|_| ObserverError::Busy)?;
        outcome(self.submit(slot, job)?).await
    }

    /// Runs `job` on the pool once a slot is free. For the later steps of a response already
    /// under way (a streamed body's next chunk).
    pub async fn run_when_free<T, F>(&self, job: F) -> Result<T, ObserverError>
    where
        F: FnOnce() -> Result<T, ObserverError> + Send + 'static,
        T: Send + 'static,
    {
        let slot = Arc::clone(&self.slots)
            .acquire_owned()
            .await
            .map_err(|_| ObserverError::Busy)?;
        outcome(self.submit(slot, job)?).await
    }

    /// Queues `job` without waiting for its result, if a slot is free now; `false` when it
    /// was not queued. For clean-ups from `Drop`, which cannot wait.
    pub fn detach<F>(&self, job: F) -> bool
    where
        F: FnOnce() -> Result<(), ObserverError> + Send + 'static,
    {
        let Ok(slot) = Arc::clone(&self.slots).try_acquire_owned() else {
            return false;
        };
        self.submit(slot, job).is_ok()
    }

    /// Queues `job` at once (not when first polled), holding `slot` until it has run.
    fn submit<T, F>(&self, slot: OwnedSemaphorePermit, job: F) -> Result<Outcome<T>, ObserverError>
    where
        F: FnOnce() -> Result<T, ObserverError> + Send + 'static,
        T: Send + 'static,
    {
        let (done, outcome) = oneshot::channel();
        let job: Job = Box::new(move || {
            // A panicking job must not shrink the pool; its requester gets an error.
            let result = std::panic::catch_unwind(AssertUnwindSafe(job)).unwrap_or_else(|_| {
                tracing::error!("observer: a file job panicked");
                Err(ObserverError::Io("an observer file job panicked".into()))
            });
            // Free the slot before the requester hears back, so that its next job finds it
            // (and whether or not the requester is still there).
            drop(slot);
            let _ = done.send(result);
        });
        self.jobs
            .send(job)
            .map_err(|_| ObserverError::Io("the observer's file threads have stopped".into()))?;
        Ok(outcome)
    }
}

type Outcome<T> = oneshot::Receiver<Result<T, ObserverError>>;

async fn outcome<T>(outcome: Outcome<T>) -> Result<T, ObserverError> {
    // Every job sends its result, so a dropped sender means it never ran.
    outcome
        .await
        .map_err(|_| ObserverError::Io("an observer file job was dropped unrun".into()))?
}

/// One pool thread: runs jobs until the pool is dropped.
fn work(queue: &Mutex<Receiver<Job>>) {
    loop {
        // Only the waiting thread holds the lock; the others wait for it, not for a job.
        let job = queue.lock().unwrap_or_else(PoisonError::into_inner).recv();
        let Ok(job) = job else {
            return;
        };
        job();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::mpsc;
    use std::time::Duration;

    use pretty_assertions::assert_eq;

    use super::*;

    #[tokio::test]
    async fn jobs_run_and_return_their_results() {
        let pool = FsPool::new(2, 4);
        assert_eq!(pool.run(|| Ok(41 + 1)).await, Ok(42));
        assert_eq!(
            pool.run(|| Err::<(), _>(ObserverError::NotFound("x".into())))
                .await,
            Err(ObserverError::NotFound("x".into()))
        );
    }

    #[tokio::test]
    async fn a_full_pool_answers_busy_at_once_and_frees_its_slots_after() {
        let pool = FsPool::new(1, 2);
        let (release, gate) = mpsc::channel::<()>();
        let gate = Arc::new(Mutex::new(gate));
        // Two jobs that wait for the test: one runs, one is queued; both slots are taken.
        let mut held = Vec::new();
        for _ in 0..2 {
            let gate = Arc::clone(&gate);
            let slot = Arc::clone(&pool.slots).try_acquire_owned().unwrap();
            let job = pool.submit(slot, move || {
                let _ = gate.lock().unwrap().recv_timeout(Duration::from_secs(20));
                Ok(())
            });
            held.push(job.unwrap());
        }
        assert_eq!(pool.run(|| Ok(())).await, Err(ObserverError::Busy));

        release.send(()).unwrap();
        release.send(()).unwrap();
        for job in held {
            assert_eq!(outcome(job).await, Ok(()));
        }
        assert_eq!(pool.run(|| Ok(7)).await, Ok(7));
    }

    #[tokio::test]
    async fn a_panicking_job_is_an_error_and_the_thread_survives() {
        let pool = FsPool::new(1, 1);
        let panicked: Result<(), _> = pool.run(|| panic!("job panics")).await;
        assert!(
            matches!(panicked, Err(ObserverError::Io(_))),
            "{panicked:?}"
        );
        assert_eq!(pool.run(|| Ok("still here")).await, Ok("still here"));
    }
}
