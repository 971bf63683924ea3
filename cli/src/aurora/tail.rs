//! `aurora events tail [CLUSTER[/ROLE[/ENV[/NAME]]]] [--from SEQ|TIME|now] [--follow] ...`:
//! the cluster's events strictly after a seq, one line each (or NDJSON with `--json`), from
//! the JetStream mirror when the cluster has one, else from the scheduler's event stream.

use std::io::Write;

use aurora_events::{Aggregate, Envelope, Identifier, Seq};
use clap::{Args, ValueEnum};
use futures::StreamExt;
use serde::Deserialize;

use crate::context::Context;
use crate::events::{self, EventFilter};
use crate::exit::{CliError, CliResult, ExitCode};
use crate::stream::{self, Next};

#[derive(Debug, Clone, Args)]
pub(crate) struct TailArgs {
    /// `CLUSTER[/ROLE[/ENV[/NAME]]]`: the events of a cluster, a role, an environment or a
    /// job (quota events belong to their role). Default: devcluster.
    pattern: Option<String>,
    /// Print the events strictly after this: a seq, a time (RFC 3339, or UTC
    /// "YYYY-MM-DD HH:MM[:SS]"), or `now`. Default: the beginning, or `now` with --follow.
    #[arg(long)]
    from: Option<String>,
    /// Keep printing events as they are committed (until interrupted).
    #[arg(short = 'f', long)]
    follow: bool,
    /// Only the events of this task.
    #[arg(long)]
    task: Option<String>,
    /// Only events of this kind.
    #[arg(long, value_enum)]
    kind: Option<Kind>,
    /// Only events by this actor: a user name, `scheduler`, or `agent:ID`.
    #[arg(long)]
    actor: Option<String>,
    /// One JSON object per line (the stream's payload: format, cluster, envelope).
    #[arg(long)]
    json: bool,
    /// Where to read: the JetStream mirror when the cluster has one (auto), or only one of
    /// them.
    #[arg(long, value_enum, default_value = "auto")]
    source: SourceChoice,
    /// The NATS server of the mirror (default: the cluster's `nats_uri` in clusters.json).
    #[arg(long, value_name = "URL")]
    nats: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Kind {
    Task,
    Job,
    Update,
    Quota,
    Host,
    Cron,
    Agent,
    Cluster,
}

impl Kind {
    fn aggregate(self) -> Aggregate {
        match self {
            Kind::Task => Aggregate::Task,
            Kind::Job => Aggregate::Job,
            Kind::Update => Aggregate::Update,
            Kind::Quota => Aggregate::Quota,
            Kind::Host => Aggregate::Host,
            Kind::Cron => Aggregate::Cron,
            Kind::Agent => Aggregate::Agent,
            Kind::Cluster => Aggregate::Cluster,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum SourceChoice {
    Auto,
    /// The JetStream mirror.
    Nats,
    /// The scheduler's server-sent event stream.
    Scheduler,
}

#[derive(Debug, Deserialize)]
struct JournalInfo {
    cluster: String,
    last_seq: Seq,
}

#[derive(Debug, Deserialize)]
struct SeqAt {
    seq: Seq,
}

/// `CLUSTER[/ROLE[/ENV[/NAME]]]` as a cluster and a filter.
fn parse_pattern(pattern: &str) -> CliResult<(String, EventFilter)> {
    let parts: Vec<&str> = pattern.split('/').collect();
    if parts.len() > 4 || parts.iter().any(|p| p.is_empty()) {
        return Err(CliError::invalid_parameter(format!(
            "{pattern:?} is not CLUSTER[/ROLE[/ENV[/NAME]]]"
        )));
    }
    let name = |index: usize| -> CliResult<Option<String>> {
        parts
            .get(index)
            .map(|part| {
                Identifier::new(*part)
                    .map(|id| id.to_string())
                    .map_err(|e| CliError::invalid_parameter(format!("{pattern:?}: {e}")))
            })
            .transpose()
    };
    let filter = EventFilter {
        role: name(1)?,
        environment: name(2)?,
        name: name(3)?,
        ..EventFilter::default()
    };
    Ok((parts[0].to_string(), filter))
}

pub(crate) fn tail(ctx: &Context, args: &TailArgs) -> CliResult {
    let (cluster, mut filter) = parse_pattern(args.pattern.as_deref().unwrap_or("devcluster"))?;
    filter.aggregate = args.kind.map(Kind::aggregate);
    filter.task = args.task.clone();
    filter.actor = args.actor.clone();
    let nats = args
        .nats
        .clone()
        .or_else(|| ctx.clusters.nats_uri(&cluster));
    let use_nats = match (args.source, &nats) {
        (SourceChoice::Scheduler, _) | (SourceChoice::Auto, None) => None,
        (_, Some(url)) => Some(url.clone()),
        (SourceChoice::Nats, None) => {
            return Err(CliError::invalid_parameter(format!(
                "cluster {cluster} names no NATS server: give --nats URL or nats_uri in clusters.json"
            )));
        }
    };
    let client = ctx.client(&cluster)?;
    let after = match args.from.as_deref() {
        None if args.follow => None,
        None => Some(0),
        Some("now") => None,
        Some(text) if text.bytes().all(|b| b.is_ascii_digit()) => Some(
            text.parse::<Seq>()
                .map_err(|e| CliError::invalid_parameter(format!("--from {text}: {e}")))?,
        ),
        Some(text) => {
            let at = crate::time::parse_instant(text).map_err(CliError::invalid_parameter)?;
            let seq: SeqAt =
                client.get(&format!("/api/v1/journal/seq?at_ms={}", at.as_millis()))?;
            Some(seq.seq)
        }
    };
    // `now`: the journal's end, from the scheduler (or the stream when that is all there is).
    let info = || client.get::<JournalInfo>("/api/v1/journal");
    let mut out = std::io::stdout().lock();
    let color = ctx.color && !args.json;
    let mut print = |envelope: Envelope| -> CliResult<Next> {
        if !filter.matches(&envelope) {
            return Ok(Next::Continue);
        }
        let text = if args.json {
            String::from_utf8(aurora_stream::wire::encode(&cluster, &envelope)).unwrap_or_default()
        } else {
            events::line(&envelope, color)
        };
        match writeln!(out, "{text}").and_then(|()| out.flush()) {
            Ok(()) => Ok(Next::Continue),
            // The reader went away (`| head`): done, not failed.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(Next::Stop),
            Err(e) => Err(CliError::new(ExitCode::Unknown, format!("writing: {e}"))),
        }
    };
    match use_nats {
        None => {
            let info = info()?;
            if info.cluster != cluster {
                return Err(CliError::invalid_config(format!(
                    "the scheduler of {cluster} serves cluster {}",
                    info.cluster
                )));
            }
            let after = after.unwrap_or(info.last_seq);
            let end = (!args.follow).then_some(info.last_seq);
            let bases = ctx.clusters.scheduler_uris(&cluster)?;
            stream::follow_scheduler(&bases, after, end, &mut print)
        }
        Some(url) => {
            let runtime = stream::runtime()?;
            runtime.block_on(async {
                let reader = aurora_stream::Reader::connect(&url, &cluster)
                    .await
                    .map_err(stream::stream_error)?;
                let after = match after {
                    Some(after) => after,
                    None => reader.extent().await.map_err(stream::stream_error)?.0,
                };
                let until = if args.follow {
                    aurora_stream::Until::Forever
                } else {
                    aurora_stream::Until::End
                };
                let mut envelopes = reader.envelopes(filter.subject_filter(), after, until);
                while let Some(envelope) = envelopes.next().await {
                    let envelope = envelope.map_err(stream::stream_error)?;
                    if print(envelope)? == Next::Stop {
                        break;
                    }
                }
                Ok(())
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_name_a_cluster_and_narrow_by_job() {
        let (cluster, filter) = parse_pattern("prod/www-data/live/hello").unwrap();
        assert_eq!(cluster, "prod");
        assert_eq!(filter.role.as_deref(), Some("www-data"));
        assert_eq!(filter.environment.as_deref(), Some("live"));
        assert_eq!(filter.name.as_deref(), Some("hello"));
        let (_, filter) = parse_pattern("prod").unwrap();
        assert_eq!(filter, EventFilter::default());
        for bad in ["prod/", "a/b/c/d/e", "prod/ro le"] {
            let error = parse_pattern(bad).unwrap_err();
            assert_eq!(error.code, ExitCode::InvalidParameter, "{bad}");
        }
    }
}
