//! Hollow agents: no processes, only the reports a real agent would send, scripted.

use std::collections::BTreeSet;

use aurora_events::{AgentId, ScheduleStatus, TaskId};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

#[derive(Debug, Clone)]
pub(super) struct HollowAgent {
    pub(super) alive: bool,
    /// What it ran when it stopped answering: what it reports again if it comes back.
    pub(super) running_when_lost: BTreeSet<TaskId>,
}

impl Default for HollowAgent {
    fn default() -> Self {
        Self {
            alive: true,
            running_when_lost: BTreeSet::new(),
        }
    }
}

#[derive(Debug, Clone)]
pub(super) struct Report {
    pub(super) agent: AgentId,
    pub(super) task: TaskId,
    pub(super) status: ScheduleStatus,
    pub(super) message: String,
}

/// How a job's tasks behave once launched.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Script {
    /// STARTING, RUNNING, and then run until killed.
    #[default]
    RunForever,
    /// STARTING, RUNNING, then FINISHED after a random 5-60 s.
    FinishAfterAWhile,
    /// STARTING, RUNNING, then FAILED after `after_ms`: a crash loop when short.
    FailAfter { after_ms: i64 },
    /// Each launch fails with this probability (in percent) after a random 1-30 s, else runs
    /// forever.
    Flaky { fail_percent: u32 },
    /// STARTING, then FAILED: its health check never passes.
    NeverHealthy,
}

impl Script {
    /// The reports for one launch: (delay after the previous one, status, message).
    pub(super) fn plan(&self, rng: &mut ChaCha8Rng) -> Vec<(i64, ScheduleStatus, String)> {
        let starting = (
            500,
            ScheduleStatus::Starting,
            "Initializing sandbox.".to_string(),
        );
        if *self == Script::NeverHealthy {
            return vec![
                starting,
                (
                    1_500,
                    ScheduleStatus::Failed,
                    "Failed health check".to_string(),
                ),
            ];
        }
        let mut plan = vec![
            starting,
            (500, ScheduleStatus::Running, "Healthy".to_string()),
        ];
        match self {
            Script::NeverHealthy => {}
            Script::RunForever => {}
            Script::FinishAfterAWhile => {
                plan.push((
                    rng.random_range(5_000..60_000),
                    ScheduleStatus::Finished,
                    "exit 0".into(),
                ));
            }
            Script::FailAfter { after_ms } => {
                plan.push((*after_ms, ScheduleStatus::Failed, "exit 1".into()));
            }
            Script::Flaky { fail_percent } => {
                if rng.random_range(0..100) < *fail_percent {
                    plan.push((
                        rng.random_range(1_000..30_000),
                        ScheduleStatus::Failed,
                        "exit 1".into(),
                    ));
                }
            }
        }
        plan
    }
}
