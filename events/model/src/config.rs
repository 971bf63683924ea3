//! A task's configuration (Aurora's `TaskConfig` with the Thermos task it runs), as evaluated from
//! a `.aurora` file. Each distinct config is stored once in the journal, named by its hash.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::codec;
use crate::ids::{ConfigHash, JobKey};
use crate::resources::Resources;

/// Everything needed to schedule and run one task of a job. Instances of a job usually share one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(proptest_derive::Arbitrary))]
pub struct TaskConfig {
    pub job: JobKey,
    /// The user who owns the job (Aurora's `owner.user`); informational.
    pub owner: Option<String>,
    /// Services are restarted whatever their exit status; batch tasks per `max_task_failures`.
    pub is_service: bool,
    /// Within a role, a higher priority may preempt a lower one of the same tier.
    pub priority: i32,
    /// Failures tolerated before a batch task stays FAILED; -1 = unlimited.
    pub max_task_failures: i32,
    pub tier: Tier,
    pub resources: Resources,
    pub constraints: Vec<Constraint>,
    pub contact_email: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub executor: ThermosTask,
    pub health_check: Option<HealthCheck>,
    pub lifecycle: Option<HttpLifecycle>,
    pub announce: Option<Announcer>,
    pub partition_policy: Option<PartitionPolicy>,
    pub sla_policy: Option<SlaPolicy>,
    /// What the task runs in beyond a plain sandbox (Aurora's `Job.container`); `None` is the
    /// default: Thermos processes in the agent's sandbox. Configs stored before this field
    /// existed are [`crate::legacy::TaskConfigV1`]s (`Event::TaskConfigStored`).
    #[serde(default)]
    pub container: Option<Container>,
}

impl TaskConfig {
    /// Production is derived from the tier, never stored (Aurora recomputes it the same way).
    pub fn production(&self) -> bool {
        self.tier.production()
    }

    /// A task is dedicated when it carries a `dedicated` constraint; dedicated tasks skip quota.
    pub fn is_dedicated(&self) -> bool {
        self.constraints
            .iter()
            .any(|c| c.name == DEDICATED_ATTRIBUTE)
    }

    /// The content hash naming this config in the journal: SHA-256 of its canonical encoding.
    /// Without a container, that is the encoding it had before `container` existed (the
    /// trailing `None` left out), so that a config keeps the hash it was stored under.
    pub fn hash(&self) -> ConfigHash {
        let mut bytes = codec::encode_value(self);
        if self.container.is_none() {
            // The last field, an `Option` that is `None`: one zero tag byte in the pinned
            // bincode configuration (see `legacy::tests`).
            bytes.pop();
        }
        ConfigHash(Sha256::digest(&bytes).into())
    }
}

/// The host attribute and constraint name that reserves hosts for a role (`role/anything`).
pub const DEDICATED_ATTRIBUTE: &str = "dedicated";

/// Aurora's default tiers. `production` = neither preemptible nor revocable.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    Serialize,
    Deserialize,
    strum::EnumIter,
    strum::Display,
    strum::EnumString,
    strum::IntoStaticStr,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
#[cfg_attr(feature = "arbitrary", derive(proptest_derive::Arbitrary))]
pub enum Tier {
    /// Not preemptible, not revocable: production, counted against quota.
    Preferred,
    /// May be preempted by production tasks. Aurora's default tier.
    #[default]
    Preemptible,
    /// Runs on revocable (oversubscribed) resources; preemptible.
    Revocable,
}

impl Tier {
    pub fn preemptible(self) -> bool {
        match self {
            Tier::Preferred => false,
            Tier::Preemptible | Tier::Revocable => true,
        }
    }

    pub fn revocable(self) -> bool {
        match self {
            Tier::Preferred | Tier::Preemptible => false,
            Tier::Revocable => true,
        }
    }

    pub fn production(self) -> bool {
        !(self.preemptible() || self.revocable())
    }
}

/// A scheduling constraint over host attributes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(proptest_derive::Arbitrary))]
pub struct Constraint {
    /// The host attribute, e.g. `rack`, `host`, `dedicated`.
    pub name: String,
    pub kind: ConstraintKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(proptest_derive::Arbitrary))]
pub enum ConstraintKind {
    /// Satisfied when the host has any of `values` for the attribute (inverted when `negated`).
    Value {
        negated: bool,
        #[cfg_attr(
            feature = "arbitrary",
            proptest(strategy = "crate::arbitrary::name_list()")
        )]
        values: Vec<String>,
    },
    /// At most `limit` active tasks of the job per distinct value of the attribute.
    Limit { limit: u32 },
}

/// The Thermos task a job's tasks run: processes and how they are ordered and retried.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(proptest_derive::Arbitrary))]
pub struct ThermosTask {
    pub name: String,
    #[cfg_attr(
        feature = "arbitrary",
        proptest(
            strategy = "proptest::collection::vec(proptest::prelude::any::<Process>(), 0..3)"
        )
    )]
    pub processes: Vec<Process>,
    /// Ordering constraints: each list runs in sequence (`order(a, b)`; SequentialTask orders all).
    #[cfg_attr(
        feature = "arbitrary",
        proptest(strategy = "proptest::collection::vec(crate::arbitrary::name_list(), 0..2)")
    )]
    pub ordering: Vec<Vec<String>>,
    /// Failed processes tolerated before the task fails (default 1).
    pub max_failures: u32,
    /// Processes running at once; 0 = unlimited.
    pub max_concurrency: u32,
    /// Seconds final processes get to finish after the main processes end (default 30).
    pub finalization_wait_secs: u32,
}

/// One Thermos process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(proptest_derive::Arbitrary))]
pub struct Process {
    pub name: String,
    /// Run by bash after `{{...}}` substitution.
    pub cmdline: String,
    /// Runs tolerated before the process counts as failed (default 1; 0 = retry forever).
    pub max_failures: u32,
    /// Re-run after a successful exit.
    pub daemon: bool,
    /// Not required to finish for the task to succeed.
    pub ephemeral: bool,
    /// Minimum seconds between runs (default 5).
    pub min_duration_secs: u32,
    /// Runs in the finalisation stage, after the main processes.
    pub is_final: bool,
    pub logger: Logger,
}

/// Where a process's stdout/stderr go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(proptest_derive::Arbitrary))]
pub struct Logger {
    pub destination: LogDestination,
    /// `None` = one growing file; `Some` = rotate at `log_size_mb`, keeping `backups` files.
    pub rotate: Option<LogRotation>,
}

impl Default for Logger {
    fn default() -> Self {
        Self {
            destination: LogDestination::File,
            rotate: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "arbitrary", derive(proptest_derive::Arbitrary))]
pub enum LogDestination {
    File,
    Console,
    Both,
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(proptest_derive::Arbitrary))]
pub struct LogRotation {
    pub log_size_mb: u64,
    pub backups: u32,
}

/// How the executor decides a task is healthy before reporting RUNNING.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(proptest_derive::Arbitrary))]
pub struct HealthCheck {
    pub checker: HealthChecker,
    pub initial_interval_secs: u32,
    pub interval_secs: u32,
    pub max_consecutive_failures: u32,
    pub min_consecutive_successes: u32,
    pub timeout_secs: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(proptest_derive::Arbitrary))]
pub enum HealthChecker {
    /// GET `endpoint` on the `health` port; healthy when the body equals `expected_response`
    /// (case-insensitive) and, if non-zero, the status equals `expected_response_code`.
    Http {
        endpoint: String,
        expected_response: String,
        expected_response_code: u16,
    },
    /// Healthy when the command exits 0.
    Shell { command: String },
}

/// Graceful shutdown endpoints POSTed before signals are sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(proptest_derive::Arbitrary))]
pub struct HttpLifecycle {
    pub port: String,
    pub graceful_shutdown_endpoint: String,
    pub graceful_shutdown_wait_secs: u32,
    pub shutdown_endpoint: String,
    pub shutdown_wait_secs: u32,
}

/// Service discovery announcement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(proptest_derive::Arbitrary))]
pub struct Announcer {
    pub primary_port: String,
    /// Alias → port name or static number, e.g. `aurora → http`.
    pub portmap: BTreeMap<String, String>,
    pub zk_path: Option<String>,
}

/// What happens when a task's agent becomes unreachable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(proptest_derive::Arbitrary))]
pub struct PartitionPolicy {
    /// Reschedule after `delay_secs` (true) or wait for the agent forever (false).
    pub reschedule: bool,
    pub delay_secs: u64,
}

/// What a task runs in beyond a plain sandbox (Aurora's `Container`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(proptest_derive::Arbitrary))]
pub enum Container {
    /// `Docker(image = ..., parameters = [...])`: every process runs in a container of the
    /// image, with the sandbox mounted.
    Docker {
        image: String,
        /// `docker run` options, in order (`Parameter(name = 'env', value = 'A=b')` is
        /// `--env A=b`).
        parameters: Vec<DockerParameter>,
    },
    /// `Mesos(image = ..., volumes = [...])`: the Mesos containerizer with an image to
    /// provision and host paths to mount.
    Mesos {
        image: Option<ContainerImage>,
        volumes: Vec<Volume>,
    },
}

impl Container {
    /// Aurora's name for the container type (`-allowed_container_types`).
    pub fn kind(&self) -> &'static str {
        match self {
            Container::Docker { .. } => "DOCKER",
            Container::Mesos { .. } => "MESOS",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(proptest_derive::Arbitrary))]
pub struct DockerParameter {
    pub name: String,
    pub value: String,
}

/// An image for the Mesos containerizer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(proptest_derive::Arbitrary))]
pub enum ContainerImage {
    Docker { name: String, tag: String },
    Appc { name: String, image_id: String },
}

/// A host path mounted into a Mesos container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(proptest_derive::Arbitrary))]
pub struct Volume {
    pub container_path: String,
    pub host_path: String,
    pub read_only: bool,
}

/// How many instances must stay up while hosts are drained or tasks updated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(proptest_derive::Arbitrary))]
pub enum SlaPolicy {
    Count {
        count: u32,
        duration_secs: u64,
    },
    Percentage {
        #[cfg_attr(
            feature = "arbitrary",
            proptest(strategy = "crate::arbitrary::amount()")
        )]
        percentage: f64,
        duration_secs: u64,
    },
    Coordinator {
        url: String,
        status_key: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use strum::IntoEnumIterator;

    #[test]
    fn only_preferred_is_production() {
        let production: Vec<Tier> = Tier::iter().filter(|t| t.production()).collect();
        assert_eq!(production, vec![Tier::Preferred]);
        assert_eq!("revocable".parse::<Tier>().unwrap(), Tier::Revocable);
        assert_eq!(Tier::default(), Tier::Preemptible);
    }

    #[test]
    fn hash_changes_with_content() {
        let a = crate::samples::task_config();
        let mut b = a.clone();
        assert_eq!(a.hash(), b.hash());
        b.resources.ram_mb += 1;
        assert_ne!(a.hash(), b.hash());
    }
}
