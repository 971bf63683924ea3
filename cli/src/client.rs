//! A blocking client of the scheduler's JSON API: every failure becomes a [`CliError`] with
//! Aurora's exit code (network 7, timeout 9, refused 10).

use std::time::Duration;

use aurora_api::{ApiError, USER_HEADER};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::exit::{CliError, CliResult, ExitCode};

/// How long one API call may take before the command gives up (exit 9).
const CALL_TIMEOUT: Duration = Duration::from_secs(60);

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

    fn send<T: DeserializeOwned>(
        &self,
        path: &str,
        request: reqwest::blocking::RequestBuilder,
    ) -> CliResult<T> {
        let response = request
            .header(USER_HEADER, &self.user)
            .send()
            .map_err(|e| self.transport_error(&e))?;
        let status = response.status();
        if !status.is_success() {
            let error = match response.json::<ApiError>() {
                Ok(error) => format!("{}: {}", error.code, error.message),
                Err(_) => status.to_string(),
            };
            let code = match status.as_u16() {
                401 | 403 => ExitCode::AuthError,
                _ => ExitCode::ApiError,
            };
            return Err(CliError::new(
                code,
                format!("the scheduler refused {path}: {error}"),
            ));
        }
        response.json::<T>().map_err(|e| {
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
