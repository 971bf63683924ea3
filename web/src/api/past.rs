//! The read API in the past: `at=SEQ` or `at=RFC3339` on the reads that take it (job list,
//! a job's tasks, a task's history, quota, an update) answers from the views right after that
//! event (for a time, the last event committed at or before it), exactly as the web UI's
//! `?at=` shows them. Without `at` (or `at=now`), the live views.

use std::sync::Arc;

use crate::path::Path;
use crate::query::Query;
use aurora_events::TaskId;
use aurora_projections::{Queries, ReadModel, TaskView, Views};
use axum::Json;
use axum::extract::State;
use serde::Deserialize;

use super::Failure;
use crate::moment::{Requested, parse as parse_at, resolve as resolve_at};

/// The `at` query parameter.
#[derive(Debug, Default, Clone, Deserialize)]
pub(super) struct At {
    pub at: Option<String>,
}

impl At {
    /// Whether the live views are asked for.
    pub fn is_live(&self) -> bool {
        matches!(parse_at(self.at.as_deref()), Ok(Requested::Live))
    }
}

/// Runs `query` on the views `at` names, off the async threads.
pub(super) async fn views_at<R, F>(read: &Arc<ReadModel>, at: &At, query: F) -> Result<R, Failure>
where
    F: FnOnce(&Views) -> R + Send + 'static,
    R: Send + 'static,
{
    let requested = parse_at(at.at.as_deref()).map_err(Failure::invalid)?;
    let read = Arc::clone(read);
    if requested == Requested::Live {
        return Ok(read.live_off_thread(query).await);
    }
    tokio::task::spawn_blocking(move || {
        let seq = resolve_at(&read, requested).map_err(Failure::invalid)?;
        let views = read.past(seq).map_err(|e| {
            tracing::error!(error = %e, seq, "replaying the history failed");
            Failure::internal(format!("replaying the history to seq {seq}: {e}"))
        })?;
        Ok(query(&views))
    })
    .await
    .map_err(|e| Failure::internal(format!("reading the past failed: {e}")))?
}

/// `GET /api/v1/tasks/{id}/history[?at=]`: the task and the tasks it was rescheduled from,
/// newest first, each with every state it entered (time, actor, host, message, seq).
pub(super) async fn task_history(
    State(read): State<Arc<ReadModel>>,
    Path(id): Path<String>,
    Query(at): Query<At>,
) -> Result<Json<Vec<TaskView>>, Failure> {
    let wanted = TaskId::from_raw(id.clone());
    let chain = views_at(&read, &at, move |v| {
        let task = v.task(&wanted)?;
        let ancestors: Vec<TaskView> = task.ancestors.iter().filter_map(|a| v.task(a)).collect();
        Some(std::iter::once(task).chain(ancestors).collect::<Vec<_>>())
    })
    .await?;
    chain.map(Json).ok_or_else(|| {
        Failure::not_found(format!(
            "no such task: {id} (it may never have existed, or have been pruned)"
        ))
    })
}
