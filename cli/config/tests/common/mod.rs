//! Shared by the integration tests: where the fixtures are and how they are loaded.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use aurora_config::{ConfigError, JobConfig, LoadOptions, Loaded, load_file, load_file_selected};

/// Every fixture that loads. (The `*_as_written` and `*_undefined`/`*_indented` ones must
/// fail; `errors.rs` checks where.)
pub const FIXTURES: &[&str] = &[
    "hello_world",
    "hello_world_productionized",
    "profile",
    "nested_templates",
    "sequential",
    "thermos_profile",
    "combine",
    "simple_task",
    "service_features",
];

/// `tests/` of this crate, found at run time (so that a moved checkout still works).
pub fn tests_dir() -> PathBuf {
    PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
        .join("tests")
}

pub fn fixture(name: &str) -> PathBuf {
    tests_dir().join("fixtures").join(name)
}

/// The environment the fixtures are loaded with: `$USER` is `alice`, and so is the user.
pub fn options() -> LoadOptions {
    LoadOptions {
        bindings: Vec::new(),
        env: BTreeMap::from([("USER".to_string(), "alice".to_string())]),
        user: Some("alice".to_string()),
    }
}

pub fn load(name: &str) -> Result<Loaded, ConfigError> {
    load_file(&fixture(name), &options())
}

pub fn loaded(name: &str) -> Loaded {
    load(name).unwrap_or_else(|e| panic!("{name} should load: {e}"))
}

pub fn failure(name: &str) -> ConfigError {
    match load(name) {
        Ok(l) => panic!("{name} should fail, loaded {} jobs", l.jobs.len()),
        Err(e) => e,
    }
}

/// The job `cluster/role/env/name` of fixture `name`, selected (the others not materialised),
/// with `bindings` as `--bind` values.
pub fn selected(
    name: &str,
    key: [&str; 4],
    bindings: &[(&str, &str)],
) -> Result<JobConfig, ConfigError> {
    let mut options = options();
    options.bindings = bindings
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let [cluster, role, env, job] = key;
    load_file_selected(&fixture(name), &options, cluster, role, env, job)
}
