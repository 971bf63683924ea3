//! Commands and the one entry point that decides them. Each command's logic is in its own file;
//! this module only names the commands and dispatches.

mod add_instances;
mod create_job;
mod drain_hosts;
mod end_maintenance;
mod force_task_state;
mod host_mode;
mod kill_tasks;
mod lose_agent;
mod preempt;
mod prune_tasks;
mod register_agent;
mod restart_instances;
mod schedule;
mod set_quota;
mod start_maintenance;
mod status_update;
mod tick;
mod update_host_attributes;

use std::collections::BTreeSet;

use aurora_events::event::Attribute;
use aurora_events::{
    AgentId, Capacity, Identifier, InstanceId, JobKey, ResourceAggregate, ScheduleStatus,
    TaskConfig, TaskId, Timestamp,
};

use crate::Ctx;
use crate::decision::{Decision, Out, Rejection};
use crate::state::ClusterState;

pub use preempt::may_preempt;
pub use register_agent::NOT_FOUND_ON_AGENT;

/// Everything the scheduler can be asked to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// A new job of `instances` tasks (`createJob`).
    CreateJob {
        job: JobKey,
        config: Box<TaskConfig>,
        instances: u32,
    },
    /// `count` more instances with the config of active instance `template` (`addInstances`).
    AddInstances {
        job: JobKey,
        template: InstanceId,
        count: u32,
    },
    /// Kill a job's active tasks: all, or these instances (`killTasks`).
    KillTasks {
        job: JobKey,
        instances: Option<BTreeSet<InstanceId>>,
        message: Option<String>,
    },
    /// Restart a job's active instances: all, or these (`restartShards`).
    RestartInstances {
        job: JobKey,
        instances: Option<BTreeSet<InstanceId>>,
    },
    /// Overwrite a role's quota (`setQuota`).
    SetQuota {
        role: Identifier,
        quota: ResourceAggregate,
    },
    /// An agent registered, running `running` (reconciled in the same decision).
    RegisterAgent {
        agent: AgentId,
        host: String,
        capacity: Capacity,
        attributes: Vec<Attribute>,
        endpoint: String,
        running: BTreeSet<TaskId>,
    },
    /// An agent reported new host attributes.
    UpdateHostAttributes {
        agent: AgentId,
        attributes: Vec<Attribute>,
    },
    /// An agent missed its heartbeats.
    LoseAgent { agent: AgentId, reason: String },
    /// An agent reported a task's status.
    StatusUpdate {
        agent: AgentId,
        task: TaskId,
        status: ScheduleStatus,
        message: Option<String>,
    },
    /// Hosts enter maintenance (SCHEDULED).
    StartMaintenance { hosts: Vec<String> },
    /// Hosts are drained of tasks (DRAINING, then DRAINED).
    DrainHosts { hosts: Vec<String> },
    /// Hosts return to service.
    EndMaintenance { hosts: Vec<String> },
    /// Admin: move a task to a state through the state machine.
    ForceTaskState {
        task: TaskId,
        status: ScheduleStatus,
    },
    /// Admin: delete terminal tasks matching every filter given.
    PruneTasks {
        job: Option<JobKey>,
        role: Option<Identifier>,
        environment: Option<Identifier>,
        statuses: Option<BTreeSet<ScheduleStatus>>,
        limit: Option<usize>,
    },
    /// Time passed since the previous tick: fire the timers that fell due.
    Tick { since: Timestamp },
    /// One scheduling pass: place pending tasks, preempting where production tasks must.
    Schedule,
}

/// Decides `command` against `state`. Pure: the same arguments always give the same decision.
pub fn decide(state: &ClusterState, command: &Command, ctx: &Ctx) -> Result<Decision, Rejection> {
    let mut out = Out::new(ctx);
    let actor = &ctx.actor;
    match command {
        Command::CreateJob {
            job,
            config,
            instances,
        } => create_job::decide(state, &mut out, job, config, *instances),
        Command::AddInstances {
            job,
            template,
            count,
        } => add_instances::decide(state, &mut out, job, *template, *count),
        Command::KillTasks {
            job,
            instances,
            message,
        } => kill_tasks::decide(
            state,
            &mut out,
            actor,
            job,
            instances.as_ref(),
            message.as_deref(),
        ),
        Command::RestartInstances { job, instances } => {
            restart_instances::decide(state, &mut out, actor, job, instances.as_ref())
        }
        Command::SetQuota { role, quota } => set_quota::decide(state, &mut out, role, quota),
        Command::RegisterAgent {
            agent,
            host,
            capacity,
            attributes,
            endpoint,
            running,
        } => register_agent::decide(
            state, &mut out, agent, host, capacity, attributes, endpoint, running,
        ),
        Command::UpdateHostAttributes { agent, attributes } => {
            update_host_attributes::decide(state, &mut out, agent, attributes)
        }
        Command::LoseAgent { agent, reason } => lose_agent::decide(state, &mut out, agent, reason),
        Command::StatusUpdate {
            agent,
            task,
            status,
            message,
        } => status_update::decide(state, &mut out, agent, task, *status, message.as_deref()),
        Command::StartMaintenance { hosts } => start_maintenance::decide(state, &mut out, hosts),
        Command::DrainHosts { hosts } => drain_hosts::decide(state, &mut out, hosts),
        Command::EndMaintenance { hosts } => end_maintenance::decide(state, &mut out, hosts),
        Command::ForceTaskState { task, status } => {
            force_task_state::decide(state, &mut out, actor, task, *status)
        }
        Command::PruneTasks {
            job,
            role,
            environment,
            statuses,
            limit,
        } => {
            let filter = prune_tasks::Filter {
                job: job.as_ref(),
                role: role.as_ref(),
                environment: environment.as_ref(),
                statuses: statuses.as_ref(),
            };
            prune_tasks::decide(state, &mut out, &filter, *limit)
        }
        Command::Tick { since } => tick::decide(state, &mut out, *since),
        Command::Schedule => schedule::decide(state, &mut out),
    }?;
    Ok(out.finish())
}
