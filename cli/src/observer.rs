//! A blocking client of an agent's observer, for `aurora task run`, `task ssh` and `task scp`:
//! run a command in a task's sandbox (`POST /tasks/T/run`), copy a file out of it
//! (`GET /tasks/T/browse/PATH?download=true`) or into it (`PUT /tasks/T/files/PATH`).
//! The scheduler's task API names each task's observer (`TaskView::observer`).
//!
//! Credentials: what the client would send to the observer's own URL (`AURORA_TOKEN`, its
//! host's `~/.netrc` entry, the dev token on this machine), else what it sends to the
//! cluster's scheduler, since agents check callers against the scheduler's users file; the
//! scheduler's are not used when it is on loopback, so that the dev token never leaves the
//! machine.
//!
//! Refusals become [`CliError`]s with Aurora's exit codes: 30 for credentials and
//! permissions, 6 for a path outside the sandbox, 4 for what is missing or not running, 7 and 9
//! for the network, 10 for anything else the observer said.

use std::io::Write;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use serde::{Deserialize, Serialize};

use crate::client::{authorization_for, blocking_builder};
use crate::exit::{CliError, CliResult, ExitCode};

/// How long a command may take: the observer's own limit (10 minutes) and some.
const RUN_TIMEOUT: Duration = Duration::from_secs(11 * 60);
/// How long a file transfer may take.
const TRANSFER_TIMEOUT: Duration = Duration::from_secs(30 * 60);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// `POST /tasks/T/run`'s body (`aurora_agent::observer::RunRequest`).
#[derive(Debug, Clone, Serialize)]
struct RunRequest<'a> {
    command: &'a str,
}

/// What a command did (`aurora_agent::observer::RunResult`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RunResult {
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub timed_out: bool,
    pub stdout: String,
    pub stderr: String,
    #[serde(default)]
    pub stdout_truncated: bool,
    #[serde(default)]
    pub stderr_truncated: bool,
}

impl RunResult {
    pub fn succeeded(&self) -> bool {
        self.exit_code == Some(0) && !self.timed_out
    }

    /// How it ended, for a failure's message: "exit status 3", "killed by signal 9", ...
    pub fn outcome(&self) -> String {
        match (self.timed_out, self.exit_code, self.signal) {
            (true, _, _) => "timed out and was killed".into(),
            (false, Some(code), _) => format!("exit status {code}"),
            (false, None, Some(signal)) => format!("killed by signal {signal}"),
            (false, None, None) => "ended without a status".into(),
        }
    }
}

/// A refusal's JSON body (`aurora_agent::observer::ErrorBody`).
#[derive(Debug, Clone, Deserialize)]
struct ErrorBody {
    code: String,
    message: String,
}

/// What a sandbox path is, as the observer sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    File,
    Dir,
    Missing,
}

/// One agent's observer.
#[derive(Debug, Clone)]
pub struct Observer {
    http: reqwest::blocking::Client,
    base: String,
    authorization: Option<HeaderValue>,
}

impl Observer {
    /// The observer at `base`, for a task of the cluster whose scheduler is at `scheduler`.
    pub fn new(base: &str, scheduler: &str) -> CliResult<Self> {
        let base = base.trim_end_matches('/').to_string();
        let scheme_ok = base.starts_with("http://") || base.starts_with("https://");
        if !scheme_ok {
            return Err(CliError::new(
                ExitCode::ApiError,
                format!("the scheduler names the observer {base:?}, which is not an http(s) URL"),
            ));
        }
        let scheduler_is_local = aurora_auth::client::url_host(scheduler)
            .is_some_and(|host| aurora_auth::client::is_loopback_host(&host));
        let authorization = match authorization_for(&base)? {
            Some(value) => Some(value),
            None if !scheduler_is_local => authorization_for(scheduler)?,
            None => None,
        };
        let http = blocking_builder()?
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(None::<Duration>)
            .build()
            .map_err(|e| CliError::new(ExitCode::Unknown, format!("HTTP client: {e}")))?;
        Ok(Self {
            http,
            base,
            authorization,
        })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::blocking::RequestBuilder {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(value) = &self.authorization {
            request = request.header(AUTHORIZATION, value.clone());
        }
        request
    }

    /// Runs `command` in `task`'s sandbox.
    pub fn run(&self, task: &str, command: &str) -> CliResult<RunResult> {
        let body = serde_json::to_vec(&RunRequest { command })
            .map_err(|e| CliError::new(ExitCode::Unknown, format!("encoding the command: {e}")))?;
        let response = self
            .request(
                reqwest::Method::POST,
                &format!("/tasks/{}/run", segment(task)),
            )
            .header(CONTENT_TYPE, "application/json")
            .timeout(RUN_TIMEOUT)
            .body(body)
            .send()
            .map_err(|e| self.transport(&e))?;
        let response = self.accepted(response, task, None)?;
        response.json::<RunResult>().map_err(|e| {
            CliError::new(
                ExitCode::ApiError,
                format!("unexpected answer from the observer at {}: {e}", self.base),
            )
        })
    }

    /// Whether `path` (relative to the sandbox) is a file, a directory or nothing. Also the
    /// check before an upload: a refused path (one leading out of the sandbox) is refused here
    /// with the observer's reason, which an upload refused while its body is still being sent
    /// may not get to read.
    pub fn entry(&self, task: &str, path: &str) -> CliResult<Entry> {
        let response = self
            .request(
                reqwest::Method::GET,
                &format!("{}?tail=0", browse_path(task, path)),
            )
            .timeout(TRANSFER_TIMEOUT)
            .send()
            .map_err(|e| self.transport(&e))?;
        if response.status() == StatusCode::NOT_FOUND {
            let error = response.json::<ErrorBody>().ok();
            return match error {
                Some(error) if error.code == "not_found" => Ok(Entry::Missing),
                Some(error) => Err(refusal(
                    StatusCode::NOT_FOUND,
                    &error.code,
                    &error.message,
                    task,
                    Some(path),
                    &self.base,
                )),
                None => Ok(Entry::Missing),
            };
        }
        let response = self.accepted(response, task, Some(path))?;
        Ok(if is_json(&response) {
            Entry::Dir
        } else {
            Entry::File
        })
    }

    /// Copies the file `path` of `task`'s sandbox into `to`; returns its size.
    pub fn download(&self, task: &str, path: &str, to: &mut impl Write) -> CliResult<u64> {
        let mut response = self
            .request(
                reqwest::Method::GET,
                &format!("{}?download=true", browse_path(task, path)),
            )
            .timeout(TRANSFER_TIMEOUT)
            .send()
            .map_err(|e| self.transport(&e))?;
        response = self.accepted(response, task, Some(path))?;
        if is_json(&response) {
            return Err(CliError::invalid_parameter(format!(
                "{path:?} is a directory in the sandbox of {task} (only files are copied)"
            )));
        }
        response.copy_to(to).map_err(|e| {
            CliError::new(
                ExitCode::NetworkError,
                format!("copying {path:?} from the observer at {}: {e}", self.base),
            )
        })
    }

    /// Writes `len` bytes from `file` to `path` in `task`'s sandbox, with permission bits
    /// `mode`.
    pub fn upload(
        &self,
        task: &str,
        path: &str,
        file: std::fs::File,
        len: u64,
        mode: u32,
    ) -> CliResult<()> {
        let url = format!(
            "/tasks/{}/files/{}?mode={mode:o}",
            segment(task),
            segments(path)
        );
        let response = self
            .request(reqwest::Method::PUT, &url)
            .timeout(TRANSFER_TIMEOUT)
            .body(reqwest::blocking::Body::sized(file, len))
            .send()
            .map_err(|e| self.transport(&e))?;
        self.accepted(response, task, Some(path)).map(drop)
    }

    /// The response when it is a success, else the refusal as a [`CliError`].
    fn accepted(
        &self,
        response: reqwest::blocking::Response,
        task: &str,
        path: Option<&str>,
    ) -> CliResult<reqwest::blocking::Response> {
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let (code, message) = match response.json::<ErrorBody>() {
            Ok(error) => (error.code, error.message),
            Err(_) => (String::new(), format!("HTTP {status}")),
        };
        Err(refusal(status, &code, &message, task, path, &self.base))
    }

    fn transport(&self, error: &reqwest::Error) -> CliError {
        if error.is_timeout() {
            CliError::new(
                ExitCode::Timeout,
                format!("the observer at {} did not answer in time", self.base),
            )
        } else {
            let mut source: &dyn std::error::Error = error;
            while let Some(next) = source.source() {
                source = next;
            }
            CliError::new(
                ExitCode::NetworkError,
                format!("cannot reach the observer at {}: {source}", self.base),
            )
        }
    }
}

/// The observer's refusal, worded for the user with Aurora's exit code.
fn refusal(
    status: StatusCode,
    code: &str,
    message: &str,
    task: &str,
    path: Option<&str>,
    base: &str,
) -> CliError {
    let outside = matches!(
        code,
        "escapes_sandbox" | "parent_component" | "absolute_path" | "unresolvable_link"
    );
    if outside {
        let path = path.unwrap_or_default();
        return CliError::invalid_parameter(format!(
            "{path:?} is outside the sandbox of {task}: {message}"
        ));
    }
    let exit = match (status.as_u16(), code) {
        (401 | 403, _) => ExitCode::AuthError,
        (400, _) | (409, "is_a_directory") => ExitCode::InvalidParameter,
        (404 | 409 | 413, _) => ExitCode::CommandFailure,
        _ => ExitCode::ApiError,
    };
    CliError::new(exit, format!("the observer at {base} refused: {message}"))
}

/// A directory listing (JSON), as opposed to a file's bytes.
fn is_json(response: &reqwest::blocking::Response) -> bool {
    response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

/// `/tasks/T/browse/PATH`.
fn browse_path(task: &str, path: &str) -> String {
    format!("/tasks/{}/browse/{}", segment(task), segments(path))
}

/// One URL path segment, percent-encoded (`/` included).
fn segment(text: &str) -> String {
    crate::percent::encode(text)
}

/// A relative path's segments, each percent-encoded, joined by `/`.
fn segments(path: &str) -> String {
    path.split('/').map(segment).collect::<Vec<_>>().join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_percent_encoded_per_segment() {
        assert_eq!(segments("a b/c%d/é"), "a%20b/c%25d/%C3%A9");
        assert_eq!(segment("a/b"), "a%2Fb");
    }

    #[test]
    fn refusals_map_to_aurora_exit_codes() {
        let base = "http://h:1338";
        let escape = refusal(
            StatusCode::FORBIDDEN,
            "escapes_sandbox",
            "m",
            "t",
            Some("x"),
            base,
        );
        assert_eq!(escape.code, ExitCode::InvalidParameter);
        assert!(
            escape.message.contains("outside the sandbox"),
            "{}",
            escape.message
        );
        for (status, code, exit) in [
            (401, "unauthenticated", ExitCode::AuthError),
            (403, "forbidden", ExitCode::AuthError),
            (403, "exec_disabled", ExitCode::AuthError),
            (404, "not_found", ExitCode::CommandFailure),
            (409, "not_running", ExitCode::CommandFailure),
            (409, "is_a_directory", ExitCode::InvalidParameter),
            (413, "too_large", ExitCode::CommandFailure),
            (503, "busy", ExitCode::ApiError),
        ] {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::IM_A_TEAPOT);
            assert_eq!(
                refusal(status, code, "m", "t", None, base).code,
                exit,
                "{code}"
            );
        }
    }
}
