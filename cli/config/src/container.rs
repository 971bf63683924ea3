//! `Job.container`: the containerizer a job asks for (Aurora's `Docker`, `Mesos` with a
//! `DockerImage`/`AppcImage` and `Volume`s, and the deprecated `Container(docker = ...)`), as
//! [`Container`], and its JSON.
//!
//! The loader only carries the request: whether the cluster can run it (a Docker engine,
//! image provisioning, volumes) is the cluster's decision when the job is created.

use serde_json::{Value as Json, json};

use crate::view::{R, View};
use crate::vocab::VOCAB;

/// The container a job's tasks run in, as the config asks for it. `None` in
/// [`crate::JobConfig::container`] is Aurora's default: the Mesos containerizer, no image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Container {
    /// `Docker(image = ..., parameters = [...])`: run in the Docker engine.
    Docker {
        /// As written, e.g. `nginx:1.25`.
        image: String,
        /// `docker run` options, in order (Aurora passes them only with
        /// `-allow_docker_parameters`).
        parameters: Vec<DockerParameter>,
    },
    /// `Mesos(image = ..., volumes = [...])`: the Mesos containerizer, with an image to
    /// provision as the task's root file system when one is given.
    Mesos {
        image: Option<Image>,
        volumes: Vec<Volume>,
    },
}

/// `Parameter(name = 'env', value = 'X=1')`: one `--name=value` option of `docker run`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DockerParameter {
    pub name: String,
    pub value: String,
}

/// The image of a Mesos container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Image {
    /// `DockerImage(name = ..., tag = ...)`.
    Docker { name: String, tag: String },
    /// `AppcImage(name = ..., image_id = ...)`.
    Appc { name: String, image_id: String },
}

/// `Volume(container_path = ..., host_path = ..., mode = Mode('RO'))`: a host path mounted
/// into a Mesos container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    pub container_path: String,
    pub host_path: String,
    pub mode: VolumeMode,
}

/// Aurora's `Mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VolumeMode {
    /// `RO`
    ReadOnly,
    /// `RW`
    ReadWrite,
}

impl VolumeMode {
    /// `RO` or `RW`, as configs and Aurora's JSON write it.
    pub fn as_str(self) -> &'static str {
        match self {
            VolumeMode::ReadOnly => "RO",
            VolumeMode::ReadWrite => "RW",
        }
    }
}

/// The job's container, if it names one.
impl Container {
    /// What the task config carries for the scheduler and agents: `None` for Aurora's default
    /// (the Mesos containerizer with no image and no volumes, a plain sandbox).
    pub fn to_task_container(&self) -> Option<aurora_events::config::Container> {
        use aurora_events::config::{self as events, ContainerImage};
        match self {
            Container::Docker { image, parameters } => Some(events::Container::Docker {
                image: image.clone(),
                parameters: parameters
                    .iter()
                    .map(|p| events::DockerParameter {
                        name: p.name.clone(),
                        value: p.value.clone(),
                    })
                    .collect(),
            }),
            Container::Mesos {
                image: None,
                volumes,
            } if volumes.is_empty() => None,
            Container::Mesos { image, volumes } => Some(events::Container::Mesos {
                image: image.as_ref().map(|image| match image {
                    Image::Docker { name, tag } => ContainerImage::Docker {
                        name: name.clone(),
                        tag: tag.clone(),
                    },
                    Image::Appc { name, image_id } => ContainerImage::Appc {
                        name: name.clone(),
                        image_id: image_id.clone(),
                    },
                }),
                volumes: volumes
                    .iter()
                    .map(|v| events::Volume {
                        container_path: v.container_path.clone(),
                        host_path: v.host_path.clone(),
                        read_only: v.mode == VolumeMode::ReadOnly,
                    })
                    .collect(),
            }),
        }
    }
}

pub(crate) fn materialise(j: &View) -> R<Option<Container>> {
    let Some(given) = j.child("container") else {
        return Ok(None);
    };
    let v = &*VOCAB;
    let c = if given.inst.is(&v.container) {
        given.child("docker").ok_or_else(|| {
            given.err(
                "Container() must set docker (or give Docker(...) or Mesos(...) as the \
                 container directly)",
            )
        })?
    } else {
        given
    };
    if c.inst.is(&v.docker) {
        let parameters = c
            .children("parameters")
            .iter()
            .map(|p| {
                Ok(DockerParameter {
                    name: p.required_string("name", "Parameter")?,
                    value: p.required_string("value", "Parameter")?,
                })
            })
            .collect::<R<Vec<_>>>()?;
        return Ok(Some(Container::Docker {
            image: c.required_string("image", "Docker")?,
            parameters,
        }));
    }
    let image = match c.child("image") {
        None => None,
        Some(i) if i.inst.is(&v.docker_image) => Some(Image::Docker {
            name: i.required_string("name", "DockerImage")?,
            tag: i.required_string("tag", "DockerImage")?,
        }),
        Some(i) => Some(Image::Appc {
            name: i.required_string("name", "AppcImage")?,
            image_id: i.required_string("image_id", "AppcImage")?,
        }),
    };
    let volumes = c
        .children("volumes")
        .iter()
        .map(|vol| {
            let mode = match vol.required_string("mode", "Volume")?.as_str() {
                "RO" => VolumeMode::ReadOnly,
                "RW" => VolumeMode::ReadWrite,
                other => {
                    return Err(vol.err(format!("Volume.mode must be RO or RW, got {other:?}")));
                }
            };
            Ok(Volume {
                container_path: vol.required_string("container_path", "Volume")?,
                host_path: vol.required_string("host_path", "Volume")?,
                mode,
            })
        })
        .collect::<R<Vec<_>>>()?;
    Ok(Some(Container::Mesos { image, volumes }))
}

/// `{"docker": {"image", "parameters"}}` or `{"mesos": {"image"?, "volumes"}}`: the shape of
/// Aurora's thrift `Container` union, with Pystachio's field names inside (a `{"docker": ...}`
/// object is also Pystachio's deprecated `Container`). [`unwrap_mesos`] reads the second back.
pub(crate) fn to_json(container: &Container) -> Json {
    match container {
        Container::Docker { image, parameters } => {
            let parameters: Vec<Json> = parameters
                .iter()
                .map(|p| json!({"name": p.name, "value": p.value}))
                .collect();
            json!({"docker": {"image": image, "parameters": parameters}})
        }
        Container::Mesos { image, volumes } => {
            let volumes: Vec<Json> = volumes
                .iter()
                .map(|v| {
                    json!({
                        "container_path": v.container_path,
                        "host_path": v.host_path,
                        "mode": v.mode.as_str(),
                    })
                })
                .collect();
            let mut mesos = json!({"volumes": volumes});
            match image {
                Some(Image::Docker { name, tag }) => {
                    mesos["image"] = json!({"name": name, "tag": tag});
                }
                Some(Image::Appc { name, image_id }) => {
                    mesos["image"] = json!({"name": name, "image_id": image_id});
                }
                None => {}
            }
            json!({ "mesos": mesos })
        }
    }
}

/// The `Mesos` object inside a `{"mesos": {...}}` container, which Pystachio's `Choice` would
/// not recognise (its `Container` only has `docker`); `None` for every other shape.
pub(crate) fn unwrap_mesos(container: &Json) -> Option<&Json> {
    match container.as_object() {
        Some(map) if map.len() == 1 => map.get("mesos"),
        _ => None,
    }
}
