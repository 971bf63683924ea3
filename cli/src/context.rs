//! What every command gets from its environment: the clusters, the acting user, the
//! environment variables configs may read, and how to print.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::Path;

use aurora_config::{LoadOptions, Loaded};

use crate::client::Client;
use crate::clusters::Clusters;
use crate::exit::{CliError, CliResult};

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
        let options = LoadOptions {
            bindings,
            env: self.env.clone(),
        };
        aurora_config::load_file(path, &options)
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
