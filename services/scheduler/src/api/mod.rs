//! The JSON API under `/api/v1`, modelled on Aurora's RPC surface. Every mutation answers with
//! the journal seqs it committed (read-your-writes); errors are `{"code", "message"}` with a
//! 4xx naming what was wrong, and nothing is journaled for a rejected request.

mod admin;
mod agents;
mod cron;
mod jobs;
mod journal;
pub mod metrics;
mod updates;
pub mod vars;

use std::sync::Arc;

use aurora_journal::SeqRange;
use aurora_scheduler_core::Rejection;
use axum::Json;
use axum::Router;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

pub use aurora_api::{
    AgentRegistration, ApiError, Committed, Heartbeat, LaunchSpec, StatusReport, USER_HEADER,
};
pub use aurora_api::{CreateJob, JobSummary, TaskView};
pub use journal::{EventsPage, JournalInfo, MAX_EVENTS_PER_PAGE};

use crate::runtime::{Runtime, SubmitError};

/// Every API route.
pub fn router(runtime: Runtime) -> Router {
    Router::new()
        .merge(journal::router(Arc::clone(runtime.journal())))
        .merge(jobs::router(runtime.clone()))
        .merge(cron::router(runtime.clone()))
        .merge(aurora_web::api::router(Arc::clone(runtime.read_model())))
        .merge(admin::router(runtime.clone()))
        .merge(updates::router(runtime.clone()))
        .merge(agents::router(runtime.clone()))
        .route(
            "/leaderhealth",
            axum::routing::get(leader_health).with_state(runtime),
        )
        // Unknown API paths answer in the API's own error shape, not with the UI's HTML page.
        .route("/api/{*rest}", axum::routing::any(unknown_endpoint))
}

/// Aurora's `/leaderhealth`: 200 `OK` on the replica that leads (and has started leading),
/// 503 on every other, so that a load balancer or a script finds the leader.
async fn leader_health(
    axum::extract::State(runtime): axum::extract::State<Runtime>,
) -> (StatusCode, &'static str) {
    if runtime.is_leader() {
        (StatusCode::OK, "OK\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not the leader\n")
    }
}

async fn unknown_endpoint(uri: axum::http::Uri) -> Failure {
    Failure::not_found(format!("no API endpoint at {}", uri.path()))
}

/// An error response.
#[derive(Debug)]
pub struct Failure(pub StatusCode, pub ApiError);

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        (self.0, Json(self.1)).into_response()
    }
}

impl Failure {
    pub fn invalid(message: impl Into<String>) -> Self {
        Failure(
            StatusCode::BAD_REQUEST,
            ApiError {
                code: "INVALID_REQUEST".into(),
                message: message.into(),
            },
        )
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Failure(
            StatusCode::INTERNAL_SERVER_ERROR,
            ApiError {
                code: "ERROR".into(),
                message: message.into(),
            },
        )
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Failure(
            StatusCode::NOT_FOUND,
            ApiError {
                code: "NOT_FOUND".into(),
                message: message.into(),
            },
        )
    }
}

/// A body refused before it was read whole: too large (413) or unreadable (400), always in
/// the API's JSON error shape.
fn body_failure(status: StatusCode, text: String) -> Failure {
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        Failure(
            status,
            ApiError {
                code: "REQUEST_TOO_LARGE".into(),
                message: format!("the request body is too large: {text}"),
            },
        )
    } else {
        Failure::invalid(format!("malformed request body: {text}"))
    }
}

impl From<JsonRejection> for Failure {
    fn from(rejection: JsonRejection) -> Self {
        body_failure(rejection.status(), rejection.body_text())
    }
}

impl From<axum::extract::rejection::BytesRejection> for Failure {
    fn from(rejection: axum::extract::rejection::BytesRejection) -> Self {
        body_failure(rejection.status(), rejection.body_text())
    }
}

impl Failure {
    fn unavailable(code: &str, message: impl Into<String>) -> Self {
        Failure(
            StatusCode::SERVICE_UNAVAILABLE,
            ApiError {
                code: code.into(),
                message: message.into(),
            },
        )
    }
}

/// The read half's and the gate's refusals, in the same shape.
impl From<aurora_web::api::Failure> for Failure {
    fn from(failure: aurora_web::api::Failure) -> Self {
        Failure(failure.0, failure.1)
    }
}

impl From<SubmitError> for Failure {
    fn from(error: SubmitError) -> Self {
        match error {
            SubmitError::Rejected(rejection) => rejection.into(),
            SubmitError::Journal(e) => e.into(),
            SubmitError::NotLeader { .. } => {
                Failure::unavailable("NOT_LEADER", format!("{error}; send writes to the leader"))
            }
            SubmitError::NotApplied(e) => {
                tracing::error!(error = %e, "committed events not applied");
                match e {
                    crate::replica::ApplyError::Faulted(_) => Failure(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        ApiError {
                            code: "JOURNAL_DAMAGED".into(),
                            message: e.to_string(),
                        },
                    ),
                    crate::replica::ApplyError::Lagging { .. } => {
                        Failure::unavailable("ERROR_TRANSIENT", e.to_string())
                    }
                }
            }
            SubmitError::ShuttingDown => {
                Failure::unavailable("ERROR_TRANSIENT", "the scheduler is shutting down")
            }
        }
    }
}

/// The code of a write that was sent on but not confirmed: it may yet be carried out.
pub const OUTCOME_UNKNOWN: &str = "OUTCOME_UNKNOWN";

/// A journal error as the API answers it: what the caller can do decides the status. A
/// damaged journal is a 500 with its own code, never a "try again" 503.
impl From<aurora_journal::Error> for Failure {
    fn from(e: aurora_journal::Error) -> Self {
        use aurora_journal::Recovery;
        tracing::error!(error = %e, "journal failure");
        if let aurora_journal::Error::Unconfirmed(_) = e {
            // Not a "try again": it may still be carried out, and a client that sent it
            // elsewhere could have it done twice.
            return Failure(
                StatusCode::GATEWAY_TIMEOUT,
                ApiError {
                    code: OUTCOME_UNKNOWN.into(),
                    message: format!("{e}; check whether it was carried out before repeating it"),
                },
            );
        }
        match e.recovery() {
            Recovery::Retry => {
                Failure::unavailable("ERROR_TRANSIENT", format!("the journal failed: {e}"))
            }
            Recovery::Redirect => Failure::unavailable(
                "NOT_LEADER",
                format!("{e}; this scheduler no longer leads: send writes to the leader"),
            ),
            Recovery::Stop => Failure(
                StatusCode::INTERNAL_SERVER_ERROR,
                ApiError {
                    code: "JOURNAL_DAMAGED".into(),
                    message: format!(
                        "the journal cannot be used: {e}; the operator must repair or restore it"
                    ),
                },
            ),
            Recovery::FixRequest => Failure(
                StatusCode::INTERNAL_SERVER_ERROR,
                ApiError {
                    code: "INTERNAL_ERROR".into(),
                    message: format!("the scheduler made a bad journal request: {e}"),
                },
            ),
        }
    }
}

impl From<Rejection> for Failure {
    fn from(rejection: Rejection) -> Self {
        let message = rejection.to_string();
        match rejection {
            Rejection::UnknownJob(_) | Rejection::UnknownTask(_) | Rejection::UnknownAgent(_) => {
                Failure::not_found(message)
            }
            Rejection::JobUpdating(_) => Failure(
                StatusCode::CONFLICT,
                ApiError {
                    code: "JOB_UPDATING_ERROR".into(),
                    message,
                },
            ),
            Rejection::AgentBoundElsewhere { .. } | Rejection::HostBoundElsewhere { .. } => {
                Failure(
                    StatusCode::FORBIDDEN,
                    ApiError {
                        code: crate::auth::AUTH_FAILED.into(),
                        message,
                    },
                )
            }
            Rejection::IllegalTransition { .. } => Failure(
                StatusCode::CONFLICT,
                ApiError {
                    code: "INVALID_REQUEST".into(),
                    message,
                },
            ),
            Rejection::UpdateInProgress(_) => Failure(
                StatusCode::CONFLICT,
                ApiError {
                    code: "INVALID_REQUEST".into(),
                    message,
                },
            ),
            Rejection::InvalidRequest(_)
            | Rejection::JobExists(_)
            | Rejection::InsufficientQuota(_)
            | Rejection::UpdateUnchanged
            | Rejection::NoActiveUpdate(_)
            | Rejection::UpdateNotActive(_) => Failure::invalid(message),
        }
    }
}

/// Parses an optional JSON body: empty means `T::default()`.
pub fn optional_json<T: serde::de::DeserializeOwned + Default>(body: &[u8]) -> Result<T, Failure> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body)
        .map_err(|e| Failure::invalid(format!("malformed request body: {e}")))
}

/// The answer to a mutation that committed `range` (if anything).
pub fn committed(range: Option<SeqRange>, message: Option<String>) -> Committed {
    Committed {
        first_seq: range.map(|r| r.first),
        last_seq: range.map(|r| r.last),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What each kind of journal failure answers: a damaged journal is never "try again".
    #[test]
    fn journal_errors_answer_by_what_the_caller_can_do() {
        let damaged = Failure::from(aurora_journal::Error::Damaged("seq 7 is missing".into()));
        assert_eq!(damaged.0, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(damaged.1.code, "JOURNAL_DAMAGED");
        assert!(
            damaged.1.message.contains("seq 7 is missing"),
            "{damaged:?}"
        );
        let full = Failure::from(aurora_journal::Error::Storage("No space left".into()));
        assert_eq!(
            (full.0, full.1.code.as_str()),
            (StatusCode::SERVICE_UNAVAILABLE, "ERROR_TRANSIENT")
        );
        // Proposed but not confirmed in time: it may yet commit, so never "send it elsewhere".
        let unconfirmed = Failure::from(SubmitError::from(aurora_journal::Error::Unconfirmed(
            "not committed within 10s".into(),
        )));
        assert_eq!(
            (unconfirmed.0, unconfirmed.1.code.as_str()),
            (StatusCode::GATEWAY_TIMEOUT, OUTCOME_UNKNOWN)
        );
        assert!(
            unconfirmed.1.message.contains("before repeating it"),
            "{unconfirmed:?}"
        );
        let deposed = Failure::from(SubmitError::from(aurora_journal::Error::NotLeader {
            term: 1,
            current: 2,
        }));
        assert_eq!(
            (deposed.0, deposed.1.code.as_str()),
            (StatusCode::SERVICE_UNAVAILABLE, "NOT_LEADER")
        );
        let stopped = Failure::from(SubmitError::NotApplied(
            crate::replica::ApplyError::Faulted("seq 9 cannot be decoded".into()),
        ));
        assert_eq!(
            (stopped.0, stopped.1.code.as_str()),
            (StatusCode::INTERNAL_SERVER_ERROR, "JOURNAL_DAMAGED")
        );
    }
}
