//! Events as the CLI shows them: one readable line per event (`events tail`, `task history`,
//! `why`), the filters `events tail` applies, and the stream payload it prints with `--json`.

use aurora_events::{Aggregate, Envelope, Event};

use crate::context::paint;

/// What an event is about and what happened, in a few words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Described {
    /// `role/env/job/instance` for a task, `role/env/job` for a job or update, the host, the
    /// role of a quota, the agent.
    pub subject: String,
    pub what: String,
    pub message: Option<String>,
}

/// Describes `event`.
pub fn describe(event: &Event) -> Described {
    let plain = |subject: String, what: String| Described {
        subject,
        what,
        message: None,
    };
    match event {
        Event::ClusterInitialised { cluster } => {
            plain(cluster.clone(), "cluster initialised".into())
        }
        Event::JournalTruncationAccepted {
            acknowledged,
            found,
            reason,
        } => Described {
            subject: "journal".into(),
            what: format!("loss of seqs {}..={acknowledged} accepted", found + 1),
            message: Some(reason.clone()),
        },
        Event::TaskConfigStored { hash, .. } | Event::TaskConfigStoredV2 { hash, .. } => {
            plain("config".into(), format!("config {} stored", hash.short()))
        }
        Event::JobCreated {
            job,
            config,
            instances,
        } => plain(
            job.to_string(),
            format!(
                "job created: {instances} instances of config {}",
                config.short()
            ),
        ),
        Event::JobConfigReplaced {
            job,
            config,
            instances,
        } => plain(
            job.to_string(),
            format!("job now {instances} instances of config {}", config.short()),
        ),
        Event::JobRemoved { job } => plain(job.to_string(), "job removed".into()),
        Event::TaskCreated {
            task,
            job,
            instance,
            status,
            ancestor,
            message,
            ..
        } => Described {
            subject: format!("{job}/{instance}"),
            what: match ancestor {
                Some(ancestor) => format!("task {task} created {status}, replacing {ancestor}"),
                None => format!("task {task} created {status}"),
            },
            message: message.clone(),
        },
        Event::TaskAssigned {
            task, job, host, ..
        } => plain(
            task_subject(job, task),
            format!("task {task} ASSIGNED to {host}"),
        ),
        Event::TaskStateChanged {
            task,
            job,
            from,
            to,
            message,
        } => Described {
            subject: task_subject(job, task),
            what: format!("task {task} {from} → {to}"),
            message: message.clone(),
        },
        Event::TaskDeleted { task, job } => {
            plain(task_subject(job, task), format!("task {task} deleted"))
        }
        Event::UpdateStarted { update, user, .. } => plain(
            update.job.to_string(),
            format!("update {} started by {user}", update.id),
        ),
        Event::UpdateStateChanged {
            update,
            from,
            to,
            message,
        } => Described {
            subject: update.job.to_string(),
            what: format!("update {} {from} → {to}", update.id),
            message: message.clone(),
        },
        Event::UpdateInstanceActioned {
            update,
            instance,
            action,
            message,
        } => Described {
            subject: format!("{}/{instance}", update.job),
            what: format!("update {}: {action}", update.id),
            message: message.clone(),
        },
        Event::UpdatePulsed { update } => plain(
            update.job.to_string(),
            format!("update {} pulsed", update.id),
        ),
        Event::UpdatesPruned { job, updates } => plain(
            job.to_string(),
            format!("{} finished updates pruned", updates.len()),
        ),
        Event::QuotaSet { role, quota } => plain(
            role.to_string(),
            format!(
                "quota set: {} CPU, {} MB RAM, {} MB disk",
                quota.cpus, quota.ram_mb, quota.disk_mb
            ),
        ),
        Event::HostAttributesChanged {
            host, attributes, ..
        } => plain(
            host.clone(),
            format!("host attributes: {}", attributes.len()),
        ),
        Event::HostMaintenanceChanged { host, from, to } => {
            plain(host.clone(), format!("maintenance {from} → {to}"))
        }
        Event::CronScheduled { job, schedule, .. } => {
            plain(job.to_string(), format!("cron scheduled: {schedule}"))
        }
        Event::CronDescheduled { job } => plain(job.to_string(), "cron descheduled".into()),
        Event::CronTriggered { job, outcome } => {
            plain(job.to_string(), format!("cron triggered: {outcome}"))
        }
        Event::AgentRegistered { agent, host, .. } => {
            plain(agent.to_string(), format!("agent registered on {host}"))
        }
        Event::AgentLost { agent, reason } => Described {
            subject: agent.to_string(),
            what: "agent lost".into(),
            message: Some(reason.clone()),
        },
        Event::AgentBound { agent, principal } => plain(
            agent.to_string(),
            format!("agent bound to user {principal}"),
        ),
        Event::AgentUnbound { agent, principal } => plain(
            agent.to_string(),
            format!("agent unbound from user {principal}"),
        ),
        Event::SlaDrainRequested {
            host, timeout_secs, ..
        } => plain(
            host.clone(),
            format!("SLA-aware drain requested (forced after {timeout_secs} s)"),
        ),
    }
}

/// `role/env/job/instance` from a task id of the usual shape, else `role/env/job`.
fn task_subject(job: &aurora_events::JobKey, task: &aurora_events::TaskId) -> String {
    // Ids are made as `TaskId::generate` makes them: `role-env-name-INSTANCE-UUID` with every
    // character outside [A-Za-z0-9_-] (the `.` of `hello.world`) made a `-`.
    let prefix: String = format!("{}-{}-{}-", job.role, job.environment, job.name)
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    task.as_str()
        .strip_prefix(&prefix)
        .and_then(|rest| rest.split('-').next())
        .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        .map_or_else(|| job.to_string(), |instance| format!("{job}/{instance}"))
}

/// One line: `SEQ  TIME  ACTOR  SUBJECT  WHAT  (MESSAGE)`, times in UTC with milliseconds.
pub fn line(envelope: &Envelope, color: bool) -> String {
    let described = describe(&envelope.event);
    let mut out = format!(
        "{:>8}  {}  {:<16}  {}  {}",
        envelope.seq,
        paint(color, "2", &envelope.at.to_utc_string()),
        envelope.actor.to_string(),
        paint(color, "1", &described.subject),
        described.what
    );
    if let Some(message) = described.message {
        out.push_str(&format!("  ({message})"));
    }
    out
}

/// The `events tail` filters that one NATS subject cannot express (and, for the server-sent
/// source, all of them): applied to every event whichever the source, so both print alike.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    pub role: Option<String>,
    pub environment: Option<String>,
    pub name: Option<String>,
    pub aggregate: Option<Aggregate>,
    pub task: Option<String>,
    pub actor: Option<String>,
}

impl EventFilter {
    pub fn matches(&self, envelope: &Envelope) -> bool {
        let event = &envelope.event;
        if let Some(aggregate) = self.aggregate
            && event.aggregate() != aggregate
        {
            return false;
        }
        if let Some(task) = &self.task
            && event.task().map(|t| t.as_str()) != Some(task.as_str())
        {
            return false;
        }
        if let Some(actor) = &self.actor {
            // A user is given by name, or as `events tail` prints it (`user:NAME`).
            let matches = match &envelope.actor {
                aurora_events::Actor::User(name) => {
                    name == actor || actor.strip_prefix("user:") == Some(name.as_str())
                }
                other => other.to_string() == *actor,
            };
            if !matches {
                return false;
            }
        }
        if self.role.is_none() {
            return true;
        }
        let (role, environment, name) = match (event.job(), event) {
            (Some(job), _) => (
                job.role.as_str(),
                Some(job.environment.as_str()),
                Some(job.name.as_str()),
            ),
            (None, Event::QuotaSet { role, .. }) => (role.as_str(), None, None),
            (None, _) => return false,
        };
        let same = |want: &Option<String>, have: Option<&str>| {
            want.as_deref().is_none_or(|want| have == Some(want))
        };
        self.role.as_deref() == Some(role)
            && same(&self.environment, environment)
            && same(&self.name, name)
    }

    /// The part of this filter a NATS subject can carry.
    pub fn subject_filter(&self) -> aurora_stream::SubjectFilter {
        aurora_stream::SubjectFilter {
            aggregate: self.aggregate,
            role: self.role.clone(),
            environment: self.environment.clone(),
            name: self.name.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aurora_events::{Actor, Seq, samples};

    #[test]
    fn every_event_has_a_subject_and_a_description() {
        for (i, event) in samples::events().into_iter().enumerate() {
            let envelope = samples::envelope(i as Seq + 1, event);
            let described = describe(&envelope.event);
            assert!(!described.subject.is_empty(), "{envelope:?}");
            assert!(!described.what.is_empty(), "{envelope:?}");
            let line = line(&envelope, false);
            assert!(
                line.trim_start().starts_with(&(i + 1).to_string()),
                "{line}"
            );
            assert!(!line.contains('\u{1b}'), "no colour off a terminal: {line}");
        }
    }

    #[test]
    fn task_subjects_keep_the_instance_of_a_job_with_a_dot() {
        for name in ["hello_world", "hello.world", "a.b.c"] {
            let job = aurora_events::JobKey::new("root", "test", name).unwrap();
            let task = aurora_events::TaskId::generate(&job, 7, aurora_events::Uuid::nil());
            assert_eq!(task_subject(&job, &task), format!("root/test/{name}/7"));
        }
        // An id not of the usual shape names the job alone.
        let job = aurora_events::JobKey::new("root", "test", "hello.world").unwrap();
        let odd = aurora_events::TaskId::from_raw("something-else");
        assert_eq!(task_subject(&job, &odd), "root/test/hello.world");
    }

    #[test]
    fn filters_narrow_by_job_kind_task_and_actor() {
        let events: Vec<Envelope> = samples::events()
            .into_iter()
            .enumerate()
            .map(|(i, e)| samples::envelope(i as Seq + 1, e))
            .collect();
        let job = samples::job();
        let of_job = EventFilter {
            role: Some(job.role.to_string()),
            environment: Some(job.environment.to_string()),
            name: Some(job.name.to_string()),
            ..EventFilter::default()
        };
        let matched: Vec<&Envelope> = events.iter().filter(|e| of_job.matches(e)).collect();
        assert!(!matched.is_empty());
        assert!(matched.iter().all(|e| e.event.job() == Some(&job)));
        let other = EventFilter {
            role: Some("nobody".into()),
            ..EventFilter::default()
        };
        assert!(events.iter().all(|e| !other.matches(e)));

        let tasks = EventFilter {
            aggregate: Some(Aggregate::Task),
            ..EventFilter::default()
        };
        assert!(
            events
                .iter()
                .filter(|e| tasks.matches(e))
                .all(|e| e.event.task().is_some())
        );

        let task = samples::task_id(1);
        let one = EventFilter {
            task: Some(task.to_string()),
            ..EventFilter::default()
        };
        let of_task: Vec<_> = events.iter().filter(|e| one.matches(e)).collect();
        assert!(!of_task.is_empty());
        assert!(of_task.iter().all(|e| e.event.task() == Some(&task)));

        let mut by_alice = events[0].clone();
        by_alice.actor = Actor::User("alice".into());
        let alice = EventFilter {
            actor: Some("alice".into()),
            ..EventFilter::default()
        };
        assert!(alice.matches(&by_alice));
        let mut by_bob = events[0].clone();
        by_bob.actor = Actor::User("bob".into());
        assert!(!alice.matches(&by_bob));
        // As the line prints the actor: `user:alice`.
        let printed = EventFilter {
            actor: Some(by_alice.actor.to_string()),
            ..EventFilter::default()
        };
        assert_eq!(printed.actor.as_deref(), Some("user:alice"));
        assert!(printed.matches(&by_alice));
        assert!(!printed.matches(&by_bob));
        let scheduler = EventFilter {
            actor: Some("scheduler".into()),
            ..EventFilter::default()
        };
        by_bob.actor = Actor::Scheduler;
        assert!(scheduler.matches(&by_bob));
    }
}
