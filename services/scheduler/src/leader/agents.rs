//! The leader's dealings with agents: work queued for each (launches and kills, handed out on
//! its next heartbeat or work poll), when each was last heard from, and which registered with
//! this leader. None of it is journaled and a follower has none of it: a new leader starts
//! empty, and every agent registers with it again, which reconciles what the agent runs with
//! what the journal says.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use aurora_events::{AgentId, TaskId};
use aurora_scheduler_core::Effect;
use tokio::sync::Notify;

use super::coordinators::{Ask, Asks};

/// Work the scheduler has for one agent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentWork {
    pub launch: BTreeSet<TaskId>,
    pub kill: BTreeSet<TaskId>,
}

impl AgentWork {
    pub fn is_empty(&self) -> bool {
        self.launch.is_empty() && self.kill.is_empty()
    }
}

#[derive(Debug, Default)]
struct Desk {
    outbox: BTreeMap<AgentId, AgentWork>,
    heartbeats: BTreeMap<AgentId, Instant>,
    registered: BTreeSet<AgentId>,
    /// One bell per agent waiting for work (a long poll), rung when work is queued for it.
    bells: BTreeMap<AgentId, Arc<Notify>>,
}

/// The leader's agent bookkeeping. Shared by the leader loop (which queues effects), the
/// timers (which look for silent agents) and the agents' HTTP handlers.
#[derive(Debug)]
pub struct Agents {
    desk: Mutex<Desk>,
    /// Questions for SLA coordinators, the one effect not meant for an agent (the leader's
    /// asker takes them).
    coordinator_asks: Arc<Asks>,
    /// When this leader began: agents not heard from since are given until then + timeout.
    since: Mutex<Instant>,
    /// Set when the leader steps down or the process stops: waiting work polls answer at once.
    closed: tokio::sync::watch::Sender<bool>,
}

impl Agents {
    pub fn new(now: Instant) -> Self {
        Self {
            desk: Mutex::new(Desk::default()),
            coordinator_asks: Arc::default(),
            since: Mutex::new(now),
            closed: tokio::sync::watch::Sender::new(false),
        }
    }

    /// Ends every work poll now and refuses to wait in new ones (step-down, shutdown), so that
    /// nobody is kept waiting on a leader that is going away.
    pub fn close(&self) {
        self.closed.send_replace(true);
    }

    // Each method changes the desk in one step; a poisoned lock still holds a whole desk.
    fn desk(&self) -> MutexGuard<'_, Desk> {
        self.desk.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues a decision's effects. A kill overrides a launch not handed out yet.
    pub fn queue_effects(&self, effects: &[Effect]) {
        if effects.is_empty() {
            return;
        }
        let mut desk = self.desk();
        let mut ring = BTreeSet::new();
        for effect in effects {
            match effect {
                Effect::Launch { task, agent } => {
                    desk.outbox
                        .entry(agent.clone())
                        .or_default()
                        .launch
                        .insert(task.clone());
                    ring.insert(agent.clone());
                }
                Effect::Kill { task, agent } => {
                    let work = desk.outbox.entry(agent.clone()).or_default();
                    work.launch.remove(task);
                    work.kill.insert(task.clone());
                    ring.insert(agent.clone());
                }
                Effect::AskCoordinator { .. } => {
                    if let Some((task, ask)) = Ask::from_effect(effect) {
                        self.coordinator_asks.queue(task, ask);
                    }
                }
            }
        }
        for agent in ring {
            if let Some(bell) = desk.bells.get(&agent) {
                bell.notify_one();
            }
        }
    }

    /// The questions for SLA coordinators decisions have made.
    pub fn coordinator_asks(&self) -> &Arc<Asks> {
        &self.coordinator_asks
    }

    /// Queues a kill outside any decision (a task the scheduler does not know).
    pub fn queue_kill(&self, agent: &AgentId, task: TaskId) {
        self.queue_effects(&[Effect::Kill {
            task,
            agent: agent.clone(),
        }]);
    }

    /// Records that `agent` was heard from and hands over its queued work.
    pub fn heartbeat(&self, agent: &AgentId, now: Instant) -> AgentWork {
        let mut desk = self.desk();
        desk.heartbeats.insert(agent.clone(), now);
        desk.outbox.remove(agent).unwrap_or_default()
    }

    /// Hands over `agent`'s queued work, as a work poll that finds some does (without waiting
    /// or counting as a sign of life: the simulator's agents take their work this way).
    pub fn take_queued(&self, agent: &AgentId) -> AgentWork {
        self.desk().outbox.remove(agent).unwrap_or_default()
    }

    /// Records that `agent` was heard from, leaving its queued work for its next heartbeat.
    pub fn heard_from(&self, agent: &AgentId, now: Instant) {
        self.desk().heartbeats.insert(agent.clone(), now);
    }

    /// Hands over `agent`'s queued work, waiting up to `wait` for some to arrive.
    pub async fn take_work(&self, agent: &AgentId, wait: Duration) -> AgentWork {
        let bell = {
            let mut desk = self.desk();
            match desk.outbox.remove(agent) {
                Some(work) if !work.is_empty() => return work,
                _ => Arc::clone(desk.bells.entry(agent.clone()).or_default()),
            }
        };
        let mut closed = self.closed.subscribe();
        // A ring between the check above and this wait is kept by `Notify` as a permit.
        tokio::select! {
            _ = tokio::time::timeout(wait, bell.notified()) => {}
            _ = closed.wait_for(|closed| *closed) => {}
        }
        self.desk().outbox.remove(agent).unwrap_or_default()
    }

    pub fn note_registration(&self, agent: &AgentId) {
        self.desk().registered.insert(agent.clone());
    }

    pub fn has_registered(&self, agent: &AgentId) -> bool {
        self.desk().registered.contains(agent)
    }

    /// Which of `known` have not registered with this leader (one look at the desk).
    pub fn unregistered<'a>(&self, known: impl Iterator<Item = &'a AgentId>) -> BTreeSet<AgentId> {
        let desk = self.desk();
        known
            .filter(|agent| !desk.registered.contains(*agent))
            .cloned()
            .collect()
    }

    /// Forgets every registration, so that each agent registers again with the tasks it runs.
    /// Returns how many agents are asked.
    pub fn forget_registrations(&self) -> usize {
        std::mem::take(&mut self.desk().registered).len()
    }

    /// When `agent` was last heard from, or when this leader began if never.
    pub fn last_heard(&self, agent: &AgentId) -> Instant {
        let since = *self.since.lock().unwrap_or_else(|e| e.into_inner());
        self.desk()
            .heartbeats
            .get(agent)
            .copied()
            .map_or(since, |beat| beat.max(since))
    }

    /// The leader itself stalled until `now` (it could not have heard anyone): silence before
    /// it is not the agents' fault, so every agent's clock restarts here.
    pub fn excuse_silence_until(&self, now: Instant) {
        *self.since.lock().unwrap_or_else(|e| e.into_inner()) = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent(name: &str) -> AgentId {
        AgentId(name.into())
    }

    fn task(name: &str) -> TaskId {
        TaskId::from_raw(name)
    }

    #[test]
    fn a_kill_overrides_a_launch_not_handed_out() {
        let agents = Agents::new(Instant::now());
        agents.queue_effects(&[
            Effect::Launch {
                task: task("t1"),
                agent: agent("a"),
            },
            Effect::Launch {
                task: task("t2"),
                agent: agent("a"),
            },
            Effect::Kill {
                task: task("t1"),
                agent: agent("a"),
            },
        ]);
        let work = agents.heartbeat(&agent("a"), Instant::now());
        assert_eq!(work.launch, BTreeSet::from([task("t2")]));
        assert_eq!(work.kill, BTreeSet::from([task("t1")]));
        assert!(agents.heartbeat(&agent("a"), Instant::now()).is_empty());
    }

    #[tokio::test]
    async fn a_work_poll_returns_as_soon_as_work_is_queued() {
        let agents = Arc::new(Agents::new(Instant::now()));
        let waiter = {
            let agents = Arc::clone(&agents);
            tokio::spawn(
                async move { agents.take_work(&agent("a"), Duration::from_secs(30)).await },
            )
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        agents.queue_kill(&agent("a"), task("t1"));
        let work = tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("answered well before the poll's own timeout")
            .expect("task");
        assert_eq!(work.kill, BTreeSet::from([task("t1")]));
        let idle = agents
            .take_work(&agent("a"), Duration::from_millis(10))
            .await;
        assert!(idle.is_empty(), "nothing queued: empty after the wait");
    }

    #[tokio::test]
    async fn closing_ends_every_work_poll() {
        let agents = Arc::new(Agents::new(Instant::now()));
        let waiter = {
            let agents = Arc::clone(&agents);
            tokio::spawn(
                async move { agents.take_work(&agent("a"), Duration::from_secs(30)).await },
            )
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        agents.close();
        let work = tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("a closed desk keeps nobody waiting")
            .expect("task");
        assert!(work.is_empty());
        let later = tokio::time::timeout(
            Duration::from_secs(5),
            agents.take_work(&agent("b"), Duration::from_secs(30)),
        )
        .await;
        assert!(later.is_ok(), "new polls do not wait either");
    }

    #[test]
    fn a_stall_of_the_leader_excuses_the_agents() {
        let start = Instant::now();
        let agents = Agents::new(start);
        assert_eq!(agents.last_heard(&agent("a")), start);
        let later = start + Duration::from_secs(20);
        agents.excuse_silence_until(later);
        assert_eq!(agents.last_heard(&agent("a")), later);
        agents.heartbeat(&agent("b"), start + Duration::from_secs(1));
        assert_eq!(
            agents.last_heard(&agent("b")),
            later,
            "a beat before the stall counts from its end"
        );
    }
}
