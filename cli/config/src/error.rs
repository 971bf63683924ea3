//! The crate's one error type: what is wrong with a config, and where.

use std::fmt;

use crate::value::Origin;

/// A config that cannot be loaded: the file, 1-based line and column, and what is wrong.
///
/// Displays as `file:line:col: message`. Line 0 means there is no position to point at (a job
/// key that is not in the file, a semantic error in `--read-json` input); such errors display
/// as `file: message`, or just the message when `file` is empty.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    pub file: String,
    pub line: u32,
    pub column: u32,
    pub message: String,
}

impl ConfigError {
    pub fn new(file: &str, line: u32, column: u32, message: impl Into<String>) -> Self {
        Self {
            file: file.to_string(),
            line,
            column,
            message: message.into(),
        }
    }

    pub(crate) fn at(origin: &Origin, message: impl Into<String>) -> Self {
        Self::new(&origin.file, origin.line, origin.column, message)
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.file.is_empty(), self.line) {
            (true, 0) => f.write_str(&self.message),
            (false, 0) => write!(f, "{}: {}", self.file, self.message),
            _ => write!(
                f,
                "{}:{}:{}: {}",
                self.file, self.line, self.column, self.message
            ),
        }
    }
}

/// An error raised while evaluating, carrying where in the config it happened. Raised from
/// native functions through Starlark and recovered by downcasting when evaluation fails.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub(crate) struct DslError {
    pub origin: Origin,
    pub message: String,
}

impl DslError {
    pub fn starlark(origin: &Origin, message: impl Into<String>) -> starlark::Error {
        starlark::Error::new_native(DslError {
            origin: origin.clone(),
            message: message.into(),
        })
    }
}
