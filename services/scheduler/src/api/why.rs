//! `GET /api/v1/tasks/{id}/why[?at=]`: the causal chain behind a task's latest transition
//! (as of `at`), from the events' cause links: the transition, the event that caused it, what
//! caused that, and so on back to an event with no cause (typically a user's command).
//!
//! A cause is found by its id: ids are UUID v7 made when the cause was decided, and a decision
//! is committed no earlier than it was made, so the cause lies after the last event committed
//! before its id's millisecond, and before its effect. That window is searched, never the
//! whole journal.

use aurora_events::{Envelope, EventId, Seq, TaskId, Timestamp};
use aurora_journal::{Journal, SeqRange};
use aurora_projections::Queries;
use axum::Json;
use axum::extract::{Path, Query, State};
use serde::{Deserialize, Serialize};

use super::Failure;
use super::past::{At, views_at};
use crate::runtime::Runtime;

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
    State(runtime): State<Runtime>,
    Path(id): Path<String>,
    Query(at): Query<At>,
) -> Result<Json<Why>, Failure> {
    let wanted = TaskId::from_raw(id.clone());
    let latest = views_at(&runtime, &at, move |v| {
        v.task(&wanted)
            .and_then(|t| t.timeline.last().map(|e| e.seq))
    })
    .await?
    .ok_or_else(|| {
        Failure::not_found(format!(
            "no such task: {id} (it may never have existed, or have been pruned)"
        ))
    })?;
    let journal = runtime.journal();
    let mut chain = vec![read_one(journal.as_ref(), latest).await?];
    let mut missing_cause = None;
    let mut budget = MAX_SEARCH;
    while chain.len() < MAX_LINKS {
        let Some(effect) = chain.last() else { break };
        let Some(cause) = effect.cause else { break };
        match find(journal.as_ref(), cause, effect.seq, &mut budget).await? {
            Some(found) => chain.push(found),
            None => {
                missing_cause = Some(cause);
                break;
            }
        }
    }
    Ok(Json(Why {
        task: id,
        chain,
        missing_cause,
    }))
}

async fn read_one(journal: &dyn Journal, seq: Seq) -> Result<Envelope, Failure> {
    journal
        .read(SeqRange::new(seq, seq))
        .await
        .map_err(|e| Failure::internal(format!("reading seq {seq}: {e}")))?
        .into_iter()
        .next()
        .ok_or_else(|| Failure::internal(format!("the journal has no seq {seq}")))
}

/// The event `id`, committed before seq `before`, reading at most `budget` events (which it
/// spends).
async fn find(
    journal: &dyn Journal,
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
    let committed_before = journal
        .seq_at(Timestamp::from_millis(made.saturating_sub(1)))
        .await
        .map_err(|e| Failure::internal(format!("looking up a time: {e}")))?
        .unwrap_or(0);
    let first = (committed_before + 1).max(before.saturating_sub(*budget));
    let mut next = first;
    while next < before {
        let range = SeqRange::new(next, (next + CHUNK - 1).min(before - 1));
        let envelopes = journal.read(range).await.map_err(|e| {
            Failure::internal(format!(
                "reading seqs {}..={}: {e}",
                range.first, range.last
            ))
        })?;
        *budget = budget.saturating_sub(range.len());
        if let Some(found) = envelopes.into_iter().find(|e| e.id == id) {
            return Ok(Some(found));
        }
        next = range.last + 1;
    }
    Ok(None)
}
