//! Hollow agents: one process simulating many agents, for scale tests of the scheduler.
//!
//! Each simulated agent has its own id and host (`<prefix>-<i>`), capacity and attributes
//! (`host`, and `rack` spread round-robin over a number of racks), and speaks the same HTTP
//! protocol as `aurora-agent` through [`SchedulerClient`](crate::client::SchedulerClient):
//! it registers, heartbeats, registers again with the tasks it still has when the scheduler
//! answers 404 (after a restart, or after declaring it lost), and reports status changes in
//! order. It runs no processes and has no sandboxes: a launched task follows a [`Script`] of
//! timed status reports instead, and a kill is answered with KILLED.
//!
//! ```text
//!  heartbeat reply ──launch/kill──▶ HollowTasks (pure: script steps as due times)
//!        ▲                                 │ due(now)
//!        │ every interval, staggered       ▼
//!   contact loop ◀── wakes at next_due ── reports ──▶ reporter (in order, retried) ──▶ scheduler
//! ```
//!
//! - [`script`]: parsing and printing scripts like `STARTING@0ms,RUNNING@100ms` (the default)
//!   or `STARTING@0ms,RUNNING@50ms,FAILED@200ms:exit 1`. A job picks its own with the task
//!   config metadata key `hollow.script`; one that does not parse fails the task with a message
//!   naming the problem.
//! - [`tasks`]: one agent's bookkeeping, pure (the caller feeds in elapsed times).
//! - [`fleet`]: the I/O: N agents in one tokio runtime, first contacts staggered over one
//!   heartbeat interval.
//!
//! The `aurora-hollow-agents` binary runs a fleet from the command line.

pub mod fleet;
pub mod script;
pub mod tasks;

pub use fleet::{FleetConfig, Identity, identity, run, stagger};
pub use script::{DEFAULT_SCRIPT, SCRIPT_METADATA_KEY, Script, ScriptError, Step};
pub use tasks::{HollowTasks, Launch};
