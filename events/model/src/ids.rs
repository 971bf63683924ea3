//! Names of things: identifiers, job keys, task ids, agent ids, event and update ids, and the
//! content hash that names a stored task config.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

use crate::error::Error;

/// A role, environment or job name: non-empty and matching Aurora's `^[\w\-\.]+$` (ASCII word
/// characters, `-` and `.`). Validated on construction and on deserialisation, so a value of this
/// type is always valid. Shared (`Arc<str>`) so that job keys are cheap to copy.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
#[cfg_attr(feature = "arbitrary", derive(proptest_derive::Arbitrary))]
pub struct Identifier(
    #[cfg_attr(
        feature = "arbitrary",
        proptest(strategy = "crate::arbitrary::shared_str(\"[a-zA-Z0-9_][a-zA-Z0-9_.-]{0,11}\")")
    )]
    Arc<str>,
);

/// Longest identifier accepted. Aurora has no explicit limit; this one keeps task ids and
/// subjects of sane length.
pub const MAX_IDENTIFIER_LEN: usize = 255;

impl Identifier {
    /// Validates `value` as a role, environment or job name.
    pub fn new(value: impl Into<String>) -> Result<Self, Error> {
        let value = value.into();
        if value.is_empty() {
            return Err(Error::InvalidIdentifier {
                value,
                reason: "it is empty",
            });
        }
        if value.len() > MAX_IDENTIFIER_LEN {
            return Err(Error::InvalidIdentifier {
                value,
                reason: "it is longer than 255 bytes",
            });
        }
        if !value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        {
            return Err(Error::InvalidIdentifier {
                value,
                reason: "only letters, digits, '_', '-' and '.' are allowed",
            });
        }
        // A name is a path segment in URLs, sandboxes and stream subjects, where these two
        // mean "here" and "up": a job so named could be neither shown nor killed by path.
        if value == "." || value == ".." {
            return Err(Error::InvalidIdentifier {
                value,
                reason: "'.' and '..' are not names",
            });
        }
        Ok(Self(value.into()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Identifier {
    type Error = Error;
    fn try_from(value: String) -> Result<Self, Error> {
        Self::new(value)
    }
}

impl From<Identifier> for String {
    fn from(id: Identifier) -> String {
        id.0.to_string()
    }
}

impl fmt::Display for Identifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A job's key within a cluster: `role/environment/name`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(proptest_derive::Arbitrary))]
pub struct JobKey {
    pub role: Identifier,
    pub environment: Identifier,
    pub name: Identifier,
}

impl JobKey {
    /// Builds a key from three strings, naming the first invalid part in the error.
    pub fn new(role: &str, environment: &str, name: &str) -> Result<Self, Error> {
        Ok(Self {
            role: Identifier::new(role)?,
            environment: Identifier::new(environment)?,
            name: Identifier::new(name)?,
        })
    }
}

impl fmt::Display for JobKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.role, self.environment, self.name)
    }
}

impl FromStr for JobKey {
    type Err = Error;
    /// Parses `role/env/name`.
    fn from_str(s: &str) -> Result<Self, Error> {
        let parts: Vec<&str> = s.split('/').collect();
        match parts.as_slice() {
            [role, env, name] => Self::new(role, env, name),
            _ => Err(Error::InvalidJobKey {
                value: s.to_string(),
            }),
        }
    }
}

/// An instance (shard) number within a job, from 0.
pub type InstanceId = u32;

/// A task's id, `role-env-name-instance-<uuid>` (Aurora's `TaskIdGenerator`). Opaque once made:
/// agents and operators refer to tasks by it. Shared (`Arc<str>`): ids are copied into many
/// indexes and events, and a clone costs a counter increment.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
#[cfg_attr(feature = "arbitrary", derive(proptest_derive::Arbitrary))]
pub struct TaskId(
    #[cfg_attr(
        feature = "arbitrary",
        proptest(strategy = "crate::arbitrary::shared_str(\"[a-z0-9-]{1,40}\")")
    )]
    Arc<str>,
);

impl TaskId {
    /// Makes the id of a new task of `job`'s `instance`; `uuid` comes from the caller so that
    /// deciders stay deterministic (a seeded RNG, never the clock).
    pub fn generate(job: &JobKey, instance: InstanceId, uuid: Uuid) -> Self {
        let raw = format!(
            "{}-{}-{}-{}-{}",
            job.role, job.environment, job.name, instance, uuid
        );
        // Aurora replaces every character outside [\w-] so ids are safe in paths and URLs.
        let cleaned = raw
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                    c
                } else {
                    '-'
                }
            })
            .collect::<String>();
        Self(cleaned.into())
    }

    /// Wraps an id received from outside (an agent's status report, an operator's command).
    pub fn from_raw(id: impl Into<String>) -> Self {
        Self(id.into().into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An agent (worker daemon) id, stable across the agent's restarts on one host.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
#[cfg_attr(feature = "arbitrary", derive(proptest_derive::Arbitrary))]
pub struct AgentId(
    #[cfg_attr(feature = "arbitrary", proptest(regex = "[a-z0-9-]{1,20}"))] pub String,
);

impl fmt::Display for AgentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The id of one event (a UUID v7, so ids sort roughly by creation time). Causes refer to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
#[cfg_attr(feature = "arbitrary", derive(proptest_derive::Arbitrary))]
pub struct EventId(
    #[cfg_attr(feature = "arbitrary", proptest(strategy = "crate::arbitrary::uuid()"))] pub Uuid,
);

impl EventId {
    /// A v7 id from a millisecond timestamp and 80 caller-supplied random bits. Deciders pass a
    /// seeded RNG's output so that the same inputs give the same ids.
    pub fn from_parts(unix_ms: u64, random: [u8; 10]) -> Self {
        Self(uuid::Builder::from_unix_timestamp_millis(unix_ms, &random).into_uuid())
    }

    /// A fresh v7 id from the system clock and OS randomness. For runtimes only, never deciders.
    pub fn now_v7() -> Self {
        Self(Uuid::now_v7())
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Identifies one job update: the job and a UUID.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(proptest_derive::Arbitrary))]
pub struct UpdateKey {
    pub job: JobKey,
    #[cfg_attr(feature = "arbitrary", proptest(strategy = "crate::arbitrary::uuid()"))]
    pub id: Uuid,
}

impl fmt::Display for UpdateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/update/{}", self.job, self.id)
    }
}

/// SHA-256 of a task config's canonical encoding: each distinct config is stored once
/// ([`crate::Event::TaskConfigStored`]) and referred to by this hash everywhere else.
/// In JSON it is a hex string; in the binary codec, 32 raw bytes.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "arbitrary", derive(proptest_derive::Arbitrary))]
pub struct ConfigHash(pub [u8; 32]);

impl ConfigHash {
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The first 12 hex digits, enough to tell configs apart on a page.
    pub fn short(&self) -> String {
        hex::encode(&self.0[..6])
    }
}

impl fmt::Debug for ConfigHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ConfigHash({})", self.short())
    }
}

impl fmt::Display for ConfigHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl Serialize for ConfigHash {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.serialize_str(&self.to_hex())
        } else {
            self.0.serialize(serializer)
        }
    }
}

impl<'de> Deserialize<'de> for ConfigHash {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            let text = String::deserialize(deserializer)?;
            let mut bytes = [0u8; 32];
            hex::decode_to_slice(&text, &mut bytes).map_err(serde::de::Error::custom)?;
            Ok(Self(bytes))
        } else {
            Ok(Self(<[u8; 32]>::deserialize(deserializer)?))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_follow_aurora_rules() {
        for ok in [
            "www-data",
            "prod",
            "hello_world",
            "a.b",
            "staging2",
            "...",
            ".hidden",
        ] {
            assert!(Identifier::new(ok).is_ok(), "{ok} should be valid");
        }
        for bad in ["", "has space", "slash/y", "<script>", "ü", ".", ".."] {
            let err = Identifier::new(bad).expect_err(bad);
            assert!(err.to_string().contains("invalid identifier"), "{err}");
        }
    }

    #[test]
    fn identifiers_are_validated_when_deserialised() {
        let err = serde_json::from_str::<Identifier>("\"bad name\"").expect_err("must reject");
        assert!(err.to_string().contains("bad name"), "{err}");
    }

    #[test]
    fn job_key_parses_and_prints() {
        let key: JobKey = "www-data/prod/hello".parse().unwrap();
        assert_eq!(key.to_string(), "www-data/prod/hello");
        assert!("a/b".parse::<JobKey>().is_err());
        assert!("a/b/c/d".parse::<JobKey>().is_err());
    }

    #[test]
    fn task_ids_replace_dots() {
        let key = JobKey::new("www-data", "prod", "hello.world").unwrap();
        let id = TaskId::generate(&key, 3, Uuid::nil());
        assert_eq!(
            id.as_str(),
            "www-data-prod-hello-world-3-00000000-0000-0000-0000-000000000000"
        );
    }

    #[test]
    fn event_ids_are_v7_and_deterministic() {
        let a = EventId::from_parts(1_700_000_000_000, [42; 10]);
        let b = EventId::from_parts(1_700_000_000_000, [42; 10]);
        assert_eq!(a, b);
        assert_eq!(a.0.get_version_num(), 7);
        let (secs, _) = a.0.get_timestamp().unwrap().to_unix();
        assert_eq!(secs, 1_700_000_000);
    }

    #[test]
    fn config_hash_is_hex_in_json() {
        let hash = ConfigHash([0xab; 32]);
        let json = serde_json::to_string(&hash).unwrap();
        assert_eq!(json, format!("\"{}\"", "ab".repeat(32)));
        assert_eq!(serde_json::from_str::<ConfigHash>(&json).unwrap(), hash);
    }
}
