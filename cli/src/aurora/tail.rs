//! `aurora events tail [CLUSTER[/ROLE[/ENV[/NAME]]]] [--from SEQ|TIME|now] [--follow] ...`:
//! the cluster's events strictly after a seq, one line each (or NDJSON with `--json`), from
//! the JetStream mirror when the cluster has one, else from the scheduler's event stream.

use std::io::Write;

use aurora_events::{Aggregate, Envelope, Identifier, Seq, Timestamp};
use clap::{Args, ValueEnum};
use futures::StreamExt;
use serde::Deserialize;

use crate::context::Context;
use crate::events::{self, EventFilter};
use crate::exit::{CliError, CliResult, ExitCode};
use crate::stream::{self, Next};
use crate::time::Point;

#[derive(Debug, Clone, Args)]
pub(crate) struct TailArgs {
    /// `CLUSTER[/ROLE[/ENV[/NAME]]]`: the events of a cluster, a role, an environment or a
    /// job (quota events belong to their role). Default: devcluster.
    pattern: Option<String>,
    /// Print the events strictly after this: a seq, a time (RFC 3339, or UTC
    /// "YYYY-MM-DD HH:MM[:SS]"), or `now`. Default: the beginning, or `now` with --follow.
    // Hyphen values allowed so that `--from -1` is told what a seq is, not taken for a flag.
    #[arg(long, allow_hyphen_values = true)]
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

/// `--from TIME` means "the events after that instant", which for an instant still to come
/// would have to print events committed after it, not the ones committed now: refused, rather
/// than printing the present as if it were that future.
fn refuse_future(at: Timestamp, now: Timestamp) -> CliResult {
    if at > now {
        return Err(CliError::invalid_parameter(format!(
            "--from {} is in the future: give a time that has passed, or --follow without \
             --from to print events as they are committed",
            at.to_utc_string()
        )));
    }
    Ok(())
}

/// `--from SEQ` past the last event would print nothing (and, with --follow, silently skip
/// every event up to it when they come): a mistyped seq, refused naming the last one.
fn refuse_past_the_end(after: Option<Seq>, last: Seq, source: &str) -> CliResult {
    match after {
        Some(after) if after > last => Err(CliError::invalid_parameter(format!(
            "--from {after} is after the last event in {source} (seq {last}): give a seq up to              {last}, or --follow without --from to print events as they are committed"
        ))),
        _ => Ok(()),
    }
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
    let from = args
        .from
        .as_deref()
        .map(|text| crate::time::parse_point(text, "--from"))
        .transpose()
        .map_err(CliError::invalid_parameter)?;
    let after = match from {
        None if args.follow => None,
        None => Some(0),
        Some(Point::Now) => None,
        Some(Point::Seq(seq)) => Some(seq),
        Some(Point::Time(at)) => {
            refuse_future(
                at,
                Timestamp::from_millis(jiff::Timestamp::now().as_millisecond()),
            )?;
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
            refuse_past_the_end(after, info.last_seq, "the journal")?;
            let after = after.unwrap_or(info.last_seq);
            let end = (!args.follow).then_some(info.last_seq);
            let bases = ctx.clusters.scheduler_uris(&cluster)?;
            stream::follow_scheduler(&bases, after, end, &mut print)
        }
        Some(url) => {
            let runtime = stream::runtime()?;
            let (reader, last) = runtime.block_on(async {
                let reader = aurora_stream::Reader::connect(&url, &cluster)
                    .await
                    .map_err(stream::stream_error)?;
                let last = reader.extent().await.map_err(stream::stream_error)?.0;
                Ok::<_, CliError>((reader, last))
            })?;
            if after.is_some_and(|after| after > last) {
                // The mirror may trail the journal by a few events: the journal decides when
                // the scheduler answers (asked outside the runtime: the client blocks).
                match info() {
                    Ok(info) => refuse_past_the_end(after, last.max(info.last_seq), "the journal")?,
                    Err(_) => refuse_past_the_end(after, last, "the stream")?,
                }
            }
            runtime.block_on(async {
                let after = after.unwrap_or(last);
                let until = if args.follow {
                    aurora_stream::Until::Forever
                } else {
                    aurora_stream::Until::End
                };
                // The stream's seqs are the journal's, dense: a hole is damage, not a gap to
                // step over. A filtered consumer cannot see one, so ask the stream first...
                let missing = reader
                    .missing(after, None)
                    .await
                    .map_err(stream::stream_error)?;
                if !missing.is_empty() {
                    return Err(stream::hole_error(&cluster, &missing));
                }
                let subject_filter = filter.subject_filter();
                // ...and an unfiltered read sees every seq, so it checks each (a message
                // deleted while it follows).
                let dense = subject_filter == aurora_stream::SubjectFilter::default();
                let mut envelopes = reader.envelopes(subject_filter, after, until);
                let mut expected = after.checked_add(1);
                while let Some(envelope) = envelopes.next().await {
                    let envelope = envelope.map_err(stream::stream_error)?;
                    if let Some(next) = expected
                        && dense
                        && envelope.seq > next
                    {
                        return Err(stream::hole_error(&cluster, &[next..=envelope.seq - 1]));
                    }
                    expected = envelope.seq.checked_add(1);
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
    fn a_from_time_still_to_come_is_refused() {
        let now = Timestamp(1_764_936_000_000);
        assert_eq!(refuse_future(now, now), Ok(()));
        assert_eq!(refuse_future(Timestamp(now.0 - 1), now), Ok(()));
        let error = refuse_future(Timestamp(now.0 + 1), now).unwrap_err();
        assert_eq!(error.code, ExitCode::InvalidParameter);
        assert!(
            error.message.contains("is in the future"),
            "{}",
            error.message
        );
    }

    #[test]
    fn a_from_seq_past_the_last_event_is_refused() {
        assert_eq!(refuse_past_the_end(None, 50, "the journal"), Ok(()));
        assert_eq!(refuse_past_the_end(Some(50), 50, "the journal"), Ok(()));
        let error = refuse_past_the_end(Some(99_999), 50, "the journal").unwrap_err();
        assert_eq!(error.code, ExitCode::InvalidParameter);
        assert!(
            error
                .message
                .starts_with("--from 99999 is after the last event in the journal (seq 50)"),
            "{}",
            error.message
        );
    }

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
