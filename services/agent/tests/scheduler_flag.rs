//! `--scheduler` values the agent could never call (no scheme, another scheme) are refused at
//! startup, naming the flag and the value, instead of being retried forever.

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value shown, which is what we want

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs `binary` with `args`; it must exit within 10 s (it is killed, and the test fails, if
/// not). Its exit status and stderr.
fn run_bounded(binary: &str, args: &[&str]) -> (Option<i32>, String) {
    let work = tempfile::tempdir().unwrap();
    let mut command = Command::new(binary);
    command.args(args);
    if binary.ends_with("/aurora-agent") {
        // Were the URL accepted, the agent would start here and retry, not touch the machine.
        command.arg("--work-dir").arg(work.path()).args([
            "--observer-host",
            "127.0.0.1",
            "--observer-port",
            "0",
        ]);
    }
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{binary} {args:?} still running after 10 s: the bad URL was not refused");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = child.wait_with_output().unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn a_scheduler_that_is_not_an_http_url_is_refused_at_startup() {
    for value in [
        "127.0.0.1:18303",
        "ftp://x",
        "http://127.0.0.1:8081,localhost:8081",
    ] {
        let bad = value.rsplit(',').next().unwrap();
        for binary in [
            env!("CARGO_BIN_EXE_aurora-agent"),
            env!("CARGO_BIN_EXE_aurora-hollow-agents"),
        ] {
            let (code, stderr) = run_bounded(binary, &["--scheduler", value]);
            // clap's usage error.
            assert_eq!(code, Some(2), "{binary} --scheduler {value}: {stderr}");
            assert!(
                stderr.contains("--scheduler")
                    && stderr.contains(bad)
                    && stderr.contains("http:// or https://"),
                "{binary} --scheduler {value}: {stderr}"
            );
        }
    }
}
