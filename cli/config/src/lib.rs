//! # aurora-config
//!
//! Loads Apache Aurora `.aurora` configuration files into [`JobConfig`]s: the job key, instance
//! count, update settings and a fully materialised [`aurora_events::TaskConfig`].
//!
//! An `.aurora` file is Python using the Pystachio/Aurora vocabulary (`Process`, `Task`, `Job`,
//! `Resources`, `{{templates}}`, `.bind()`, `class Profile(Struct)`, `include()`...). It is
//! evaluated hermetically with the `starlark` crate:
//!
//! ```text
//! .aurora text ─▶ source::pretransform (class → Struct(...), imports, 'a' 'b', u'')
//!              ─▶ rewrite (calls → _call, attributes → _getattr; split at include())
//!              ─▶ eval (Starlark; DSL objects from dsl/vocab/helpers; `jobs` collected)
//!              ─▶ materialise (templates resolved, Aurora's checks) ─▶ JobConfig
//! ```
//!
//! Every transform keeps line breaks where they were and maps each byte back to the original,
//! so errors ([`ConfigError`]) point at the user's file, line and column. Evaluation is pure:
//! no clock, no randomness, no process environment (`os.getenv` and `os.environ` read
//! [`LoadOptions::env`], `getpass.getuser()` returns [`LoadOptions::user`]), no I/O except
//! reading included files.
//!
//! Python's usual imports work as far as they can be honoured that way: `import os` (`getenv`,
//! `environ`, `path.join`/`basename`/`dirname`), `import getpass`, `import json` (`dumps`,
//! `loads`), `from __future__ import ...` (a no-op), in the `import a.b as c` and
//! `from a import (b as c, d)` forms. Any other module (`subprocess`, `random`, `datetime`,
//! `sys`, `re`...) is refused at its `file:line:col`, saying why.
//!
//! Templates: `{{...}}` references are resolved when a job is materialised, through the scopes
//! Pystachio uses (the struct's own fields, its bindings, the enclosing structs). References
//! the executor fills in at launch — `{{mesos.instance}}`, `{{mesos.hostname}}`,
//! `{{thermos.task_id}}`, `{{thermos.ports[NAME]}}` — stay in command lines as written, and
//! every `thermos.ports[NAME]` becomes a requested port. Any other unbound reference is an
//! error. The announcer's portmap is applied here rather than by the executor:
//! `{{thermos.ports[ALIAS]}}` becomes `{{thermos.ports[PORT]}}` for an alias of `PORT`, or the
//! number for a fixed port (`{'admin': 8081}`), in command lines, shell health checks and the
//! HTTP lifecycle's port; an alias is never requested as a port of its own.
//!
//! Where this differs from Aurora, on purpose:
//!
//! - [`load_file`]/[`load_str`] materialise every job in `jobs`, so one broken job fails the
//!   load; [`load_file_selected`]/[`load_str_selected`] materialise only the job asked for, as
//!   Aurora does (the others are evaluated but only their keys are read);
//! - `Tasks.concat`/`Tasks.combine` keep the first task's identity and the given process order
//!   (Thermos uses the last task and a Python `set`);
//! - `production = True` without a `tier` selects `preferred`; with a non-production tier it is
//!   an error (Aurora 0.22 ignores the flag);
//! - an HTTP health check or HTTP lifecycle is only kept when its port is requested (the
//!   executor ignores it otherwise), and ports named by a shell health check are requested too;
//! - `None` for a field means unset (Pystachio would refuse to coerce it);
//! - a portmap entry for `health` (or a fixed lifecycle port) is refused when an HTTP health
//!   check or lifecycle would use it: the executor's HTTP checks reach allocated ports by name
//!   only (Aurora's executor follows the alias).
//!
//! Accepted but not carried into [`aurora_events::TaskConfig`] (it has no field for them):
//! `Job.task_links` (Aurora sends `{}` too), `Job.enable_hooks`, `Job.executor_config`,
//! `Task.user`, `Process.resources` (reserved by Thermos). Refused: `{{docker.image[...]}}`
//! bindings (they need the cluster's Docker registry; the error says to write the image).
//!
//! Carried for the cluster to judge: `Job.container` (`Docker`, `Mesos` with a `DockerImage`
//! or `AppcImage` and `Volume`s, the deprecated `Container(docker = ...)`) becomes
//! [`JobConfig::container`], and `Resources.gpu` becomes the task's GPUs. Nothing is refused
//! at load time for these: the cluster refuses at `job create` what it cannot run.
//!
//! Depends only on `aurora-events` among our crates; never on the journal, storage or
//! messaging.

mod coerce;
mod container;
mod dsl;
mod error;
mod eval;
mod helpers;
mod json;
mod materialise;
mod modules;
mod pyjson;
mod pyre;
mod rewrite;
mod source;
mod template;
mod thermos;
mod value;
mod view;
mod vocab;

use std::collections::BTreeMap;
use std::path::Path;

pub use container::{Container, DockerParameter, Image, Volume, VolumeMode};
pub use error::ConfigError;
pub use json::constraint_spec;

/// How to load a config: `--bind name=value` bindings, and what the config may learn about
/// the machine it is loaded on (nothing else is read from it).
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Applied to every job, as Aurora's `--bind` does: after the config's own `.bind()`s,
    /// below the job's own fields.
    pub bindings: Vec<(String, String)>,
    /// What `os.getenv(name)` and `os.environ` return. The process environment is never read.
    pub env: BTreeMap<String, String>,
    /// What `getpass.getuser()` returns (the client fills it from `$USER`). When `None`, a
    /// config that calls `getpass.getuser()` fails to load, saying no user is known.
    pub user: Option<String>,
}

/// The jobs a config defines, in the order of its `jobs` list.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub jobs: Vec<JobConfig>,
}

impl Loaded {
    /// The job matching cluster/role/env/name; error naming the available keys when absent
    /// (Aurora: "Could not find job ...").
    pub fn select(
        &self,
        cluster: &str,
        role: &str,
        env: &str,
        name: &str,
    ) -> Result<&JobConfig, ConfigError> {
        let keys: Vec<String> = self.jobs.iter().map(JobConfig::key_string).collect();
        let index = pick(&format!("{cluster}/{role}/{env}/{name}"), &keys)?;
        Ok(&self.jobs[index])
    }
}

/// The index of the one key equal to `wanted`, or Aurora's errors listing the candidates.
fn pick(wanted: &str, keys: &[String]) -> Result<usize, ConfigError> {
    let matches: Vec<usize> = (0..keys.len()).filter(|&i| keys[i] == wanted).collect();
    let candidates = || {
        let keys: Vec<String> = keys.iter().map(|k| format!("  {k}")).collect();
        keys.join("\n")
    };
    match matches.as_slice() {
        [index] => Ok(*index),
        [] => Err(ConfigError::new(
            "",
            0,
            0,
            format!(
                "Could not find job {wanted}\nCandidates are:\n{}",
                candidates()
            ),
        )),
        _ => Err(ConfigError::new(
            "",
            0,
            0,
            format!(
                "Multiple jobs match {wanted}, please disambiguate.\nCandidates are:\n{}",
                candidates()
            ),
        )),
    }
}

/// One job, materialised.
#[derive(Debug, Clone, PartialEq)]
pub struct JobConfig {
    pub cluster: String,
    /// role/env/name.
    pub key: aurora_events::JobKey,
    pub instances: u32,
    /// Fully materialised: templates resolved except the executor's runtime references.
    pub task: aurora_events::TaskConfig,
    pub cron_schedule: Option<String>,
    /// `KILL_EXISTING`, `CANCEL_NEW` or `RUN_OVERLAP`; set when the job is a cron job or the
    /// config chose a policy other than the default (`KILL_EXISTING`).
    pub cron_collision_policy: Option<String>,
    /// From `UpdateConfig`, with Aurora's defaults.
    pub update: aurora_events::update::UpdateSettings,
    /// `Job.container` as written; `None` is the default (Mesos containerizer, no image).
    /// Carried, never refused here: the cluster refuses at `job create` what it cannot run.
    pub container: Option<Container>,
}

impl JobConfig {
    /// `cluster/role/env/name`.
    pub fn key_string(&self) -> String {
        format!("{}/{}", self.cluster, self.key)
    }

    /// Pystachio-shaped JSON like Aurora's `job inspect --write-json`: `name`, `role`,
    /// `environment`, `cluster`, `instances`, `service`, `tier`, `priority`, `production`,
    /// `max_task_failures`, `contact`, `cron_schedule`, `cron_collision_policy`,
    /// `constraints`, `metadata`, `task` (`name`, `processes`, `constraints` as
    /// `[{"order": [...]}]`, `resources` with ram and disk in bytes, `max_failures`,
    /// `max_concurrency`, `finalization_wait`), `health_check_config`, `lifecycle`,
    /// `announce`, `partition_policy`, `sla_policy`, `update_config`, `container` (as
    /// `{"docker": {...}}` or `{"mesos": {...}}`). Unset optional fields
    /// are left out. [`load_json`] reads it back to an equal job.
    pub fn to_json(&self) -> serde_json::Value {
        json::to_json(self)
    }
}

/// Loads a `.aurora` file and materialises every job in it (for verbs that show the whole
/// config); includes are read relative to its directory.
pub fn load_file(path: &Path, options: &LoadOptions) -> Result<Loaded, ConfigError> {
    load_str(&path.to_string_lossy(), &read(path)?, options)
}

/// Loads a `.aurora` file and materialises only the job `cluster/role/env/name`, as Aurora's
/// client does for the verbs that act on one job: the other jobs in `jobs` may use features
/// this cluster lacks or templates only their own `--bind`s fill. Errors as [`Loaded::select`]
/// when no job (or more than one) has that key.
pub fn load_file_selected(
    path: &Path,
    options: &LoadOptions,
    cluster: &str,
    role: &str,
    env: &str,
    name: &str,
) -> Result<JobConfig, ConfigError> {
    let display = path.to_string_lossy();
    let source = read(path)?;
    load_str_selected(&display, &source, options, cluster, role, env, name)
}

/// [`load_file_selected`] for config text named `file_name`.
pub fn load_str_selected(
    file_name: &str,
    source: &str,
    options: &LoadOptions,
    cluster: &str,
    role: &str,
    env: &str,
    name: &str,
) -> Result<JobConfig, ConfigError> {
    let instances = eval::jobs(file_name, source, &options.env, options.user.as_deref())?;
    let views = instances
        .iter()
        .map(|job| materialise::prepare(job, &options.bindings))
        .collect::<Result<Vec<_>, _>>()?;
    // A job's key is read without materialising it, so a broken job elsewhere in the list
    // neither stops the selection nor hides among the candidates.
    let keys: Vec<String> = views.iter().map(materialise::key_text).collect();
    let index = pick(&format!("{cluster}/{role}/{env}/{name}"), &keys)?;
    materialise::materialise(&views[index])
}

/// The `cluster/role/env/name` of every job in a `.aurora` file, in the order of its `jobs`
/// list, without materialising any (Aurora's `config list`): a template only `--bind`
/// fills at `job create` does not stop the listing.
pub fn job_keys_file(path: &Path, options: &LoadOptions) -> Result<Vec<String>, ConfigError> {
    job_keys_str(&path.to_string_lossy(), &read(path)?, options)
}

/// [`job_keys_file`] for config text named `file_name`.
pub fn job_keys_str(
    file_name: &str,
    source: &str,
    options: &LoadOptions,
) -> Result<Vec<String>, ConfigError> {
    let instances = eval::jobs(file_name, source, &options.env, options.user.as_deref())?;
    instances
        .iter()
        .map(|job| materialise::prepare(job, &options.bindings).map(|v| materialise::key_text(&v)))
        .collect()
}

fn read(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|e| {
        ConfigError::new(
            &path.to_string_lossy(),
            0,
            0,
            format!("cannot read the config: {e}"),
        )
    })
}

/// Loads config text named `file_name` (in errors); `include()` is relative to `file_name`'s
/// directory. Every job is materialised, so one broken job fails the load.
pub fn load_str(
    file_name: &str,
    source: &str,
    options: &LoadOptions,
) -> Result<Loaded, ConfigError> {
    let instances = eval::jobs(file_name, source, &options.env, options.user.as_deref())?;
    let jobs = instances
        .iter()
        .map(|job| materialise::job(job, &options.bindings))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Loaded { jobs })
}

/// `--read-json`: one job object in the shape of [`JobConfig::to_json`], a list of them, or
/// Aurora's `{"jobs": [...]}`. Errors name the file `<json>`.
pub fn load_json(source: &str) -> Result<Loaded, ConfigError> {
    let jobs = json::jobs_from_json(source)?
        .iter()
        .map(|job| materialise::job(job, &[]))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Loaded { jobs })
}
