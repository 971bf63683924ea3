//! The crate's one error type, for what is wrong before any decision is made: settings an
//! operator gave that cannot be used. (What a decision refuses is a [`crate::Rejection`].)

/// A setting the scheduler cannot start with; the message names the setting and the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("the allowed job environments {pattern:?} are not a regular expression: {reason}")]
    EnvironmentPattern { pattern: String, reason: String },
}
