//! The read model (the projections people read) agrees with the write model (what the
//! scheduler decides from) on every fact both keep: each task's state, failure count and host,
//! each role's quota and usage in Aurora's four buckets, and each update's state.
//!
//! They are two folds of the same envelopes, so any disagreement means one of them applies a
//! rule differently (the rules they share live in `aurora_events`). After a commit only the
//! tasks the commit's events name are compared, plus every role and update (few); a sweep
//! compares every task and checks the read model holds no task the write model lacks.

use std::collections::BTreeSet;

use aurora_events::{Identifier, TaskId};
use aurora_projections::{Queries, QuotaView};
use aurora_scheduler_core::{ClusterState, quota};

use super::Observed;

pub fn check(observed: &Observed<'_>) -> Result<(), String> {
    let state = observed.state;
    if observed.is_sweep() {
        for task in state.tasks() {
            same_task(observed, &task.id)?;
        }
        let listed: u64 = observed.views.roles().iter().map(|r| r.tasks.total()).sum();
        if listed != state.task_count() as u64 {
            return Err(format!(
                "the read model lists {listed} tasks, the write model has {}",
                state.task_count()
            ));
        }
    } else {
        let touched: BTreeSet<&TaskId> = observed
            .recent
            .iter()
            .filter_map(|e| e.event.task())
            .collect();
        for task in touched {
            same_task(observed, task)?;
        }
    }
    same_quotas(observed)?;
    same_updates(observed)
}

/// The task's status, failure count and host, or its absence, are the same in both models.
fn same_task(observed: &Observed<'_>, id: &TaskId) -> Result<(), String> {
    let state = observed.state;
    let written = state.task(id).map(|task| {
        let host = task
            .assignment
            .as_ref()
            .and_then(|a| state.agent(&a.agent))
            .map(|agent| agent.host.clone());
        (task.status, task.failure_count, host)
    });
    let read = observed
        .views
        .task_summary(id)
        .map(|task| (task.status, task.failure_count, task.host));
    if written != read {
        return Err(format!(
            "task {id}: write model has {}, read model has {}",
            describe(&written),
            describe(&read)
        ));
    }
    Ok(())
}

type TaskFacts = (aurora_events::ScheduleStatus, u32, Option<String>);

fn describe(facts: &Option<TaskFacts>) -> String {
    match facts {
        Some((status, failures, host)) => format!(
            "{status}, {failures} failures, host {}",
            host.as_deref().unwrap_or("none")
        ),
        None => "no such task".into(),
    }
}

/// Every role either model knows has the same quota and usage in both.
fn same_quotas(observed: &Observed<'_>) -> Result<(), String> {
    let state = observed.state;
    let mut roles: BTreeSet<Identifier> = state.jobs_with_tasks().map(|j| j.role.clone()).collect();
    roles.extend(observed.views.roles().into_iter().map(|r| r.role));
    for role in roles {
        let written = quota_view(state, &role);
        let read = observed.views.quota(role.as_str());
        if written != read {
            return Err(format!(
                "role {role}: write model has {written:?}, read model has {read:?}"
            ));
        }
    }
    Ok(())
}

fn quota_view(state: &ClusterState, role: &Identifier) -> QuotaView {
    let usage = quota::usage(state, role);
    QuotaView {
        quota: usage.quota,
        prod_shared: usage.prod_shared,
        non_prod_shared: usage.non_prod_shared,
        prod_dedicated: usage.prod_dedicated,
        non_prod_dedicated: usage.non_prod_dedicated,
    }
}

/// Every update has the same state in both models, and neither has one the other lacks.
fn same_updates(observed: &Observed<'_>) -> Result<(), String> {
    let written: Vec<_> = observed
        .state
        .updates()
        .iter()
        .map(|(key, update)| (key.clone(), update.status))
        .collect();
    let mut read: Vec<_> = observed
        .views
        .updates()
        .into_iter()
        .map(|u| (u.key, u.status))
        .collect();
    read.sort();
    if written != read {
        return Err(format!(
            "updates: write model has {written:?}, read model has {read:?}"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use aurora_events::{Envelope, Event, ScheduleStatus, samples};
    use aurora_projections::{Projection, Views};
    use aurora_scheduler_core::{ClusterState, Settings};

    use super::*;

    /// A task created, assigned, started, running and then failing `from` the given state.
    fn journal(failed_from: ScheduleStatus) -> Vec<Envelope> {
        let config = samples::task_config();
        let job = config.job.clone();
        let task = samples::task_id(0);
        let events = vec![
            Event::ClusterInitialised {
                cluster: "test".into(),
            },
            Event::TaskConfigStoredV2 {
                hash: config.hash(),
                config: Box::new(config.clone()),
            },
            Event::TaskCreated {
                task: task.clone(),
                job: job.clone(),
                instance: 0,
                config: config.hash(),
                status: ScheduleStatus::Pending,
                ancestor: None,
                failure_count: 0,
                penalty_ms: 0,
                message: None,
            },
            Event::TaskStateChanged {
                task: task.clone(),
                job: job.clone(),
                from: ScheduleStatus::Pending,
                to: ScheduleStatus::Running,
                message: None,
            },
            Event::TaskStateChanged {
                task,
                job,
                from: failed_from,
                to: ScheduleStatus::Failed,
                message: None,
            },
        ];
        events
            .into_iter()
            .enumerate()
            .map(|(i, e)| samples::envelope(i as u64 + 1, e))
            .collect()
    }

    fn write_model(journal: &[Envelope]) -> ClusterState {
        let mut state = ClusterState::new(Settings::default());
        for envelope in journal {
            state.apply(envelope);
        }
        state
    }

    fn read_model(journal: &[Envelope]) -> Views {
        let mut views = Views::default();
        for envelope in journal {
            views.apply(envelope);
        }
        views
    }

    /// The check is not vacuous: two folds that count one failure differently (here, because
    /// they saw journals differing in one `from`) are reported, after the commit and in a
    /// sweep; the same journal folded twice passes.
    #[test]
    fn a_disagreement_on_failures_is_reported() {
        let counted = journal(ScheduleStatus::Running);
        let not_counted = journal(ScheduleStatus::Killing);
        let state = write_model(&counted);
        let views = read_model(&not_counted);
        for recent in [&counted[counted.len() - 1..], &[]] {
            let observed = Observed {
                state: &state,
                views: &views,
                recent,
            };
            let problem = check(&observed).expect_err("the failure counts differ");
            assert!(
                problem.contains("1 failures") && problem.contains("0 failures"),
                "{problem}"
            );
        }
        let agreeing = read_model(&counted);
        let observed = Observed {
            state: &state,
            views: &agreeing,
            recent: &[],
        };
        assert_eq!(check(&observed), Ok(()));
    }
}
