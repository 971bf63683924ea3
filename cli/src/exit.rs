//! Aurora's client exit codes, and the one error type every command returns.

use std::fmt;

/// The process exit codes of Aurora's `aurora` and `aurora_admin` clients
/// (`client/cli/__init__.py`), which scripts around the client rely on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    Ok = 0,
    /// The config file does not load or is not valid.
    InvalidConfig = 3,
    /// The command ran and did not achieve what it was asked to.
    CommandFailure = 4,
    /// No such command, or misused options.
    InvalidCommand = 5,
    /// An argument is malformed (a job key, an instance spec, a unit).
    InvalidParameter = 6,
    /// The scheduler could not be reached.
    NetworkError = 7,
    Timeout = 9,
    /// The scheduler refused the request.
    ApiError = 10,
    Unknown = 20,
    AuthError = 30,
    Interrupted = 130,
}

impl ExitCode {
    pub fn code(self) -> i32 {
        self as i32
    }
}

/// Why a command failed: the exit code to leave with and a message for stderr.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct CliError {
    pub code: ExitCode,
    pub message: String,
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl CliError {
    pub fn new(code: ExitCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    pub fn invalid_parameter(message: impl Into<String>) -> Self {
        Self::new(ExitCode::InvalidParameter, message)
    }

    pub fn invalid_config(message: impl Into<String>) -> Self {
        Self::new(ExitCode::InvalidConfig, message)
    }

    pub fn failure(message: impl Into<String>) -> Self {
        Self::new(ExitCode::CommandFailure, message)
    }
}

impl From<crate::keys::KeyError> for CliError {
    fn from(error: crate::keys::KeyError) -> Self {
        Self::invalid_parameter(error.to_string())
    }
}

/// What every command returns.
pub type CliResult<T = ()> = Result<T, CliError>;
