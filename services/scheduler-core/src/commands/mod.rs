//! Commands and the one entry point that decides them. Each command is a struct in its own
//! file with its [`Decide`] implementation; this module only declares them, gathers them in
//! [`Command`] and dispatches.

mod add_instances;
mod advance_updates;
mod create_job;
mod cron;
mod drain_hosts;
mod end_maintenance;
mod force_task_state;
mod guards;
mod host_mode;
mod kill_tasks;
mod lose_agent;
mod preempt;
mod prune_tasks;
mod pulse_update;
mod register_agent;
mod restart_instances;
mod schedule;
mod set_quota;
mod sla_drain_hosts;
mod start_maintenance;
mod start_update;
mod status_update;
mod steer_update;
mod tick;
mod unbind_agent;
mod update_host_attributes;

use crate::Ctx;
use crate::decision::{Decision, Out, Rejection};
use crate::state::ClusterState;

pub use add_instances::AddInstances;
pub use advance_updates::AdvanceUpdates;
pub use create_job::CreateJob;
pub use cron::{CRON_KILL_MESSAGE, CronRound, DescheduleCronJob, ScheduleCronJob, StartCronJob};
pub use drain_hosts::DrainHosts;
pub use end_maintenance::EndMaintenance;
pub use force_task_state::ForceTaskState;
pub use guards::{MAX_MESSAGE_BYTES, MAX_METADATA_BYTES};
pub use kill_tasks::KillTasks;
pub use lose_agent::LoseAgent;
pub use preempt::may_preempt;
pub use prune_tasks::PruneTasks;
pub use pulse_update::PulseUpdate;
pub use register_agent::{NOT_FOUND_ON_AGENT, RECONCILED, RegisterAgent, check_endpoint};
pub use restart_instances::RestartInstances;
pub use schedule::Schedule;
pub use set_quota::SetQuota;
pub use sla_drain_hosts::{
    COORDINATOR_DRAIN_MESSAGE, CoordinatorAllowed, FORCED_DRAIN_MESSAGE, SLA_DRAIN_MESSAGE,
    SlaDrainHosts,
};
pub use start_maintenance::StartMaintenance;
pub use start_update::{
    CLIENT_UPDATE_ID, MAX_UPDATE_INSTANCE_FAILURES, RollingRestart, StartUpdate,
};
pub use status_update::StatusUpdate;
pub use steer_update::{Steer, SteerUpdate};
pub use tick::Tick;
pub use unbind_agent::UnbindAgent;
pub use update_host_attributes::UpdateHostAttributes;

/// How one command decides: read the state, write events, effects and notes into `out`, or
/// refuse. Implementations are pure (time and randomness come through `out`, from [`Ctx`]);
/// call them through [`decide`], which builds `out` and finishes the [`Decision`].
pub trait Decide {
    fn decide(&self, state: &ClusterState, out: &mut Out) -> Result<(), Rejection>;
}

/// Everything the scheduler can be asked to do: one variant per command struct.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    CreateJob(CreateJob),
    AddInstances(AddInstances),
    KillTasks(KillTasks),
    RestartInstances(RestartInstances),
    SetQuota(SetQuota),
    RegisterAgent(RegisterAgent),
    UpdateHostAttributes(UpdateHostAttributes),
    LoseAgent(LoseAgent),
    StatusUpdate(StatusUpdate),
    StartMaintenance(StartMaintenance),
    DrainHosts(DrainHosts),
    EndMaintenance(EndMaintenance),
    ForceTaskState(ForceTaskState),
    PruneTasks(PruneTasks),
    Tick(Tick),
    Schedule(Schedule),
    StartUpdate(StartUpdate),
    RollingRestart(RollingRestart),
    SteerUpdate(SteerUpdate),
    PulseUpdate(PulseUpdate),
    AdvanceUpdates(AdvanceUpdates),
    ScheduleCronJob(ScheduleCronJob),
    DescheduleCronJob(DescheduleCronJob),
    StartCronJob(StartCronJob),
    CronRound(CronRound),
    SlaDrainHosts(SlaDrainHosts),
    CoordinatorAllowed(CoordinatorAllowed),
    UnbindAgent(UnbindAgent),
}

/// `From<X> for Command` for every command struct, so callers may write `tick.into()`.
macro_rules! commands {
    ($($name:ident),* $(,)?) => {
        $(impl From<$name> for Command {
            fn from(command: $name) -> Self {
                Command::$name(command)
            }
        })*
    };
}

commands!(
    CreateJob,
    AddInstances,
    KillTasks,
    RestartInstances,
    SetQuota,
    RegisterAgent,
    UpdateHostAttributes,
    LoseAgent,
    StatusUpdate,
    StartMaintenance,
    DrainHosts,
    EndMaintenance,
    ForceTaskState,
    PruneTasks,
    Tick,
    Schedule,
    StartUpdate,
    RollingRestart,
    SteerUpdate,
    PulseUpdate,
    AdvanceUpdates,
    ScheduleCronJob,
    DescheduleCronJob,
    StartCronJob,
    CronRound,
    SlaDrainHosts,
    CoordinatorAllowed,
    UnbindAgent,
);

/// Decides `command` against `state`. Pure: the same arguments always give the same decision.
pub fn decide(state: &ClusterState, command: &Command, ctx: &Ctx) -> Result<Decision, Rejection> {
    let mut out = Out::new(ctx);
    let decider: &dyn Decide = match command {
        Command::CreateJob(c) => c,
        Command::AddInstances(c) => c,
        Command::KillTasks(c) => c,
        Command::RestartInstances(c) => c,
        Command::SetQuota(c) => c,
        Command::RegisterAgent(c) => c,
        Command::UpdateHostAttributes(c) => c,
        Command::LoseAgent(c) => c,
        Command::StatusUpdate(c) => c,
        Command::StartMaintenance(c) => c,
        Command::DrainHosts(c) => c,
        Command::EndMaintenance(c) => c,
        Command::ForceTaskState(c) => c,
        Command::PruneTasks(c) => c,
        Command::Tick(c) => c,
        Command::Schedule(c) => c,
        Command::StartUpdate(c) => c,
        Command::RollingRestart(c) => c,
        Command::SteerUpdate(c) => c,
        Command::PulseUpdate(c) => c,
        Command::AdvanceUpdates(c) => c,
        Command::ScheduleCronJob(c) => c,
        Command::DescheduleCronJob(c) => c,
        Command::StartCronJob(c) => c,
        Command::CronRound(c) => c,
        Command::SlaDrainHosts(c) => c,
        Command::CoordinatorAllowed(c) => c,
        Command::UnbindAgent(c) => c,
    };
    decider.decide(state, &mut out)?;
    Ok(out.finish())
}
