//! What the leader's scheduling loop needs beside the `Schedule` command: the backoff policy
//! for groups of PENDING tasks that keep not fitting ([`Backoff`]), and the inputs a placement
//! reads from the write model (`inputs.rs`, shared by the pass and by
//! [`explain_pending`](crate::explain_pending)).
//!
//! ```text
//!  leader loop, every pass:
//!    skip = backoff.skipped(now) ──► Schedule { max_tasks, skip, max_preemption_searches }
//!                                          │ decide
//!                                          ▼
//!    backoff.after_pass(now, &decision.pass) ◄── PassOutcome { placed, preempting,
//!                                                              unplaced, deferred, work }
//! ```

mod backoff;
pub(crate) mod inputs;

pub use backoff::{Backoff, BackoffSettings};
