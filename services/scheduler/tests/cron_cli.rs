//! `aurora cron schedule | show | start | deschedule` end to end against
//! `aurora-scheduler --dev`, with the permission checks an authenticated scheduler makes.

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value shown, which is what we want

#[path = "../../../cli/tests/support/mod.rs"]
mod cli_support;
mod support;

use cli_support::{Cli, SERVICE, code, stderr, stdout};
use support::{become_subreaper, free_port, scheduler, tasks, wait_for, workspace_binary};

/// A batch job that fires at 03:00 every day, so that nothing but `cron start` runs it here.
const NIGHTLY: &str = "\
sleep = Process(name = 'sleep', cmdline = 'exec sleep 600')
jobs = [Job(
  cluster = 'devcluster', role = 'tester', environment = 'test', name = 'nightly',
  instances = 2, cron_schedule = '0 3 * * *', cron_collision_policy = 'CANCEL_NEW',
  task = Task(name = 'nightly', processes = [sleep],
              resources = Resources(cpu = 0.1, ram = 16 * MB, disk = 16 * MB)))]
";

#[test]
fn cron_jobs_are_scheduled_shown_started_and_descheduled() {
    become_subreaper();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _scheduler = scheduler(&["--dev"], &dir.path().join("aurora-data"), port);
    let aurora = workspace_binary("aurora-cli", "aurora");
    let cli = Cli::new(aurora.parent().unwrap(), dir.path(), port);
    let config = dir.path().join("nightly.aurora");
    std::fs::write(&config, NIGHTLY).unwrap();
    let config = config.to_str().unwrap();
    let key = "devcluster/tester/test/nightly";

    // `job create` will not start a cron job; `cron schedule` stores it and runs nothing.
    let created = cli.aurora(&["job", "create", key, config]);
    assert_ne!(code(&created), Some(0));
    assert!(
        stderr(&created).contains("aurora cron schedule"),
        "{}",
        stderr(&created)
    );
    let scheduled = cli.aurora(&["cron", "schedule", key, config]);
    assert_eq!(code(&scheduled), Some(0), "{}", stderr(&scheduled));
    assert!(stderr(&scheduled).contains("Cron job scheduled"));
    assert!(tasks(port, "tester/test/nightly").is_empty());

    let shown = cli.aurora(&["cron", "show", key]);
    assert_eq!(code(&shown), Some(0), "{}", stderr(&shown));
    assert_eq!(stdout(&shown), format!("{key}\t 0 3 * * *\t CANCEL_NEW\n"));
    assert!(
        stderr(&shown).contains(" 03:00:00 UTC"),
        "{}",
        stderr(&shown)
    );

    // `job status` shows tasks only, as Aurora's: a cron job between runs has none (exit 6;
    // `cron show` above is where its schedule is). `job list` lists it before it ever ran.
    let status = cli.aurora(&["job", "status", key]);
    assert_eq!(code(&status), Some(6), "{}", stderr(&status));
    assert!(
        stderr(&status).contains(&format!("Found no jobs matching {key}")),
        "{}",
        stderr(&status)
    );
    let listed = cli.aurora(&["job", "list", "devcluster/tester"]);
    assert!(stdout(&listed).contains(key), "{}", stdout(&listed));

    // Started now: both instances launch.
    let started = cli.aurora(&["cron", "start", key]);
    assert_eq!(code(&started), Some(0), "{}", stderr(&started));
    wait_for("the started run's tasks", || {
        tasks(port, "tester/test/nightly").len() == 2
    });
    // Started again while that run is active: CANCEL_NEW skips it, and says so.
    let skipped = cli.aurora(&["cron", "start", key]);
    assert_eq!(code(&skipped), Some(0), "{}", stderr(&skipped));
    assert!(
        stderr(&skipped).contains("Skipped: the job's previous run is still active"),
        "{}",
        stderr(&skipped)
    );
    assert_eq!(
        tasks(port, "tester/test/nightly").len(),
        2,
        "nothing launched"
    );
    // A service cannot be a cron job, and a job without a schedule is not one.
    let service = dir.path().join("sleeper.aurora");
    std::fs::write(
        &service,
        SERVICE.replace(
            "instances = 2,",
            "instances = 2, cron_schedule = '* * * * *',",
        ),
    )
    .unwrap();
    let refused = cli.aurora(&[
        "cron",
        "schedule",
        "devcluster/tester/test/sleeper",
        service.to_str().unwrap(),
    ]);
    assert_ne!(code(&refused), Some(0));
    assert!(
        stderr(&refused).contains("A service task may not be run on a cron schedule"),
        "{}",
        stderr(&refused)
    );

    // Descheduled: no longer a cron job; its running tasks are left alone.
    let descheduled = cli.aurora(&["cron", "deschedule", key]);
    assert_eq!(code(&descheduled), Some(0), "{}", stderr(&descheduled));
    let gone = cli.aurora(&["cron", "show", key]);
    assert_eq!(code(&gone), Some(6), "Aurora's invalid-parameter exit");
    assert!(
        stderr(&gone).contains(&format!("No cron entry found for job {key}")),
        "{}",
        stderr(&gone)
    );
    // Descheduling again is not an error (Aurora: "not scheduled with cron", succeeded).
    let twice = cli.aurora(&["cron", "deschedule", key]);
    assert_eq!(code(&twice), Some(0), "{}", stderr(&twice));
    assert!(
        stdout(&twice).contains("Cron descheduling succeeded."),
        "{}",
        stdout(&twice)
    );
    let left = tasks(port, "tester/test/nightly");
    assert_eq!(left.len(), 2, "{left:?}");
    let again = cli.aurora(&["cron", "start", key]);
    assert_ne!(code(&again), Some(0));
}
