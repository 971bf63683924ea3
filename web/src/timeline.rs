//! A task's lifecycle timeline, laid out for SVG: one step per state it entered, left to
//! right, evenly spaced (a task can sit PENDING for hours and then pass ASSIGNED → STARTING in
//! milliseconds, so a time-proportional axis would pile the interesting steps on each other).
//! Each step shows the state, when (and how long after the previous step), who caused it and
//! its message. Pure layout; the template draws it and escapes every text.

use aurora_events::{ScheduleStatus, Seq};
use aurora_projections::TaskEventView;

use crate::format;

/// Horizontal distance between two steps, in SVG user units.
pub const STEP_WIDTH: u32 = 180;
const MARGIN: u32 = 24;
/// Longest message drawn in the SVG; the full text is in the step's tooltip and the table.
const SHORT_MESSAGE: usize = 26;

#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub seq: Seq,
    /// Centre of the step's dot.
    pub x: u32,
    pub status: String,
    /// CSS class for the dot's colour.
    pub class: &'static str,
    pub time: String,
    /// `+1.2 s` after the previous step; empty for the first.
    pub after: String,
    pub actor: String,
    pub message: Option<String>,
    /// The message cut to fit under the dot.
    pub short_message: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Timeline {
    pub width: u32,
    pub height: u32,
    /// The line joining the dots runs from the first to the last step.
    pub line_from: u32,
    pub line_to: u32,
    pub steps: Vec<Step>,
}

/// The CSS class (colour) of a state: waiting, on its way, up, done well, done badly, going
/// away, unreachable.
pub fn status_class(status: ScheduleStatus) -> &'static str {
    match status {
        ScheduleStatus::Init | ScheduleStatus::Pending | ScheduleStatus::Throttled => "waiting",
        ScheduleStatus::Assigned | ScheduleStatus::Starting => "starting",
        ScheduleStatus::Running => "running",
        ScheduleStatus::Finished => "finished",
        ScheduleStatus::Failed | ScheduleStatus::Lost => "failed",
        ScheduleStatus::Killing
        | ScheduleStatus::Killed
        | ScheduleStatus::Preempting
        | ScheduleStatus::Restarting
        | ScheduleStatus::Draining => "stopping",
        ScheduleStatus::Partitioned => "partitioned",
    }
}

fn shorten(text: &str) -> String {
    if text.chars().count() <= SHORT_MESSAGE {
        text.to_string()
    } else {
        let cut: String = text.chars().take(SHORT_MESSAGE - 1).collect();
        format!("{cut}…")
    }
}

pub fn layout(entries: &[TaskEventView]) -> Timeline {
    let steps: Vec<Step> = entries
        .iter()
        .enumerate()
        .map(|(i, entry)| {
            let after = match i.checked_sub(1).and_then(|p| entries.get(p)) {
                Some(previous) => format!("+{}", format::duration_ms(entry.at.0 - previous.at.0)),
                None => String::new(),
            };
            Step {
                seq: entry.seq,
                x: MARGIN + STEP_WIDTH / 2 + i as u32 * STEP_WIDTH,
                status: entry.status.to_string(),
                class: status_class(entry.status),
                time: format::time(entry.at),
                after,
                actor: entry.actor.to_string(),
                message: entry.message.clone(),
                short_message: entry.message.as_deref().map(shorten),
            }
        })
        .collect();
    let first = steps.first().map_or(MARGIN, |s| s.x);
    let last = steps.last().map_or(MARGIN, |s| s.x);
    Timeline {
        width: 2 * MARGIN + STEP_WIDTH * (steps.len().max(1) as u32),
        height: 150,
        line_from: first,
        line_to: last,
        steps,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aurora_events::{Actor, AgentId, Timestamp};

    fn entry(seq: Seq, at: i64, status: ScheduleStatus, message: Option<&str>) -> TaskEventView {
        TaskEventView {
            seq,
            at: Timestamp(at),
            actor: if seq == 1 {
                Actor::User("alice".into())
            } else {
                Actor::Agent(AgentId("agent-h1".into()))
            },
            status,
            message: message.map(str::to_string),
            host: None,
        }
    }

    #[test]
    fn steps_are_evenly_spaced_with_time_since_the_previous_one() {
        let timeline = layout(&[
            entry(1, 1_000, ScheduleStatus::Pending, None),
            entry(5, 61_000, ScheduleStatus::Assigned, None),
            entry(9, 61_250, ScheduleStatus::Running, None),
            entry(
                12,
                70_000,
                ScheduleStatus::Failed,
                Some("Process 'web' exited with status 1 after a long while"),
            ),
        ]);
        let xs: Vec<u32> = timeline.steps.iter().map(|s| s.x).collect();
        assert_eq!(xs, vec![114, 294, 474, 654]);
        assert_eq!(timeline.width, 2 * 24 + 4 * STEP_WIDTH);
        assert_eq!((timeline.line_from, timeline.line_to), (114, 654));
        let after: Vec<&str> = timeline.steps.iter().map(|s| s.after.as_str()).collect();
        assert_eq!(after, vec!["", "+1 min 00 s", "+250 ms", "+8.8 s"]);
        assert_eq!(timeline.steps[0].actor, "user:alice");
        assert_eq!(timeline.steps[3].actor, "agent:agent-h1");
        assert_eq!(timeline.steps[3].class, "failed");
        assert_eq!(
            timeline.steps[3].short_message.as_deref(),
            Some("Process 'web' exited with…")
        );
        assert_eq!(
            timeline.steps[3].message.as_deref(),
            Some("Process 'web' exited with status 1 after a long while")
        );
    }

    #[test]
    fn an_empty_timeline_still_has_a_size() {
        let timeline = layout(&[]);
        assert!(timeline.steps.is_empty());
        assert_eq!(timeline.width, 2 * 24 + STEP_WIDTH);
    }
}
