//! `GET /api/v1/diff?from=SEQ|TIME&to=SEQ|TIME[&role=R]` (`aurora cluster diff`): what changed
//! between two instants — jobs created and removed, instance counts and configs, quotas,
//! hosts' maintenance — each with who did it, and the configs the changes name (so the client
//! can show a config diff).

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::query::Query;
use aurora_events::{ConfigHash, Seq, TaskConfig};
use aurora_projections::diff::{Before, Change, ChangeKind, DiffBuilder, is_active};
use aurora_projections::{Queries, ReadModel};
use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};

use super::Failure;
use crate::moment::{parse as parse_at, resolve as resolve_at};

/// Events read at a time.
const CHUNK: u64 = 4096;

#[derive(Debug, Deserialize)]
pub(super) struct DiffQuery {
    from: Option<String>,
    to: Option<String>,
    role: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ClusterDiff {
    pub from_seq: Seq,
    pub to_seq: Seq,
    pub changes: Vec<Change>,
    /// Every config a job change names, by hash.
    pub configs: BTreeMap<ConfigHash, TaskConfig>,
}

/// The seq an instant names (`now` or nothing: the last one).
fn resolve(read: &ReadModel, raw: Option<&str>, name: &str) -> Result<Seq, Failure> {
    let requested = parse_at(raw).map_err(|e| Failure::invalid(format!("{name}: {e}")))?;
    resolve_at(read, requested).map_err(Failure::invalid)
}

pub(super) async fn diff(
    State(read): State<Arc<ReadModel>>,
    Query(query): Query<DiffQuery>,
) -> Result<Json<ClusterDiff>, Failure> {
    if query.from.is_none() {
        return Err(Failure::invalid(
            "from is required: a seq or an RFC 3339 time",
        ));
    }
    let from_seq = resolve(&read, query.from.as_deref(), "from")?;
    let to_seq = resolve(&read, query.to.as_deref(), "to")?;
    if to_seq < from_seq {
        return Err(Failure::invalid(format!(
            "to (seq {to_seq}) is before from (seq {from_seq})"
        )));
    }
    let role = query.role.clone();
    let (changes, configs) = tokio::task::spawn_blocking(move || {
        let views = read.past(from_seq).map_err(|e| {
            Failure::internal(format!("replaying the history to seq {from_seq}: {e}"))
        })?;
        let mut builder = DiffBuilder::new(before(&views), role);
        let mut next = from_seq + 1;
        while next <= to_seq {
            let last = (next + CHUNK - 1).min(to_seq);
            let envelopes = read
                .events(next, last)
                .map_err(|e| Failure::internal(format!("reading seqs {next}..={last}: {e}")))?;
            for envelope in &envelopes {
                builder.apply(envelope);
            }
            next = last + 1;
        }
        let changes = builder.finish();
        // The configs the changes name. The views keep every config they were ever given, so
        // the live ones hold them all: no replay to `to` is needed.
        let configs = read.live(|live| {
            let mut configs = BTreeMap::new();
            for change in &changes {
                let hashes = match &change.what {
                    ChangeKind::JobCreated { desired, .. } => vec![desired.config],
                    ChangeKind::JobChanged { from, to, .. } => {
                        from.iter().map(|d| d.config).chain([to.config]).collect()
                    }
                    _ => Vec::new(),
                };
                for hash in hashes {
                    if let Some(config) = live.task_config(&hash) {
                        configs.insert(hash, config);
                    }
                }
            }
            configs
        });
        Ok::<_, Failure>((changes, configs))
    })
    .await
    .map_err(|e| Failure::internal(format!("reading the past failed: {e}")))??;
    Ok(Json(ClusterDiff {
        from_seq,
        to_seq,
        changes,
        configs,
    }))
}

/// What the diff compares against: each job's desired state and active tasks and each role's
/// quota at `from`.
fn before(views: &aurora_projections::Views) -> Before {
    let mut before = Before::default();
    for role in views.roles() {
        let Some(view) = views.role(role.role.as_str()) else {
            continue;
        };
        before.quotas.insert(view.role.clone(), view.quota.quota);
        for job in view.jobs {
            if job.tasks.pending + job.tasks.active > 0
                && let Some(tasks) = views.job(&job.job)
            {
                for task in tasks.active.into_iter().filter(|t| is_active(t.status)) {
                    before
                        .active
                        .insert(task.id, (job.job.clone(), task.instance));
                }
            }
            if let Some(desired) = job.desired {
                before.desired.insert(job.job, desired);
            }
        }
    }
    before
}
