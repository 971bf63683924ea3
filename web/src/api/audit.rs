//! `GET /api/v1/audit?user=U&from=SEQ|TIME&to=SEQ|TIME&kind=K&limit=N` (`aurora audit`): the
//! audit trail, newest first (see `aurora_projections::audit`). `at=SEQ|TIME`, as on every
//! page, is the trail as it stood then: nothing after it (with `to`, the earlier of the two).

use std::sync::Arc;

use crate::query::Query;
use aurora_projections::ReadModel;
use aurora_projections::audit::{AUDIT_KINDS, AuditEntry, AuditFilter};
use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};

use super::Failure;
use crate::moment::{parse as parse_at, resolve as resolve_at};

/// Most entries one answer holds.
pub const MAX_AUDIT_ENTRIES: usize = 10_000;

#[derive(Debug, Default, Deserialize)]
pub struct AuditQuery {
    pub user: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub kind: Option<String>,
    pub limit: Option<usize>,
    pub at: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Audit {
    pub entries: Vec<AuditEntry>,
}

/// The seq an instant parameter names (`name=SEQ|TIME`), if it is given, or a 400 naming it.
fn instant(read: &ReadModel, raw: Option<&str>, name: &str) -> Result<Option<u64>, Failure> {
    let Some(raw) = raw.filter(|r| !r.trim().is_empty()) else {
        return Ok(None);
    };
    // The shared parser's messages name `?at=`: here they are about `name`.
    let named = |e: String| Failure::invalid(e.replacen("?at=", &format!("{name}="), 1));
    let at = parse_at(Some(raw)).map_err(named)?;
    resolve_at(read, at).map(Some).map_err(named)
}

/// The seq `at=` names, if the query has one.
pub fn at_seq(read: &ReadModel, query: &AuditQuery) -> Result<Option<u64>, Failure> {
    instant(read, query.at.as_deref(), "at")
}

/// The filter a query names, or a 400 naming the bad parameter.
pub fn filter(read: &ReadModel, query: &AuditQuery) -> Result<AuditFilter, Failure> {
    let instant = |raw: Option<&str>, name: &str| instant(read, raw, name);
    if let Some(kind) = query.kind.as_deref().filter(|k| !k.is_empty())
        && !AUDIT_KINDS.contains(&kind)
    {
        return Err(Failure::invalid(format!(
            "kind {kind:?}: expected one of {}",
            AUDIT_KINDS.join(", ")
        )));
    }
    Ok(AuditFilter {
        user: query.user.clone().filter(|u| !u.is_empty()),
        from: instant(query.from.as_deref(), "from")?,
        to: match (instant(query.to.as_deref(), "to")?, at_seq(read, query)?) {
            (Some(to), Some(at)) => Some(to.min(at)),
            (to, at) => to.or(at),
        },
        kind: query.kind.clone().filter(|k| !k.is_empty()),
        limit: query.limit.unwrap_or(100).min(MAX_AUDIT_ENTRIES),
    })
}

pub(super) async fn audit(
    State(read): State<Arc<ReadModel>>,
    Query(query): Query<AuditQuery>,
) -> Result<Json<Audit>, Failure> {
    let filter = filter(&read, &query)?;
    Ok(Json(Audit {
        entries: read.audit(&filter),
    }))
}
