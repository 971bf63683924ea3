//! `/audit`: the audit trail (who did what, newest first), filterable by user, kind and seq or
//! time range, as `aurora audit` and `GET /api/v1/audit` give it.

use crate::query::Query;
use askama::Template;
use aurora_projections::audit::{AUDIT_KINDS, AuditEntry};
use axum::extract::State;
use axum::response::Response;

use super::{Layout, Moment, PageError, render};
use crate::WebState;
use crate::api::audit::{AuditQuery, at_seq, filter};
use crate::moment::Banner;

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
    let bad = |e: crate::api::Failure| PageError::bad_request(e.1.message);
    let wanted = filter(&state.read, &query).map_err(bad)?;
    let entries = state.read.audit(&wanted);
    // `?at=`: the trail as it stood then (the filter stops there), under the past's banner.
    let moment = match at_seq(&state.read, &query).map_err(bad)? {
        None => Moment {
            banner: None,
            at: String::new(),
        },
        Some(seq) => {
            let time = state
                .read
                .events(seq, seq)
                .ok()
                .and_then(|events| events.first().map(|e| crate::format::time(e.at)));
            Moment {
                banner: Some(Banner::new("/audit", seq, state.read.last_seq(), time)),
                at: format!("?at={seq}"),
            }
        }
    };
    render(&AuditPage {
        layout: moment.layout(&state, "Audit".into(), "audit"),
        entries,
        user: query.user.unwrap_or_default(),
        kind: query.kind.unwrap_or_default(),
        from: query.from.unwrap_or_default(),
        to: query.to.unwrap_or_default(),
        kinds: &AUDIT_KINDS,
    })
}
