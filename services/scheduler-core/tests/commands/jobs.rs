//! createJob, addInstances, restartShards.

use std::collections::BTreeSet;

use aurora_events::{Event, ResourceAggregate, ScheduleStatus, Tier};
use aurora_scheduler_core::commands::{AddInstances, CreateJob, RestartInstances};
use aurora_scheduler_core::{Command, Effect, Rejection};

use super::support::*;

#[test]
fn create_job_stores_the_config_once_and_makes_pending_tasks() {
    let job = job("hello");
    let config = config(&job, 1.0, 128);
    let when = given([]).when(Command::CreateJob(CreateJob {
        job: job.clone(),
        config: Box::new(config.clone()),
        instances: 2,
    }));
    let decision = when.decision();
    let tasks = created_tasks(&decision);
    assert_eq!(tasks.len(), 2);
    let mut expected = vec![
        Event::TaskConfigStoredV2 {
            hash: hash(&config),
            config: Box::new(config.clone()),
        },
        Event::JobCreated {
            job: job.clone(),
            config: hash(&config),
            instances: 2,
        },
    ];
    expected.push(task_created(&config, &tasks[0], 0));
    expected.push(task_created(&config, &tasks[1], 1));
    pretty_assertions::assert_eq!(decision.facts(), expected);
    assert!(tasks[0].as_str().starts_with("www-data-prod-hello-0-"));
    // Every task event names the job creation as its cause.
    let created_id = decision.events[1].id;
    assert!(
        decision.events[2..]
            .iter()
            .all(|e| e.cause == Some(created_id))
    );
    assert!(decision.events.iter().all(|e| e.actor == alice()));
}

#[test]
fn create_job_with_a_known_config_does_not_store_it_again() {
    let job = job("hello");
    let config = config(&job, 1.0, 128);
    let mut given = given(job_created(&config, &[task_id(&job, 0)]));
    given.apply([Event::TaskDeleted {
        task: task_id(&job, 0),
        job: job.clone(),
    }]);
    let decision = given
        .when(Command::CreateJob(CreateJob {
            job: job.clone(),
            config: Box::new(config.clone()),
            instances: 1,
        }))
        .decision();
    assert!(
        !decision
            .facts()
            .iter()
            .any(|e| matches!(e, Event::TaskConfigStoredV2 { .. }))
    );
}

#[test]
fn create_job_refuses_a_job_with_active_tasks() {
    let job = job("hello");
    let config = config(&job, 1.0, 128);
    given(job_created(&config, &[task_id(&job, 0)]))
        .when(Command::CreateJob(CreateJob {
            job: job.clone(),
            config: Box::new(config),
            instances: 1,
        }))
        .then_rejects(Rejection::JobExists(job));
}

#[test]
fn create_job_names_what_is_wrong_with_a_config() {
    let job = job("hello");
    type Breakage = Box<dyn Fn(&mut aurora_events::TaskConfig)>;
    let cases: Vec<(Breakage, &str)> = vec![
        (
            Box::new(|c| c.executor.processes.clear()),
            "has no processes",
        ),
        (
            Box::new(|c| c.resources.cpus = 0.0),
            "cpu must be greater than 0",
        ),
        (
            Box::new(|c| c.resources.ram_mb = 0),
            "ram must be greater than 0",
        ),
        (
            Box::new(|c| c.resources.cpus = 1e308),
            "cpu must be between 0.001 and 1000000",
        ),
        (
            Box::new(|c| c.resources.cpus = 1e-300),
            "cpu must be between 0.001 and 1000000",
        ),
        (
            Box::new(|c| c.resources.ram_mb = u64::MAX),
            "ram must be at most 1073741824 MB",
        ),
        (
            Box::new(|c| c.resources.disk_mb = u64::MAX),
            "disk must be at most 1073741824 MB",
        ),
        (
            Box::new(|c| {
                let copy = c.executor.processes[0].clone();
                c.executor.processes.push(copy);
            }),
            "duplicate process name \"hello\"",
        ),
        (
            Box::new(|c| {
                c.constraints.push(aurora_events::config::Constraint {
                    name: "dedicated".into(),
                    kind: aurora_events::config::ConstraintKind::Value {
                        negated: false,
                        values: vec!["other/db".into()],
                    },
                })
            }),
            "dedicated constraint \"other/db\"",
        ),
        (
            Box::new(|c| c.executor.processes[0].cmdline = "x".repeat(300 * 1024)),
            "bytes as JSON; at most 262144 are accepted",
        ),
    ];
    for (break_it, needle) in cases {
        let mut broken = config(&job, 1.0, 128);
        break_it(&mut broken);
        let result = given([])
            .when(Command::CreateJob(CreateJob {
                job: job.clone(),
                config: Box::new(broken),
                instances: 1,
            }))
            .result;
        match result {
            Err(Rejection::InvalidRequest(message)) => {
                assert!(message.contains(needle), "{message} / {needle}")
            }
            other => panic!("expected InvalidRequest({needle}), got {other:?}"),
        }
    }
    let result = given([])
        .when(Command::CreateJob(CreateJob {
            job: job.clone(),
            config: Box::new(config(&job, 1.0, 128)),
            instances: 0,
        }))
        .result;
    assert!(matches!(result, Err(Rejection::InvalidRequest(m)) if m.contains("instance count")));
    // A long inline script under the bound is a config like any other.
    let mut long = config(&job, 1.0, 128);
    long.executor.processes[0].cmdline = "x".repeat(200 * 1024);
    let result = given([])
        .when(Command::CreateJob(CreateJob {
            job: job.clone(),
            config: Box::new(long),
            instances: 1,
        }))
        .result;
    assert!(result.is_ok(), "{result:?}");
}

#[test]
fn production_jobs_need_quota_and_others_do_not() {
    let job = job("hello");
    let mut production = config(&job, 2.0, 1024);
    production.tier = Tier::Preferred;
    let rejected = given([])
        .when(Command::CreateJob(CreateJob {
            job: job.clone(),
            config: Box::new(production.clone()),
            instances: 2,
        }))
        .result;
    assert!(
        matches!(rejected, Err(Rejection::InsufficientQuota(_))),
        "{rejected:?}"
    );

    let quota = ResourceAggregate {
        cpus: 4.0,
        ram_mb: 2048,
        disk_mb: 1024,
    };
    let with_quota = given([Event::QuotaSet {
        role: job.role.clone(),
        quota,
    }]);
    with_quota
        .when(Command::CreateJob(CreateJob {
            job: job.clone(),
            config: Box::new(production.clone()),
            instances: 2,
        }))
        .decision();
    let too_many = with_quota
        .when(Command::CreateJob(CreateJob {
            job: job.clone(),
            config: Box::new(production),
            instances: 3,
        }))
        .result;
    assert!(matches!(too_many, Err(Rejection::InsufficientQuota(m)) if m.contains("www-data")));

    let mut preemptible = config(&job, 2.0, 1024);
    preemptible.tier = Tier::Preemptible;
    given([])
        .when(Command::CreateJob(CreateJob {
            job,
            config: Box::new(preemptible),
            instances: 5,
        }))
        .decision();
}

#[test]
fn add_instances_clones_an_active_instance_after_the_highest() {
    let job = job("hello");
    let config = config(&job, 1.0, 128);
    let given = given(job_created(&config, &[task_id(&job, 0), task_id(&job, 1)]));
    let decision = given
        .when(Command::AddInstances(AddInstances {
            job: job.clone(),
            template: 1,
            count: 2,
        }))
        .decision();
    let tasks = created_tasks(&decision);
    pretty_assertions::assert_eq!(
        decision.facts(),
        vec![
            Event::JobConfigReplaced {
                job: job.clone(),
                config: hash(&config),
                instances: 4
            },
            task_created(&config, &tasks[0], 2),
            task_created(&config, &tasks[1], 3),
        ]
    );
    given
        .when(Command::AddInstances(AddInstances {
            job: job.clone(),
            template: 7,
            count: 1,
        }))
        .then_rejects(Rejection::InvalidRequest(format!(
            "instance 7 of {job} is not active"
        )));
}

#[test]
fn restart_moves_running_instances_to_restarting_and_kills_them() {
    let job = job("hello");
    let config = config(&job, 1.0, 128);
    let (t0, t1) = (task_id(&job, 0), task_id(&job, 1));
    let mut events = vec![agent_registered(1)];
    events.extend(job_created(&config, &[t0.clone(), t1.clone()]));
    events.extend(running(&job, &t0, 1));
    events.extend(running(&job, &t1, 1));
    let decision = given(events)
        .when(Command::RestartInstances(RestartInstances {
            job: job.clone(),
            instances: Some(BTreeSet::from([1])),
        }))
        .then_events(vec![changed(
            &job,
            &t1,
            ScheduleStatus::Running,
            ScheduleStatus::Restarting,
            Some("Restarted by alice"),
        )]);
    pretty_assertions::assert_eq!(
        decision.effects,
        vec![Effect::Kill {
            task: t1,
            agent: agent(1)
        }]
    );
}

#[test]
fn sla_policies_are_validated_as_aurora_does() {
    use aurora_events::config::SlaPolicy;
    use aurora_scheduler_core::Settings;
    let job = job("web");
    let create = |policy: SlaPolicy, tier: Tier, instances: u32, settings: Settings| {
        let mut config = config(&job, 1.0, 128);
        config.tier = tier;
        config.sla_policy = Some(policy);
        given_with(settings, [])
            .when(Command::CreateJob(CreateJob {
                job: job.clone(),
                config: Box::new(config),
                instances,
            }))
            .result
    };
    let refused =
        |result: Result<aurora_scheduler_core::Decision, Rejection>, says: &str| match result {
            Err(Rejection::InvalidRequest(message)) => {
                assert!(message.contains(says), "{message:?} should say {says:?}")
            }
            other => panic!("expected a refusal saying {says:?}, got {other:?}"),
        };
    let count = |count| SlaPolicy::Count {
        count,
        duration_secs: 60,
    };
    let percent = |percentage| SlaPolicy::Percentage {
        percentage,
        duration_secs: 60,
    };
    let small = Settings {
        min_required_instances_for_sla_check: 2,
        ..Settings::default()
    };
    let non_prod = Settings {
        sla_aware_kill_non_prod: true,
        ..small.clone()
    };
    refused(
        create(count(1), Tier::Preemptible, 3, small.clone()),
        "only allowed on production tasks",
    );
    refused(
        create(count(3), Tier::Preemptible, 3, non_prod.clone()),
        "will not allow any instance to be killed",
    );
    refused(
        create(count(1), Tier::Preemptible, 1, non_prod.clone()),
        "at least 2 instances",
    );
    refused(
        create(percent(f64::NAN), Tier::Preemptible, 3, non_prod.clone()),
        "above 0 and at most 100",
    );
    refused(
        create(percent(150.0), Tier::Preemptible, 3, non_prod.clone()),
        "above 0 and at most 100",
    );
    refused(
        create(percent(80.0), Tier::Preemptible, 3, non_prod.clone()),
        "it must be at most 66.67",
    );
    refused(
        create(
            SlaPolicy::Count {
                count: 1,
                duration_secs: 2 * 3600 + 1,
            },
            Tier::Preemptible,
            3,
            non_prod.clone(),
        ),
        "longer than the cluster's maximum of 7200 s",
    );
    refused(
        create(
            SlaPolicy::Coordinator {
                url: "coordinator:8080".into(),
                status_key: "drain".into(),
            },
            Tier::Preemptible,
            3,
            non_prod.clone(),
        ),
        "http:// or https:// URL",
    );
    // Within every limit: accepted.
    for policy in [
        count(2),
        percent(66.0),
        SlaPolicy::Coordinator {
            url: "http://coordinator:8080/drain".into(),
            status_key: "drain".into(),
        },
    ] {
        let result = create(policy.clone(), Tier::Preemptible, 3, non_prod.clone());
        assert!(result.is_ok(), "{policy:?}: {result:?}");
    }
}

#[test]
fn containers_are_refused_unless_their_type_is_allowed_and_the_agents_can_run_them() {
    use aurora_events::config::{Container, ContainerImage, Volume};
    use aurora_scheduler_core::Settings;
    let job = job("web");
    let create = |container: Container, settings: Settings| {
        let mut config = config(&job, 1.0, 128);
        config.container = Some(container);
        given_with(settings, [])
            .when(Command::CreateJob(CreateJob {
                job: job.clone(),
                config: Box::new(config),
                instances: 1,
            }))
            .result
    };
    let docker = Container::Docker {
        image: "nginx:1.25".into(),
        parameters: vec![],
    };
    let with_docker = Settings {
        allowed_container_types: vec!["MESOS".into(), "DOCKER".into()],
        ..Settings::default()
    };
    let message = |result: Result<aurora_scheduler_core::Decision, Rejection>| match result {
        Err(Rejection::InvalidRequest(message)) => message,
        other => panic!("expected a refusal, got {other:?}"),
    };
    // Aurora's default: MESOS only.
    let refused = message(create(docker.clone(), Settings::default()));
    assert!(
        refused.starts_with("The container type DOCKER is not allowed"),
        "{refused}"
    );
    assert!(create(docker, with_docker.clone()).is_ok());
    let image = Container::Mesos {
        image: Some(ContainerImage::Docker {
            name: "busybox".into(),
            tag: "latest".into(),
        }),
        volumes: vec![],
    };
    assert!(message(create(image, with_docker.clone())).contains("cannot provision"));
    let volumes = Container::Mesos {
        image: None,
        volumes: vec![Volume {
            container_path: "/data".into(),
            host_path: "/srv/data".into(),
            read_only: true,
        }],
    };
    assert!(message(create(volumes, with_docker.clone())).contains("cannot mount"));
    let plain = Container::Mesos {
        image: None,
        volumes: vec![],
    };
    assert!(create(plain, Settings::default()).is_ok());
}
