//! One simulated agent's tasks: which it "runs" and which status reports are due when.
//!
//! Pure bookkeeping: no I/O and no clock. Every call takes `now`, the time elapsed since an
//! epoch the caller chose (the fleet's start); due times are kept on the same scale. The caller
//! sends the reports [`HollowTasks::due`] hands out, in the order given, and registers with
//! [`HollowTasks::running`].
//!
//! A task is "running" (in the sense of an agent's registration: it would have a sandbox) from
//! its launch until its terminal report has been handed out.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use aurora_api::StatusReport;
use aurora_events::{ScheduleStatus, TaskId};

use super::script::{SCRIPT_METADATA_KEY, Script, ScriptError};

/// What a launch did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Launch {
    /// The task follows the agent's script or, if its metadata names one, its own.
    Scripted,
    /// The task is already here; a repeated launch must not start it twice.
    Repeated,
    /// The task's `hollow.script` does not parse: it fails at once, with the error as message.
    BadScript(ScriptError),
}

#[derive(Debug, Clone)]
struct Due {
    at: Duration,
    status: ScheduleStatus,
    message: Option<String>,
}

#[derive(Debug, Clone)]
struct Simulated {
    /// Reports not yet handed out, in script order (so `at` never decreases).
    remaining: VecDeque<Due>,
    /// A kill replaced the script; a repeated kill must not postpone the KILLED report.
    killed: bool,
}

/// The tasks of one simulated agent.
#[derive(Debug, Clone)]
pub struct HollowTasks {
    script: Script,
    kill_delay: Duration,
    tasks: BTreeMap<TaskId, Simulated>,
}

impl HollowTasks {
    /// `script` is followed by tasks whose metadata names none; a kill is answered with KILLED
    /// `kill_delay` after it arrives.
    pub fn new(script: Script, kill_delay: Duration) -> Self {
        Self {
            script,
            kill_delay,
            tasks: BTreeMap::new(),
        }
    }

    /// Starts following a script for `task`, whose config's metadata is `metadata`.
    pub fn launch(
        &mut self,
        task: TaskId,
        metadata: &BTreeMap<String, String>,
        now: Duration,
    ) -> Launch {
        if self.tasks.contains_key(&task) {
            return Launch::Repeated;
        }
        let (remaining, outcome) = match metadata.get(SCRIPT_METADATA_KEY) {
            None => (schedule(&self.script, now), Launch::Scripted),
            Some(text) => match text.parse::<Script>() {
                Ok(script) => (schedule(&script, now), Launch::Scripted),
                Err(error) => {
                    let failed = Due {
                        at: now,
                        status: ScheduleStatus::Failed,
                        message: Some(format!("invalid {SCRIPT_METADATA_KEY}: {error}")),
                    };
                    (VecDeque::from([failed]), Launch::BadScript(error))
                }
            },
        };
        self.tasks.insert(
            task,
            Simulated {
                remaining,
                killed: false,
            },
        );
        outcome
    }

    /// Answers a kill: whatever the script still had in store is replaced by KILLED, due
    /// `kill_delay` from `now`. Returns false for a task this agent does not have (already
    /// ended, or never launched here), which needs no answer.
    pub fn kill(&mut self, task: &TaskId, now: Duration) -> bool {
        let Some(simulated) = self.tasks.get_mut(task) else {
            return false;
        };
        if !simulated.killed {
            simulated.killed = true;
            simulated.remaining = VecDeque::from([Due {
                at: now + self.kill_delay,
                status: ScheduleStatus::Killed,
                message: Some("Killed by the scheduler".into()),
            }]);
        }
        true
    }

    /// Hands out every report due at `now`, earliest first (a task's own reports in script
    /// order), and forgets tasks whose terminal report this was.
    pub fn due(&mut self, now: Duration) -> Vec<StatusReport> {
        let mut due: Vec<(Duration, StatusReport)> = Vec::new();
        let mut ended: Vec<TaskId> = Vec::new();
        for (task, simulated) in &mut self.tasks {
            while simulated.remaining.front().is_some_and(|d| d.at <= now) {
                let Some(step) = simulated.remaining.pop_front() else {
                    break;
                };
                if step.status.is_terminal() {
                    ended.push(task.clone());
                }
                due.push((
                    step.at,
                    StatusReport {
                        task: task.clone(),
                        status: step.status,
                        message: step.message,
                    },
                ));
            }
        }
        for task in ended {
            self.tasks.remove(&task);
        }
        // Stable: equal times keep task-id order, and each task's steps their script order.
        due.sort_by_key(|(at, _)| *at);
        due.into_iter().map(|(_, report)| report).collect()
    }

    /// When the next report falls due, if any is pending.
    pub fn next_due(&self) -> Option<Duration> {
        self.tasks
            .values()
            .filter_map(|s| s.remaining.front().map(|d| d.at))
            .min()
    }

    /// The tasks this agent has, as it registers them.
    pub fn running(&self) -> BTreeSet<TaskId> {
        self.tasks.keys().cloned().collect()
    }

    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }
}

/// A script's steps as due times for a task launched at `now`.
fn schedule(script: &Script, now: Duration) -> VecDeque<Due> {
    script
        .steps()
        .iter()
        .map(|step| Due {
            at: now + step.at,
            status: step.status,
            message: step.message.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use ScheduleStatus::{Failed, Finished, Killed, Running, Starting};
    use pretty_assertions::assert_eq;

    fn ms(ms: u64) -> Duration {
        Duration::from_millis(ms)
    }

    fn id(name: &str) -> TaskId {
        TaskId::from_raw(name)
    }

    fn report(task: &str, status: ScheduleStatus, message: Option<&str>) -> StatusReport {
        StatusReport {
            task: id(task),
            status,
            message: message.map(str::to_string),
        }
    }

    fn with_script(text: &str) -> BTreeMap<String, String> {
        BTreeMap::from([(SCRIPT_METADATA_KEY.to_string(), text.to_string())])
    }

    /// Compares reports field by field (`StatusReport` has no `PartialEq`).
    fn shown(reports: &[StatusReport]) -> Vec<(String, ScheduleStatus, Option<String>)> {
        reports
            .iter()
            .map(|r| (r.task.to_string(), r.status, r.message.clone()))
            .collect()
    }

    fn agent() -> HollowTasks {
        HollowTasks::new(Script::default(), ms(0))
    }

    #[test]
    fn the_default_script_reports_starting_then_running_and_the_task_stays() {
        let mut tasks = agent();
        assert_eq!(
            tasks.launch(id("a"), &BTreeMap::new(), ms(1000)),
            Launch::Scripted
        );
        assert_eq!(tasks.next_due(), Some(ms(1000)));
        assert_eq!(
            shown(&tasks.due(ms(1000))),
            shown(&[report("a", Starting, None)])
        );
        assert_eq!(tasks.next_due(), Some(ms(1100)));
        assert!(tasks.due(ms(1099)).is_empty(), "RUNNING is not due yet");
        assert_eq!(
            shown(&tasks.due(ms(1100))),
            shown(&[report("a", Running, None)])
        );
        assert_eq!(tasks.next_due(), None);
        assert!(tasks.due(ms(60_000)).is_empty());
        assert_eq!(tasks.running(), BTreeSet::from([id("a")]));
    }

    #[test]
    fn a_late_poll_hands_out_every_missed_report_in_order_across_tasks() {
        let mut tasks = agent();
        tasks.launch(
            id("b"),
            &with_script("STARTING@0ms,RUNNING@50ms,FINISHED@500ms"),
            ms(0),
        );
        tasks.launch(id("a"), &BTreeMap::new(), ms(20));
        assert_eq!(
            shown(&tasks.due(ms(10_000))),
            shown(&[
                report("b", Starting, None),
                report("a", Starting, None),
                report("b", Running, None),
                report("a", Running, None),
                report("b", Finished, None),
            ])
        );
        assert_eq!(
            tasks.running(),
            BTreeSet::from([id("a")]),
            "a finished task is forgotten"
        );
    }

    #[test]
    fn a_failing_script_reports_its_message_and_ends_the_task() {
        let mut tasks = agent();
        tasks.launch(
            id("a"),
            &with_script("STARTING@0ms,RUNNING@50ms,FAILED@200ms:exit 1"),
            ms(0),
        );
        assert_eq!(tasks.due(ms(199)).len(), 2);
        assert_eq!(
            shown(&tasks.due(ms(200))),
            shown(&[report("a", Failed, Some("exit 1"))])
        );
        assert!(tasks.is_empty());
        assert_eq!(tasks.next_due(), None);
    }

    #[test]
    fn a_bad_script_in_metadata_fails_the_task_naming_the_problem() {
        let mut tasks = agent();
        let outcome = tasks.launch(id("a"), &with_script("STARTING@0ms,RUNNING@soon"), ms(5));
        assert!(
            matches!(
                outcome,
                Launch::BadScript(ScriptError::BadDelay { step: 2, .. })
            ),
            "{outcome:?}"
        );
        assert_eq!(
            shown(&tasks.due(ms(5))),
            shown(&[report(
                "a",
                Failed,
                Some(
                    "invalid hollow.script: step 2: bad delay \"soon\": \
                     needs a unit, ms or s (e.g. 100ms)"
                )
            )])
        );
        assert!(tasks.is_empty());
    }

    #[test]
    fn a_repeated_launch_does_not_restart_the_script() {
        let mut tasks = agent();
        tasks.launch(id("a"), &BTreeMap::new(), ms(0));
        tasks.due(ms(0));
        assert_eq!(
            tasks.launch(id("a"), &BTreeMap::new(), ms(50)),
            Launch::Repeated
        );
        assert_eq!(
            shown(&tasks.due(ms(100))),
            shown(&[report("a", Running, None)]),
            "no second STARTING"
        );
    }

    #[test]
    fn a_kill_replaces_the_rest_of_the_script_with_killed() {
        let mut tasks = HollowTasks::new(Script::default(), ms(300));
        tasks.launch(
            id("a"),
            &with_script("STARTING@0ms,RUNNING@50ms,FINISHED@1s"),
            ms(0),
        );
        tasks.due(ms(60));
        assert!(tasks.kill(&id("a"), ms(100)));
        assert_eq!(tasks.next_due(), Some(ms(400)));
        // A repeated kill neither postpones nor duplicates the answer.
        assert!(tasks.kill(&id("a"), ms(350)));
        assert!(tasks.due(ms(399)).is_empty());
        assert_eq!(
            shown(&tasks.due(ms(2000))),
            shown(&[report("a", Killed, Some("Killed by the scheduler"))]),
            "the script's FINISHED is never reported"
        );
        assert!(tasks.is_empty());
        assert!(
            !tasks.kill(&id("a"), ms(2100)),
            "a kill for an ended task needs no answer"
        );
    }

    #[test]
    fn a_kill_before_any_report_still_answers_killed_only() {
        let mut tasks = agent();
        tasks.launch(id("a"), &BTreeMap::new(), ms(0));
        tasks.kill(&id("a"), ms(0));
        assert_eq!(
            shown(&tasks.due(ms(0))),
            shown(&[report("a", Killed, Some("Killed by the scheduler"))])
        );
    }

    #[test]
    fn running_lists_every_task_until_its_terminal_report_is_handed_out() {
        let mut tasks = agent();
        tasks.launch(id("a"), &BTreeMap::new(), ms(0));
        tasks.launch(id("b"), &with_script("RUNNING@0ms,FINISHED@10ms"), ms(0));
        tasks.launch(id("c"), &BTreeMap::new(), ms(0));
        tasks.kill(&id("c"), ms(0));
        assert_eq!(tasks.running(), BTreeSet::from([id("a"), id("b"), id("c")]));
        tasks.due(ms(5));
        assert_eq!(tasks.running(), BTreeSet::from([id("a"), id("b")]));
        tasks.due(ms(10));
        assert_eq!(tasks.running(), BTreeSet::from([id("a")]));
        assert_eq!(tasks.len(), 1);
    }
}
