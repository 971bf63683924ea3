//! Backups end to end, as Aurora's own end-to-end test does them: `aurora-admin
//! scheduler_backup_now`, `scheduler_list_backups`, stop the scheduler, restore the backup
//! into a new data directory (`aurora-scheduler --restore-from`), start on it, and find the
//! cluster as it was when the backup was taken.

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value shown, which is what we want

#[path = "../../../cli/tests/support/mod.rs"]
mod cli_support;
mod support;

use cli_support::{Cli, code, stderr, stdout};
use serde_json::{Value, json};
use support::{become_subreaper, cli_binaries, free_port, http, metric, run_scheduler, scheduler};

fn set_quota(port: u16, ram_mb: u64) {
    let quota = json!({"cpus": 4.0, "ram_mb": ram_mb, "disk_mb": 1024});
    let (status, answer) = http(port, "PUT", "/api/v1/quota/www", Some(&quota)).unwrap();
    assert_eq!(status, 200, "{answer}");
}

fn quota_ram(port: u16) -> Value {
    let (status, answer) = http(port, "GET", "/api/v1/quota/www", None).unwrap();
    assert_eq!(status, 200, "{answer}");
    answer["quota"]["ram_mb"].clone()
}

#[test]
fn a_backup_taken_on_request_restores_the_cluster_as_it_was() {
    become_subreaper();
    let dir = tempfile::tempdir().unwrap();
    let backups = dir.path().join("backups");
    let port = free_port();
    let data = dir.path().join("aurora-data");
    let running = scheduler(
        &[
            "--dev",
            "--backup-dir",
            backups.to_str().unwrap(),
            "--backup-interval-mins",
            "0",
        ],
        &data,
        port,
    );
    let cli = Cli::new(&cli_binaries(), dir.path(), port);

    set_quota(port, 2048);
    let taken = cli.admin(&["scheduler_backup_now", "devcluster"]);
    assert_eq!(code(&taken), Some(0), "{}", stderr(&taken));
    let said = stdout(&taken);
    let name = said
        .split_whitespace()
        .find(|word| word.starts_with("scheduler-backup-"))
        .unwrap_or_else(|| panic!("the backup is named: {said}"))
        .to_string();
    assert_eq!(metric(port, "aurora_backup_success_total"), Some(1.0));
    // After the backup: not in it.
    set_quota(port, 4096);
    let listed = cli.admin(&["scheduler_list_backups", "devcluster"]);
    assert_eq!(code(&listed), Some(0), "{}", stderr(&listed));
    assert_eq!(stdout(&listed), format!("1 available backups:\n{name}\n"));
    drop(running);

    let restored = dir.path().join("restored");
    let backup = backups.join(&name);
    let restore = run_scheduler(&["--restore-from", backup.to_str().unwrap()], &restored);
    assert!(
        restore.status.success(),
        "{}",
        String::from_utf8_lossy(&restore.stderr)
    );
    assert!(String::from_utf8_lossy(&restore.stdout).contains("restored cluster devcluster"));
    // Never over a directory in use.
    let again = run_scheduler(&["--restore-from", backup.to_str().unwrap()], &data);
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("holds a journal already"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );

    let port = free_port();
    let _restored = scheduler(&["--dev"], &restored, port);
    assert_eq!(quota_ram(port), 2048, "the quota as it was at the backup");
    // The history came back too: the quota's first setting is an event of the journal.
    let (_, events) = http(port, "GET", "/api/v1/events?from=1&limit=1000", None).unwrap();
    assert!(
        events.to_string().contains("2048"),
        "the history holds the quota change: {events}"
    );
}

#[test]
fn a_scheduler_without_a_backup_directory_says_how_to_get_one() {
    become_subreaper();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _scheduler = scheduler(&["--dev"], &dir.path().join("aurora-data"), port);
    let cli = Cli::new(&cli_binaries(), dir.path(), port);
    // Counters to alert on read 0 from the start, not "absent".
    assert_eq!(metric(port, "aurora_agents_lost_total"), Some(0.0));
    assert_eq!(
        metric(port, "aurora_journal_append_failures_total"),
        Some(0.0)
    );
    let refused = cli.admin(&["scheduler_backup_now", "devcluster"]);
    assert_ne!(code(&refused), Some(0));
    assert!(
        stderr(&refused).contains("--backup-dir"),
        "{}",
        stderr(&refused)
    );
}
