//! `GET /api/v1/tasks/{id}/why[?at=]`: the causal chain behind a task's latest transition
//! (as of `at`), from the events' cause links: the transition, the event that caused it, what
//! caused that, and so on back to an event with no cause (typically a user's command).
//!
//! A cause is found by its id: ids are UUID v7 made when the cause was decided, and a decision
//! is committed no earlier than it was made, so the cause lies after the last event committed
//! before its id's millisecond, and before its effect. That window is searched, never the
//! whole journal.

use std::sync::Arc;

use crate::path::Path;
use crate::query::Query;
use aurora_events::{Envelope, EventId, Seq, TaskId, Timestamp};
use aurora_projections::{Queries, ReadModel};
use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};

use super::Failure;
use super::past::{At, views_at};

/// Most events read to answer one question, over the whole chain (a request cannot make the
/// scheduler read the journal without bound).
const MAX_SEARCH: u64 = 1_000_000;
/// Events read at a time while searching.
const CHUNK: u64 = 1024;
/// Longest chain followed (a cycle cannot happen, causes come first; this bounds the work).
const MAX_LINKS: usize = 64;

/// The answer: the chain, effect first, and the cause that could not be found, if any.
#[derive(Debug, Serialize, Deserialize)]
pub struct Why {
    pub task: String,
    pub chain: Vec<Envelope>,
    pub missing_cause: Option<EventId>,
}

pub(super) async fn why(
    State(read): State<Arc<ReadModel>>,
    Path(id): Path<String>,
    Query(at): Query<At>,
) -> Result<Json<Why>, Failure> {
    let wanted = TaskId::from_raw(id.clone());
    let latest = views_at(&read, &at, move |v| {
        v.task(&wanted)
            .and_then(|t| t.timeline.last().map(|e| e.seq))
    })
    .await?
    .ok_or_else(|| {
        Failure::not_found(format!(
            "no such task: {id} (it may never have existed, or have been pruned)"
        ))
    })?;
    // The search reads events back from the history's source (the journal, or the stream):
    // blocking reads, off the async threads.
    let (chain, missing_cause) = tokio::task::spawn_blocking(move || follow_causes(&read, latest))
        .await
        .map_err(|e| Failure::internal(format!("following causes failed: {e}")))??;
    Ok(Json(Why {
        task: id,
        chain,
        missing_cause,
    }))
}

/// The chain from the event at `latest` back through its causes, and the first cause that
/// could not be found within the search budget.
fn follow_causes(
    read: &ReadModel,
    latest: Seq,
) -> Result<(Vec<Envelope>, Option<EventId>), Failure> {
    let mut chain = vec![read_one(read, latest)?];
    let mut missing_cause = None;
    let mut budget = MAX_SEARCH;
    while chain.len() < MAX_LINKS {
        let Some(effect) = chain.last() else { break };
        let Some(cause) = effect.cause else { break };
        match find(read, cause, effect.seq, &mut budget)? {
            Some(found) => chain.push(found),
            None => {
                missing_cause = Some(cause);
                break;
            }
        }
    }
    Ok((chain, missing_cause))
}

fn read_one(read: &ReadModel, seq: Seq) -> Result<Envelope, Failure> {
    read.events(seq, seq)
        .map_err(|e| Failure::internal(format!("reading seq {seq}: {e}")))?
        .into_iter()
        .next()
        .ok_or_else(|| Failure::internal(format!("the history has no seq {seq}")))
}

/// The event `id`, committed before seq `before`, reading at most `budget` events (which it
/// spends).
fn find(
    read: &ReadModel,
    id: EventId,
    before: Seq,
    budget: &mut u64,
) -> Result<Option<Envelope>, Failure> {
    let made =
        id.0.get_timestamp()
            .map(|t| {
                let (secs, nanos) = t.to_unix();
                i64::try_from(secs).unwrap_or(i64::MAX).saturating_mul(1000)
                    + i64::from(nanos / 1_000_000)
            })
            .unwrap_or(0);
    let committed_before = read.seq_at(Timestamp::from_millis(made.saturating_sub(1)));
    let first = (committed_before + 1).max(before.saturating_sub(*budget));
    let mut next = first;
    while next < before {
        let last = (next + CHUNK - 1).min(before - 1);
        let envelopes = read
            .events(next, last)
            .map_err(|e| Failure::internal(format!("reading seqs {next}..={last}: {e}")))?;
        *budget = budget.saturating_sub(last - next + 1);
        if let Some(found) = envelopes.into_iter().find(|e| e.id == id) {
            return Ok(Some(found));
        }
        next = last + 1;
    }
    Ok(None)
}
