//! A blocking client of the scheduler's JSON API: every failure becomes a [`CliError`] with
//! Aurora's exit code (network 7, timeout 9, refused 10).

use std::time::Duration;

use aurora_api::{ApiError, USER_HEADER};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::exit::{CliError, CliResult, ExitCode};

/// How long one API call may take before the command gives up (exit 9).
const CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// The scheduler said no: its HTTP status and, when it sent one, its [`ApiError`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub http_status: u16,
    pub error: Option<ApiError>,
    /// The HTTP status line, for when the body is not an [`ApiError`].
    pub reason: String,
}

impl Refusal {
    /// Aurora's exit code for a refused call: 30 for authentication, else 10 (API error).
    pub fn exit_code(&self) -> ExitCode {
        match self.http_status {
            401 | 403 => ExitCode::AuthError,
            _ => ExitCode::ApiError,
        }
    }

    /// The scheduler's message alone (Aurora's `combine_messages`), or the HTTP status.
    pub fn message(&self) -> &str {
        self.error
            .as_ref()
            .map_or(self.reason.as_str(), |e| e.message.as_str())
    }

    /// The scheduler's error code (`INVALID_REQUEST`, `JOB_UPDATING_ERROR`, ...), if any.
    pub fn code(&self) -> Option<&str> {
        self.error.as_ref().map(|e| e.code.as_str())
    }

    pub fn is_not_found(&self) -> bool {
        self.http_status == 404
    }

    /// Aurora's `log_response_and_raise`: the verb's own headline, the scheduler's message on
    /// the next line after a tab, and for a job locked by an update, what to do about it.
    pub fn aurora_error(&self, headline: &str) -> CliError {
        let mut message = format!("{headline}\n\t{}", self.message());
        if self.code() == Some(JOB_UPDATING_ERROR) {
            message.push_str("\n\t");
            message.push_str(JOB_UPDATING_ADVICE);
        }
        CliError::new(self.exit_code(), message)
    }
}

/// The scheduler's code for a command refused because an update owns the job.
pub const JOB_UPDATING_ERROR: &str = "JOB_UPDATING_ERROR";

/// What Aurora's client adds to a `JOB_UPDATING_ERROR` (`context.py`).
const JOB_UPDATING_ADVICE: &str = "Error: job is locked by an active update.
      Run 'aurora update abort' or wait for the active update to finish.";

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.error {
            Some(error) => write!(f, "{}: {}", error.code, error.message),
            None => f.write_str(&self.reason),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::blocking::Client,
    base: String,
    user: String,
}

impl Client {
    /// `base` is the scheduler's URL; `user` is sent as the acting user of every mutation.
    pub fn new(base: &str, user: &str) -> CliResult<Self> {
        let http = reqwest::blocking::Client::builder()
            .timeout(CALL_TIMEOUT)
            .build()
            .map_err(|e| CliError::new(ExitCode::Unknown, format!("HTTP client: {e}")))?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_string(),
            user: user.to_string(),
        })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn get<T: DeserializeOwned>(&self, path: &str) -> CliResult<T> {
        let request = self.http.get(self.url(path));
        self.send(path, request)
    }

    pub fn post<T: DeserializeOwned>(&self, path: &str, body: &impl Serialize) -> CliResult<T> {
        let request = self.http.post(self.url(path)).json(body);
        self.send(path, request)
    }

    pub fn put<T: DeserializeOwned>(&self, path: &str, body: &impl Serialize) -> CliResult<T> {
        let request = self.http.put(self.url(path)).json(body);
        self.send(path, request)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Like [`Client::get`], but hands back the scheduler's refusal (a non-2xx answer) for the
    /// caller to word, as Aurora's client words each verb's failure itself.
    pub fn try_get<T: DeserializeOwned>(&self, path: &str) -> CliResult<Result<T, Refusal>> {
        let request = self.http.get(self.url(path));
        self.exchange(path, request)
    }

    /// Like [`Client::post`], but hands back the scheduler's refusal for the caller to word.
    pub fn try_post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> CliResult<Result<T, Refusal>> {
        let request = self.http.post(self.url(path)).json(body);
        self.exchange(path, request)
    }

    fn send<T: DeserializeOwned>(
        &self,
        path: &str,
        request: reqwest::blocking::RequestBuilder,
    ) -> CliResult<T> {
        self.exchange(path, request)?.map_err(|refusal| {
            CliError::new(
                refusal.exit_code(),
                format!("the scheduler refused {path}: {refusal}"),
            )
        })
    }

    /// Sends a request: transport failures and unreadable answers are errors; a refusal is
    /// the inner `Err`.
    fn exchange<T: DeserializeOwned>(
        &self,
        path: &str,
        request: reqwest::blocking::RequestBuilder,
    ) -> CliResult<Result<T, Refusal>> {
        let response = request
            .header(USER_HEADER, &self.user)
            .send()
            .map_err(|e| self.transport_error(&e))?;
        let status = response.status();
        if !status.is_success() {
            let error = response.json::<ApiError>().ok();
            return Ok(Err(Refusal {
                http_status: status.as_u16(),
                error,
                reason: status.to_string(),
            }));
        }
        response.json::<T>().map(Ok).map_err(|e| {
            CliError::new(
                ExitCode::ApiError,
                format!("unexpected answer from {}{path}: {e}", self.base),
            )
        })
    }

    fn transport_error(&self, error: &reqwest::Error) -> CliError {
        if error.is_timeout() {
            CliError::new(
                ExitCode::Timeout,
                format!("the scheduler at {} did not answer in time", self.base),
            )
        } else {
            CliError::new(
                ExitCode::NetworkError,
                format!(
                    "cannot reach the scheduler at {}: is it running? ({error})",
                    self.base
                ),
            )
        }
    }
}
