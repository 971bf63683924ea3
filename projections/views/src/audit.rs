//! The audit trail: who did what to the cluster, when. Every event a user caused (through the
//! API: creating, killing, restarting, updating, setting quotas, maintenance, forcing task
//! states, pruning), plus the security-relevant ones whatever their actor (an agent id bound
//! to a credential, a journal loss accepted by an operator), grouped so that one command is one
//! entry: consecutive events with one actor, one commit time and one heading (what was done
//! to what), so that one kill of a job's 100 tasks is one entry while a quota set and a drain
//! committed together are two.
//!
//! Pure: [`AuditLog::record`] takes envelopes in seq order, [`AuditLog::query`] filters them.
//! The log keeps only these entries (a small fraction of a journal), not the events.

use aurora_events::{Actor, Aggregate, Envelope, Event, ScheduleStatus, Seq, Timestamp};
use serde::{Deserialize, Serialize};

/// One audited action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// The seqs of its events.
    pub first_seq: Seq,
    pub last_seq: Seq,
    pub at: Timestamp,
    /// `user:alice`, `agent:vm1`, `scheduler`.
    pub actor: String,
    /// The user's name, when a user acted.
    pub user: Option<String>,
    /// What was done: `kill`, `quota set`, `maintenance`, `update abort`, ...
    pub action: String,
    /// What it was done to: a job key, role, host, update or agent.
    pub target: String,
    /// The aggregate it touched (`job`, `task`, `update`, `quota`, `host`, `cron`, `agent`,
    /// `cluster`): what `--kind` filters on.
    pub kind: String,
    /// The change in a few words, and the command's message if it had one.
    pub detail: String,
    /// Tasks whose state the action changed or that it deleted.
    pub tasks: u32,
}

/// Which entries a query wants.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Only this user's actions.
    pub user: Option<String>,
    /// Only entries with events at or after this seq.
    pub from: Option<Seq>,
    /// Only entries with events at or before this seq.
    pub to: Option<Seq>,
    /// Only this kind (`job`, `task`, `update`, `quota`, `host`, `cron`, `agent`, `cluster`).
    pub kind: Option<String>,
    /// At most this many, the newest first.
    pub limit: usize,
}

/// The kinds an [`AuditFilter`] may name.
pub const AUDIT_KINDS: [&str; 8] = [
    "cluster", "job", "task", "update", "quota", "host", "cron", "agent",
];

/// The audit trail, in seq order.
#[derive(Debug, Default, Clone)]
pub struct AuditLog {
    entries: Vec<AuditEntry>,
}

/// What one event says about the action it belongs to.
struct Heading {
    action: String,
    target: String,
    kind: Aggregate,
    detail: String,
}

impl AuditLog {
    /// Folds the next envelope (in seq order).
    pub fn record(&mut self, envelope: &Envelope) {
        if !audited(envelope) {
            return;
        }
        let task_event = matches!(
            envelope.event,
            Event::TaskStateChanged { .. } | Event::TaskDeleted { .. }
        );
        let heading = heading(&envelope.event);
        let actor = envelope.actor.to_string();
        // Another heading than the entry's starts another command (two commands of one user
        // in one group commit: a quota set, then a drain).
        let same_command = |last: &AuditEntry| match &heading {
            Some(h) => {
                last.action.is_empty() || (last.action == h.action && last.target == h.target)
            }
            None => true,
        };
        if let Some(last) = self.entries.last_mut()
            && last.last_seq + 1 == envelope.seq
            && last.at == envelope.at
            && last.actor == actor
            && same_command(last)
        {
            last.last_seq = envelope.seq;
            last.tasks += u32::from(task_event);
            if last.action.is_empty()
                && let Some(heading) = heading
            {
                set_heading(last, heading);
            }
            return;
        }
        let mut entry = AuditEntry {
            first_seq: envelope.seq,
            last_seq: envelope.seq,
            at: envelope.at,
            user: match &envelope.actor {
                Actor::User(name) => Some(name.clone()),
                Actor::Scheduler | Actor::Agent(_) => None,
            },
            actor,
            action: String::new(),
            target: String::new(),
            kind: String::new(),
            detail: String::new(),
            tasks: u32::from(task_event),
        };
        if let Some(heading) = heading {
            set_heading(&mut entry, heading);
        }
        self.entries.push(entry);
    }

    /// The entries `filter` wants, newest first. An entry whose events carried no heading of
    /// their own (a lone config stored, say) reads as `events`.
    pub fn query(&self, filter: &AuditFilter) -> Vec<AuditEntry> {
        self.entries
            .iter()
            .rev()
            .filter(|e| {
                filter
                    .user
                    .as_ref()
                    .is_none_or(|u| e.user.as_ref() == Some(u))
            })
            .filter(|e| filter.from.is_none_or(|from| e.last_seq >= from))
            .filter(|e| filter.to.is_none_or(|to| e.first_seq <= to))
            .filter(|e| filter.kind.as_ref().is_none_or(|k| &e.kind == k))
            .take(filter.limit)
            .map(|e| {
                let mut e = e.clone();
                if e.action.is_empty() {
                    e.action = "events".into();
                }
                e
            })
            .collect()
    }

    /// How many entries the log holds.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

fn set_heading(entry: &mut AuditEntry, heading: Heading) {
    entry.action = heading.action;
    entry.target = heading.target;
    entry.kind = heading.kind.to_string();
    entry.detail = heading.detail;
}

/// Whether an envelope belongs in the audit trail.
fn audited(envelope: &Envelope) -> bool {
    match (&envelope.actor, &envelope.event) {
        (_, Event::AgentBound { .. } | Event::JournalTruncationAccepted { .. }) => true,
        (Actor::User(_), _) => true,
        (Actor::Scheduler | Actor::Agent(_), _) => false,
    }
}

/// The heading an event gives its action, or `None` for an event that only follows from
/// another (a config stored, a task created by a job's creation).
fn heading(event: &Event) -> Option<Heading> {
    let aggregate = event.aggregate();
    let heading = |action: &str, target: String, detail: String| {
        Some(Heading {
            action: action.into(),
            target,
            kind: aggregate,
            detail,
        })
    };
    match event {
        Event::ClusterInitialised { cluster } => {
            heading("cluster initialise", cluster.clone(), String::new())
        }
        Event::JournalTruncationAccepted {
            acknowledged,
            found,
            reason,
        } => heading(
            "journal truncation accepted",
            format!("seqs {}..={acknowledged}", found + 1),
            reason.clone(),
        ),
        Event::JobCreated { job, instances, .. } => heading(
            "job create",
            job.to_string(),
            format!("{instances} instances"),
        ),
        Event::JobConfigReplaced { job, instances, .. } => heading(
            "job config replace",
            job.to_string(),
            format!("{instances} instances"),
        ),
        Event::JobRemoved { job } => heading("job remove", job.to_string(), String::new()),
        Event::TaskStateChanged {
            task,
            job,
            to,
            message,
            ..
        } => {
            let forced = message
                .as_deref()
                .is_some_and(|m| m.starts_with(aurora_events::status::FORCED_TRANSITION));
            let action = match to {
                _ if forced => "force task state",
                ScheduleStatus::Killing | ScheduleStatus::Killed => "kill",
                ScheduleStatus::Restarting => "restart",
                // Any other change a user causes follows from the command whose event came
                // before it in the same commit (a drain's tasks going DRAINING belong to the
                // drain): no heading of its own, so it joins that command's entry.
                _ => return None,
            };
            let detail = format!(
                "{task} → {to}{}",
                message
                    .as_ref()
                    .map(|m| format!(": {m}"))
                    .unwrap_or_default()
            );
            // Kills and restarts are asked of a job (`aurora job kill`), so `--kind job` finds
            // them; a forced state is asked of one task.
            let kind = match action {
                "force task state" => Aggregate::Task,
                _ => Aggregate::Job,
            };
            Some(Heading {
                action: action.into(),
                target: job.to_string(),
                kind,
                detail,
            })
        }
        // A prune, or a kill of tasks that never left PENDING: the event does not say which.
        Event::TaskDeleted { job, .. } => Some(Heading {
            action: "task delete".into(),
            target: job.to_string(),
            kind: Aggregate::Job,
            detail: "killed while pending, or pruned".into(),
        }),
        // `aurora job restart` is carried out as an update to the config each instance runs:
        // an auditor must tell it from a deploy.
        Event::UpdateStarted {
            update,
            instructions,
            ..
        } => heading(
            if instructions.is_restart() {
                "job restart"
            } else {
                "update start"
            },
            format!("{} {}", update.job, update.id),
            String::new(),
        ),
        Event::UpdateStateChanged {
            update,
            from,
            to,
            message,
        } => heading(
            "update steer",
            format!("{} {}", update.job, update.id),
            format!(
                "{from} → {to}{}",
                message
                    .as_ref()
                    .map(|m| format!(": {m}"))
                    .unwrap_or_default()
            ),
        ),
        Event::UpdatePulsed { update } => heading(
            "update pulse",
            format!("{} {}", update.job, update.id),
            String::new(),
        ),
        Event::QuotaSet { role, quota } => heading(
            "quota set",
            role.to_string(),
            format!(
                "{} cpus, {} MiB RAM, {} MiB disk",
                quota.cpus, quota.ram_mb, quota.disk_mb
            ),
        ),
        Event::HostMaintenanceChanged { host, from, to } => {
            heading("maintenance", host.clone(), format!("{from} → {to}"))
        }
        Event::SlaDrainRequested {
            host, timeout_secs, ..
        } => heading(
            "sla drain",
            host.clone(),
            format!("SLA-aware, forced after {timeout_secs} s"),
        ),
        Event::CronScheduled { job, schedule, .. } => {
            heading("cron schedule", job.to_string(), schedule.clone())
        }
        Event::CronDescheduled { job } => {
            heading("cron deschedule", job.to_string(), String::new())
        }
        Event::CronTriggered { job, outcome } => {
            heading("cron start", job.to_string(), outcome.to_string())
        }
        Event::AgentBound { agent, principal } => heading(
            "agent bind",
            agent.to_string(),
            format!("bound to user {principal}'s credential"),
        ),
        Event::AgentUnbound { agent, principal } => heading(
            "agent unbind",
            agent.to_string(),
            format!("unbound from user {principal}'s credential"),
        ),
        Event::AgentRegistered { agent, host, .. } => {
            heading("agent register", agent.to_string(), format!("on {host}"))
        }
        Event::AgentLost { agent, reason } => {
            heading("agent lost", agent.to_string(), reason.clone())
        }
        Event::HostAttributesChanged { host, .. } => {
            heading("host attributes", host.clone(), String::new())
        }
        Event::TaskConfigStored { .. }
        | Event::TaskConfigStoredV2 { .. }
        | Event::TaskCreated { .. }
        | Event::TaskAssigned { .. }
        | Event::UpdateInstanceActioned { .. }
        | Event::UpdatesPruned { .. } => None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use aurora_events::samples::{envelope, job, task_id};
    use aurora_events::{AgentId, Identifier, MaintenanceMode, ResourceAggregate};

    use super::*;

    /// `event` at `seq`, by `actor`, committed at `at`.
    fn by(actor: Actor, seq: Seq, at: i64, event: Event) -> Envelope {
        let mut e = envelope(seq, event);
        e.actor = actor;
        e.at = Timestamp(at);
        e
    }

    fn alice() -> Actor {
        Actor::User("alice".into())
    }

    fn killing(instance: u32) -> Event {
        Event::TaskStateChanged {
            task: task_id(instance),
            job: job(),
            from: ScheduleStatus::Running,
            to: ScheduleStatus::Killing,
            message: Some("bye".into()),
        }
    }

    fn trail() -> AuditLog {
        let mut log = AuditLog::default();
        let events = [
            // alice kills three tasks in one command.
            by(alice(), 1, 100, killing(0)),
            by(alice(), 2, 100, killing(1)),
            by(alice(), 3, 100, killing(2)),
            // The agent reports them KILLED: not an action of anyone's.
            by(
                Actor::Agent(AgentId("vm1".into())),
                4,
                101,
                Event::TaskStateChanged {
                    task: task_id(0),
                    job: job(),
                    from: ScheduleStatus::Killing,
                    to: ScheduleStatus::Killed,
                    message: None,
                },
            ),
            // root sets a quota, then drains a host.
            by(
                Actor::User("root".into()),
                5,
                102,
                Event::QuotaSet {
                    role: Identifier::new("www-data").unwrap(),
                    quota: ResourceAggregate {
                        cpus: 4.0,
                        ram_mb: 1024,
                        disk_mb: 2048,
                    },
                },
            ),
            by(
                Actor::User("root".into()),
                6,
                103,
                Event::HostMaintenanceChanged {
                    host: "h1".into(),
                    from: MaintenanceMode::None,
                    to: MaintenanceMode::Draining,
                },
            ),
            // An agent's id is bound: audited whoever the actor.
            by(
                Actor::Agent(AgentId("vm2".into())),
                7,
                104,
                Event::AgentBound {
                    agent: AgentId("vm2".into()),
                    principal: "agent-vm2".into(),
                },
            ),
        ];
        for envelope in &events {
            log.record(envelope);
        }
        log
    }

    fn all() -> AuditFilter {
        AuditFilter {
            limit: 100,
            ..AuditFilter::default()
        }
    }

    #[test]
    fn one_command_is_one_entry_and_reports_are_not_actions() {
        let entries = trail().query(&all());
        let summary: Vec<(Seq, Seq, &str, &str, u32)> = entries
            .iter()
            .map(|e| {
                (
                    e.first_seq,
                    e.last_seq,
                    e.actor.as_str(),
                    e.action.as_str(),
                    e.tasks,
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                (7, 7, "agent:vm2", "agent bind", 0),
                (6, 6, "user:root", "maintenance", 0),
                (5, 5, "user:root", "quota set", 0),
                (1, 3, "user:alice", "kill", 3),
            ]
        );
        let kill = &entries[3];
        assert_eq!(kill.target, job().to_string());
        assert_eq!(kill.kind, "job", "a kill is found with --kind job");
        assert!(kill.detail.ends_with("→ KILLING: bye"), "{}", kill.detail);
        assert_eq!(entries[1].detail, "NONE → DRAINING");
    }

    #[test]
    fn two_commands_in_one_commit_are_two_entries() {
        let root = || Actor::User("root".into());
        let mut log = AuditLog::default();
        log.record(&by(
            root(),
            1,
            9,
            Event::QuotaSet {
                role: Identifier::new("www-data").unwrap(),
                quota: ResourceAggregate::default(),
            },
        ));
        log.record(&by(
            root(),
            2,
            9,
            Event::HostMaintenanceChanged {
                host: "h1".into(),
                from: MaintenanceMode::None,
                to: MaintenanceMode::Draining,
            },
        ));
        let actions: Vec<String> = log.query(&all()).into_iter().map(|e| e.action).collect();
        assert_eq!(actions, ["maintenance", "quota set"]);
    }

    #[test]
    fn filters_by_user_kind_range_and_count() {
        let log = trail();
        let actions = |filter: AuditFilter| -> Vec<String> {
            log.query(&filter).into_iter().map(|e| e.action).collect()
        };
        assert_eq!(
            actions(AuditFilter {
                user: Some("root".into()),
                ..all()
            }),
            ["maintenance", "quota set"]
        );
        assert_eq!(
            actions(AuditFilter {
                kind: Some("quota".into()),
                ..all()
            }),
            ["quota set"]
        );
        assert_eq!(
            actions(AuditFilter {
                from: Some(2),
                to: Some(5),
                ..all()
            }),
            ["quota set", "kill"],
            "an entry overlapping the range counts"
        );
        assert_eq!(actions(AuditFilter { limit: 1, ..all() }), ["agent bind"]);
    }

    #[test]
    fn a_drains_task_changes_belong_to_the_drain_and_forced_states_are_named() {
        let root = || Actor::User("root".into());
        let draining = |seq: Seq, message: &str| {
            by(
                root(),
                seq,
                100 + seq as i64,
                Event::TaskStateChanged {
                    task: task_id(0),
                    job: job(),
                    from: ScheduleStatus::Running,
                    to: ScheduleStatus::Draining,
                    message: Some(message.into()),
                },
            )
        };
        let mut log = AuditLog::default();
        let drain = by(
            root(),
            1,
            101,
            Event::HostMaintenanceChanged {
                host: "h1".into(),
                from: MaintenanceMode::None,
                to: MaintenanceMode::Draining,
            },
        );
        log.record(&drain);
        // The drain's transitions are committed with it (one commit time).
        let mut moved = draining(2, "Draining machine for maintenance.");
        moved.at = drain.at;
        log.record(&moved);
        log.record(&draining(3, "Transition forced by root"));
        let summary: Vec<(Seq, Seq, String, u32)> = log
            .query(&all())
            .into_iter()
            .map(|e| (e.first_seq, e.last_seq, e.action, e.tasks))
            .collect();
        assert_eq!(
            summary,
            vec![
                (3, 3, "force task state".to_string(), 1),
                (1, 2, "maintenance".to_string(), 1),
            ]
        );
    }

    #[test]
    fn a_restart_is_told_from_an_update() {
        let mut instructions = aurora_events::samples::events()
            .into_iter()
            .find_map(|e| match e {
                Event::UpdateStarted { instructions, .. } => Some(instructions),
                _ => None,
            })
            .expect("the samples start an update");
        // A deploy: the instances get another config than the one they run.
        if let Some(desired) = &mut instructions.desired_state {
            desired.config = aurora_events::ConfigHash([9; 32]);
        }
        assert!(!instructions.is_restart());
        let mut restart = instructions.clone();
        if let Some(desired) = &mut restart.desired_state {
            restart.initial_state = vec![desired.clone()];
        }
        assert!(restart.is_restart());
        let mut log = AuditLog::default();
        for (seq, instructions) in [(1, instructions), (2, restart)] {
            log.record(&by(
                alice(),
                seq,
                seq as i64,
                Event::UpdateStarted {
                    update: aurora_events::UpdateKey {
                        job: job(),
                        id: aurora_events::Uuid::from_u128(u128::from(seq)),
                    },
                    user: "alice".into(),
                    instructions,
                    metadata: Default::default(),
                },
            ));
        }
        let actions: Vec<String> = log.query(&all()).into_iter().map(|e| e.action).collect();
        assert_eq!(actions, ["job restart", "update start"]);
    }

    #[test]
    fn an_entry_takes_the_heading_of_its_first_event_that_has_one() {
        let mut log = AuditLog::default();
        let stored = Event::TaskConfigStoredV2 {
            hash: aurora_events::samples::task_config().hash(),
            config: Box::new(aurora_events::samples::task_config()),
        };
        log.record(&by(alice(), 1, 5, stored));
        assert_eq!(log.query(&all())[0].action, "events");
        log.record(&by(
            alice(),
            2,
            5,
            Event::JobCreated {
                job: job(),
                config: aurora_events::samples::task_config().hash(),
                instances: 2,
            },
        ));
        let entries = log.query(&all());
        assert_eq!(entries.len(), 1);
        assert_eq!(
            (entries[0].action.as_str(), entries[0].detail.as_str()),
            ("job create", "2 instances")
        );
    }
}
