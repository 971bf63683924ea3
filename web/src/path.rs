//! The path-parameter extractor of every page and API route: axum's, with this project's answer
//! to a path segment that does not decode (`/scheduler/%ff%fe`, not UTF-8). axum's own is a
//! `text/plain` 400 ("Invalid URL: Invalid UTF-8 in `role`"); here, as for a query string
//! ([`crate::query`]), it is the API's JSON error under `/api/` and to clients that do not ask
//! for HTML, and the error page to a browser, both naming what is wrong.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::rejected::Rejected;

/// Deserialized path parameters (see the module's docs).
#[derive(Debug, Clone, Copy, Default)]
pub struct Path<T>(pub T);

impl<T, S> FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = Rejected;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Path(value)),
            Err(rejection) => {
                let status = rejection.status();
                // A 500 is a route whose parameters do not match its handler: ours to fix, and
                // logged, where a 400 is the client's URL.
                if status.is_server_error() {
                    tracing::error!(path = parts.uri.path(), error = %rejection.body_text(), "path parameters do not fit the handler");
                }
                let message = format!("bad URL path: {}", rejection.body_text());
                Err(Rejected::new(parts, status, message))
            }
        }
    }
}
