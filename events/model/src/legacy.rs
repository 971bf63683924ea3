//! Shapes stored before a later version changed them, kept so that old journals decode
//! (the codec is positional: a stored shape never changes) and upcast where they are read.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::{
    Announcer, Constraint, HealthCheck, HttpLifecycle, PartitionPolicy, SlaPolicy, TaskConfig,
    ThermosTask, Tier,
};
use crate::ids::JobKey;
use crate::resources::Resources;

/// [`TaskConfig`] as stored before it had a `container` (`Event::TaskConfigStored`). Its hash
/// is the same as that of the [`TaskConfig`] it upcasts to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(proptest_derive::Arbitrary))]
pub struct TaskConfigV1 {
    pub job: JobKey,
    pub owner: Option<String>,
    pub is_service: bool,
    pub priority: i32,
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
}

impl From<TaskConfigV1> for TaskConfig {
    fn from(v1: TaskConfigV1) -> Self {
        let TaskConfigV1 {
            job,
            owner,
            is_service,
            priority,
            max_task_failures,
            tier,
            resources,
            constraints,
            contact_email,
            metadata,
            executor,
            health_check,
            lifecycle,
            announce,
            partition_policy,
            sla_policy,
        } = v1;
        TaskConfig {
            job,
            owner,
            is_service,
            priority,
            max_task_failures,
            tier,
            resources,
            constraints,
            contact_email,
            metadata,
            executor,
            health_check,
            lifecycle,
            announce,
            partition_policy,
            sla_policy,
            container: None,
        }
    }
}

impl TryFrom<TaskConfig> for TaskConfigV1 {
    type Error = TaskConfig;

    /// The old shape of a config without a container; the config itself back when it has one.
    fn try_from(config: TaskConfig) -> Result<Self, TaskConfig> {
        if config.container.is_some() {
            return Err(config);
        }
        let TaskConfig {
            job,
            owner,
            is_service,
            priority,
            max_task_failures,
            tier,
            resources,
            constraints,
            contact_email,
            metadata,
            executor,
            health_check,
            lifecycle,
            announce,
            partition_policy,
            sla_policy,
            container: _,
        } = config;
        Ok(TaskConfigV1 {
            job,
            owner,
            is_service,
            priority,
            max_task_failures,
            tier,
            resources,
            constraints,
            contact_email,
            metadata,
            executor,
            health_check,
            lifecycle,
            announce,
            partition_policy,
            sla_policy,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::encode_value;
    use crate::config::Container;
    use sha2::{Digest, Sha256};

    #[test]
    fn a_config_without_a_container_keeps_the_hash_its_old_shape_had() {
        let config = crate::samples::task_config();
        let v1 = TaskConfigV1::try_from(config.clone()).expect("no container");
        let old_hash: [u8; 32] = Sha256::digest(encode_value(&v1)).into();
        assert_eq!(config.hash().0, old_hash);
        assert_eq!(TaskConfig::from(v1), config);
    }

    #[test]
    fn a_container_changes_the_hash_and_keeps_the_config_from_the_old_shape() {
        let plain = crate::samples::task_config();
        let mut docker = plain.clone();
        docker.container = Some(Container::Docker {
            image: "nginx:1.25".into(),
            parameters: vec![],
        });
        assert_ne!(plain.hash(), docker.hash());
        assert_eq!(TaskConfigV1::try_from(docker.clone()), Err(docker));
    }
}
