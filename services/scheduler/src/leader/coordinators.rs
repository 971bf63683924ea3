//! Asking SLA coordinators (Aurora's `CoordinatorSlaPolicy`): whether a task may go down is
//! up to an outside service. Deciders emit `Effect::AskCoordinator` for each task that waits on
//! one; the leader's asker POSTs the task to the coordinator's URL and, when the answer's
//! status key is `true`, submits `CoordinatorAllowed`, which drains the task (or lets its
//! update kill it) as an event. A no, a timeout or an error leaves the task up, to be asked
//! again after the interval (Aurora re-checks every minute); the drain's timeout still forces
//! it. Like the rest of the leader's bookkeeping, none of it is journaled: a new leader asks
//! again.
//!
//! The request body is JSON: `taskId`, `job` (`role`, `environment`, `name`), `instanceId`,
//! `host`, `status` and, for a drain, `forceMaintenanceCountdownMs` (how long until the task
//! is drained regardless).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use aurora_events::{Actor, TaskId};
use aurora_scheduler_core::Effect;
use aurora_scheduler_core::commands::CoordinatorAllowed;
use tokio::sync::{Notify, Semaphore, mpsc};

use super::{Job, SubmitError, submit};

/// How coordinators are asked.
#[derive(Debug, Clone)]
pub struct CoordinatorSettings {
    /// How long one request may take (Aurora's `-sla_coordinator_timeout`, 1 min).
    pub timeout: Duration,
    /// How long before a task whose coordinator did not say yes is asked again.
    pub interval: Duration,
    /// Requests in flight at once (Aurora's `-max_parallel_coordinated_maintenance`, 10).
    pub max_parallel: usize,
    /// The client the requests go through (its TLS trust is the scheduler's).
    pub client: reqwest::Client,
}

impl Default for CoordinatorSettings {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(60),
            interval: Duration::from_secs(60),
            max_parallel: 10,
            client: aurora_net::default_client(),
        }
    }
}

/// One question for a coordinator, as the decider asked it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ask {
    pub url: String,
    pub status_key: String,
    pub body: serde_json::Value,
}

impl Ask {
    /// The ask an `AskCoordinator` effect makes; `None` for other effects.
    pub fn from_effect(effect: &Effect) -> Option<(TaskId, Ask)> {
        match effect {
            Effect::AskCoordinator {
                task,
                job,
                instance,
                host,
                status,
                url,
                status_key,
                force_countdown_ms,
            } => {
                let mut body = serde_json::json!({
                    "taskId": task.as_str(),
                    "job": {
                        "role": job.role.as_str(),
                        "environment": job.environment.as_str(),
                        "name": job.name.as_str(),
                    },
                    "instanceId": instance,
                    "host": host,
                    "status": status.to_string(),
                });
                if let Some(countdown) = force_countdown_ms {
                    body["forceMaintenanceCountdownMs"] = serde_json::json!(countdown);
                }
                Some((
                    task.clone(),
                    Ask {
                        url: url.clone(),
                        status_key: status_key.clone(),
                        body,
                    },
                ))
            }
            Effect::Launch { .. } | Effect::Kill { .. } => None,
        }
    }
}

/// The asks decisions made and the asker has not taken yet (the latest per task).
#[derive(Debug, Default)]
pub struct Asks {
    waiting: Mutex<BTreeMap<TaskId, Ask>>,
    bell: Notify,
}

impl Asks {
    fn waiting(&self) -> MutexGuard<'_, BTreeMap<TaskId, Ask>> {
        self.waiting.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn queue(&self, task: TaskId, ask: Ask) {
        self.waiting().insert(task, ask);
        self.bell.notify_one();
    }

    /// Takes every waiting ask (the simulator answers them itself).
    pub fn take(&self) -> BTreeMap<TaskId, Ask> {
        std::mem::take(&mut *self.waiting())
    }
}

/// What a coordinator answered.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Answer {
    Yes,
    No,
    Failed(String),
}

/// The leader's asker: takes the asks decisions queue, asks each task's coordinator at most
/// once per interval and `max_parallel` at a time, and submits a yes through `queue`.
pub(super) async fn run(asks: Arc<Asks>, queue: mpsc::Sender<Job>, settings: CoordinatorSettings) {
    let permits = Arc::new(Semaphore::new(settings.max_parallel.max(1)));
    let mut last_asked: BTreeMap<TaskId, Instant> = BTreeMap::new();
    loop {
        asks.bell.notified().await;
        let now = Instant::now();
        last_asked.retain(|_, at| now.duration_since(*at) < settings.interval);
        for (task, ask) in asks.take() {
            if last_asked.contains_key(&task) {
                continue;
            }
            last_asked.insert(task.clone(), now);
            let permits = Arc::clone(&permits);
            let queue = queue.clone();
            let client = settings.client.clone();
            let timeout = settings.timeout;
            tokio::spawn(async move {
                let Ok(_permit) = permits.acquire_owned().await else {
                    return;
                };
                let answer = ask_once(&client, &ask, timeout).await;
                let outcome = match &answer {
                    Answer::Yes => "yes",
                    Answer::No => "no",
                    Answer::Failed(_) => "failed",
                };
                metrics::counter!("aurora_sla_coordinator_requests_total", "answer" => outcome)
                    .increment(1);
                match answer {
                    Answer::Yes => {
                        tracing::info!(task = %task, url = %ask.url, "the SLA coordinator allows the task to go down");
                        let command = CoordinatorAllowed { task: task.clone() }.into();
                        match submit(&queue, Actor::Scheduler, command).await {
                            Ok(_) | Err(SubmitError::NotLeader { .. }) => {}
                            Err(e) => {
                                tracing::warn!(task = %task, error = %e, "acting on the SLA coordinator's yes failed");
                            }
                        }
                    }
                    Answer::No => {
                        tracing::info!(task = %task, url = %ask.url, "the SLA coordinator keeps the task up");
                    }
                    Answer::Failed(why) => {
                        tracing::warn!(task = %task, url = %ask.url, error = %why, "asking the SLA coordinator failed; the task stays up");
                    }
                }
            });
        }
    }
}

/// One POST; yes only when the answer is a JSON object whose `status_key` is `true`.
async fn ask_once(client: &reqwest::Client, ask: &Ask, timeout: Duration) -> Answer {
    let sent = client
        .post(&ask.url)
        .timeout(timeout)
        .json(&ask.body)
        .send()
        .await;
    let response = match sent {
        Ok(response) => response,
        Err(e) => return Answer::Failed(aurora_net::describe(&e)),
    };
    let status = response.status();
    if !status.is_success() {
        return Answer::Failed(format!("HTTP {status}"));
    }
    match response.json::<serde_json::Value>().await {
        Ok(answer) => match answer.get(&ask.status_key) {
            Some(serde_json::Value::Bool(true)) => Answer::Yes,
            Some(_) => Answer::No,
            None => Answer::Failed(format!("the answer has no {:?} key", ask.status_key)),
        },
        Err(e) => Answer::Failed(format!(
            "the answer is not JSON: {}",
            aurora_net::describe(&e)
        )),
    }
}
