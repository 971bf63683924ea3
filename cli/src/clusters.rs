//! Cluster definitions (`clusters.json`), as Aurora's client reads them: a list of
//! `{"name", "scheduler_uri", ...}` entries from `$AURORA_CONFIG_ROOT` (a directory holding
//! `clusters.json`, default `/etc/aurora`) and then `~/.aurora/clusters.json`, later files
//! overriding earlier ones by name. With no definition at all, `devcluster` is the local
//! `aurora-scheduler --dev` at `http://127.0.0.1:8081`. A replicated scheduler's
//! `scheduler_uri` lists its replicas comma-separated (`"http://s1:8081,http://s2:8081"`).
//! `nats_uri` (this project's addition) names the NATS server of the cluster's JetStream
//! mirror.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::exit::{CliError, ExitCode};

/// Where `aurora-scheduler --dev` listens by default.
pub const DEVCLUSTER_URI: &str = "http://127.0.0.1:8081";

/// One cluster entry. Fields this client does not use (`zk`, `auth_mechanism`, ...) are kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cluster {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduler_uri: Option<String>,
    /// The NATS server(s) holding the cluster's JetStream mirror (`nats://host:4222`), read by
    /// `aurora events tail` and `aurora-admin journal verify --against-stream`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nats_uri: Option<String>,
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

/// Every known cluster, by name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Clusters {
    by_name: BTreeMap<String, Cluster>,
}

/// A file's entries: a list, or a single object.
#[derive(Deserialize)]
#[serde(untagged)]
enum ClustersFile {
    Many(Vec<Cluster>),
    One(Cluster),
}

impl Clusters {
    /// Parses `(path, contents)` pairs in order; a later file's entry replaces an earlier one
    /// of the same name.
    pub fn parse(files: &[(PathBuf, String)]) -> Result<Self, CliError> {
        let mut by_name = BTreeMap::new();
        for (path, contents) in files {
            let entries = match serde_json::from_str::<ClustersFile>(contents) {
                Ok(ClustersFile::Many(entries)) => entries,
                Ok(ClustersFile::One(entry)) => vec![entry],
                Err(error) => {
                    return Err(CliError::invalid_config(format!(
                        "{}: not a clusters file (a list of {{\"name\", \"scheduler_uri\", ...}}): {error}",
                        path.display()
                    )));
                }
            };
            for entry in entries {
                by_name.insert(entry.name.clone(), entry);
            }
        }
        Ok(Self { by_name })
    }

    /// Reads the clusters files that exist: `$AURORA_CONFIG_ROOT/clusters.json` (or the file
    /// itself when the variable names a file; default `/etc/aurora/clusters.json`), then
    /// `$HOME/.aurora/clusters.json`.
    pub fn load(config_root: Option<&str>, home: Option<&str>) -> Result<Self, CliError> {
        let root = PathBuf::from(config_root.unwrap_or("/etc/aurora"));
        let system = if root.is_file() {
            root
        } else {
            root.join("clusters.json")
        };
        let mut paths = vec![system];
        if let Some(home) = home {
            paths.push(Path::new(home).join(".aurora/clusters.json"));
        }
        let mut files = Vec::new();
        for path in paths {
            match std::fs::read_to_string(&path) {
                Ok(contents) => files.push((path, contents)),
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                Err(error) => {
                    return Err(CliError::invalid_config(format!(
                        "cannot read {}: {error}",
                        path.display()
                    )));
                }
            }
        }
        Self::parse(&files)
    }

    /// The scheduler URL of `name`: the first of its replicas, for links printed without
    /// asking which replica answers.
    pub fn scheduler_uri(&self, name: &str) -> Result<String, CliError> {
        let uris = self.scheduler_uris(name)?;
        uris.into_iter()
            .next()
            .ok_or_else(|| no_scheduler_uri(name))
    }

    /// The scheduler URLs of `name`: its `scheduler_uri`, which lists a replicated
    /// scheduler's replicas comma-separated, in the order they are tried. Each must be an
    /// `http://` or `https://` URL: anything else is a configuration error naming the cluster
    /// and the value, rather than a network error from the first call.
    pub fn scheduler_uris(&self, name: &str) -> Result<Vec<String>, CliError> {
        match self.by_name.get(name) {
            Some(Cluster {
                scheduler_uri: Some(uri),
                ..
            }) => {
                let uris: Vec<String> = uri
                    .split(',')
                    .map(|uri| uri.trim().trim_end_matches('/'))
                    .filter(|uri| !uri.is_empty())
                    .map(str::to_string)
                    .collect();
                if uris.is_empty() {
                    return Err(no_scheduler_uri(name));
                }
                for uri in &uris {
                    check_scheduler_uri(name, uri)?;
                }
                Ok(uris)
            }
            Some(_) => Err(no_scheduler_uri(name)),
            None if name == "devcluster" && !self.by_name.contains_key(name) => {
                Ok(vec![DEVCLUSTER_URI.to_string()])
            }
            None => {
                let known: Vec<&str> = self.by_name.keys().map(String::as_str).collect();
                let known = if known.is_empty() {
                    "none are configured (clusters.json)".to_string()
                } else {
                    format!("known: {}", known.join(", "))
                };
                Err(CliError::invalid_parameter(format!(
                    "unknown cluster {name:?}; {known}"
                )))
            }
        }
    }

    /// The NATS URL of `name`'s stream mirror, if its entry names one.
    pub fn nats_uri(&self, name: &str) -> Option<String> {
        self.by_name
            .get(name)
            .and_then(|cluster| cluster.nats_uri.clone())
            .filter(|uri| !uri.trim().is_empty())
    }

    /// `name`'s entry, as clusters.json gave it.
    pub fn entry(&self, name: &str) -> Option<&Cluster> {
        self.by_name.get(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.by_name.keys().map(String::as_str)
    }
}

/// Refuses a `scheduler_uri` entry the HTTP client could not call: not a URL, another scheme,
/// or no host.
fn check_scheduler_uri(name: &str, uri: &str) -> Result<(), CliError> {
    let problem = match reqwest::Url::parse(uri) {
        Err(error) => Some(error.to_string()),
        Ok(url) if !matches!(url.scheme(), "http" | "https") => {
            Some(format!("scheme {:?}", url.scheme()))
        }
        Ok(url) if url.host_str().is_none_or(str::is_empty) => Some("no host".to_string()),
        Ok(_) => None,
    };
    match problem {
        None => Ok(()),
        Some(problem) => Err(CliError::invalid_config(format!(
            "cluster {name:?} in clusters.json: scheduler_uri {uri:?} is not a scheduler URL \
             ({problem}); it must start with http:// or https://, e.g. http://{}",
            uri.split_once("://").map_or(uri, |(_, rest)| rest)
        ))),
    }
}

fn no_scheduler_uri(name: &str) -> CliError {
    CliError::new(
        ExitCode::InvalidConfig,
        format!("cluster {name:?} has no scheduler_uri in clusters.json"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(contents: &str) -> (PathBuf, String) {
        (PathBuf::from("clusters.json"), contents.to_string())
    }

    #[test]
    fn later_files_override_and_devcluster_defaults_to_local() {
        let clusters = Clusters::parse(&[
            file(r#"[{"name": "east", "scheduler_uri": "http://east:8081/", "zk": "zk1"}]"#),
            file(r#"{"name": "east", "scheduler_uri": "http://east2:8081"}"#),
        ])
        .unwrap();
        assert_eq!(clusters.scheduler_uri("east").unwrap(), "http://east2:8081");
        assert_eq!(
            clusters.scheduler_uri("devcluster").unwrap(),
            DEVCLUSTER_URI
        );
        let unknown = clusters.scheduler_uri("west").unwrap_err();
        assert_eq!(unknown.code, ExitCode::InvalidParameter);
        assert!(unknown.message.contains("known: east"), "{unknown}");
    }

    #[test]
    fn a_scheduler_uri_may_list_replicas() {
        let clusters = Clusters::parse(&[file(
            r#"[{"name": "east", "scheduler_uri": "http://e1:8081/, http://e2:8081,"},
                {"name": "blank", "scheduler_uri": " , "}]"#,
        )])
        .unwrap();
        assert_eq!(
            clusters.scheduler_uris("east").unwrap(),
            ["http://e1:8081", "http://e2:8081"]
        );
        assert_eq!(clusters.scheduler_uri("east").unwrap(), "http://e1:8081");
        assert_eq!(
            clusters.scheduler_uris("devcluster").unwrap(),
            [DEVCLUSTER_URI]
        );
        let blank = clusters.scheduler_uris("blank").unwrap_err();
        assert_eq!(blank.code, ExitCode::InvalidConfig);
    }

    #[test]
    fn a_scheduler_uri_that_is_not_an_http_url_is_a_config_error_naming_it() {
        let clusters = Clusters::parse(&[file(
            r#"[{"name": "bare", "scheduler_uri": "127.0.0.1:18303"},
                {"name": "ftp", "scheduler_uri": "http://ok:8081,ftp://x"},
                {"name": "hostless", "scheduler_uri": "http://"},
                {"name": "good", "scheduler_uri": "https://s1:8081,http://[::1]:8081"}]"#,
        )])
        .unwrap();
        for (name, value) in [
            ("bare", "127.0.0.1:18303"),
            ("ftp", "ftp://x"),
            ("hostless", "http:"),
        ] {
            let error = clusters.scheduler_uris(name).unwrap_err();
            assert_eq!(error.code, ExitCode::InvalidConfig, "{error}");
            assert!(
                error.message.contains(&format!("cluster {name:?}"))
                    && error.message.contains(&format!("{value:?}"))
                    && error.message.contains("http:// or https://"),
                "{error}"
            );
        }
        assert_eq!(
            clusters.scheduler_uris("good").unwrap(),
            ["https://s1:8081", "http://[::1]:8081"]
        );
    }

    #[test]
    fn a_configured_devcluster_wins_and_bad_files_are_named() {
        let clusters = Clusters::parse(&[file(
            r#"[{"name": "devcluster", "scheduler_uri": "http://10.0.0.1:8081"}]"#,
        )])
        .unwrap();
        assert_eq!(
            clusters.scheduler_uri("devcluster").unwrap(),
            "http://10.0.0.1:8081"
        );
        let bad = Clusters::parse(&[file("[{\"scheduler_uri\": 1}]")]).unwrap_err();
        assert_eq!(bad.code, ExitCode::InvalidConfig);
        assert!(bad.message.contains("clusters.json"), "{bad}");
    }
}
