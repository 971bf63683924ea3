//! The answer to a request whose URL does not parse into what its handler takes (a path
//! segment that does not decode, a query string that does not deserialize): the API's JSON
//! error under `/api/` and to clients that do not ask for HTML, the error page to a browser,
//! both naming what is wrong. Shared by [`crate::path`] and [`crate::query`].

use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};

use crate::pages::{PageError, wants_json};

/// A request's URL refused, and how to say so.
#[derive(Debug)]
pub struct Rejected {
    status: StatusCode,
    message: String,
    json: bool,
}

impl Rejected {
    /// `message` with `status`, in the form the request's path and `Accept` ask for.
    pub(crate) fn new(parts: &Parts, status: StatusCode, message: String) -> Self {
        Self {
            status,
            message,
            json: parts.uri.path().starts_with("/api/") || wants_json(&parts.headers),
        }
    }
}

impl IntoResponse for Rejected {
    fn into_response(self) -> Response {
        let mut error = if self.status.is_server_error() {
            PageError::internal(self.message)
        } else {
            PageError::bad_request(self.message)
        };
        error.status = self.status;
        if self.json {
            error.into_json()
        } else {
            error.into_response()
        }
    }
}
