//! `aurora-admin journal verify CLUSTER [--against-stream]`: the scheduler checks its journal
//! (every record's checksum, dense seqs, times that never go back, the hash chain); with
//! `--against-stream` the client then compares the JetStream mirror with the journal, event for
//! event (the envelopes carry their links, so the stream's chain is the journal's). Either
//! failure names the first seq that differs and exits 4.
//!
//! `aurora-admin journal head CLUSTER`: the last seq and its chain hash, for pinning elsewhere.
//! `verify --pinned SEQ:HASH` then checks the journal still passes through that hash: the
//! chain vouches for every event before the newest one, but only a hash kept outside the
//! cluster (or the stream) can show that the newest events were rewritten or cut off.

use aurora_events::{ChainHash, Envelope, Seq};
use clap::Subcommand;
use futures::StreamExt;
use futures::stream::BoxStream;
use serde::Deserialize;

use crate::context::Context;
use crate::exit::{CliError, CliResult, ExitCode};
use crate::stream;

#[derive(Debug, Subcommand)]
pub(crate) enum Action {
    /// Check the journal, and with --against-stream that the JetStream mirror holds exactly
    /// its events.
    Verify {
        cluster: String,
        /// Also compare the JetStream mirror with the journal.
        #[arg(long = "against-stream")]
        against_stream: bool,
        /// The NATS server of the mirror (default: the cluster's `nats_uri` in clusters.json).
        #[arg(long, value_name = "URL")]
        nats: Option<String>,
        /// Events the scheduler checks per request: a long journal is checked in parts, each
        /// a bounded request, one after the other.
        #[arg(long, value_name = "N", default_value_t = 100_000,
              value_parser = clap::value_parser!(u64).range(1..))]
        batch: u64,
        /// A head printed earlier by `journal head` (`SEQ:HASH`): the journal must still
        /// reach that seq with that hash.
        #[arg(long, value_name = "SEQ:HASH", value_parser = parse_pinned)]
        pinned: Option<Pinned>,
    },
    /// Print the journal's last seq and its chain hash (pin them: a later verify must pass
    /// through the same hash).
    Head { cluster: String },
}

/// A head pinned outside the cluster: the chain hash of the event at `seq`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pinned {
    seq: Seq,
    hash: ChainHash,
}

fn parse_pinned(text: &str) -> Result<Pinned, String> {
    let (seq, hash) = text
        .trim()
        .split_once(':')
        .ok_or_else(|| format!("{text:?} is not SEQ:HASH (as `journal head` prints them)"))?;
    let seq = seq
        .parse::<Seq>()
        .ok()
        .filter(|seq| *seq >= 1)
        .ok_or_else(|| format!("{seq:?} is not a seq (1 or more)"))?;
    let hash = hash
        .parse::<ChainHash>()
        .map_err(|e| format!("{hash:?} is not a chain hash: {e}"))?;
    Ok(Pinned { seq, hash })
}

/// What the pinned head says of a journal ending at `last` whose event `pinned.seq` has the
/// chain hash `found` (`None`: the journal has no event there, or it is not linked).
fn check_pinned(cluster: &str, pinned: &Pinned, last: Seq, found: Option<ChainHash>) -> CliResult {
    let Pinned { seq, hash } = pinned;
    if *seq > last {
        return Err(CliError::new(
            ExitCode::CommandFailure,
            format!(
                "journal of {cluster} ends at seq {last}, before the pinned head at seq {seq}: \
                 the events after seq {last} were removed"
            ),
        ));
    }
    match found {
        Some(found) if found == *hash => Ok(()),
        Some(found) => Err(CliError::new(
            ExitCode::CommandFailure,
            format!(
                "journal of {cluster}: the chain hash at seq {seq} is {found}, not the pinned \
                 {hash}: an event at or before seq {seq} was altered"
            ),
        )),
        None => Err(CliError::new(
            ExitCode::CommandFailure,
            format!(
                "journal of {cluster}: seq {seq} carries no chain link to compare with the \
                 pinned {hash}"
            ),
        )),
    }
}

#[derive(Debug, Deserialize)]
struct JournalHead {
    cluster: String,
    seq: Seq,
    hash: String,
    linked: bool,
}

#[derive(Debug, Deserialize)]
struct JournalCheck {
    cluster: String,
    last_seq: Seq,
    sound_through: Seq,
    /// Absent from schedulers that check the whole journal in one request.
    #[serde(default)]
    checked_through: Option<Seq>,
    #[serde(default)]
    head_hash: Option<String>,
    #[serde(default)]
    chained_from: Option<Seq>,
    problem: Option<JournalProblem>,
}

#[derive(Debug, Deserialize)]
struct JournalProblem {
    seq: Seq,
    problem: String,
}

#[derive(Debug, Deserialize)]
struct EventsPage {
    events: Vec<Envelope>,
}

pub(crate) fn run(ctx: &Context, action: Action) -> CliResult {
    let (cluster, against_stream, nats, batch, pinned) = match action {
        Action::Verify {
            cluster,
            against_stream,
            nats,
            batch,
            pinned,
        } => (cluster, against_stream, nats, batch, pinned),
        Action::Head { cluster } => {
            let head: JournalHead = ctx.client(&cluster)?.get("/api/v1/journal/head")?;
            let linked = if head.linked {
                ""
            } else {
                " (not linked: written before the hash chain)"
            };
            println!(
                "journal of {}: head seq {} hash {}{linked}",
                head.cluster, head.seq, head.hash
            );
            if head.linked {
                println!(
                    "(keep it outside the cluster; later: aurora-admin journal verify {} \
                     --pinned {}:{})",
                    head.cluster, head.seq, head.hash
                );
            }
            return Ok(());
        }
    };
    let nats = if against_stream {
        Some(nats.or_else(|| ctx.clusters.nats_uri(&cluster)).ok_or_else(|| {
            CliError::invalid_parameter(format!(
                "cluster {cluster} names no NATS server: give --nats URL or nats_uri in clusters.json"
            ))
        })?)
    } else {
        None
    };
    let client = ctx.client(&cluster)?;
    let check = check_in_parts(&client, batch)?;
    if let Some(problem) = check.problem {
        return Err(CliError::new(
            ExitCode::CommandFailure,
            format!(
                "journal of {}: seq {} is damaged: {} (seqs 1..={} are sound)",
                check.cluster, problem.seq, problem.problem, check.sound_through
            ),
        ));
    }
    let chain = match (check.chained_from, &check.head_hash) {
        (Some(from), Some(head)) => {
            format!("hash chain intact from seq {from} to the head {head}")
        }
        _ => "no hash chain yet (every event predates it)".to_string(),
    };
    println!(
        "journal of {}: {} events, seqs 1..={} dense, checksums sound, times in order, {chain}",
        check.cluster, check.last_seq, check.last_seq
    );
    if let Some(pinned) = &pinned {
        // The hash of event S is what event S+1 links to, or the head's when S is the last.
        let found = if pinned.seq >= check.last_seq {
            check.head_hash.as_deref().and_then(|h| h.parse().ok())
        } else {
            let page: EventsPage =
                client.get(&format!("/api/v1/events?from={}&limit=1", pinned.seq + 1))?;
            page.events
                .first()
                .filter(|e| e.seq == pinned.seq + 1)
                .and_then(|e| e.prev_hash)
        };
        check_pinned(&check.cluster, pinned, check.last_seq, found)?;
        println!(
            "journal of {}: passes through the pinned head, seq {} hash {}",
            check.cluster, pinned.seq, pinned.hash
        );
    } else if nats.is_none() && check.head_hash.is_some() {
        println!(
            "(the chain vouches for every event before the head; that the head itself and the \
             newest events are the ones written shows only against a pinned head \
             (`journal head`, then `verify --pinned SEQ:HASH`) or the stream (--against-stream))"
        );
    }
    let Some(url) = nats else {
        return Ok(());
    };
    let base = client.base().to_string();
    let tls = crate::client::tls()?;
    let runtime = stream::runtime()?;
    let verdict = runtime.block_on(async {
        let reader = aurora_stream::Reader::connect(&url, &cluster)
            .await
            .map_err(stream::stream_error)?;
        aurora_stream::verify::verify(&reader, journal_pages(base, check.last_seq, &tls))
            .await
            .map_err(stream::stream_error)
    })?;
    let name = aurora_stream::subject::stream_name(&cluster);
    match verdict.difference {
        None => {
            println!(
                "stream {name}: holds exactly the journal's {} events",
                verdict.equal_through
            );
            Ok(())
        }
        Some(difference) => Err(CliError::new(
            ExitCode::CommandFailure,
            format!(
                "stream {name} differs from the journal: {difference} (seqs 1..={} are equal)",
                verdict.equal_through
            ),
        )),
    }
}

/// Has the scheduler check its journal `batch` seqs at a time, up to the last seq it had when
/// the check began; the parts' findings as one (the first problem, where the chain starts,
/// the last hash).
fn check_in_parts(client: &crate::client::Client, batch: u64) -> CliResult<JournalCheck> {
    let mut whole: Option<JournalCheck> = None;
    let mut from = 1;
    loop {
        let limit = match &whole {
            Some(whole) => batch.min(whole.last_seq.saturating_sub(from) + 1),
            None => batch,
        };
        let part: JournalCheck =
            client.get(&format!("/api/v1/journal/verify?from={from}&limit={limit}"))?;
        // A scheduler that checks everything in one request says nothing of parts.
        let checked = part.checked_through.unwrap_or(part.last_seq);
        let mut merged = match whole.take() {
            None => part,
            Some(mut whole) => {
                whole.sound_through = part.sound_through;
                whole.checked_through = Some(checked);
                whole.chained_from = whole.chained_from.or(part.chained_from);
                whole.head_hash = part.head_hash.or(whole.head_hash);
                whole.problem = part.problem;
                whole
            }
        };
        // (A part that checked nothing new ends it too, rather than asking again forever.)
        if merged.problem.is_some() || checked >= merged.last_seq || checked < from {
            merged.checked_through = Some(checked);
            return Ok(merged);
        }
        from = checked + 1;
        whole = Some(merged);
    }
}

/// The journal's envelopes 1..=last, read page by page from the scheduler at `base`.
fn journal_pages(
    base: String,
    last: Seq,
    tls: &aurora_net::ClientTls,
) -> BoxStream<'static, Result<Envelope, String>> {
    const PAGE: u64 = 1000;
    // A scheduler that stops answering fails the check rather than hanging it.
    let http = aurora_net::client(tls, |builder| {
        builder.timeout(std::time::Duration::from_secs(60))
    });
    let authorization = crate::client::authorization_for(&base).ok().flatten();
    futures::stream::unfold(1, move |next| {
        let (http, base, authorization) = (http.clone(), base.clone(), authorization.clone());
        async move {
            if next > last {
                return None;
            }
            let limit = PAGE.min(last - next + 1);
            let url = format!("{base}/api/v1/events?from={next}&limit={limit}");
            let page = async {
                let mut request = http.get(&url);
                if let Some(authorization) = authorization {
                    request = request.header(reqwest::header::AUTHORIZATION, authorization);
                }
                let response = request.send().await.map_err(|e| format!("{url}: {e}"))?;
                if !response.status().is_success() {
                    return Err(format!("{url} answered {}", response.status()));
                }
                response
                    .json::<EventsPage>()
                    .await
                    .map_err(|e| format!("{url}: {e}"))
            };
            match page.await {
                Ok(page) if page.events.is_empty() => Some((
                    vec![Err(format!(
                        "{url} returned no events though the journal reaches {last}"
                    ))],
                    last + 1,
                )),
                Ok(page) => {
                    let next = page.events.last().map_or(last + 1, |e| e.seq + 1);
                    Some((page.events.into_iter().map(Ok).collect(), next))
                }
                Err(e) => Some((vec![Err(e)], last + 1)),
            }
        }
    })
    .flat_map(futures::stream::iter)
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pin_is_seq_colon_hash() {
        let hash = "ab".repeat(32);
        assert_eq!(
            parse_pinned(&format!("12:{hash}")),
            Ok(Pinned {
                seq: 12,
                hash: hash.parse().unwrap()
            })
        );
        for bad in ["12", "x:ab", &format!("0:{hash}"), "12:abc"] {
            assert!(parse_pinned(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_pinned_head_must_still_be_reached_with_its_hash() {
        let pinned = Pinned {
            seq: 12,
            hash: ChainHash([7; 32]),
        };
        assert_eq!(
            check_pinned("c", &pinned, 20, Some(ChainHash([7; 32]))),
            Ok(())
        );
        let altered = check_pinned("c", &pinned, 20, Some(ChainHash([8; 32]))).unwrap_err();
        assert_eq!(altered.code, ExitCode::CommandFailure);
        assert!(
            altered.message.contains("at or before seq 12 was altered"),
            "{}",
            altered.message
        );
        let cut = check_pinned("c", &pinned, 11, None).unwrap_err();
        assert!(
            cut.message
                .contains("ends at seq 11, before the pinned head at seq 12"),
            "{}",
            cut.message
        );
        assert!(
            check_pinned("c", &pinned, 20, None).is_err(),
            "no link to compare"
        );
    }
}
