//! `/audit`: the audit trail (who did what, newest first), filterable by user, kind and seq or
//! time range, as `aurora audit` and `GET /api/v1/audit` give it.

use crate::query::Query;
use askama::Template;
use aurora_projections::audit::{AUDIT_KINDS, AuditEntry};
use axum::extract::State;
use axum::response::Response;

use super::{Layout, Moment, PageError, render};
use crate::WebState;
use crate::api::audit::{AuditQuery, filter};

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    layout: Layout,
    entries: Vec<AuditEntry>,
    user: String,
    kind: String,
    from: String,
    to: String,
    kinds: &'static [&'static str],
}

pub async fn page(
    State(state): State<WebState>,
    Query(query): Query<AuditQuery>,
) -> Result<Response, PageError> {
    let wanted = filter(&state.read, &query).map_err(|e| PageError::bad_request(e.1.message))?;
    let entries = state.read.audit(&wanted);
    let live = Moment {
        banner: None,
        at: String::new(),
    };
    render(&AuditPage {
        layout: live.layout(&state, "Audit".into(), "audit"),
        entries,
        user: query.user.unwrap_or_default(),
        kind: query.kind.unwrap_or_default(),
        from: query.from.unwrap_or_default(),
        to: query.to.unwrap_or_default(),
        kinds: &AUDIT_KINDS,
    })
}
