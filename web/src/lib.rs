//! # aurora-web
//!
//! The read-only, server-rendered web UI (Aurora's "heads-up display"). [`app`] builds the axum
//! [`Router`]; the scheduler binary serves it, and tests drive it with `oneshot` requests.
//!
//! Today it serves `/health`; the pages (roles, jobs, tasks with lifecycle timelines, updates,
//! quotas, maintenance, live events, `?at=` time travel) come with the projections they read.
//!
//! The UI reads projections only. It must not depend on the journal, the scheduler's write model,
//! storage (`rocksdb`) or messaging (`async-nats`); `ops/check-layering` enforces this.

use axum::Router;
use axum::routing::get;

/// What the pages need from the process serving them.
#[derive(Debug, Clone)]
pub struct WebState {
    /// The cluster's name, shown on every page.
    pub cluster: String,
}

/// The UI's routes.
pub fn app(state: WebState) -> Router {
    Router::new()
        .route("/health", get(health))
        .with_state(state)
}

/// Liveness, as Aurora's `/health`: 200 with body `OK` once the process serves requests.
async fn health() -> &'static str {
    "OK"
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt;

    #[tokio::test]
    async fn health_says_ok() {
        let response = app(WebState {
            cluster: "devcluster".into(),
        })
        .oneshot(Request::get("/health").body(Body::empty()).unwrap())
        .await
        .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let body = axum::body::to_bytes(response.into_body(), 1024)
            .await
            .unwrap();
        assert_eq!(&body[..], b"OK");
    }

    #[tokio::test]
    async fn unknown_pages_are_404() {
        let response = app(WebState {
            cluster: "devcluster".into(),
        })
        .oneshot(Request::get("/nope").body(Body::empty()).unwrap())
        .await
        .unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
    }
}
