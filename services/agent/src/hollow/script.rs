//! Status scripts: what a hollow agent reports for a launched task, and when.
//!
//! A script is a comma-separated list of steps `STATE@DELAY[:MESSAGE]`, e.g.
//! `STARTING@0ms,RUNNING@100ms` (the default: the task then stays RUNNING until killed) or
//! `STARTING@0ms,RUNNING@50ms,FAILED@200ms:exit 1`.
//!
//! - `STATE` is one a real agent reports: STARTING, RUNNING, FINISHED, FAILED, KILLED or LOST
//!   (any letter case). The scheduler's own states (PENDING, ASSIGNED, KILLING, ...) are
//!   refused: an agent never reports them.
//! - `DELAY` is counted from the launch, not from the previous step, in `ms` or `s`
//!   (`250ms`, `2s`, `1.5s`), and never decreases along the script.
//! - A terminal state (FINISHED, FAILED, KILLED, LOST) ends the task, so it can only be last.
//! - `MESSAGE` is everything after the first `:` of the step (trimmed); it cannot contain a
//!   comma, which separates steps.
//!
//! Pure: parsing and printing only. [`Script`]'s `Display` prints the canonical form, which
//! parses back to the same script.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use aurora_events::ScheduleStatus;

/// The task config metadata key that overrides the agent's script for one job's tasks.
pub const SCRIPT_METADATA_KEY: &str = "hollow.script";

/// The script used when neither the command line nor the task's metadata names one.
pub const DEFAULT_SCRIPT: &str = "STARTING@0ms,RUNNING@100ms";

/// One status report of a script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub status: ScheduleStatus,
    /// How long after the launch the report is due.
    pub at: Duration,
    pub message: Option<String>,
}

/// A parsed, valid script: at least one step, delays non-decreasing, a terminal state only
/// last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    steps: Vec<Step>,
}

impl Script {
    pub fn steps(&self) -> &[Step] {
        &self.steps
    }
}

impl Default for Script {
    fn default() -> Self {
        Self {
            steps: vec![
                Step {
                    status: ScheduleStatus::Starting,
                    at: Duration::ZERO,
                    message: None,
                },
                Step {
                    status: ScheduleStatus::Running,
                    at: Duration::from_millis(100),
                    message: None,
                },
            ],
        }
    }
}

/// Why a script does not parse. `step` counts from 1, as a person reading the script would.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScriptError {
    #[error("the script is empty; expected steps like {DEFAULT_SCRIPT}")]
    Empty,
    #[error("step {step} ({text:?}) is not STATE@DELAY[:MESSAGE]")]
    Malformed { step: usize, text: String },
    #[error(
        "step {step}: {state:?} is not a state an agent reports \
         (STARTING, RUNNING, FINISHED, FAILED, KILLED or LOST)"
    )]
    UnknownState { step: usize, state: String },
    #[error("step {step}: bad delay {delay:?}: {reason}")]
    BadDelay {
        step: usize,
        delay: String,
        reason: &'static str,
    },
    #[error(
        "step {step}: {at:?} is before the previous step's {previous:?} \
         (delays count from the launch)"
    )]
    OutOfOrder {
        step: usize,
        at: Duration,
        previous: Duration,
    },
    #[error("step {step} follows {terminal}, which ends the task; it must be the last step")]
    AfterTerminal {
        step: usize,
        terminal: ScheduleStatus,
    },
}

/// The states a real agent reports; anything else would be an agent forging the scheduler's
/// own transitions.
fn reportable(status: ScheduleStatus) -> bool {
    match status {
        ScheduleStatus::Starting
        | ScheduleStatus::Running
        | ScheduleStatus::Finished
        | ScheduleStatus::Failed
        | ScheduleStatus::Killed
        | ScheduleStatus::Lost => true,
        ScheduleStatus::Init
        | ScheduleStatus::Pending
        | ScheduleStatus::Throttled
        | ScheduleStatus::Assigned
        | ScheduleStatus::Killing
        | ScheduleStatus::Preempting
        | ScheduleStatus::Restarting
        | ScheduleStatus::Draining
        | ScheduleStatus::Partitioned => false,
    }
}

impl FromStr for Script {
    type Err = ScriptError;

    fn from_str(text: &str) -> Result<Self, ScriptError> {
        if text.trim().is_empty() {
            return Err(ScriptError::Empty);
        }
        let mut steps: Vec<Step> = Vec::new();
        for (index, raw) in text.split(',').enumerate() {
            let step = index + 1;
            if let Some(last) = steps.last()
                && last.status.is_terminal()
            {
                return Err(ScriptError::AfterTerminal {
                    step,
                    terminal: last.status,
                });
            }
            let parsed = parse_step(step, raw.trim())?;
            if let Some(last) = steps.last()
                && parsed.at < last.at
            {
                return Err(ScriptError::OutOfOrder {
                    step,
                    at: parsed.at,
                    previous: last.at,
                });
            }
            steps.push(parsed);
        }
        Ok(Self { steps })
    }
}

fn parse_step(step: usize, text: &str) -> Result<Step, ScriptError> {
    let malformed = || ScriptError::Malformed {
        step,
        text: text.to_string(),
    };
    let (state, rest) = text.split_once('@').ok_or_else(malformed)?;
    let (delay, message) = match rest.split_once(':') {
        Some((delay, message)) => (delay, Some(message.trim())),
        None => (rest, None),
    };
    let state = state.trim();
    if state.is_empty() {
        return Err(malformed());
    }
    let status = ScheduleStatus::from_str(&state.to_ascii_uppercase())
        .ok()
        .filter(|s| reportable(*s))
        .ok_or_else(|| ScriptError::UnknownState {
            step,
            state: state.to_string(),
        })?;
    Ok(Step {
        status,
        at: parse_delay(step, delay.trim())?,
        message: message.filter(|m| !m.is_empty()).map(str::to_string),
    })
}

/// `250ms`, `2s` or `1.5s`.
fn parse_delay(step: usize, text: &str) -> Result<Duration, ScriptError> {
    let bad = |reason| ScriptError::BadDelay {
        step,
        delay: text.to_string(),
        reason,
    };
    let (number, millis_per_unit) = if let Some(number) = text.strip_suffix("ms") {
        (number, 1.0)
    } else if let Some(number) = text.strip_suffix('s') {
        (number, 1000.0)
    } else {
        return Err(bad("needs a unit, ms or s (e.g. 100ms)"));
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| bad("not a number before the unit"))?;
    let millis = value * millis_per_unit;
    // Also refuses NaN and infinities; a day is far beyond any scale test's patience.
    if !(0.0..=86_400_000.0).contains(&millis) {
        return Err(bad("must be between 0ms and 24 hours"));
    }
    Ok(Duration::from_micros((millis * 1000.0).round() as u64))
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let micros = self.at.as_micros();
        if micros % 1000 == 0 {
            write!(f, "{}@{}ms", self.status, micros / 1000)?;
        } else {
            write!(f, "{}@{}ms", self.status, micros as f64 / 1000.0)?;
        }
        match &self.message {
            Some(message) => write!(f, ":{message}"),
            None => Ok(()),
        }
    }
}

impl fmt::Display for Script {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, step) in self.steps.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{step}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use ScheduleStatus::{Failed, Finished, Running, Starting};
    use pretty_assertions::assert_eq;

    fn step(status: ScheduleStatus, ms: u64, message: Option<&str>) -> Step {
        Step {
            status,
            at: Duration::from_millis(ms),
            message: message.map(str::to_string),
        }
    }

    #[test]
    fn the_default_script_is_starting_then_running() {
        assert_eq!(DEFAULT_SCRIPT.parse::<Script>().unwrap(), Script::default());
        assert_eq!(Script::default().to_string(), DEFAULT_SCRIPT);
    }

    #[test]
    fn a_full_script_parses_with_units_case_and_messages() {
        let script: Script = " starting@0ms , Running@0.05s,FAILED@2s: exit 1: boom "
            .parse()
            .unwrap();
        assert_eq!(
            script.steps(),
            [
                step(Starting, 0, None),
                step(Running, 50, None),
                step(Failed, 2000, Some("exit 1: boom")),
            ]
        );
        assert_eq!(
            script.to_string(),
            "STARTING@0ms,RUNNING@50ms,FAILED@2000ms:exit 1: boom"
        );
    }

    #[test]
    fn printing_and_parsing_round_trip() {
        for text in [
            "STARTING@0ms,RUNNING@50ms,FINISHED@500ms",
            "RUNNING@0.5ms",
            "STARTING@0ms,FAILED@200ms:exit 1",
            "LOST@0ms:gone",
        ] {
            let script: Script = text.parse().unwrap();
            assert_eq!(script.to_string(), text);
            assert_eq!(script.to_string().parse::<Script>().unwrap(), script);
        }
    }

    #[test]
    fn equal_delays_keep_their_order() {
        let script: Script = "STARTING@10ms,RUNNING@10ms,FINISHED@10ms".parse().unwrap();
        assert_eq!(
            script.steps(),
            [
                step(Starting, 10, None),
                step(Running, 10, None),
                step(Finished, 10, None)
            ]
        );
    }

    #[test]
    fn bad_scripts_name_the_problem() {
        let cases: [(&str, ScriptError); 11] = [
            ("", ScriptError::Empty),
            ("  ", ScriptError::Empty),
            (
                "RUNNING",
                ScriptError::Malformed {
                    step: 1,
                    text: "RUNNING".into(),
                },
            ),
            (
                "STARTING@0ms,,RUNNING@1ms",
                ScriptError::Malformed {
                    step: 2,
                    text: "".into(),
                },
            ),
            (
                "@5ms",
                ScriptError::Malformed {
                    step: 1,
                    text: "@5ms".into(),
                },
            ),
            (
                "STARTING@0ms,SLEEPING@1ms",
                ScriptError::UnknownState {
                    step: 2,
                    state: "SLEEPING".into(),
                },
            ),
            (
                "KILLING@0ms",
                ScriptError::UnknownState {
                    step: 1,
                    state: "KILLING".into(),
                },
            ),
            (
                "RUNNING@100",
                ScriptError::BadDelay {
                    step: 1,
                    delay: "100".into(),
                    reason: "needs a unit, ms or s (e.g. 100ms)",
                },
            ),
            (
                "RUNNING@-1ms",
                ScriptError::BadDelay {
                    step: 1,
                    delay: "-1ms".into(),
                    reason: "must be between 0ms and 24 hours",
                },
            ),
            (
                "STARTING@100ms,RUNNING@50ms",
                ScriptError::OutOfOrder {
                    step: 2,
                    at: Duration::from_millis(50),
                    previous: Duration::from_millis(100),
                },
            ),
            (
                "RUNNING@0ms,FINISHED@1ms,RUNNING@2ms",
                ScriptError::AfterTerminal {
                    step: 3,
                    terminal: Finished,
                },
            ),
        ];
        for (text, error) in cases {
            assert_eq!(text.parse::<Script>(), Err(error), "{text:?}");
        }
        assert_eq!(
            "RUNNING@soonms".parse::<Script>().unwrap_err().to_string(),
            "step 1: bad delay \"soonms\": not a number before the unit"
        );
        assert_eq!(
            "RUNNING@nanms".parse::<Script>().unwrap_err().to_string(),
            "step 1: bad delay \"nanms\": must be between 0ms and 24 hours"
        );
    }
}
