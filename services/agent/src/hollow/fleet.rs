//! The running fleet: N simulated agents in one tokio runtime, each speaking the agents' HTTP
//! protocol to the scheduler through its own [`SchedulerClient`], exactly as `aurora-agent`
//! does (register with the tasks it has, heartbeat, poll for work and take launches and kills
//! from the replies, report status changes in order, register again when the scheduler answers
//! 404).
//!
//! Each agent is one tokio task running two loops joined together: the contact loop
//! (registration, heartbeats, the work poll, and the due reports of [`HollowTasks`]) and a
//! reporter that sends those reports one at a time, in order, with retries, so a slow
//! scheduler delays an agent's reports without delaying its heartbeats. Stopping aborts every
//! agent at its next await.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use aurora_api::{AgentRegistration, Heartbeat, StatusReport};
use aurora_events::event::Attribute;
use aurora_events::{AgentId, Capacity};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::script::Script;
use super::tasks::{HollowTasks, Launch};
use crate::client::{ClientError, SchedulerClient};

/// How often the fleet logs its summary line (when something changed).
const SUMMARY_EVERY: Duration = Duration::from_secs(10);

/// Attempts per status report before it is given up (as the real agent does).
const REPORT_ATTEMPTS: u32 = 5;

/// What every simulated agent shares.
#[derive(Debug, Clone)]
pub struct FleetConfig {
    /// The scheduler replicas' base URLs; each agent finds the leader among them as
    /// `aurora-agent` does.
    pub schedulers: Vec<String>,
    /// How many agents to simulate.
    pub count: usize,
    /// Agent `i` (from 0) is `<prefix>-<i>`, on host `<prefix>-<i>`.
    pub prefix: String,
    /// What each agent offers.
    pub capacity: Capacity,
    /// Agent `i` has attribute `rack: r<i mod racks>`; 0: no rack attribute.
    pub racks: usize,
    pub heartbeat_interval: Duration,
    /// Followed by tasks whose config has no `hollow.script` metadata.
    pub script: Script,
    /// How long after a kill arrives the task reports KILLED.
    pub kill_delay: Duration,
    /// What every simulated agent presents to the scheduler.
    pub credentials: Option<aurora_auth::Credentials>,
    /// What the agents trust (and present) when the schedulers are `https://`.
    pub tls: aurora_net::ClientTls,
}

/// Who simulated agent `index` is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub agent: AgentId,
    pub host: String,
    pub attributes: Vec<Attribute>,
}

/// Agent `index`'s id, host and attributes (`host`, and `rack` when `racks` > 0).
pub fn identity(prefix: &str, index: usize, racks: usize) -> Identity {
    let name = format!("{prefix}-{index}");
    let mut attributes = vec![Attribute {
        name: "host".into(),
        values: vec![name.clone()],
    }];
    if racks > 0 {
        attributes.push(Attribute {
            name: "rack".into(),
            values: vec![format!("r{}", index % racks)],
        });
    }
    Identity {
        agent: AgentId(name.clone()),
        host: name,
        attributes,
    }
}

/// How long agent `index` of `count` waits before its first contact: the agents' phases are
/// spread evenly over one heartbeat interval, so the scheduler sees a steady trickle of
/// `count / interval` heartbeats rather than `count` at once every interval.
pub fn stagger(index: usize, count: usize, interval: Duration) -> Duration {
    if count == 0 {
        return Duration::ZERO;
    }
    // u128 arithmetic: index < count, so the result is below `interval` and fits.
    let nanos = interval.as_nanos() * index as u128 / count as u128;
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

/// Counters shared by the agents, for the summary line.
#[derive(Debug, Default)]
struct Stats {
    /// Agents registered with the scheduler right now.
    registered: AtomicI64,
    /// Tasks the agents have (launched, not yet ended).
    tasks: AtomicI64,
    reports: AtomicU64,
    failed_reports: AtomicU64,
    failed_contacts: AtomicU64,
}

impl Stats {
    fn snapshot(&self) -> [i64; 5] {
        let count = |c: &AtomicU64| i64::try_from(c.load(Ordering::Relaxed)).unwrap_or(i64::MAX);
        [
            self.registered.load(Ordering::Relaxed),
            self.tasks.load(Ordering::Relaxed),
            count(&self.reports),
            count(&self.failed_reports),
            count(&self.failed_contacts),
        ]
    }
}

/// Runs `config.count` agents until `shutdown` becomes true (or its sender is dropped).
pub async fn run(config: FleetConfig, mut shutdown: watch::Receiver<bool>) {
    let config = Arc::new(config);
    let stats = Arc::new(Stats::default());
    let epoch = Instant::now();
    let mut agents = JoinSet::new();
    for index in 0..config.count {
        agents.spawn(simulate(
            Arc::clone(&config),
            index,
            epoch,
            Arc::clone(&stats),
        ));
    }
    tracing::info!(
        count = config.count,
        schedulers = %config.schedulers.join(","),
        script = %config.script,
        heartbeat_ms = config.heartbeat_interval.as_millis(),
        "hollow agents started"
    );
    tokio::select! {
        _ = shutdown.wait_for(|stop| *stop) => {}
        () = summarise(&config, &stats) => {}
    }
    // Aborting is safe at any await: a simulated agent holds nothing but memory.
    agents.shutdown().await;
    let [registered, tasks, reports, failed_reports, failed_contacts] = stats.snapshot();
    tracing::info!(
        registered,
        tasks,
        reports,
        failed_reports,
        failed_contacts,
        "hollow agents stopped"
    );
}

/// Logs the fleet's counters every [`SUMMARY_EVERY`] when they changed. Never returns.
async fn summarise(config: &FleetConfig, stats: &Stats) {
    let mut last = None;
    loop {
        tokio::time::sleep(SUMMARY_EVERY).await;
        let now = stats.snapshot();
        if last == Some(now) {
            continue;
        }
        last = Some(now);
        let [registered, tasks, reports, failed_reports, failed_contacts] = now;
        tracing::info!(
            registered,
            of = config.count,
            tasks,
            reports,
            failed_reports,
            failed_contacts,
            "hollow agents"
        );
    }
}

/// One simulated agent. Never returns; the fleet aborts it.
async fn simulate(config: Arc<FleetConfig>, index: usize, epoch: Instant, stats: Arc<Stats>) {
    let identity = identity(&config.prefix, index, config.racks);
    let client = SchedulerClient::with_credentials(
        &config.schedulers,
        identity.agent.clone(),
        config.credentials.as_ref(),
        &config.tls,
    );
    let (outbox, reports) = mpsc::unbounded_channel();
    let agent = Agent {
        config: &config,
        identity: &identity,
        client: &client,
        epoch,
        stats: &stats,
        tasks: HollowTasks::new(config.script.clone(), config.kill_delay),
        registered: false,
    };
    tokio::join!(
        agent.contact_loop(index, outbox),
        report_in_order(&client, reports, &stats)
    );
}

/// One agent's contact loop state.
struct Agent<'a> {
    config: &'a FleetConfig,
    identity: &'a Identity,
    client: &'a SchedulerClient,
    /// The time base of [`HollowTasks`]: its `now` is `epoch.elapsed()`.
    epoch: Instant,
    stats: &'a Stats,
    tasks: HollowTasks,
    registered: bool,
}

impl Agent<'_> {
    /// Contacts the scheduler every heartbeat interval (backing off while it cannot register),
    /// keeps a work poll open while registered (answered the moment the scheduler queues a
    /// launch or kill), and, in between, wakes when a scripted report falls due and queues it
    /// in `outbox`.
    async fn contact_loop(mut self, index: usize, outbox: mpsc::UnboundedSender<StatusReport>) {
        let interval = self.config.heartbeat_interval;
        let mut backoff = interval;
        let mut next_contact = Instant::now() + stagger(index, self.config.count, interval);
        let mut work = self.client.poll_work(WORK_WAIT, Duration::ZERO);
        loop {
            let report_due = self.tasks.next_due().map(|due| self.epoch + due);
            tokio::select! {
                () = tokio::time::sleep_until(next_contact) => {
                    let before = self.tasks.len();
                    if self.contact().await == Contact::Registered {
                        // A fresh poll: the one in flight may carry a "register again" the
                        // scheduler gave before this registration, which would register the
                        // agent a second time.
                        work = self.client.poll_work(WORK_WAIT, Duration::ZERO);
                    }
                    self.count_tasks(before);
                    let now = Instant::now();
                    next_contact = if self.registered {
                        backoff = interval;
                        // Keep this agent's phase, so the stagger survives slow replies.
                        let planned = next_contact + interval;
                        if planned > now { planned } else { now + interval }
                    } else {
                        backoff = (backoff * 2).min(Duration::from_secs(10));
                        now + backoff
                    };
                }
                answer = &mut work, if self.registered => {
                    let before = self.tasks.len();
                    let delay = match answer {
                        Ok(reply) => {
                            self.act(reply);
                            Duration::ZERO
                        }
                        Err(ClientError::Unregistered(_)) => {
                            // The next contact registers again.
                            self.unregistered();
                            next_contact = Instant::now();
                            Duration::ZERO
                        }
                        Err(error) => {
                            self.stats.failed_contacts.fetch_add(1, Ordering::Relaxed);
                            tracing::debug!(agent = %self.identity.agent, %error, "work poll failed");
                            interval.max(Duration::from_secs(1))
                        }
                    };
                    self.count_tasks(before);
                    work = self.client.poll_work(WORK_WAIT, delay);
                }
                () = tokio::time::sleep_until(report_due.unwrap_or(next_contact)),
                    if report_due.is_some() => {}
            }
            let before = self.tasks.len();
            for report in self.tasks.due(self.epoch.elapsed()) {
                // The reporter lives as long as this loop (both are joined in `simulate`).
                let _ = outbox.send(report);
            }
            self.count_tasks(before);
        }
    }

    fn unregistered(&mut self) {
        if self.registered {
            self.registered = false;
            self.stats.registered.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Carries out a reply's kills, then its launches, as the real agent does; the scheduler
    /// never sends a launch and a kill for the same task in one reply.
    fn act(&mut self, work: Heartbeat) {
        let now = self.epoch.elapsed();
        for task in &work.kill {
            if !self.tasks.kill(task, now) {
                tracing::debug!(agent = %self.identity.agent, %task, "kill for a task this agent does not have");
            }
        }
        for spec in work.launch {
            let task = spec.task.clone();
            match self.tasks.launch(spec.task, &spec.config.metadata, now) {
                Launch::Scripted => {}
                Launch::Repeated => {
                    tracing::debug!(agent = %self.identity.agent, %task, "repeated launch ignored");
                }
                Launch::BadScript(error) => {
                    tracing::warn!(agent = %self.identity.agent, %task, %error, "task has an invalid hollow.script; failing it");
                }
            }
        }
    }

    fn count_tasks(&self, before: usize) {
        let delta = self.tasks.len() as i64 - before as i64;
        if delta != 0 {
            self.stats.tasks.fetch_add(delta, Ordering::Relaxed);
        }
    }

    /// One contact: a heartbeat when registered, else (or when the heartbeat says the
    /// scheduler no longer knows this agent) a registration with the tasks it has.
    async fn contact(&mut self) -> Contact {
        if self.registered {
            match self.client.heartbeat().await {
                Ok(work) => {
                    self.act(work);
                    return Contact::Heartbeat;
                }
                Err(ClientError::Unregistered(message)) => {
                    tracing::debug!(agent = %self.identity.agent, %message, "the scheduler no longer knows this agent; registering again");
                    self.unregistered();
                    // Fall through: register now rather than a heartbeat later, which keeps
                    // the agents' re-registrations staggered like their heartbeats.
                }
                Err(error) => {
                    self.stats.failed_contacts.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(agent = %self.identity.agent, %error, "heartbeat failed");
                    return Contact::Failed;
                }
            }
        }
        let registration = AgentRegistration {
            agent: self.identity.agent.clone(),
            host: self.identity.host.clone(),
            capacity: self.config.capacity.clone(),
            attributes: self.identity.attributes.clone(),
            // No observer: there are no sandboxes to show.
            endpoint: String::new(),
            running: self.tasks.running(),
        };
        match self.client.register(&registration).await {
            Ok(()) => {
                tracing::debug!(agent = %self.identity.agent, tasks = registration.running.len(), "registered");
                self.registered = true;
                self.stats.registered.fetch_add(1, Ordering::Relaxed);
                Contact::Registered
            }
            Err(error) => {
                self.stats.failed_contacts.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(agent = %self.identity.agent, %error, "registration failed; retrying");
                Contact::Failed
            }
        }
    }
}

/// How one contact with the scheduler went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Contact {
    Heartbeat,
    Registered,
    Failed,
}

/// How long one work poll waits for the scheduler to queue something.
const WORK_WAIT: Duration = Duration::from_secs(20);

/// Most reports sent in one request.
const MAX_REPORTS_PER_REQUEST: usize = 256;

/// Sends one agent's reports in the order they were queued: whatever is queued when the
/// previous request ends goes in one request (as a busy agent's reports would), so that the
/// scheduler can commit them together. Ends when the contact loop drops its sender (which only
/// happens when the agent is aborted).
async fn report_in_order(
    client: &SchedulerClient,
    mut reports: mpsc::UnboundedReceiver<StatusReport>,
    stats: &Stats,
) {
    while let Some(first) = reports.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_REPORTS_PER_REQUEST {
            match reports.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let count = batch.len() as u64;
        if send_with_retries(client, &batch).await {
            stats.reports.fetch_add(count, Ordering::Relaxed);
        } else {
            stats.failed_reports.fetch_add(count, Ordering::Relaxed);
        }
    }
}

/// Retries what may succeed later (no answer, a 5xx); a refusal (4xx) will not change. A report
/// given up leaves the task in its last reported state until the scheduler's own timeouts or a
/// re-registration repair it, as with the real agent.
async fn send_with_retries(client: &SchedulerClient, reports: &[StatusReport]) -> bool {
    let mut delay = Duration::from_millis(200);
    for attempt in 1..=REPORT_ATTEMPTS {
        let retry = match client.statuses(reports).await {
            Ok(()) => return true,
            // Including a call that got no answer in time (the client bounds every call).
            Err(ClientError::Unreachable { .. } | ClientError::Unavailable { .. }) => true,
            Err(ClientError::Refused { status, .. }) => status.is_server_error(),
            Err(
                ClientError::Unregistered(_)
                | ClientError::NoSchedulers
                | ClientError::InvalidUri { .. },
            ) => false,
        };
        if !retry || attempt == REPORT_ATTEMPTS {
            tracing::warn!(reports = reports.len(), first = ?reports.first().map(|r| &r.task), attempt, "status reports given up");
            return false;
        }
        tokio::time::sleep(delay).await;
        delay *= 2;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn agents_are_named_by_prefix_and_index_with_racks_spread_round_robin() {
        assert_eq!(
            identity("hollow", 7, 3),
            Identity {
                agent: AgentId("hollow-7".into()),
                host: "hollow-7".into(),
                attributes: vec![
                    Attribute {
                        name: "host".into(),
                        values: vec!["hollow-7".into()],
                    },
                    Attribute {
                        name: "rack".into(),
                        values: vec!["r1".into()],
                    },
                ],
            }
        );
        let racks: Vec<String> = (0..5)
            .map(|i| identity("h", i, 2).attributes[1].values[0].clone())
            .collect();
        assert_eq!(racks, ["r0", "r1", "r0", "r1", "r0"]);
        assert_eq!(
            identity("h", 0, 0).attributes,
            [Attribute {
                name: "host".into(),
                values: vec!["h-0".into()],
            }],
            "no racks: no rack attribute"
        );
    }

    #[test]
    fn first_contacts_are_spread_evenly_over_one_interval() {
        let interval = Duration::from_millis(1000);
        let phases: Vec<Duration> = (0..4).map(|i| stagger(i, 4, interval)).collect();
        assert_eq!(
            phases,
            [0, 250, 500, 750].map(Duration::from_millis).to_vec()
        );
        assert_eq!(stagger(0, 1, interval), Duration::ZERO);
        assert_eq!(stagger(0, 0, interval), Duration::ZERO);
        assert!(stagger(9_999, 10_000, interval) < interval);
    }
}
