//! Pure scheduling of one Thermos plan: which process may start now, and whether the plan is
//! over. No I/O and no clock: the runner passes `now` (time since the executor started) and
//! feeds back what happened (`forked`, `exited`, `killed`, `lost`), so every decision is
//! unit-testable and replayable.
//!
//! A task has two plans: the *regular* plan (every process without `final`) and the
//! *finalizing* plan (the `final` processes), each with the ordering lists restricted to its
//! own members.
//!
//! Rules (Thermos, `docs/reference/configuration.md` and the runner's planner):
//! - A `Waiting` process may start when every predecessor in every ordering list has
//!   `Success`, at least `min_duration` has passed since its previous start, and fewer than
//!   `max_concurrency` processes of the plan are forked or running (0 = unlimited).
//! - A failed run is retried until the process has failed `max_failures` times (0 = forever);
//!   then it is `Failed`. A `daemon` goes back to `Waiting` after a successful exit too, so a
//!   daemon never reaches `Success`.
//! - Task-level `max_failures` is the number of permanently failed processes at which the plan
//!   fails (Thermos: healthy while `failed < max_failures`; 0 = never fails for this reason).
//!   The default 1 therefore tolerates no failed process; 2 tolerates one. Ephemeral processes
//!   count, as in Thermos, because they are part of the regular plan.
//! - The plan succeeds when every non-ephemeral process is terminal (so a non-ephemeral daemon
//!   keeps a task running until it fails or is killed: the service pattern; a daemon that is
//!   also ephemeral is the sidecar pattern).
//! - A waiting process ordered after a process that can never succeed (failed, killed, lost,
//!   or itself blocked, or in an ordering cycle) can never run: once every non-ephemeral
//!   process is terminal or blocked the plan fails, naming the blocked process (Thermos calls
//!   this a deadlock).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use aurora_events::config::Process;

/// Thermos process states (`thermos_internal.thrift`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ProcessState {
    /// Not started yet, or waiting to be re-run.
    Waiting,
    /// The runner decided to start it and is forking.
    Forked,
    /// Its process group is running.
    Running,
    /// Exited 0 (never reached by a daemon).
    Success,
    /// Failed `max_failures` runs.
    Failed,
    /// Stopped by the executor (kill, cleaning, finalization timeout).
    Killed,
    /// The executor lost track of it (did not exit even after SIGKILL).
    Lost,
}

impl ProcessState {
    /// No further run will happen.
    pub fn is_terminal(self) -> bool {
        match self {
            ProcessState::Success
            | ProcessState::Failed
            | ProcessState::Killed
            | ProcessState::Lost => true,
            ProcessState::Waiting | ProcessState::Forked | ProcessState::Running => false,
        }
    }

    /// A run is in progress.
    pub fn is_active(self) -> bool {
        match self {
            ProcessState::Forked | ProcessState::Running => true,
            ProcessState::Waiting
            | ProcessState::Success
            | ProcessState::Failed
            | ProcessState::Killed
            | ProcessState::Lost => false,
        }
    }
}

/// What the planner needs to know about a process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessSpec {
    pub name: String,
    /// Failed runs before the process is `Failed`; 0 = retry forever.
    pub max_failures: u32,
    pub daemon: bool,
    pub ephemeral: bool,
    /// Minimum time between two starts of this process.
    pub min_duration: Duration,
}

impl ProcessSpec {
    pub fn from_config(process: &Process) -> Self {
        Self {
            name: process.name.clone(),
            max_failures: process.max_failures,
            daemon: process.daemon,
            ephemeral: process.ephemeral,
            min_duration: Duration::from_secs(u64::from(process.min_duration_secs)),
        }
    }
}

/// How a plan ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failed { message: String },
}

/// What the runner should do now.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Decision {
    /// Start these processes now, in this order.
    pub start: Vec<String>,
    /// The plan is over (nothing is started then).
    pub outcome: Option<Outcome>,
    /// Decide again at this time even if nothing happens (a `min_duration` expires).
    pub wake_at: Option<Duration>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    spec: ProcessSpec,
    state: ProcessState,
    runs: u32,
    failures: u32,
    last_start: Option<Duration>,
}

/// One plan's processes and their states.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// In declaration order, which is also the order processes are started in.
    entries: Vec<Entry>,
    index: BTreeMap<String, usize>,
    /// Immediate predecessors, from the ordering lists.
    predecessors: Vec<BTreeSet<usize>>,
    /// 0 = unlimited.
    max_concurrency: u32,
    /// Permanently failed processes at which the plan fails; 0 = never.
    max_failures: u32,
}

impl Plan {
    /// Ordering pairs naming a process outside this plan are ignored: the caller validates
    /// names, and the regular and finalizing plans share the task's ordering lists.
    pub fn new(
        specs: Vec<ProcessSpec>,
        ordering: &[Vec<String>],
        max_concurrency: u32,
        max_failures: u32,
    ) -> Self {
        let index: BTreeMap<String, usize> = specs
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name.clone(), i))
            .collect();
        let mut predecessors = vec![BTreeSet::new(); specs.len()];
        for list in ordering {
            for pair in list.windows(2) {
                if let (Some(&before), Some(&after)) = (index.get(&pair[0]), index.get(&pair[1])) {
                    predecessors[after].insert(before);
                }
            }
        }
        let entries = specs
            .into_iter()
            .map(|spec| Entry {
                spec,
                state: ProcessState::Waiting,
                runs: 0,
                failures: 0,
                last_start: None,
            })
            .collect();
        Self {
            entries,
            index,
            predecessors,
            max_concurrency,
            max_failures,
        }
    }

    /// The plan has no processes (then it is complete at once).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn contains(&self, name: &str) -> bool {
        self.index.contains_key(name)
    }

    pub fn state(&self, name: &str) -> Option<ProcessState> {
        self.entry(name).map(|e| e.state)
    }

    /// Runs started so far (the next run's number, counting from 0).
    pub fn runs(&self, name: &str) -> Option<u32> {
        self.entry(name).map(|e| e.runs)
    }

    /// `(name, state, runs)` in declaration order.
    pub fn processes(&self) -> impl Iterator<Item = (&str, ProcessState, u32)> {
        self.entries
            .iter()
            .map(|e| (e.spec.name.as_str(), e.state, e.runs))
    }

    /// Processes with a run in progress, in declaration order.
    pub fn active(&self) -> Vec<String> {
        self.entries
            .iter()
            .filter(|e| e.state.is_active())
            .map(|e| e.spec.name.clone())
            .collect()
    }

    /// The decision at `now`. Does not change the plan: apply it with `forked`.
    pub fn decide(&self, now: Duration) -> Decision {
        if let Some(outcome) = self.outcome() {
            return Decision {
                start: Vec::new(),
                outcome: Some(outcome),
                wake_at: None,
            };
        }
        let active = self.entries.iter().filter(|e| e.state.is_active()).count();
        let mut slots = match self.max_concurrency {
            0 => usize::MAX,
            n => usize::try_from(n)
                .unwrap_or(usize::MAX)
                .saturating_sub(active),
        };
        let mut decision = Decision::default();
        for (i, entry) in self.entries.iter().enumerate() {
            if entry.state != ProcessState::Waiting || !self.predecessors_succeeded(i) {
                continue;
            }
            let ready_at = entry
                .last_start
                .map_or(Duration::ZERO, |t| t + entry.spec.min_duration);
            if ready_at > now {
                decision.wake_at = Some(decision.wake_at.map_or(ready_at, |w| w.min(ready_at)));
            } else if slots > 0 {
                slots -= 1;
                decision.start.push(entry.spec.name.clone());
            }
        }
        decision
    }

    /// A run of `name` was started at `now`.
    pub fn forked(&mut self, name: &str, now: Duration) {
        if let Some(e) = self.entry_mut(name) {
            e.state = ProcessState::Forked;
            e.runs += 1;
            e.last_start = Some(now);
        }
    }

    /// The forked run is running (its pid is known).
    pub fn running(&mut self, name: &str) {
        if let Some(e) = self.entry_mut(name) {
            if e.state == ProcessState::Forked {
                e.state = ProcessState::Running;
            }
        }
    }

    /// The current run exited on its own (`success` = exit code 0), or could not be started
    /// (`success` = false).
    pub fn exited(&mut self, name: &str, success: bool) {
        if let Some(e) = self.entry_mut(name) {
            e.state = if success {
                if e.spec.daemon {
                    ProcessState::Waiting
                } else {
                    ProcessState::Success
                }
            } else {
                e.failures += 1;
                if e.spec.max_failures != 0 && e.failures >= e.spec.max_failures {
                    ProcessState::Failed
                } else {
                    ProcessState::Waiting
                }
            };
        }
    }

    /// Stopped by the executor: no further run.
    pub fn killed(&mut self, name: &str) {
        if let Some(e) = self.entry_mut(name) {
            e.state = ProcessState::Killed;
        }
    }

    /// Did not exit even after SIGKILL.
    pub fn lost(&mut self, name: &str) {
        if let Some(e) = self.entry_mut(name) {
            e.state = ProcessState::Lost;
        }
    }

    /// Failed runs of `name` so far.
    pub fn failures(&self, name: &str) -> Option<u32> {
        self.entry(name).map(|e| e.failures)
    }

    /// Names of the processes that failed permanently, in declaration order.
    pub fn failed(&self) -> Vec<String> {
        self.entries
            .iter()
            .filter(|e| e.state == ProcessState::Failed)
            .map(|e| e.spec.name.clone())
            .collect()
    }

    fn outcome(&self) -> Option<Outcome> {
        let failed = self.failed();
        if self.max_failures != 0
            && u32::try_from(failed.len()).unwrap_or(u32::MAX) >= self.max_failures
        {
            let names = quoted(&failed);
            return Some(Outcome::Failed {
                message: format!(
                    "process {names} failed permanently (task max_failures {})",
                    self.max_failures
                ),
            });
        }
        let mut blocked_memo = BTreeMap::new();
        let mut blocked = Vec::new();
        for (i, entry) in self.entries.iter().enumerate() {
            if entry.spec.ephemeral || entry.state.is_terminal() {
                continue;
            }
            if self.blocked(i, &mut blocked_memo, &mut BTreeSet::new()) {
                blocked.push(i);
            } else {
                return None;
            }
        }
        let Some(&first) = blocked.first() else {
            return Some(Outcome::Success);
        };
        let cause = self.predecessors[first]
            .iter()
            .map(|&p| &self.entries[p])
            .find(|p| p.state.is_terminal() && p.state != ProcessState::Success)
            .map_or_else(
                || "it waits on a blocked process or an ordering cycle".to_string(),
                |p| {
                    format!(
                        "it is ordered after '{}', which is {:?}",
                        p.spec.name, p.state
                    )
                },
            );
        Some(Outcome::Failed {
            message: format!(
                "process '{}' can never run: {cause}",
                self.entries[first].spec.name
            ),
        })
    }

    /// Waiting on a predecessor that can never succeed. `visiting` detects ordering cycles.
    fn blocked(
        &self,
        i: usize,
        memo: &mut BTreeMap<usize, bool>,
        visiting: &mut BTreeSet<usize>,
    ) -> bool {
        if let Some(&b) = memo.get(&i) {
            return b;
        }
        let entry = &self.entries[i];
        let result = match entry.state {
            ProcessState::Success => false,
            ProcessState::Failed | ProcessState::Killed | ProcessState::Lost => true,
            ProcessState::Forked | ProcessState::Running => false,
            ProcessState::Waiting => {
                if !visiting.insert(i) {
                    return true;
                }
                let preds: Vec<usize> = self.predecessors[i].iter().copied().collect();
                let mut any = false;
                for p in preds {
                    let p_state = self.entries[p].state;
                    let p_blocked = match p_state {
                        ProcessState::Success => false,
                        ProcessState::Failed | ProcessState::Killed | ProcessState::Lost => true,
                        ProcessState::Waiting | ProcessState::Forked | ProcessState::Running => {
                            self.blocked(p, memo, visiting)
                        }
                    };
                    if p_blocked {
                        any = true;
                        break;
                    }
                }
                visiting.remove(&i);
                any
            }
        };
        memo.insert(i, result);
        result
    }

    fn predecessors_succeeded(&self, i: usize) -> bool {
        self.predecessors[i]
            .iter()
            .all(|&p| self.entries[p].state == ProcessState::Success)
    }

    fn entry(&self, name: &str) -> Option<&Entry> {
        self.index.get(name).map(|&i| &self.entries[i])
    }

    fn entry_mut(&mut self, name: &str) -> Option<&mut Entry> {
        self.index.get(name).map(|&i| &mut self.entries[i])
    }
}

fn quoted(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("'{n}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
