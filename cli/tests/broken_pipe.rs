//! Both clients writing into a pipe whose reader has gone (`aurora ... | head -1`): they stop
//! quietly with status 0, as `events tail` does, rather than panicking with status 101.

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value shown, which is what we want

mod support;

use std::path::Path;
use std::process::Output;

use support::stub::{Reply, Stub};
use support::{Cli, SERVICE, code, stderr};

fn cli(dir: &Path, port: u16) -> Cli {
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_aurora"))
        .parent()
        .unwrap()
        .to_path_buf();
    Cli::new(&bin_dir, dir, port)
}

fn assert_quiet(output: &Output) {
    let stderr = stderr(output);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!stderr.contains("Broken pipe"), "{stderr}");
    assert_eq!(code(output), Some(0), "{stderr}");
}

#[test]
fn offline_commands_stop_quietly_at_a_closed_pipe() {
    let dir = tempfile::tempdir().unwrap();
    let cli = cli(dir.path(), 1);
    let config = dir.path().join("sleeper.aurora");
    std::fs::write(&config, SERVICE).unwrap();
    let config = config.to_str().unwrap();
    assert_quiet(&cli.run_into_closed_pipe("aurora", &["config", "list", config]));
    assert_quiet(&cli.run_into_closed_pipe(
        "aurora",
        &["job", "inspect", "devcluster/tester/test/sleeper", config],
    ));
    // Errors still go to stderr with their exit code: only stdout's reader went away.
    let missing = cli.run_into_closed_pipe("aurora", &["config", "list", "/nonexistent.aurora"]);
    assert_ne!(code(&missing), Some(0));
    assert!(
        !stderr(&missing).contains("panicked"),
        "{}",
        stderr(&missing)
    );
}

#[test]
fn admin_commands_stop_quietly_at_a_closed_pipe() {
    let dir = tempfile::tempdir().unwrap();
    // A stand-in answering its first request, whatever it is, and no other.
    let scheduler = Stub::script(vec![Reply::raw(
        200,
        r#"{"cluster":"devcluster","seq":7,"hash":"ab12","linked":true}"#,
    )]);
    let cli = cli(dir.path(), scheduler.port);
    assert_quiet(&cli.run_into_closed_pipe("aurora-admin", &["journal", "head", "devcluster"]));
}
