//! `aurora cluster diff CLUSTER --from T1 [--to T2] [--role R]`: what changed between two
//! instants (seqs or times), each change with its seq, time and who did it; a job's config
//! change is shown as a unified diff of the two configs.

use std::collections::BTreeMap;

use aurora_events::{ConfigHash, Seq, TaskConfig};
use aurora_projections::diff::{Change, ChangeKind};
use serde::{Deserialize, Serialize};

use crate::context::{Context, paint, print_json};
use crate::exit::{CliError, CliResult};
use crate::time::Point;

#[derive(Debug, Serialize, Deserialize)]
struct ClusterDiff {
    from_seq: Seq,
    to_seq: Seq,
    changes: Vec<Change>,
    configs: BTreeMap<ConfigHash, TaskConfig>,
}

/// `SEQ|TIME|now` as the API's value.
fn instant(text: &str, flag: &str) -> CliResult<String> {
    crate::time::at_param(text, flag)
        .map(|at| at.unwrap_or_else(|| "now".into()))
        .map_err(CliError::invalid_parameter)
}

#[derive(Debug, Deserialize)]
struct JournalInfo {
    last_seq: Seq,
}

/// The error for the first of `points` (option, value) that is a seq after `last`, if any.
fn past_the_end<'a>(
    points: impl IntoIterator<Item = (&'a str, Option<&'a str>)>,
    last: Seq,
) -> Option<CliError> {
    points
        .into_iter()
        .find_map(|(flag, text)| match crate::time::parse_point(text?, flag) {
            Ok(Point::Seq(seq)) if seq > last => Some(CliError::invalid_parameter(format!(
                "{flag} {seq} is after the last event in the journal (seq {last})"
            ))),
            _ => None,
        })
}

pub(super) fn diff(
    ctx: &Context,
    cluster: &str,
    from: &str,
    to: Option<&str>,
    role: Option<&str>,
    json: bool,
) -> CliResult {
    let client = ctx.client(cluster)?;
    let mut path = format!(
        "/api/v1/diff?from={}&to={}",
        instant(from, "--from")?,
        instant(to.unwrap_or("now"), "--to")?
    );
    if let Some(role) = role {
        path.push_str(&format!("&role={}", crate::percent::encode(role)));
    }
    let diff: ClusterDiff = match client.try_get(&path)? {
        Ok(diff) => diff,
        Err(refusal) => {
            // The scheduler words a seq past the journal's end as its own `?at=`; say which
            // of our options it was.
            let last = client.get::<JournalInfo>("/api/v1/journal")?.last_seq;
            return Err(
                past_the_end([("--from", Some(from)), ("--to", to)], last).unwrap_or_else(|| {
                    CliError::new(
                        refusal.exit_code(),
                        format!("the scheduler refused {path}: {refusal}"),
                    )
                }),
            );
        }
    };
    if json {
        return print_json(&diff);
    }
    print!("{}", render(cluster, &diff, ctx.color));
    Ok(())
}

fn render(cluster: &str, diff: &ClusterDiff, color: bool) -> String {
    let mut out = format!(
        "Changes in {cluster} after seq {} up to seq {}:\n",
        diff.from_seq, diff.to_seq
    );
    if diff.changes.is_empty() {
        out.push_str("  none\n");
    }
    let short = |hash: &ConfigHash| hash.short();
    for change in &diff.changes {
        let who = match &change.on_behalf_of {
            Some(user) => format!("{} for {user}", change.actor),
            None => change.actor.to_string(),
        };
        let what = match &change.what {
            ChangeKind::JobCreated { job, desired } => format!(
                "job {job} created: {} instances of config {}",
                desired.instances,
                short(&desired.config)
            ),
            ChangeKind::JobRemoved { job } => format!("job {job} removed"),
            ChangeKind::InstancesKilled {
                job,
                instances,
                left,
            } => {
                let ranges = aurora_events::update::InstanceRange::collapse(instances.clone())
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(",");
                let noun = if instances.len() == 1 {
                    "instance"
                } else {
                    "instances"
                };
                match left {
                    0 => format!("job {job}: {noun} {ranges} killed; none left"),
                    left => format!("job {job}: {noun} {ranges} killed; {left} left"),
                }
            }
            ChangeKind::JobChanged { job, from, to } => {
                let mut parts = Vec::new();
                match from {
                    Some(from) if from.instances != to.instances => {
                        parts.push(format!("{} → {} instances", from.instances, to.instances));
                    }
                    None => parts.push(format!("{} instances", to.instances)),
                    Some(_) => {}
                }
                match from {
                    Some(from) if from.config != to.config => parts.push(format!(
                        "config {} → {}",
                        short(&from.config),
                        short(&to.config)
                    )),
                    None => parts.push(format!("config {}", short(&to.config))),
                    Some(_) => {}
                }
                format!("job {job}: {}", parts.join(", "))
            }
            ChangeKind::QuotaChanged { role, from, to } => {
                let show = |q: &aurora_events::ResourceAggregate| {
                    format!("{} CPU, {} MB RAM, {} MB disk", q.cpus, q.ram_mb, q.disk_mb)
                };
                match from {
                    Some(from) => format!("quota of {role}: {} → {}", show(from), show(to)),
                    None => format!("quota of {role}: {}", show(to)),
                }
            }
            ChangeKind::Maintenance { host, from, to } => {
                format!("host {host}: maintenance {from} → {to}")
            }
        };
        out.push_str(&format!(
            "{:>8}  {}  {:<24}  {}\n",
            change.seq,
            paint(color, "2", &change.at.to_utc_string()),
            who,
            what
        ));
        if let ChangeKind::JobChanged {
            from: Some(from),
            to,
            ..
        } = &change.what
            && from.config != to.config
            && let (Some(old), Some(new)) =
                (diff.configs.get(&from.config), diff.configs.get(&to.config))
        {
            let pretty =
                |c: &TaskConfig| serde_json::to_string_pretty(c).unwrap_or_default() + "\n";
            let (old, new) = (pretty(old), pretty(new));
            let patch = similar::TextDiff::from_lines(&old, &new)
                .unified_diff()
                .header(
                    &format!("config {}", short(&from.config)),
                    &format!("config {}", short(&to.config)),
                )
                .to_string();
            for line in patch.lines() {
                out.push_str(&format!("          {line}\n"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exit::ExitCode;

    #[test]
    fn killed_instances_are_shown_as_ranges_with_what_is_left() {
        let job = aurora_events::JobKey::new("bob", "prod", "api").unwrap();
        let killed = |instances: Vec<u32>, left| Change {
            seq: 45,
            at: aurora_events::Timestamp(0),
            actor: aurora_events::Actor::User("bob".into()),
            on_behalf_of: None,
            what: ChangeKind::InstancesKilled {
                job: job.clone(),
                instances,
                left,
            },
        };
        let diff = ClusterDiff {
            from_seq: 40,
            to_seq: 48,
            changes: vec![killed(vec![0, 1, 2, 5], 0), killed(vec![7], 3)],
            configs: Default::default(),
        };
        let shown = render("devcluster", &diff, false);
        assert!(
            shown.contains(
                "user:bob                  job bob/prod/api: instances 0-2,5 killed; none left"
            ),
            "{shown}"
        );
        assert!(
            shown.contains("job bob/prod/api: instance 7 killed; 3 left"),
            "{shown}"
        );
    }

    #[test]
    fn a_seq_past_the_end_is_named_by_its_option() {
        let error = past_the_end([("--from", Some("9999")), ("--to", None)], 50).unwrap();
        assert_eq!(error.code, ExitCode::InvalidParameter);
        assert_eq!(
            error.message,
            "--from 9999 is after the last event in the journal (seq 50)"
        );
        let error = past_the_end([("--from", Some(" 3")), ("--to", Some("51"))], 50).unwrap();
        assert!(error.message.starts_with("--to 51 "), "{}", error.message);
        for fine in [
            [("--from", Some("50")), ("--to", None)],
            [("--from", Some("2025-12-05 12:00")), ("--to", Some("now"))],
        ] {
            assert!(past_the_end(fine, 50).is_none(), "{fine:?}");
        }
    }
}
