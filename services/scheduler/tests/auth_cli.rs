//! Authentication end to end, as an operator sets it up: `aurora-admin auth new-token` makes
//! the credentials, `aurora-scheduler --auth FILE` serves with them; the `aurora` client
//! without credentials exits 30, with a `~/.netrc` entry it creates the job and the netrc user
//! (not the `$USER` it claims in `x-aurora-user`) is the actor; an agent with a wrong
//! credential cannot register, one with its own runs the task.

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value shown, which is what we want

#[path = "../../../cli/tests/support/mod.rs"]
mod cli_support;
mod support;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use cli_support::{Cli, code, stderr, stdout};
use support::{
    agent_with, become_subreaper, events_from, free_port, init, metric, scheduler, tasks, wait_for,
    workspace_binary,
};

/// The token and the auth file's `tokens = [...]` line that `aurora-admin auth new-token`
/// printed.
fn new_token(cli: &Cli, user: &str) -> (String, String) {
    let made = cli.admin(&["auth", "new-token", user]);
    assert_eq!(code(&made), Some(0), "{}", stderr(&made));
    let text = stdout(&made);
    let token = text
        .lines()
        .find_map(|l| l.strip_prefix("token: "))
        .unwrap()
        .to_string();
    let line = text
        .lines()
        .find(|l| l.starts_with("tokens = "))
        .unwrap()
        .to_string();
    assert!(line.contains(&aurora_auth::token_digest(&token)), "{text}");
    (token, line)
}

#[test]
fn with_auth_the_client_needs_credentials_and_its_user_is_the_actor() {
    become_subreaper();
    support::without_dev_token();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    workspace_binary("aurora-cli", "aurora");
    // Built now, not between the job's create and the agent's start: while no agent offers
    // resources the PENDING task's scheduling penalty doubles up to 60 s (Aurora's
    // -max_schedule_penalty), so a slow build there would push its placement past the wait.
    support::agent_binary();
    let admin = workspace_binary("aurora-cli", "aurora-admin");
    let mut cli = Cli::new(admin.parent().unwrap(), dir.path(), port);
    cli.dev_token = false;

    let (alice_token, alice_line) = new_token(&cli, "alice");
    let (agent_token, agent_line) = new_token(&cli, "agent-vm1");
    let (root_token, root_line) = new_token(&cli, "root");
    // A password, hashed from standard input.
    let mut hashing = Command::new(&admin)
        .args(["auth", "hash-password"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    hashing
        .stdin
        .take()
        .unwrap()
        .write_all(b"bobs-password\n")
        .unwrap();
    let hashed = hashing.wait_with_output().unwrap();
    assert!(hashed.status.success());
    let bob_line = String::from_utf8(hashed.stdout).unwrap();
    assert!(
        bob_line.starts_with("password = \"$argon2id$"),
        "{bob_line}"
    );

    let auth = dir.path().join("auth.toml");
    std::fs::write(
        &auth,
        format!(
            "[users.alice]\n{alice_line}\npermissions = [\"job:*:tester\"]\n\n\
             [users.bob]\n{bob_line}permissions = [\"job:*:other\"]\n\n\
             [users.agent-vm1]\n{agent_line}\npermissions = [\"agent:*\"]\n\n\
             [users.root]\n{root_line}\npermissions = [\"admin:*\"]\n"
        ),
    )
    .unwrap();
    let data = dir.path().join("data");
    init(&data);
    let _scheduler = scheduler(&["--auth", auth.to_str().unwrap()], &data, port);

    let hello = Path::new(&std::env::var("CARGO_MANIFEST_DIR").unwrap())
        .join("../../examples/hello_world.aurora");
    let create = || {
        cli.aurora(&[
            "job",
            "create",
            "devcluster/tester/test/hello_world",
            hello.to_str().unwrap(),
        ])
    };

    // No credentials: refused with Aurora's authentication exit code, nothing created.
    let refused = create();
    assert_eq!(code(&refused), Some(30), "{}", stderr(&refused));
    assert!(stderr(&refused).contains("netrc"), "{}", stderr(&refused));
    // A stale password: 30, and the error says where the refused credential came from.
    std::fs::write(
        cli.home().join(".netrc"),
        "machine 127.0.0.1 login alice password stale\n",
    )
    .unwrap();
    let stale = create();
    assert_eq!(code(&stale), Some(30), "{}", stderr(&stale));
    assert!(
        stderr(&stale).contains(".netrc for 127.0.0.1"),
        "{}",
        stderr(&stale)
    );
    // bob's password is right, but the role is not his: 30 again, naming the permission.
    std::fs::write(
        cli.home().join(".netrc"),
        "machine 127.0.0.1 login bob password bobs-password\n",
    )
    .unwrap();
    let forbidden = create();
    assert_eq!(code(&forbidden), Some(30), "{}", stderr(&forbidden));
    assert!(
        stderr(&forbidden).contains("job:create:tester"),
        "{}",
        stderr(&forbidden)
    );
    assert!(tasks(port, "tester/test/hello_world").is_empty());

    // alice's token in ~/.netrc: created, and alice is the actor although the client claims
    // to be `tester` (its $USER, sent as x-aurora-user).
    std::fs::write(
        cli.home().join(".netrc"),
        format!("machine 127.0.0.1\n  login alice\n  password {alice_token}\n"),
    )
    .unwrap();
    let created = create();
    assert_eq!(code(&created), Some(0), "{}", stderr(&created));
    let events = events_from(port, 1);
    let job_created = events
        .iter()
        .find(|e| e["event"].get("JobCreated").is_some())
        .unwrap_or_else(|| panic!("no JobCreated in {events:?}"));
    assert_eq!(job_created["actor"]["user"], "alice", "{job_created}");

    // The audit trail names alice's create, from the CLI and on the /audit page.
    let audit = cli.aurora(&["audit", "devcluster", "--actor", "alice"]);
    assert_eq!(code(&audit), Some(0), "{}", stderr(&audit));
    let text = stdout(&audit);
    assert!(
        text.contains("user:alice") && text.contains("job create tester/test/hello_world"),
        "{text}"
    );
    let bad_kind = cli.aurora(&["audit", "devcluster", "--kind", "everything"]);
    assert_eq!(code(&bad_kind), Some(6), "{}", stderr(&bad_kind));
    let (status, page) = support::http_text(port, "GET", "/audit?user=alice", None).unwrap();
    assert_eq!(status, 200);
    assert!(
        page.contains(r#"id="audit""#) && page.contains("tester/test/hello_world"),
        "{page}"
    );

    // An agent with a wrong credential cannot register; nothing about it is journaled.
    let bad = dir.path().join("bad-credential");
    std::fs::write(
        &bad,
        "aurora_0000000000000000000000000000000000000000000000000000000000000000\n",
    )
    .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let impostor = agent_with(
        "vm1",
        &dir.path().join("impostor"),
        &base,
        &["--credential", bad.to_str().unwrap()],
    );
    wait_for("the impostor's failed logins", || {
        metric(
            port,
            r#"aurora_auth_failures_total{reason="bad_credentials"}"#,
        )
        .unwrap_or(0.0)
            >= 2.0
    });
    drop(impostor);
    assert!(
        !events_from(port, 1)
            .iter()
            .any(|e| e["event"].get("AgentRegistered").is_some()),
        "an agent registered with a wrong credential"
    );

    // With its own credential the agent registers, is bound to it, and runs the task.
    let good = dir.path().join("credential");
    std::fs::write(&good, format!("{agent_token}\n")).unwrap();
    let _agent = agent_with(
        "vm1",
        &dir.path().join("agent"),
        &base,
        &["--credential", good.to_str().unwrap()],
    );
    let finished = support::poll_within(30, || {
        tasks(port, "tester/test/hello_world")
            .first()
            .is_some_and(|t| t["status"] == "FINISHED")
    });
    assert!(
        finished,
        "hello_world did not finish within 30 s; its tasks: {:#?}\nthe journal: {:#?}",
        tasks(port, "tester/test/hello_world"),
        events_from(port, 1)
    );
    let events = events_from(port, 1);
    let bound = events
        .iter()
        .find(|e| e["event"]["AgentBound"]["principal"] == "agent-vm1")
        .expect("the agent id is bound to its credential");
    let agent_id = bound["event"]["AgentBound"]["agent"].as_str().unwrap();

    // Unbinding it takes an admin: alice (netrc) is refused, root (AURORA_TOKEN) unbinds.
    let refused = cli.admin(&["agent", "unbind", "devcluster", agent_id]);
    assert_eq!(code(&refused), Some(30), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("admin:agent_unbind"),
        "{}",
        stderr(&refused)
    );
    let bad_id = cli.admin(&["agent", "unbind", "devcluster", "../jobs"]);
    assert_eq!(code(&bad_id), Some(6), "{}", stderr(&bad_id));
    cli.env.push(("AURORA_TOKEN".into(), root_token));
    let unbound = cli.admin(&["agent", "unbind", "devcluster", agent_id]);
    assert_eq!(code(&unbound), Some(0), "{}", stderr(&unbound));
    assert_eq!(stdout(&unbound).trim(), format!("Agent {agent_id} unbound"));
    let events = events_from(port, 1);
    let unbound = events
        .iter()
        .find(|e| e["event"].get("AgentUnbound").is_some())
        .expect("an AgentUnbound event");
    assert_eq!(
        unbound["event"]["AgentUnbound"]["principal"], "agent-vm1",
        "{unbound}"
    );
    assert_eq!(unbound["actor"]["user"], "root", "{unbound}");
}
