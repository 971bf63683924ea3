//! Unit tests of `docker.rs`: the exact `docker` argument lists, container names, and what a
//! config is refused for.

use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;

use aurora_events::config::{ContainerImage, Volume};
use pretty_assertions::assert_eq;

use super::*;

fn parameter(name: &str, value: &str) -> DockerParameter {
    DockerParameter {
        name: name.into(),
        value: value.into(),
    }
}

fn docker(parameters: Vec<DockerParameter>) -> Docker {
    Docker {
        program: "/usr/bin/docker".into(),
        image: "registry.local/web:1.2".into(),
        parameters,
        sandbox: "/var/lib/aurora/sandboxes/www-prod-web-0-abc".into(),
    }
}

fn strings(args: &[OsString]) -> Vec<&str> {
    args.iter().map(|a| a.to_str().unwrap()).collect()
}

#[test]
fn a_run_is_docker_run_of_bash_in_the_sandbox_mounted_at_its_own_path() {
    let d = docker(vec![
        parameter("env", "MODE=prod"),
        parameter("privileged", "true"),
        parameter("label", "team=web"),
    ]);
    let sandbox = "/var/lib/aurora/sandboxes/www-prod-web-0-abc";
    // The ports the cmdline names are already rendered: host networking, no `-p`.
    let args = run_args(
        &d,
        "aurora-7.0.99-0-web-3",
        "7.0.99",
        true,
        "exec ./server --port 31005",
    );
    assert_eq!(
        strings(&args),
        [
            "run",
            "--rm",
            "--name",
            "aurora-7.0.99-0-web-3",
            "--network",
            "host",
            "--init",
            "--sig-proxy=false",
            "-v",
            "/var/lib/aurora/sandboxes/www-prod-web-0-abc:/var/lib/aurora/sandboxes/www-prod-web-0-abc",
            "-w",
            sandbox,
            "-e",
            "AURORA_EXECUTOR_TAG=7.0.99",
            "-e",
            "MESOS_SANDBOX=/var/lib/aurora/sandboxes/www-prod-web-0-abc",
            "-e",
            "BASH_ENV=/var/lib/aurora/sandboxes/www-prod-web-0-abc/.thermos_profile",
            "--env=MODE=prod",
            "--privileged=true",
            "--label=team=web",
            "--entrypoint",
            "bash",
            "registry.local/web:1.2",
            "-c",
            "exec ./server --port 31005",
        ]
    );
}

#[test]
fn without_a_profile_or_parameters_bash_env_and_options_are_left_out() {
    let args = run_args(&docker(Vec::new()), "c", "t", false, "true");
    let s = "/var/lib/aurora/sandboxes/www-prod-web-0-abc";
    let mount = format!("{s}:{s}");
    let env = format!("MESOS_SANDBOX={s}");
    assert_eq!(
        strings(&args),
        [
            "run",
            "--rm",
            "--name",
            "c",
            "--network",
            "host",
            "--init",
            "--sig-proxy=false",
            "-v",
            mount.as_str(),
            "-w",
            s,
            "-e",
            "AURORA_EXECUTOR_TAG=t",
            "-e",
            env.as_str(),
            "--entrypoint",
            "bash",
            "registry.local/web:1.2",
            "-c",
            "true",
        ]
    );
}

#[test]
fn kill_and_remove_name_the_container() {
    assert_eq!(
        kill_args("c-1", "TERM"),
        ["kill", "--signal", "TERM", "c-1"]
    );
    assert_eq!(remove_args("c-1"), ["rm", "-f", "c-1"]);
}

#[test]
fn container_names_are_unique_per_process_and_run_and_valid_for_docker() {
    assert_eq!(
        container_name("123.4.5678", 0, "hello", 2),
        "aurora-123.4.5678-0-hello-2"
    );
    // Two names that differ only in characters docker refuses stay apart by their index.
    assert_eq!(
        container_name("t", 1, "a b", 0),
        "aurora-t-1-a_b-0".to_string()
    );
    assert_ne!(
        container_name("t", 1, "a b", 0),
        container_name("t", 2, "a_b", 0)
    );
    let name = container_name("t", 0, "ünï:côde/x", 7);
    assert!(
        name.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')),
        "{name}"
    );
}

/// A directory with an executable `docker` and a non-executable `not-docker`.
fn bin_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, mode) in [("docker", 0o755), ("not-docker", 0o644)] {
        let path = dir.path().join(name);
        std::fs::write(&path, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    dir
}

fn docker_config(parameters: Vec<DockerParameter>) -> Container {
    Container::Docker {
        image: "busybox".into(),
        parameters,
    }
}

#[test]
fn the_docker_cli_is_looked_up_on_the_path() {
    let bin = bin_dir();
    let path = std::env::join_paths(["/nonexistent".into(), bin.path().to_path_buf()]).unwrap();
    let sandbox = Path::new("/srv/sandbox");
    let found = prepare(
        Some(&docker_config(vec![parameter("env", "A=b")])),
        Path::new("docker"),
        Some(&path),
        sandbox,
    )
    .unwrap();
    assert_eq!(
        found,
        Some(Docker {
            program: bin.path().join("docker"),
            image: "busybox".into(),
            parameters: vec![parameter("env", "A=b")],
            sandbox: sandbox.into(),
        })
    );
    // A path is taken as it is.
    assert!(find_program(&bin.path().join("docker"), None).is_some());
    assert_eq!(find_program(&bin.path().join("not-docker"), None), None);
    assert_eq!(find_program(Path::new("not-docker"), Some(&path)), None);
}

#[test]
fn no_docker_on_the_path_fails_the_task_saying_so() {
    let bin = bin_dir();
    let error = prepare(
        Some(&docker_config(Vec::new())),
        Path::new("docker"),
        Some(OsStr::new("/nonexistent")),
        Path::new("/srv/sandbox"),
    )
    .unwrap_err();
    assert!(error.starts_with("this agent has no docker: "), "{error}");
    assert!(error.contains("busybox"), "{error}");
    let error = prepare(
        Some(&docker_config(Vec::new())),
        Path::new("not-docker"),
        Some(bin.path().as_os_str()),
        Path::new("/srv/sandbox"),
    )
    .unwrap_err();
    assert!(error.starts_with("this agent has no docker: "), "{error}");
}

#[test]
fn no_container_and_a_bare_mesos_container_are_a_plain_sandbox() {
    let none = Path::new("/nonexistent/docker");
    let sandbox = Path::new("/srv/sandbox");
    assert_eq!(prepare(None, none, None, sandbox), Ok(None));
    let bare = Container::Mesos {
        image: None,
        volumes: Vec::new(),
    };
    assert_eq!(prepare(Some(&bare), none, None, sandbox), Ok(None));
    for mesos in [
        Container::Mesos {
            image: Some(ContainerImage::Docker {
                name: "busybox".into(),
                tag: "latest".into(),
            }),
            volumes: Vec::new(),
        },
        Container::Mesos {
            image: None,
            volumes: vec![Volume {
                container_path: "/data".into(),
                host_path: "/srv/data".into(),
                read_only: true,
            }],
        },
    ] {
        let error = prepare(Some(&mesos), none, None, sandbox).unwrap_err();
        assert!(error.contains("cannot run Mesos containers"), "{error}");
    }
}

#[test]
fn parameters_the_executor_relies_on_or_that_are_not_option_names_are_refused() {
    let bin = bin_dir();
    let refused = |p: DockerParameter| {
        prepare(
            Some(&docker_config(vec![parameter("env", "A=b"), p])),
            &bin.path().join("docker"),
            None,
            Path::new("/srv/sandbox"),
        )
        .unwrap_err()
    };
    for name in ["name", "entrypoint", "detach"] {
        let error = refused(parameter(name, "x"));
        assert!(error.contains("set by the executor"), "{error}");
    }
    for name in ["", "-env", "e nv", "env=x"] {
        let error = refused(parameter(name, "x"));
        assert!(error.contains("invalid Docker parameter name"), "{error}");
    }
}

#[test]
fn an_image_and_a_mountable_sandbox_are_required() {
    let bin = bin_dir();
    let program = bin.path().join("docker");
    let empty = Container::Docker {
        image: " ".into(),
        parameters: Vec::new(),
    };
    let error = prepare(Some(&empty), &program, None, Path::new("/srv/s")).unwrap_err();
    assert!(error.contains("needs an image"), "{error}");
    for sandbox in ["relative/sandbox", "/srv/a:b"] {
        let error = prepare(
            Some(&docker_config(Vec::new())),
            &program,
            None,
            Path::new(sandbox),
        )
        .unwrap_err();
        assert!(error.contains("cannot mount the sandbox"), "{error}");
    }
}
