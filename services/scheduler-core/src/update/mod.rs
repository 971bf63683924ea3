//! Rolling updates, as pure decisions (Aurora's `scheduler/updater`).
//!
//! An update is started by [`StartUpdate`](crate::commands::StartUpdate) (or
//! [`RollingRestart`](crate::commands::RollingRestart)) with instructions computed by [`diff`]:
//! the instances it changes grouped by their current config, and the config they should run.
//! From then on the leader asks [`AdvanceUpdates`](crate::commands::AdvanceUpdates) to move
//! every rolling update along whenever one of its job's tasks changed and on every timer round;
//! [`advance`] evaluates the instances being worked on, starts the next ones as the strategy
//! allows ([`order`]), and ends the update, rolls it back or fails it. Everything it knows is
//! in the write model, folded from the journal, so a new leader (or a restarted scheduler)
//! carries on exactly where the old one was: no updater state lives only in memory.
//!
//! Differences from Aurora, on purpose: pulses are journaled, so a coordinated update's pulse
//! state survives a failover exactly instead of being inferred; an instance found already in
//! its target state without ever being touched is not recorded (as in Aurora) and does not
//! take a place in a batch.

pub(crate) mod advance;
pub mod diff;
mod evaluate;
pub mod machine;
pub mod order;

/// The message of the pause an auto-pausing update makes at a batch boundary (Aurora's).
pub const AUTO_PAUSE_MESSAGE: &str = "Update auto paused";

/// Aurora's instance event message when an SLA-aware kill waits for the job's SLA.
pub const CHECKING_SLA_MESSAGE: &str = "Checking SLA before continuing.";
/// Aurora's instance event message when an SLA-aware kill may go on.
pub const SLA_PASSED_MESSAGE: &str = "SLA check passed, continuing.";

/// The message of a coordinated update blocking for want of pulses (Aurora's).
pub const PULSE_TIMEOUT_MESSAGE: &str = "Pulses from external service have timed out.";

/// Where a start's `-m` message is kept: the update's metadata (the start event has no
/// message of its own).
pub const START_MESSAGE_KEY: &str = "org.apache.aurora.update.message";
