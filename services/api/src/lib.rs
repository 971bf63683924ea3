//! # aurora-api
//!
//! The JSON shapes of the scheduler's HTTP API under `/api/v1`, shared by the server
//! (`aurora-scheduler`), its clients (the `aurora` CLIs) and the agents, so that both sides of
//! every call compile against one definition.
//!
//! Plain data only: no I/O, no HTTP client or server. Must not depend on the journal, storage,
//! messaging or the scheduler's internals.

use std::collections::{BTreeMap, BTreeSet};

mod cron;
mod journal;
mod reads;
mod updates;

use aurora_events::event::Attribute;
use aurora_events::{AgentId, Capacity, InstanceId, ScheduleStatus, TaskConfig, TaskId};
use serde::{Deserialize, Serialize};

pub use cron::{CronJob, ScheduleCron};
pub use journal::{
    EventsPage, EventsQuery, JournalHead, JournalInfo, MAX_EVENTS_PER_PAGE, SeqAt, first_seq,
};
pub use reads::{
    ConfigGroup, ConfigSummary, CreateJob, HostStatus, InstanceEvent, JobSummary, QuotaView,
    TaskView, UpdateDetails, UpdateEvent, UpdateSummary, instance_ranges,
};
pub use updates::{
    CLIENT_UPDATE_ID, PulseResult, PulseStatus, RollingRestart, StartUpdate, UNCHANGED,
    UpdateAction, UpdateStarted,
};

/// The header naming the user on whose behalf a request is made (until authentication lands).
pub const USER_HEADER: &str = "x-aurora-user";

/// Every error the API returns: a code (Aurora's response codes where they apply:
/// `INVALID_REQUEST`, `JOB_UPDATING_ERROR`, `ERROR_TRANSIENT`, ...) and a message naming what
/// was wrong.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ApiError {
    pub code: String,
    pub message: String,
}

/// What every mutation answers: the seqs it committed, if it changed anything, so a caller can
/// read its own writes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Committed {
    pub first_seq: Option<u64>,
    pub last_seq: Option<u64>,
    /// A human-readable summary (e.g. Aurora's "No tasks to kill.").
    pub message: Option<String>,
}

/// `POST /api/v1/agents/register`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AgentRegistration {
    pub agent: AgentId,
    pub host: String,
    pub capacity: Capacity,
    pub attributes: Vec<Attribute>,
    /// Base URL of the agent's observer.
    pub endpoint: String,
    /// Tasks the agent is running right now (empty for a fresh agent).
    pub running: BTreeSet<TaskId>,
}

/// `POST /api/v1/agents/{agent}/status`: a status report for one task.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StatusReport {
    pub task: TaskId,
    pub status: ScheduleStatus,
    pub message: Option<String>,
}

/// `POST /api/v1/agents/{agent}/status`'s body: one report, or several in the order they
/// happened (an agent sends what it has queued at once, so that the leader decides and
/// commits them together).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum StatusReports {
    One(StatusReport),
    Many(Vec<StatusReport>),
}

impl StatusReports {
    pub fn into_vec(self) -> Vec<StatusReport> {
        match self {
            StatusReports::One(report) => vec![report],
            StatusReports::Many(reports) => reports,
        }
    }
}

/// What an agent must start.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LaunchSpec {
    pub task: TaskId,
    pub job: String,
    pub instance: InstanceId,
    pub config: TaskConfig,
    pub ports: BTreeMap<String, u16>,
}

/// `POST /api/v1/agents/{agent}/heartbeat`'s answer: work queued for the agent since its last
/// heartbeat.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct Heartbeat {
    pub launch: Vec<LaunchSpec>,
    pub kill: Vec<TaskId>,
    /// The term of the leader that answered. An agent that has heard from a higher term drops
    /// this answer's launches and kills (a deposed leader that has not noticed yet). Absent
    /// (0) from schedulers that predate terms.
    #[serde(default)]
    pub term: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_heartbeat_without_a_term_parses_as_term_zero() {
        // What a scheduler from before terms sends.
        let old: Heartbeat = serde_json::from_str(r#"{"launch": [], "kill": ["t-1"]}"#).unwrap();
        assert_eq!(old.term, 0);
        assert_eq!(old.kill, [TaskId::from_raw("t-1")]);
        let new: Heartbeat =
            serde_json::from_str(r#"{"launch": [], "kill": [], "term": 7}"#).unwrap();
        assert_eq!(new.term, 7);
    }
}
