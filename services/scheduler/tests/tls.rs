//! TLS end to end, with certificates made for the test: a scheduler serving HTTPS, an agent
//! that trusts its CA (and serves its observer over HTTPS), the `aurora` client with
//! `AURORA_CA_FILE`; and a scheduler that requires client certificates, which admits only
//! the clients and agents that present one its CA signed.

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value shown, which is what we want

#[path = "../../../cli/tests/support/mod.rs"]
mod cli_support;
mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use aurora_net::ClientTls;
use aurora_net::testing::Pki;
use cli_support::{Cli, code, stderr};
use support::{
    Guard, agent_with, become_subreaper, cli_binaries, free_port, init, wait_for, workspace_binary,
};

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Starts `aurora-scheduler --insecure-no-auth` serving HTTPS with the PKI's server
/// certificate (and `extra`), and waits for `/health` over HTTPS.
fn tls_scheduler(pki: &Pki, data: &Path, port: u16, extra: &[&str]) -> Guard {
    let child = Command::new(support::scheduler_binary())
        .args(["--insecure-no-auth", "--http-port", &port.to_string()])
        .args(["--tls-cert", path(&pki.server_cert)])
        .args(["--tls-key", path(&pki.server_key)])
        .args(extra)
        .arg("--data-dir")
        .arg(data)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let guard = Guard(child);
    let client = https_client(&ClientTls {
        ca_file: Some(pki.ca.clone()),
        identity: Some((pki.client_cert.clone(), pki.client_key.clone())),
    });
    wait_for("/health over HTTPS", || {
        get(&client, &format!("https://127.0.0.1:{port}/health"))
            .is_ok_and(|(status, _)| status == 200)
    });
    guard
}

fn https_client(tls: &ClientTls) -> reqwest::blocking::Client {
    tls.blocking_builder()
        .unwrap()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

fn get(client: &reqwest::blocking::Client, url: &str) -> Result<(u16, String), String> {
    let response = client.get(url).send().map_err(|e| format!("{e:?}"))?;
    let status = response.status().as_u16();
    Ok((status, response.text().map_err(|e| e.to_string())?))
}

/// The tutorial's hello world, its process sleeping so that the task stays RUNNING.
fn hello_world(dir: &Path) -> PathBuf {
    let example = Path::new(&std::env::var("CARGO_MANIFEST_DIR").unwrap())
        .join("../../examples/hello_world.aurora");
    let text = std::fs::read_to_string(example).unwrap();
    assert!(text.contains("'echo hello world'"));
    let path = dir.join("hello_world.aurora");
    std::fs::write(&path, text.replace("'echo hello world'", "'sleep 600'")).unwrap();
    path
}

#[test]
fn over_https_the_agent_and_the_client_trust_the_ca_and_others_are_refused() {
    become_subreaper();
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    let port = free_port();
    let data = dir.path().join("data");
    init(&data);
    let _scheduler = tls_scheduler(&pki, &data, port, &[]);
    let base = format!("https://127.0.0.1:{port}");

    // Plain HTTP to the HTTPS port gets no HTTP answer.
    assert!(support::http(port, "GET", "/health", None).is_none());

    // An agent over HTTPS, its observer on HTTPS too.
    let work = dir.path().join("agent");
    let _agent = agent_with(
        "tls-agent",
        &work,
        &base,
        &[
            "--tls-ca",
            path(&pki.ca),
            "--tls-cert",
            path(&pki.server_cert),
            "--tls-key",
            path(&pki.server_key),
        ],
    );
    let trusting = https_client(&ClientTls {
        ca_file: Some(pki.ca.clone()),
        identity: None,
    });
    let mut hosts = String::new();
    wait_for("the agent to register over HTTPS", || {
        hosts = get(&trusting, &format!("{base}/api/v1/maintenance"))
            .map(|(_, body)| body)
            .unwrap_or_default();
        hosts.contains("tls-agent")
    });
    let mut cli = Cli::new(&cli_binaries(), dir.path(), port);
    cli.dev_token = false;
    cli.write_clusters(&[("devcluster", &base)]);
    let key = "devcluster/tester/test/hello_world";
    // Without the CA the client refuses the scheduler's certificate, and says what to set.
    let config = hello_world(dir.path());
    let refused = cli.aurora(&["job", "create", key, path(&config)]);
    assert_ne!(code(&refused), Some(0));
    assert!(
        stderr(&refused).contains("AURORA_CA_FILE"),
        "{}",
        stderr(&refused)
    );
    let (_, jobs) = get(&trusting, &format!("{base}/api/v1/jobs")).unwrap();
    assert!(!jobs.contains("hello_world"), "{jobs}");

    cli.env
        .push(("AURORA_CA_FILE".into(), path(&pki.ca).to_string()));
    let created = cli.aurora(&[
        "job",
        "create",
        key,
        path(&config),
        "--wait-until",
        "RUNNING",
    ]);
    assert_eq!(code(&created), Some(0), "{}", stderr(&created));

    // The task ran on the agent, whose observer is advertised as HTTPS and answers only
    // clients that trust the CA.
    let (_, tasks) = get(
        &trusting,
        &format!("{base}/api/v1/jobs/tester/test/hello_world/tasks"),
    )
    .unwrap();
    let tasks: serde_json::Value = serde_json::from_str(&tasks).unwrap();
    let id = tasks[0]["id"].as_str().unwrap();
    // The task's page links its observer.
    let (_, page) = get(&trusting, &format!("{base}/tasks/{id}")).unwrap();
    let start = page
        .find("https://127.0.0.1:")
        .unwrap_or_else(|| panic!("the task page links an HTTPS observer: {page}"));
    // Scheme, address and port: the link itself goes on to the task's own page.
    let port: String = page[start + "https://127.0.0.1:".len()..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let observer = format!("https://127.0.0.1:{port}");
    let (status, _) = get(&trusting, &format!("{observer}/tasks")).unwrap();
    assert_eq!(status, 200);
    assert!(
        get(
            &https_client(&ClientTls::default()),
            &format!("{observer}/tasks")
        )
        .is_err()
    );
}

#[test]
fn a_scheduler_that_requires_client_certificates_admits_only_its_cas_clients() {
    become_subreaper();
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    let port = free_port();
    let data = dir.path().join("data");
    init(&data);
    let _scheduler = tls_scheduler(&pki, &data, port, &["--tls-client-ca", path(&pki.ca)]);
    let base = format!("https://127.0.0.1:{port}");
    let admitted = https_client(&ClientTls {
        ca_file: Some(pki.ca.clone()),
        identity: Some((pki.client_cert.clone(), pki.client_key.clone())),
    });

    // An agent without a certificate, and one with a stranger's: neither registers.
    let _anonymous = agent_with(
        "no-cert",
        &dir.path().join("a1"),
        &base,
        &["--tls-ca", path(&pki.ca)],
    );
    let with_certificate = |name: &str, cert: &Path, key: &Path| {
        agent_with(
            name,
            &dir.path().join(name),
            &base,
            &[
                "--tls-ca",
                path(&pki.ca),
                "--tls-client-cert",
                path(cert),
                "--tls-client-key",
                path(key),
            ],
        )
    };
    let _stranger = with_certificate("stranger", &pki.stranger_cert, &pki.stranger_key);
    // The one with the CA's client certificate does.
    let _agent = with_certificate("with-cert", &pki.client_cert, &pki.client_key);
    let mut agents = String::new();
    wait_for("the agent with a certificate to register", || {
        agents = get(&admitted, &format!("{base}/api/v1/maintenance"))
            .map(|(_, body)| body)
            .unwrap_or_default();
        agents.contains("with-cert")
    });
    // The others have had as long (they heartbeat every 200 ms) and got nowhere.
    std::thread::sleep(Duration::from_secs(1));
    let (_, agents) = get(&admitted, &format!("{base}/api/v1/maintenance")).unwrap();
    assert!(!agents.contains("no-cert"), "{agents}");
    assert!(!agents.contains("stranger"), "{agents}");

    let aurora = workspace_binary("aurora-cli", "aurora");
    let mut cli = Cli::new(aurora.parent().unwrap(), dir.path(), port);
    cli.dev_token = false;
    cli.write_clusters(&[("devcluster", &base)]);
    cli.env
        .push(("AURORA_CA_FILE".into(), path(&pki.ca).to_string()));
    let refused = cli.aurora(&["job", "list", "devcluster/tester"]);
    assert_ne!(code(&refused), Some(0));
    assert!(
        stderr(&refused).contains("AURORA_CLIENT_CERT"),
        "{}",
        stderr(&refused)
    );
    cli.env.push((
        "AURORA_CLIENT_CERT".into(),
        path(&pki.client_cert).to_string(),
    ));
    cli.env.push((
        "AURORA_CLIENT_KEY".into(),
        path(&pki.client_key).to_string(),
    ));
    let listed = cli.aurora(&["job", "list", "devcluster/tester"]);
    assert_eq!(code(&listed), Some(0), "{}", stderr(&listed));
    // Half a pair is a configuration error that says so.
    cli.env.pop();
    let half = cli.aurora(&["job", "list", "devcluster/tester"]);
    assert_eq!(code(&half), Some(3), "{}", stderr(&half));
    assert!(
        stderr(&half).contains("AURORA_CLIENT_KEY"),
        "{}",
        stderr(&half)
    );
}
