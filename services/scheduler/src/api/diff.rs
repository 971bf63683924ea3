//! `GET /api/v1/diff?from=SEQ|TIME&to=SEQ|TIME[&role=R]` (`aurora cluster diff`): what changed
//! between two instants — jobs created and removed, instance counts and configs, quotas,
//! hosts' maintenance — each with who did it, and the configs the changes name (so the client
//! can show a config diff).

use std::collections::BTreeMap;

use aurora_events::{ConfigHash, Seq, TaskConfig};
use aurora_journal::SeqRange;
use aurora_projections::Queries;
use aurora_projections::diff::{Before, Change, ChangeKind, DiffBuilder};
use axum::Json;
use axum::extract::{Query, State};
use serde::{Deserialize, Serialize};

use super::Failure;
use crate::runtime::Runtime;

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
fn resolve(runtime: &Runtime, raw: Option<&str>, name: &str) -> Result<Seq, Failure> {
    let requested =
        aurora_web::parse_at(raw).map_err(|e| Failure::invalid(format!("{name}: {e}")))?;
    aurora_web::resolve_at(runtime.read_model(), requested).map_err(Failure::invalid)
}

pub(super) async fn diff(
    State(runtime): State<Runtime>,
    Query(query): Query<DiffQuery>,
) -> Result<Json<ClusterDiff>, Failure> {
    if query.from.is_none() {
        return Err(Failure::invalid(
            "from is required: a seq or an RFC 3339 time",
        ));
    }
    let from_seq = resolve(&runtime, query.from.as_deref(), "from")?;
    let to_seq = resolve(&runtime, query.to.as_deref(), "to")?;
    if to_seq < from_seq {
        return Err(Failure::invalid(format!(
            "to (seq {to_seq}) is before from (seq {from_seq})"
        )));
    }
    let read = std::sync::Arc::clone(runtime.read_model());
    let before = tokio::task::spawn_blocking(move || {
        let views = read.past(from_seq)?;
        let mut before = Before::default();
        for role in views.roles() {
            let Some(view) = views.role(role.role.as_str()) else {
                continue;
            };
            before.quotas.insert(view.role.clone(), view.quota.quota);
            for job in view.jobs {
                if let Some(desired) = job.desired {
                    before.desired.insert(job.job, desired);
                }
            }
        }
        Ok::<_, aurora_projections::Error>(before)
    })
    .await
    .map_err(|e| Failure::internal(format!("reading the past failed: {e}")))?
    .map_err(|e| Failure::internal(format!("replaying the journal to seq {from_seq}: {e}")))?;
    let mut builder = DiffBuilder::new(before, query.role.clone());
    let journal = runtime.journal();
    let mut next = from_seq + 1;
    while next <= to_seq {
        let range = SeqRange::new(next, (next + CHUNK - 1).min(to_seq));
        let envelopes = journal.read(range).await.map_err(|e| {
            Failure::internal(format!(
                "reading seqs {}..={}: {e}",
                range.first, range.last
            ))
        })?;
        for envelope in &envelopes {
            builder.apply(envelope);
        }
        next = range.last + 1;
    }
    let changes = builder.finish();
    let mut configs = BTreeMap::new();
    {
        let state = runtime.state();
        for change in &changes {
            let hashes = match &change.what {
                ChangeKind::JobCreated { desired, .. } => vec![desired.config],
                ChangeKind::JobChanged { from, to, .. } => {
                    from.iter().map(|d| d.config).chain([to.config]).collect()
                }
                _ => Vec::new(),
            };
            for hash in hashes {
                if let Some(config) = state.config(&hash) {
                    configs.insert(hash, config.clone());
                }
            }
        }
    }
    Ok(Json(ClusterDiff {
        from_seq,
        to_seq,
        changes,
        configs,
    }))
}
