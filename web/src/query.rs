//! The query-string extractor of every page and read API: axum's, with this project's answer
//! to a query string that does not parse (`?at=1&at=2`, `?limit=x`). axum's own is a
//! `text/plain` 400, which a script piping the answer to `jq` cannot read and a browser shows
//! bare; here it is the API's JSON error under `/api/` and to clients that do not ask for
//! HTML, and the error page to a browser, both naming what is wrong.

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::rejected::Rejected;

/// A deserialized query string (see the module's docs).
#[derive(Debug, Clone, Copy, Default)]
pub struct Query<T>(pub T);

impl<T, S> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Rejected;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Query(value)),
            Err(rejection) => {
                let message = format!("bad query string: {}", rejection.body_text());
                Err(Rejected::new(parts, StatusCode::BAD_REQUEST, message))
            }
        }
    }
}
