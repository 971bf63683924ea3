//! `Job.container` is carried as written — `Docker`, `Mesos` with a Docker or Appc image and
//! volumes, the deprecated `Container(docker = ...)` — and survives the JSON round trip.

use aurora_config::{
    Container, DockerParameter, Image, LoadOptions, Volume, VolumeMode, load_json, load_str,
};
use pretty_assertions::assert_eq;

fn container(spec: &str) -> Result<Option<Container>, aurora_config::ConfigError> {
    let source = format!(
        "jobs = [Job(cluster = 'c', role = 'r', environment = 'e', task = SimpleTask('t', 'true'),\n  container = {spec})]\n"
    );
    let loaded = load_str("containers.aurora", &source, &LoadOptions::default())?;
    let job = &loaded.jobs[0];
    let back = load_json(&job.to_json().to_string()).expect("reads its own JSON");
    assert_eq!(back.jobs[0], *job, "JSON round trip of {spec}");
    Ok(job.container.clone())
}

#[test]
fn docker_containers_keep_image_and_parameters() {
    let docker = Container::Docker {
        image: "nginx:1.25".into(),
        parameters: vec![DockerParameter {
            name: "env".into(),
            value: "MODE=test".into(),
        }],
    };
    let spec = "Docker(image = 'nginx:1.25', parameters = [Parameter(name = 'env', value = 'MODE={{mode}}')]).bind(mode = 'test')";
    assert_eq!(container(spec).expect("loads"), Some(docker.clone()));
    let deprecated = "Container(docker = Docker(image = 'nginx:1.25', parameters = [Parameter(name = 'env', value = 'MODE=test')]))";
    assert_eq!(container(deprecated).expect("loads"), Some(docker));
}

#[test]
fn mesos_containers_keep_image_and_volumes() {
    let spec = "Mesos(image = DockerImage(name = 'app', tag = 'v2'),\n  volumes = [Volume(container_path = 'etc/app', host_path = '/etc/app', mode = Mode('RO')),\n    Volume(container_path = 'data', host_path = '/srv/data', mode = 'RW')])";
    assert_eq!(
        container(spec).expect("loads"),
        Some(Container::Mesos {
            image: Some(Image::Docker {
                name: "app".into(),
                tag: "v2".into()
            }),
            volumes: vec![
                Volume {
                    container_path: "etc/app".into(),
                    host_path: "/etc/app".into(),
                    mode: VolumeMode::ReadOnly
                },
                Volume {
                    container_path: "data".into(),
                    host_path: "/srv/data".into(),
                    mode: VolumeMode::ReadWrite
                },
            ],
        })
    );
    assert_eq!(
        container("Mesos(image = AppcImage(name = 'app', image_id = 'sha512-1'))").expect("loads"),
        Some(Container::Mesos {
            image: Some(Image::Appc {
                name: "app".into(),
                image_id: "sha512-1".into()
            }),
            volumes: Vec::new(),
        })
    );
    assert_eq!(
        container("Mesos()").expect("loads"),
        Some(Container::Mesos {
            image: None,
            volumes: Vec::new()
        })
    );
}

#[test]
fn aurora_written_container_json_is_read_too() {
    let base = serde_json::json!({
        "name": "t", "role": "r", "environment": "e", "cluster": "c",
        "task": {"name": "t", "processes": [{"name": "t", "cmdline": "true"}],
                 "resources": {"cpu": 1.0, "ram": 1048576, "disk": 1048576}},
    });
    let read = |container: serde_json::Value| {
        let mut job = base.clone();
        job["container"] = container;
        load_json(&job.to_string()).expect("loads").jobs[0]
            .container
            .clone()
    };
    // Pystachio writes the chosen struct itself, without saying which it is.
    assert_eq!(
        read(serde_json::json!({"image": "busybox", "parameters": []})),
        Some(Container::Docker {
            image: "busybox".into(),
            parameters: Vec::new()
        })
    );
    assert_eq!(
        read(serde_json::json!({"image": {"name": "app", "tag": "v1"}, "volumes": []})),
        Some(Container::Mesos {
            image: Some(Image::Docker {
                name: "app".into(),
                tag: "v1".into()
            }),
            volumes: Vec::new()
        })
    );
}

#[test]
fn container_errors_point_at_the_container() {
    let e = container("Volume(container_path = 'a', host_path = 'b', mode = 'RO')")
        .expect_err("not a container");
    assert_eq!((e.line, e.column), (1, 9));
    assert_eq!(
        e.message,
        "Job.container must be a Choice_Container_Docker_Mesos, got a Volume"
    );
    let e =
        container("Mesos(volumes = [Volume(container_path = 'a', host_path = 'b', mode = 'XX')])")
            .expect_err("bad mode");
    assert_eq!((e.line, e.column), (2, 32));
    assert_eq!(
        e.message,
        "Volume.mode: Mode must be one of RO, RW, got \"XX\""
    );
    let e = container("Docker(image = '{{docker.image[app][latest]}}')").expect_err("registry");
    assert_eq!((e.line, e.column), (2, 15));
    assert!(
        e.message.starts_with(
            "{{docker.image[app][latest]}} asks the client to look the image up in the cluster's Docker registry"
        ),
        "{e}"
    );
    let e = container("Container()").expect_err("empty wrapper");
    assert!(e.message.starts_with("Container() must set docker"), "{e}");
}
