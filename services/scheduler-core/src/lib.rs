//! # aurora-scheduler-core
//!
//! The write side's brain, as pure code. Every decision is
//! `decide(&ClusterState, &Command, &Ctx) -> Result<Decision, Rejection>`; state changes only by
//! applying committed events. Each command (create job, kill, restart, quota, agents, ticks,
//! scheduling passes...) is a struct in its own file implementing [`commands::Decide`], and
//! [`Command`] gathers them for the one entry point. The 15-state task machine, placement, quota
//! and preemption live here too.
//!
//! The write model ([`ClusterState`]) keeps indexes so that ticks, passes and quota checks cost
//! what is due, not a walk over every task. A scheduling pass runs within the budget the leader
//! gives it and reports what became of each group ([`PassOutcome`]); [`scheduling::Backoff`] is
//! the leader's policy for groups that keep not fitting; [`explain_pending`] says why tasks wait
//! from the write model alone. See the crate's README for the pipeline and the glossary.
//!
//! Purity rules: no I/O, no clock reads (time arrives as [`Ctx::now`]), no randomness but a
//! seeded RNG derived from [`Ctx::seed`], no iteration over hash maps in decisions. That makes
//! every decision replayable from the journal.
//!
//! Must not depend on tokio, the journal, storage (`rocksdb`), messaging (`async-nats`), the web
//! UI or the CLI: only on `aurora-events`.

pub mod commands;
/// Cron schedules live with the event model (the read side reads them too).
pub use aurora_events::cron;
pub mod decision;
mod error;
mod explain;
pub mod ids;
mod lifecycle;
pub mod placement;
pub mod quota;
pub mod scheduling;
pub mod settings;
mod sla;
pub mod state;
pub mod state_machine;
pub mod update;
mod validation;

use aurora_events::{Actor, Timestamp};

pub use commands::{Command, Decide, decide};
pub use decision::{Decision, Effect, PassOutcome, PassWork, Rejection};
pub use error::Error;
pub use explain::{WAITING_FOR_PASS, explain_pending};
pub use settings::{EnvironmentPattern, Settings};
pub use state::ClusterState;

/// Everything a decision may know besides the state and the command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ctx {
    /// The time the runtime read for this decision.
    pub now: Timestamp,
    /// Who asked; stamped on every event the decision makes.
    pub actor: Actor,
    /// Seed for any randomness (task ids, event ids, tie-breaks), recorded so replays agree.
    pub seed: u64,
}
