//! `bench-replicated --timeline`: records the replicas' timeline marks (see
//! `aurora_raft::timeline`) while one appender runs, and shows where an append's time goes.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tracing::field::{Field, Visit};
use tracing_subscriber::Layer;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt as _;

/// The step that starts an append's timeline.
const START: &str = "append received";

#[derive(Debug, Clone)]
struct Mark {
    step: String,
    node: u64,
    at: Instant,
}

/// The marks recorded while switched on. Cheap to clone; clones share them.
#[derive(Debug, Clone, Default)]
pub struct Recorder {
    on: Arc<AtomicBool>,
    marks: Arc<Mutex<Vec<Mark>>>,
}

impl Recorder {
    /// Installs a recorder as the process's subscriber (for the timeline target only).
    pub fn install() -> anyhow::Result<Self> {
        let recorder = Self::default();
        let only_marks =
            Targets::new().with_target(aurora_raft::timeline::TARGET, tracing::Level::TRACE);
        let subscriber =
            tracing_subscriber::registry().with(recorder.clone().with_filter(only_marks));
        tracing::subscriber::set_global_default(subscriber)?;
        Ok(recorder)
    }

    /// Starts or stops recording.
    pub fn record(&self, on: bool) {
        self.on.store(on, Ordering::Relaxed);
    }

    /// Each step's time after the append was received (the leader's [`START`] mark), over
    /// every append recorded, then the marks of the median append as they came; `leader`
    /// names the leader's marks. Takes the marks.
    pub fn report(&self, leader: u64) -> String {
        let marks = match self.marks.lock() {
            Ok(mut marks) => std::mem::take(&mut *marks),
            Err(_) => return "the timeline's marks were lost (a recording thread panicked)".into(),
        };
        let starts: Vec<usize> = (0..marks.len())
            .filter(|&i| marks[i].step == START && marks[i].node == leader)
            .collect();
        let cycles: Vec<&[Mark]> = starts.windows(2).map(|w| &marks[w[0]..w[1]]).collect();
        let mut offsets: BTreeMap<(&str, u64), Vec<u128>> = BTreeMap::new();
        for cycle in &cycles {
            let mut seen = BTreeSet::new();
            for mark in *cycle {
                if seen.insert((mark.step.as_str(), mark.node)) {
                    let after = mark.at.duration_since(cycle[0].at).as_micros();
                    offsets
                        .entry((mark.step.as_str(), mark.node))
                        .or_default()
                        .push(after);
                }
            }
        }
        let mut rows: Vec<(u128, u128, usize, &str, u64)> = offsets
            .into_iter()
            .map(|((step, node), mut after)| {
                after.sort_unstable();
                let p50 = after[after.len() / 2];
                let p90 = after[after.len() * 9 / 10];
                (p50, p90, after.len(), step, node)
            })
            .collect();
        rows.sort_unstable();
        let who = |node: u64| {
            if node == leader {
                format!("{node} (leader)")
            } else {
                node.to_string()
            }
        };
        let mut out = format!(
            "timeline of {} appends at one appender: when each step first happened after the \
             leader received an append (first occurrence in each append's span, µs)\n\n\
             {:>7} {:>7} {:>8}  {:<12} step\n",
            cycles.len(),
            "p50",
            "p90",
            "appends",
            "replica"
        );
        for (p50, p90, seen, step, node) in rows {
            let _ = writeln!(out, "{p50:>7} {p90:>7} {seen:>8}  {:<12} {step}", who(node));
        }
        let mut by_length: Vec<&[Mark]> = cycles.clone();
        by_length.sort_by_key(|cycle| cycle.last().map(|m| m.at.duration_since(cycle[0].at)));
        if let Some(median) = by_length.get(by_length.len() / 2) {
            let _ = writeln!(out, "\nthe median append's marks, in order:");
            for mark in *median {
                let after = mark.at.duration_since(median[0].at).as_micros();
                let _ = writeln!(out, "{after:>7} µs  {:<12} {}", who(mark.node), mark.step);
            }
        }
        out
    }
}

/// Reads a mark's fields: its message (the step) and its `node`.
#[derive(Default)]
struct Fields {
    step: String,
    node: u64,
}

impl Visit for Fields {
    fn record_u64(&mut self, field: &Field, value: u64) {
        if field.name() == "node" {
            self.node = value;
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.step = format!("{value:?}");
        }
    }
}

impl<S: tracing::Subscriber> Layer<S> for Recorder {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if !self.on.load(Ordering::Relaxed) {
            return;
        }
        let at = Instant::now();
        let mut fields = Fields::default();
        event.record(&mut fields);
        if let Ok(mut marks) = self.marks.lock() {
            marks.push(Mark {
                step: fields.step,
                node: fields.node,
                at,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn mark(recorder: &Recorder, base: Instant, micros: u64, node: u64, step: &str) {
        if let Ok(mut marks) = recorder.marks.lock() {
            marks.push(Mark {
                step: step.into(),
                node,
                at: base + Duration::from_micros(micros),
            });
        }
    }

    #[test]
    fn steps_are_timed_from_the_leader_s_receipt_and_ordered_by_their_median() {
        let recorder = Recorder::default();
        let base = Instant::now();
        // Three appends on leader 1 (the last start only closes the second span): a follower's
        // receipt comes first in each span, but belongs to the timeline of the append before.
        for (start, written) in [(0, 300), (1_000, 1_500), (2_000, 2_100)] {
            mark(&recorder, base, start, 2, "append-entries RPC received");
            mark(&recorder, base, start, 1, START);
            mark(
                &recorder,
                base,
                start + 100,
                2,
                "append-entries RPC received",
            );
            mark(&recorder, base, written, 1, "log written");
        }
        mark(&recorder, base, 3_000, 1, START);
        let report = recorder.report(1);
        assert!(report.starts_with("timeline of 3 appends"), "{report}");
        let rows: Vec<&str> = report
            .lines()
            .filter(|line| line.contains("log written") || line.contains("RPC received"))
            .take(2)
            .collect();
        // The second receipt in a span is not counted (first occurrence only); the writes
        // took 300, 500 and 100 µs, so their median is 300 and their p90 500.
        assert_eq!(
            rows[0].split_whitespace().collect::<Vec<_>>(),
            ["100", "100", "3", "2", "append-entries", "RPC", "received"],
            "{report}"
        );
        assert_eq!(
            rows[1].split_whitespace().collect::<Vec<_>>(),
            ["300", "500", "3", "1", "(leader)", "log", "written"],
            "{report}"
        );
        // The median append by span length (1,000 µs) is listed from its receipt.
        assert!(
            report.contains("the median append's marks, in order:\n      0 µs  1 (leader)"),
            "{report}"
        );
        // The marks were taken.
        assert!(recorder.report(1).starts_with("timeline of 0 appends"));
    }
}
