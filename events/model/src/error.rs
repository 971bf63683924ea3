//! The crate's error type: invalid names given by users.

/// A value given to a constructor was not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("invalid identifier {value:?}: {reason}")]
    InvalidIdentifier { value: String, reason: &'static str },
    #[error("invalid job key {value:?}: expected role/environment/name")]
    InvalidJobKey { value: String },
    #[error("invalid cron schedule {schedule:?}: {reason}")]
    InvalidCronSchedule { schedule: String, reason: String },
}
