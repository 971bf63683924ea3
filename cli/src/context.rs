//! What every command gets from its environment: the clusters, the acting user, the
//! environment variables configs may read, and how to print.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::Path;

use aurora_config::{JobConfig, LoadOptions, Loaded};

use crate::client::Client;
use crate::clusters::Clusters;
use crate::exit::{CliError, CliResult};
use crate::keys::ClusterJobKey;

#[derive(Debug, Clone)]
pub struct Context {
    pub clusters: Clusters,
    /// Sent as the actor of every mutation (until authentication lands).
    pub user: String,
    /// The process environment, for `os.getenv` in configs.
    pub env: BTreeMap<String, String>,
    /// Colours only on a terminal, and never with `NO_COLOR`.
    pub color: bool,
}

impl Context {
    /// Reads clusters files, `$USER` and the environment.
    pub fn from_process() -> CliResult<Self> {
        let env: BTreeMap<String, String> = std::env::vars().collect();
        let clusters = Clusters::load(
            env.get("AURORA_CONFIG_ROOT").map(String::as_str),
            env.get("HOME").map(String::as_str),
        )?;
        let user = env
            .get("USER")
            .or_else(|| env.get("LOGNAME"))
            .cloned()
            .unwrap_or_else(|| "unknown".to_string());
        let color = std::io::stdout().is_terminal() && !env.contains_key("NO_COLOR");
        Ok(Self {
            clusters,
            user,
            env,
            color,
        })
    }

    /// A client of `cluster`'s scheduler (trying each of its replicas in turn).
    pub fn client(&self, cluster: &str) -> CliResult<Client> {
        Client::new(&self.clusters.scheduler_uris(cluster)?, &self.user)
    }

    /// Loads a `.aurora` file (or, with `read_json`, a JSON job config) with `--bind` values.
    pub fn load_config(&self, path: &Path, binds: &[String], read_json: bool) -> CliResult<Loaded> {
        if read_json {
            let text = std::fs::read_to_string(path).map_err(|e| {
                CliError::invalid_config(format!("cannot read {}: {e}", path.display()))
            })?;
            return aurora_config::load_json(&text)
                .map_err(|e| CliError::invalid_config(e.to_string()));
        }
        let options = self.load_options(binds)?;
        aurora_config::load_file(path, &options)
            .map_err(|e| CliError::invalid_config(e.to_string()))
    }

    /// The keys of the jobs a config defines, none of them materialised (`config list`).
    pub fn config_keys(
        &self,
        path: &Path,
        binds: &[String],
        read_json: bool,
    ) -> CliResult<Vec<String>> {
        if read_json {
            let loaded = self.load_config(path, binds, read_json)?;
            return Ok(loaded.jobs.iter().map(|j| j.key_string()).collect());
        }
        let options = self.load_options(binds)?;
        aurora_config::job_keys_file(path, &options)
            .map_err(|e| CliError::invalid_config(e.to_string()))
    }

    /// `--bind` values and what configs may read of this process.
    fn load_options(&self, binds: &[String]) -> CliResult<LoadOptions> {
        let bindings = binds
            .iter()
            .map(|bind| {
                bind.split_once('=')
                    .map(|(name, value)| (name.trim().to_string(), value.to_string()))
                    .ok_or_else(|| {
                        CliError::invalid_parameter(format!("--bind {bind:?}: expected NAME=VALUE"))
                    })
            })
            .collect::<CliResult<Vec<_>>>()?;
        Ok(LoadOptions {
            bindings,
            env: self.env.clone(),
            // What `getpass.getuser()` returns, as Python finds it.
            user: self
                .env
                .get("LOGNAME")
                .or_else(|| self.env.get("USER"))
                .cloned(),
        })
    }

    /// Loads the job `key` from a `.aurora` file (or, with `read_json`, a JSON job config),
    /// materialising only that job, as Aurora does: the file's other jobs may use what this
    /// client or cluster lacks.
    pub fn load_selected(
        &self,
        path: &Path,
        binds: &[String],
        read_json: bool,
        key: &ClusterJobKey,
    ) -> CliResult<JobConfig> {
        let (cluster, role, env, name) = (
            key.cluster.as_str(),
            key.job.role.as_str(),
            key.job.environment.as_str(),
            key.job.name.as_str(),
        );
        if read_json {
            let loaded = self.load_config(path, binds, true)?;
            return loaded
                .select(cluster, role, env, name)
                .cloned()
                .map_err(|e| CliError::invalid_config(e.to_string()));
        }
        let options = self.load_options(binds)?;
        aurora_config::load_file_selected(path, &options, cluster, role, env, name)
            .map_err(|e| CliError::invalid_config(e.to_string()))
    }
}

/// Prints `value` as pretty JSON on stdout.
pub fn print_json(value: &impl serde::Serialize) -> CliResult {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| CliError::failure(format!("cannot render JSON: {e}")))?;
    println!("{text}");
    Ok(())
}

/// Wraps `text` in an ANSI colour when colours are on.
pub fn paint(color: bool, code: &str, text: &str) -> String {
    if color {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}
