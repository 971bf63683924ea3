//! The clients without a scheduler: configs are evaluated offline (`config list`,
//! `job inspect`), and bad configs, keys, clusters, commands and units exit with Aurora's codes.

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value shown, which is what we want

mod support;

use std::path::Path;

use serde_json::Value;
use support::{Cli, SERVICE, code, stderr, stdout};

fn cli(dir: &Path) -> Cli {
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_aurora"))
        .parent()
        .unwrap()
        .to_path_buf();
    Cli::new(&bin_dir, dir, 1)
}

#[test]
fn configs_are_listed_and_inspected_offline() {
    let dir = tempfile::tempdir().unwrap();
    let cli = cli(dir.path());
    let config = dir.path().join("sleeper.aurora");
    std::fs::write(&config, SERVICE).unwrap();
    let config = config.to_str().unwrap();
    let listed = cli.aurora(&["config", "list", config]);
    assert_eq!(code(&listed), Some(0));
    assert_eq!(
        stdout(&listed).trim(),
        "jobs=[devcluster/tester/test/sleeper]"
    );
    // A template only `--bind` fills (at `job create`) does not stop the listing, as in
    // Aurora, where `config list` reads the keys only.
    let templated = dir.path().join("templated.aurora");
    let with_template = SERVICE.replace("sleep 600", "sleep {{ver}}");
    assert_ne!(with_template, SERVICE);
    std::fs::write(&templated, with_template).unwrap();
    let listed = cli.aurora(&["config", "list", templated.to_str().unwrap()]);
    assert_eq!(code(&listed), Some(0), "{}", stderr(&listed));
    assert_eq!(
        stdout(&listed).trim(),
        "jobs=[devcluster/tester/test/sleeper]"
    );

    let inspected = cli.aurora(&[
        "job",
        "inspect",
        "devcluster/tester/test/sleeper",
        config,
        "--write-json",
    ]);
    assert_eq!(code(&inspected), Some(0));
    let job: Value = serde_json::from_slice(&inspected.stdout).unwrap();
    assert_eq!(job["instances"], 2);
    assert_eq!(job["task"]["processes"][0]["cmdline"], "exec sleep 600");
    let text = cli.aurora(&["job", "inspect", "devcluster/tester/test/sleeper", config]);
    assert!(
        stdout(&text).contains("Process 'sleep':"),
        "{}",
        stdout(&text)
    );
    let raw = cli.aurora(&[
        "job",
        "inspect",
        "devcluster/tester/test/sleeper",
        config,
        "--raw",
    ]);
    let task: Value = serde_json::from_slice(&raw.stdout).unwrap();
    assert_eq!(task["is_service"], true);
    assert_eq!(task["resources"]["ram_mb"], 16);

    // --read-json takes back what --write-json printed.
    let json_config = dir.path().join("sleeper.json");
    std::fs::write(&json_config, &inspected.stdout).unwrap();
    let reread = cli.aurora(&[
        "job",
        "inspect",
        "devcluster/tester/test/sleeper",
        json_config.to_str().unwrap(),
        "--read-json",
        "--write-json",
    ]);
    assert_eq!(code(&reread), Some(0));
    assert_eq!(
        serde_json::from_slice::<Value>(&reread.stdout).unwrap(),
        job
    );

    let missing = cli.aurora(&["job", "inspect", "devcluster/tester/test/other", config]);
    assert_eq!(code(&missing), Some(3));
    assert!(
        stderr(&missing).contains("devcluster/tester/test/sleeper"),
        "names what exists"
    );
}

#[test]
fn a_syntax_error_exits_3_and_names_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let cli = cli(dir.path());
    let broken = dir.path().join("broken.aurora");
    std::fs::write(
        &broken,
        "hello = Process(name = 'hello', cmdline = 'echo hi')\n\njobs = [Job(name = 'x' role = 'r')]\n",
    )
    .unwrap();
    let created = cli.aurora(&[
        "job",
        "create",
        "devcluster/tester/test/x",
        broken.to_str().unwrap(),
    ]);
    assert_eq!(code(&created), Some(3));
    assert!(
        stderr(&created).contains("broken.aurora:3:"),
        "the error names line 3: {}",
        stderr(&created)
    );
}

#[test]
fn bad_keys_clusters_commands_and_units_exit_with_aurora_codes() {
    let dir = tempfile::tempdir().unwrap();
    let cli = cli(dir.path());
    let bad_key = cli.aurora(&["job", "status", "devcluster/a/b/c/d"]);
    assert_eq!(code(&bad_key), Some(6));
    let bad_instances = cli.aurora(&["job", "kill", "devcluster/r/prod/j/3-1"]);
    assert_eq!(code(&bad_instances), Some(6));
    assert!(stderr(&bad_instances).contains("backwards"));
    let unknown_cluster = cli.aurora(&["job", "list", "mars/tester"]);
    assert_eq!(code(&unknown_cluster), Some(6));
    assert!(stderr(&unknown_cluster).contains("mars"));
    let unreachable = cli.aurora(&["job", "list", "nowhere/tester"]);
    assert_eq!(code(&unreachable), Some(7));
    assert!(stderr(&unreachable).contains("cannot reach the scheduler"));
    let bad_verb = cli.aurora(&["job", "explode"]);
    assert_eq!(code(&bad_verb), Some(5));
    let help = cli.aurora(&["--help"]);
    assert_eq!(code(&help), Some(0));
    assert!(stdout(&help).contains("job"));
    let bad_unit = cli.admin(&["set_quota", "devcluster", "tester", "1", "lots", "1G"]);
    assert_eq!(code(&bad_unit), Some(6));
    let no_hosts = cli.admin(&["host_status", "devcluster"]);
    assert_eq!(code(&no_hosts), Some(6));
    let bad_bind = cli.aurora(&["config", "list", "x.aurora", "--bind", "novalue"]);
    assert_eq!(code(&bad_bind), Some(6));
}

#[test]
fn update_verbs_check_their_arguments_before_calling_the_scheduler() {
    let dir = tempfile::tempdir().unwrap();
    let cli = cli(dir.path());
    let cron = dir.path().join("cron.aurora");
    std::fs::write(
        &cron,
        SERVICE.replace("Service(", "Job(").replace(
            "instances = 2,",
            "instances = 2, cron_schedule = '* * * * *',",
        ),
    )
    .unwrap();
    let refused = cli.aurora(&[
        "update",
        "start",
        "devcluster/tester/test/sleeper",
        cron.to_str().unwrap(),
    ]);
    assert_eq!(code(&refused), Some(4));
    assert!(
        stderr(&refused).contains("Cron jobs may only be updated with \"aurora cron schedule\""),
        "{}",
        stderr(&refused)
    );
    let service = dir.path().join("sleeper.aurora");
    std::fs::write(&service, SERVICE).unwrap();
    // A job without a cron_schedule is not scheduled as a cron job; nothing is sent.
    let not_cron = cli.aurora(&[
        "cron",
        "schedule",
        "devcluster/tester/test/sleeper",
        service.to_str().unwrap(),
    ]);
    assert_eq!(code(&not_cron), Some(3), "{}", stderr(&not_cron));
    assert!(
        stderr(&not_cron).contains("has no cron_schedule"),
        "{}",
        stderr(&not_cron)
    );
    let beyond = cli.aurora(&[
        "update",
        "start",
        "devcluster/tester/test/sleeper/1-3",
        service.to_str().unwrap(),
        "--strict",
    ]);
    assert_eq!(code(&beyond), Some(6));
    assert!(stderr(&beyond).contains("Invalid instance parameter: [2, 3]"));
    let bad_status = cli.aurora(&["update", "list", "devcluster", "--status", "sideways"]);
    assert_eq!(code(&bad_status), Some(5));
    let bad_id = cli.aurora(&["update", "wait", "devcluster/tester/test/sleeper", "nope"]);
    assert_eq!(code(&bad_id), Some(6));
    let zero_batch = cli.aurora(&[
        "job",
        "restart",
        "devcluster/tester/test/sleeper",
        "--batch-size",
        "0",
    ]);
    assert_eq!(code(&zero_batch), Some(6));
    let unreachable = cli.aurora(&["update", "pause", "nowhere/tester/test/sleeper"]);
    assert_eq!(code(&unreachable), Some(7));
}

#[test]
fn version_is_the_bare_version_as_aurora_prints_it() {
    let dir = tempfile::tempdir().unwrap();
    let cli = cli(dir.path());
    for output in [cli.aurora(&["--version"]), cli.admin(&["--version"])] {
        assert_eq!(code(&output), Some(0));
        assert_eq!(stdout(&output), format!("{}\n", env!("CARGO_PKG_VERSION")));
    }
}
