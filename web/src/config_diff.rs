//! What an update changes in a config: the old and new config as pretty JSON (one field per
//! line, the shape `aurora job inspect` and the API show), compared line by line with
//! `similar`, unchanged stretches folded away. Pure functions, tested here.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use aurora_events::update::{InstanceRange, UpdateInstructions};
use aurora_events::{ConfigHash, InstanceId, TaskConfig};
use similar::{ChangeTag, TextDiff};

use crate::batches;

/// Unchanged lines shown around each change.
const CONTEXT: usize = 3;

/// Time a diff may take before `similar` settles for a coarser (still correct) one. Configs
/// are a few hundred lines, diffed in microseconds; this only bounds a pathological one.
const DIFF_TIMEOUT: Duration = Duration::from_millis(200);

/// How a line of a diff reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineKind {
    Same,
    Removed,
    Added,
    /// Unchanged lines left out; the line's text says how many.
    Folded,
}

impl LineKind {
    /// The CSS class of the line.
    pub fn class(self) -> &'static str {
        match self {
            LineKind::Same => "same",
            LineKind::Removed => "removed",
            LineKind::Added => "added",
            LineKind::Folded => "folded",
        }
    }

    /// The unified-diff marker in front of the line.
    pub fn marker(self) -> &'static str {
        match self {
            LineKind::Same => " ",
            LineKind::Removed => "-",
            LineKind::Added => "+",
            LineKind::Folded => "…",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffLine {
    pub kind: LineKind,
    pub text: String,
}

/// A config as the diff compares it: pretty JSON, one field per line. Serialising a
/// `TaskConfig` cannot fail (string keys, no non-finite floats the encoder refuses), but if
/// it ever did the error is shown in place of the config rather than failing the page.
pub fn config_text(config: &TaskConfig) -> String {
    serde_json::to_string_pretty(config)
        .unwrap_or_else(|e| format!("(the config could not be shown: {e})"))
}

fn folded(count: usize) -> DiffLine {
    DiffLine {
        kind: LineKind::Folded,
        text: if count == 1 {
            "1 unchanged line".to_string()
        } else {
            format!("{count} unchanged lines")
        },
    }
}

/// The lines of `new` compared with `old`: changed lines with [`CONTEXT`] lines around them,
/// the other unchanged stretches folded into one line each. Empty when they are equal.
pub fn diff_lines(old: &str, new: &str) -> Vec<DiffLine> {
    let diff = TextDiff::configure()
        .timeout(DIFF_TIMEOUT)
        .diff_lines(old, new);
    let old_lines = old.lines().count();
    let mut lines = Vec::new();
    // The next old line not shown yet, to count what is folded between groups.
    let mut shown_up_to = 0;
    for group in diff.grouped_ops(CONTEXT) {
        let Some(start) = group.first().map(|op| op.old_range().start) else {
            continue;
        };
        if start > shown_up_to {
            lines.push(folded(start - shown_up_to));
        }
        for op in &group {
            for change in diff.iter_changes(op) {
                let kind = match change.tag() {
                    ChangeTag::Equal => LineKind::Same,
                    ChangeTag::Delete => LineKind::Removed,
                    ChangeTag::Insert => LineKind::Added,
                };
                let text = change.to_string_lossy();
                lines.push(DiffLine {
                    kind,
                    text: text.trim_end_matches(['\n', '\r']).to_string(),
                });
            }
        }
        if let Some(end) = group.last().map(|op| op.old_range().end) {
            shown_up_to = end;
        }
    }
    if !lines.is_empty() && old_lines > shown_up_to {
        lines.push(folded(old_lines - shown_up_to));
    }
    lines
}

/// Every line of `text` as added (a config new to the job).
pub fn all_added(text: &str) -> Vec<DiffLine> {
    text.lines()
        .map(|line| DiffLine {
            kind: LineKind::Added,
            text: line.to_string(),
        })
        .collect()
}

/// One part of what an update does to a job's configs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The instances move from config `from` to `to`; `lines` compares them.
    Replaced {
        from: ConfigHash,
        to: ConfigHash,
        lines: Vec<DiffLine>,
    },
    /// The instances get the config they have: a restart.
    Restarted { config: ConfigHash },
    /// The instances are killed and not replaced.
    Killed { config: ConfigHash },
    /// The instances are new; `lines` is their whole config (`None` if the journal has no
    /// such config).
    Created {
        config: ConfigHash,
        lines: Option<Vec<DiffLine>>,
    },
    /// The instances move from `from` to `to`, but the journal has no config `missing` (one of
    /// the two) to compare.
    Unknown {
        from: ConfigHash,
        to: ConfigHash,
        missing: ConfigHash,
    },
}

/// A change and the instances it applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigChange {
    pub instances: Vec<InstanceRange>,
    pub change: Change,
}

/// What `instructions` do, per initial config group (the instances it moves to the desired
/// config, then those it kills), and then the instances it creates. `configs` holds the
/// configs the journal stored, by hash.
pub fn changes(
    instructions: &UpdateInstructions,
    configs: &BTreeMap<ConfigHash, TaskConfig>,
) -> Vec<ConfigChange> {
    let cap = batches::MAX_INSTANCES;
    let desired = instructions.desired_state.as_ref();
    let desired_instances = desired
        .map(|d| batches::expand(&d.instances, cap))
        .unwrap_or_default();
    let text = |hash: &ConfigHash| configs.get(hash).map(config_text);
    let desired_text = desired.and_then(|d| text(&d.config));
    let mut changes = Vec::new();
    let mut initial_instances = BTreeSet::new();
    for group in &instructions.initial_state {
        let instances = batches::expand(&group.instances, cap);
        initial_instances.extend(instances.iter().copied());
        let (kept, killed): (BTreeSet<InstanceId>, BTreeSet<InstanceId>) = instances
            .into_iter()
            .partition(|i| desired_instances.contains(i));
        if let Some(desired) = desired
            && !kept.is_empty()
        {
            let change = if group.config == desired.config {
                Change::Restarted {
                    config: group.config,
                }
            } else {
                match (text(&group.config), &desired_text) {
                    (Some(old), Some(new)) => Change::Replaced {
                        from: group.config,
                        to: desired.config,
                        lines: diff_lines(&old, new),
                    },
                    (old, _) => Change::Unknown {
                        from: group.config,
                        to: desired.config,
                        missing: if old.is_none() {
                            group.config
                        } else {
                            desired.config
                        },
                    },
                }
            };
            changes.push(ConfigChange {
                instances: batches::collapse(&kept),
                change,
            });
        }
        if !killed.is_empty() {
            changes.push(ConfigChange {
                instances: batches::collapse(&killed),
                change: Change::Killed {
                    config: group.config,
                },
            });
        }
    }
    if let Some(desired) = desired {
        let created: BTreeSet<InstanceId> = desired_instances
            .difference(&initial_instances)
            .copied()
            .collect();
        if !created.is_empty() {
            changes.push(ConfigChange {
                instances: batches::collapse(&created),
                change: Change::Created {
                    config: desired.config,
                    lines: desired_text.as_deref().map(all_added),
                },
            });
        }
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(lines: &[DiffLine]) -> Vec<String> {
        lines
            .iter()
            .map(|l| format!("{}{}", l.kind.marker(), l.text))
            .collect()
    }

    #[test]
    fn equal_texts_have_no_diff() {
        assert!(diff_lines("a\nb\n", "a\nb\n").is_empty());
        assert!(diff_lines("", "").is_empty());
    }

    #[test]
    fn a_changed_line_is_removed_then_added_with_context_and_folds() {
        let old: String = (1..=20).map(|n| format!("line {n}\n")).collect();
        let new = old.replace("line 10\n", "line ten\n");
        assert_eq!(
            render(&diff_lines(&old, &new)),
            vec![
                "…6 unchanged lines",
                " line 7",
                " line 8",
                " line 9",
                "-line 10",
                "+line ten",
                " line 11",
                " line 12",
                " line 13",
                "…7 unchanged lines",
            ]
        );
    }

    #[test]
    fn changes_at_the_edges_fold_only_what_is_between() {
        let old = "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n";
        let new = "A\nb\nc\nd\ne\nf\ng\nh\ni\nJ\n";
        assert_eq!(
            render(&diff_lines(old, new)),
            vec![
                "-a",
                "+A",
                " b",
                " c",
                " d",
                "…2 unchanged lines",
                " g",
                " h",
                " i",
                "-j",
                "+J",
            ]
        );
        assert_eq!(render(&diff_lines("x\n", "x\ny\n")), vec![" x", "+y"]);
        assert_eq!(
            render(&diff_lines("a\nb\nc\nd\ne\n", "a\nb\nc\nd\n")),
            vec!["…1 unchanged line", " b", " c", " d", "-e"]
        );
    }

    #[test]
    fn a_new_config_is_all_added() {
        assert_eq!(
            render(&all_added("{\n  \"a\": 1\n}")),
            vec!["+{", "+  \"a\": 1", "+}"]
        );
    }

    #[test]
    fn configs_render_one_field_per_line() {
        let config = aurora_events::samples::task_config();
        let text = config_text(&config);
        assert!(text.lines().count() > 10, "{text}");
        let mut changed = config.clone();
        changed.executor.processes[0].cmdline = "./run --new".into();
        let lines = diff_lines(&text, &config_text(&changed));
        let removed: Vec<&DiffLine> = lines
            .iter()
            .filter(|l| l.kind == LineKind::Removed)
            .collect();
        let added: Vec<&DiffLine> = lines.iter().filter(|l| l.kind == LineKind::Added).collect();
        assert_eq!(removed.len(), 1, "{lines:?}");
        assert_eq!(added.len(), 1, "{lines:?}");
        assert!(added[0].text.contains("./run --new"), "{lines:?}");
        assert!(removed[0].text.contains("cmdline"), "{lines:?}");
    }

    mod update_changes {
        use aurora_events::update::{InstanceConfigRanges, UpdateSettings, UpdateStrategy};

        use super::*;

        fn range(first: u32, last: u32) -> InstanceRange {
            InstanceRange { first, last }
        }

        fn group(config: &TaskConfig, instances: &[InstanceRange]) -> InstanceConfigRanges {
            InstanceConfigRanges {
                config: config.hash(),
                instances: instances.to_vec(),
            }
        }

        fn instructions(
            initial: Vec<InstanceConfigRanges>,
            desired: Option<InstanceConfigRanges>,
        ) -> UpdateInstructions {
            UpdateInstructions {
                initial_state: initial,
                desired_state: desired,
                settings: UpdateSettings {
                    strategy: UpdateStrategy::Queue { group_size: 1 },
                    max_per_instance_failures: 0,
                    max_failed_instances: 0,
                    min_wait_in_instance_running_ms: 0,
                    rollback_on_failure: true,
                    update_only_these_instances: Vec::new(),
                    block_if_no_pulses_after_ms: None,
                    sla_aware: false,
                },
            }
        }

        fn configs() -> (TaskConfig, TaskConfig) {
            let old = aurora_events::samples::task_config();
            let mut new = old.clone();
            new.executor.processes[0].cmdline = "./run --v2".into();
            (old, new)
        }

        fn stored(configs: &[&TaskConfig]) -> BTreeMap<ConfigHash, TaskConfig> {
            configs.iter().map(|c| (c.hash(), (*c).clone())).collect()
        }

        #[test]
        fn replaced_killed_and_created_instances() {
            let (old, new) = configs();
            // 0-5 on the old config; the new one runs 2-7: 2-5 replaced, 0-1 killed, 6-7 new.
            let update = instructions(
                vec![group(&old, &[range(0, 5)])],
                Some(group(&new, &[range(2, 7)])),
            );
            let found = changes(&update, &stored(&[&old, &new]));
            assert_eq!(found.len(), 3, "{found:?}");
            assert_eq!(found[0].instances, vec![range(2, 5)]);
            let Change::Replaced { from, to, lines } = &found[0].change else {
                panic!("a replacement: {found:?}");
            };
            assert_eq!((*from, *to), (old.hash(), new.hash()));
            assert!(lines.iter().any(|l| l.kind == LineKind::Removed));
            assert!(
                lines
                    .iter()
                    .any(|l| l.kind == LineKind::Added && l.text.contains("--v2"))
            );
            assert_eq!(
                found[1],
                ConfigChange {
                    instances: vec![range(0, 1)],
                    change: Change::Killed { config: old.hash() },
                }
            );
            assert_eq!(found[2].instances, vec![range(6, 7)]);
            let Change::Created {
                config,
                lines: Some(lines),
            } = &found[2].change
            else {
                panic!("a creation: {found:?}");
            };
            assert_eq!(*config, new.hash());
            assert!(lines.iter().all(|l| l.kind == LineKind::Added));
        }

        #[test]
        fn restarts_kills_and_unknown_configs() {
            let (old, new) = configs();
            let restart = instructions(
                vec![group(&old, &[range(0, 2)])],
                Some(group(&old, &[range(0, 2)])),
            );
            assert_eq!(
                changes(&restart, &stored(&[&old])),
                vec![ConfigChange {
                    instances: vec![range(0, 2)],
                    change: Change::Restarted { config: old.hash() },
                }]
            );
            let kill = instructions(vec![group(&old, &[range(0, 2)])], None);
            assert_eq!(
                changes(&kill, &stored(&[&old])),
                vec![ConfigChange {
                    instances: vec![range(0, 2)],
                    change: Change::Killed { config: old.hash() },
                }]
            );
            let unstored = instructions(
                vec![group(&old, &[range(0, 2)])],
                Some(group(&new, &[range(0, 3)])),
            );
            assert_eq!(
                changes(&unstored, &stored(&[&old])),
                vec![
                    ConfigChange {
                        instances: vec![range(0, 2)],
                        change: Change::Unknown {
                            from: old.hash(),
                            to: new.hash(),
                            missing: new.hash(),
                        },
                    },
                    ConfigChange {
                        instances: vec![range(3, 3)],
                        change: Change::Created {
                            config: new.hash(),
                            lines: None,
                        },
                    },
                ]
            );
        }
    }
}
