//! A config in the style of Aurora's end-to-end suite (`fixtures/end_to_end.aurora`): the role
//! from `getpass.getuser()`, imports, and a `jobs` list in which some jobs cannot materialise
//! without their own `--bind` or a registry. Selecting a job materialises only that one.

mod common;

use std::collections::BTreeSet;

use aurora_config::{Container, DockerParameter, Image, LoadOptions, VolumeMode, load_file};
use aurora_events::Tier;
use aurora_events::config::HealthChecker;
use pretty_assertions::assert_eq;

const FIXTURE: &str = "end_to_end.aurora";

fn select(name: &str) -> aurora_config::JobConfig {
    common::selected(FIXTURE, ["devcluster", "alice", "test", name], &[])
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn ports(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|n| n.to_string()).collect()
}

#[test]
fn loading_every_job_fails_at_the_first_that_cannot_materialise() {
    let e = common::failure(FIXTURE);
    assert!(e.file.ends_with(FIXTURE), "{e}");
    assert_eq!(
        (e.line, e.column, e.message.as_str()),
        (
            85,
            31,
            "unbound template variable appc_image_id (in AppcImage.image_id)"
        )
    );
}

#[test]
fn the_plain_job_is_selected_past_the_broken_ones() {
    let demo = select("demo");
    assert_eq!(demo.key_string(), "devcluster/alice/test/demo");
    assert_eq!(demo.instances, 2);
    assert_eq!(demo.container, None);
    let t = &demo.task;
    assert_eq!(t.contact_email.as_deref(), Some("alice@localhost"));
    assert_eq!(
        t.resources.ports,
        ports(&["health", "web"]),
        "front is an alias"
    );
    assert_eq!(t.resources.gpus, 0);
    let cmdlines: Vec<&str> = t
        .executor
        .processes
        .iter()
        .map(|p| p.cmdline.as_str())
        .collect();
    assert_eq!(
        cmdlines,
        vec![
            "echo \"web: {{thermos.ports[web]}} front: {{thermos.ports[web]}} health: {{thermos.ports[health]}}\"",
            "cp /opt/demo/server.py .",
            "python server.py {{thermos.ports[web]}} {{thermos.ports[health]}} \
             --settings='{\"greeting\": \"hello\", \"verbose\": true}'",
        ]
    );
    assert!(
        matches!(
            t.health_check.as_ref().map(|h| &h.checker),
            Some(HealthChecker::Http { .. })
        ),
        "the HTTP check has its health port"
    );
    assert_eq!(select("demo_revocable").task.tier, Tier::Revocable);
}

#[test]
fn the_docker_job_carries_its_container() {
    let docker = select("demo_docker");
    assert_eq!(
        docker.container,
        Some(Container::Docker {
            image: "demo:1.0".into(),
            parameters: vec![DockerParameter {
                name: "label".into(),
                value: "team=alice".into()
            }],
        })
    );
    assert_eq!(
        docker.task.executor.processes[1].cmdline,
        "cp /srv/server.py ."
    );
}

#[test]
fn gpus_come_from_the_profile() {
    let gpu = select("demo_gpu");
    assert_eq!((gpu.task.resources.gpus, gpu.instances), (1, 1));
}

#[test]
fn mesos_image_jobs_carry_image_and_volumes() {
    let netcat = select("demo_mesos_docker");
    let Some(Container::Mesos { image, volumes }) = &netcat.container else {
        panic!("a Mesos container: {:?}", netcat.container);
    };
    assert_eq!(
        image,
        &Some(Image::Docker {
            name: "demo_netcat".into(),
            tag: "latest".into()
        })
    );
    let modes: Vec<VolumeMode> = volumes.iter().map(|v| v.mode).collect();
    assert_eq!(modes, vec![VolumeMode::ReadOnly, VolumeMode::ReadWrite]);
    assert_eq!(
        netcat.task.health_check.as_ref().map(|h| &h.checker),
        Some(&HealthChecker::Shell {
            command: "test -x serve.sh".into()
        })
    );
    assert_eq!(
        netcat.task.resources.ports,
        ports(&["health", "web"]),
        "show_ports names health"
    );

    let appc = common::selected(
        FIXTURE,
        ["devcluster", "alice", "test", "demo_appc"],
        &[("appc_image_id", "sha512-0123")],
    )
    .expect("its own binding given");
    assert!(
        matches!(&appc.container, Some(Container::Mesos { image: Some(Image::Appc { image_id, .. }), .. }) if image_id == "sha512-0123"),
        "{:?}",
        appc.container
    );
}

#[test]
fn jobs_that_cannot_materialise_say_why_when_selected() {
    let e = common::selected(
        FIXTURE,
        ["devcluster", "alice", "test", "demo_registry"],
        &[],
    )
    .expect_err("needs a registry");
    assert_eq!((e.line, e.column), (90, 17));
    assert!(
        e.message
            .starts_with("{{docker.image[demo][latest]}} asks the client to look the image up"),
        "{e}"
    );
    let e = common::selected(FIXTURE, ["devcluster", "bob", "test", "demo"], &[])
        .expect_err("alice's jobs");
    assert!(
        e.to_string().starts_with(
            "Could not find job devcluster/bob/test/demo\nCandidates are:\n  \
             devcluster/alice/test/demo\n  devcluster/alice/test/demo_revocable\n"
        ),
        "{e}"
    );
}

#[test]
fn the_role_default_needs_a_user() {
    let options = LoadOptions {
        user: None,
        ..common::options()
    };
    let e = load_file(&common::fixture(FIXTURE), &options).expect_err("no user");
    assert_eq!((e.line, e.column), (13, 26));
    assert!(
        e.message.starts_with("getpass.getuser(): no user is known"),
        "{e}"
    );
}

#[test]
fn selected_jobs_survive_the_json_round_trip() {
    for name in ["demo", "demo_docker", "demo_gpu", "demo_mesos_docker"] {
        let job = select(name);
        let back = aurora_config::load_json(&job.to_json().to_string())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(back.jobs, vec![job], "{name}");
    }
}
