//! The cluster under test: N `aurora-scheduler` replicas on loopback as separate processes
//! (each with its own data directory and log), and the clients and writers the tests drive
//! them with. A test that fails prints each replica's log tail, its Raft metrics and, for a
//! replica that answers nothing, its threads' stacks.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{
    Guard, config, free_port, http, http_text, http_text_within, scheduler_binary, wait_for_within,
    workspace_binary,
};

pub const CLUSTER: &str = "rc";

pub struct Replicas {
    pub dir: tempfile::TempDir,
    pub ports: BTreeMap<u64, u16>,
    pub peers: String,
    pub running: BTreeMap<u64, Guard>,
    /// Further arguments every replica is started with; `{id}` in one is the replica's id.
    pub extra: Vec<String>,
}

impl Replicas {
    pub fn new(n: u64) -> Self {
        let ports: BTreeMap<u64, u16> = (1..=n).map(|id| (id, free_port())).collect();
        let peers = ports
            .iter()
            .map(|(id, port)| format!("{id}=http://127.0.0.1:{port}"))
            .collect::<Vec<_>>()
            .join(",");
        Self {
            dir: tempfile::tempdir().unwrap(),
            ports,
            peers,
            running: BTreeMap::new(),
            extra: Vec::new(),
        }
    }

    pub fn data(&self, id: u64) -> PathBuf {
        self.dir.path().join(format!("replica-{id}"))
    }

    /// Starts replica `id` (its log goes to `replica-ID.log` beside its data, for a failure's
    /// post-mortem).
    pub fn start(&mut self, id: u64, init: bool) {
        let peers = self.peers.clone();
        self.start_with_peers(id, init, &peers);
    }

    /// `--peers` listing only replicas `ids`.
    pub fn peers_of(&self, ids: &[u64]) -> String {
        ids.iter()
            .map(|id| format!("{id}=http://127.0.0.1:{}", self.ports[id]))
            .collect::<Vec<_>>()
            .join(",")
    }

    pub fn start_with_peers(&mut self, id: u64, init: bool, peers: &str) {
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.dir.path().join(format!("replica-{id}.log")))
            .unwrap();
        let mut command = Command::new(scheduler_binary());
        command
            .args(["--replica-id", &id.to_string(), "--peers", peers])
            .arg("--insecure-no-auth")
            .args([
                "--cluster",
                CLUSTER,
                "--http-port",
                &self.ports[&id].to_string(),
            ])
            .arg("--data-dir")
            .arg(self.data(id))
            // Compact the Raft log often, so that every test here also runs with snapshots
            // taken and the log purged under it (and catching up goes through the journal).
            .args(["--raft-snapshot-every", "10", "--raft-log-keep", "5"])
            .args(
                self.extra
                    .iter()
                    .map(|arg| arg.replace("{id}", &id.to_string())),
            )
            .env("RUST_LOG", "warn,openraft=info")
            .stdout(Stdio::null())
            .stderr(log);
        if init {
            command.arg("--init");
        }
        self.running.insert(id, Guard(command.spawn().unwrap()));
    }

    /// Starts every replica of the new cluster (each with `--init`, as a new cluster's
    /// replicas are), and waits until all serve.
    pub fn start_all(&mut self) {
        let ids: Vec<u64> = self.ports.keys().copied().collect();
        for id in ids {
            self.start(id, true);
        }
        self.wait_all_serving();
    }

    /// Runs the scheduler with `args` (and `--insecure-no-auth`), which must exit within
    /// 30 s; returns whether it succeeded and its stderr.
    pub fn run_to_exit(&self, args: &[&str]) -> (bool, String) {
        let stderr = self.dir.path().join("run-to-exit.log");
        let mut child = Guard(
            Command::new(scheduler_binary())
                .args(args)
                .arg("--insecure-no-auth")
                .stdout(Stdio::null())
                .stderr(File::create(&stderr).unwrap())
                .spawn()
                .unwrap(),
        );
        let mut status = None;
        wait_for_within(30, &format!("aurora-scheduler {args:?} to exit"), || {
            status = child.0.try_wait().unwrap();
            status.is_some()
        });
        let text = std::fs::read_to_string(&stderr).unwrap();
        (status.is_some_and(|s| s.success()), text)
    }

    pub fn kill(&mut self, id: u64) {
        if let Some(mut guard) = self.running.remove(&id) {
            guard.kill_now();
        }
    }

    pub fn pid(&self, id: u64) -> nix::unistd::Pid {
        nix::unistd::Pid::from_raw(i32::try_from(self.running[&id].0.id()).unwrap())
    }

    /// A replica other than `leader`.
    pub fn follower_of(&self, leader: u64) -> u64 {
        self.ports
            .keys()
            .copied()
            .find(|id| *id != leader)
            .expect("more than one replica")
    }

    pub fn port(&self, id: u64) -> u16 {
        self.ports[&id]
    }

    /// The running replica whose `/leaderhealth` answers 200, if one does.
    pub fn leader(&self) -> Option<u64> {
        self.running.keys().copied().find(|id| {
            matches!(
                http_text(self.port(*id), "GET", "/leaderhealth", None),
                Some((200, _))
            )
        })
    }

    pub fn wait_leader(&self, secs: u64) -> u64 {
        let mut found = None;
        wait_for_within(secs, "a leader", || {
            found = self.leader();
            found.is_some()
        });
        found.unwrap()
    }

    pub fn wait_all_serving(&self) {
        for id in self.running.keys() {
            let port = self.port(*id);
            wait_for_within(60, &format!("replica {id} serving"), || {
                matches!(http(port, "GET", "/health", None), Some((200, _)))
            });
        }
    }

    pub fn last_seq(&self, id: u64) -> Option<u64> {
        match http(self.port(id), "GET", "/api/v1/journal", None) {
            Some((200, body)) => body["last_seq"].as_u64(),
            _ => None,
        }
    }

    /// Waits until every running replica's journal is as long, and returns that length.
    pub fn wait_converged(&self) -> u64 {
        let mut last = 0;
        wait_for_within(60, "the replicas' journals to converge", || {
            let seqs: BTreeSet<Option<u64>> =
                self.running.keys().map(|id| self.last_seq(*id)).collect();
            match seqs.into_iter().collect::<Vec<_>>().as_slice() {
                [Some(seq)] => {
                    last = *seq;
                    true
                }
                _ => false,
            }
        });
        last
    }

    /// Replica `id`'s whole journal, as the events API pages it, in its own words (text).
    pub fn journal_text(&self, id: u64, last: u64) -> Vec<String> {
        let mut pages = Vec::new();
        let mut from = 1;
        while from <= last {
            let (status, text) = http_text(
                self.port(id),
                "GET",
                &format!("/api/v1/events?from={from}&limit=1000"),
                None,
            )
            .unwrap();
            assert_eq!(status, 200, "{text}");
            let page: Value = serde_json::from_str(&text).unwrap();
            let events = page["events"].as_array().unwrap();
            assert!(
                !events.is_empty(),
                "replica {id} has nothing from seq {from}"
            );
            from += events.len() as u64;
            pages.extend(events.iter().map(Value::to_string));
        }
        pages
    }
}

/// A failed test prints the end of every replica's log (the directory holding them is removed
/// with the test), and what each running replica says of the Raft: the post-mortem of a
/// timeout.
impl Drop for Replicas {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        for (id, port) in &self.ports {
            let state = if self.running.contains_key(id) {
                let leaderhealth = http_text(*port, "GET", "/leaderhealth", None)
                    .map_or_else(|| "no answer".to_string(), |(status, _)| status.to_string());
                let metrics = http_text(*port, "GET", "/metrics", None)
                    .map(|(_, text)| {
                        text.lines()
                            .filter(|line| line.starts_with("aurora_raft_"))
                            .collect::<Vec<_>>()
                            .join("; ")
                    })
                    .unwrap_or_default();
                if leaderhealth == "no answer" {
                    // A process that answers nothing is stuck: where each of its threads
                    // waits is the post-mortem (gdb, which `./ops/test` installs).
                    let pid = self.running[id].0.id().to_string();
                    // Bounded: attaching to a process stuck in the kernel can wait as long.
                    let stacks = Command::new("timeout")
                        .args([
                            "60",
                            "gdb",
                            "-p",
                            &pid,
                            "-batch",
                            "-ex",
                            "thread apply all bt 25",
                        ])
                        .output();
                    match stacks {
                        Ok(out) => eprintln!(
                            "--- replica {id} answers nothing; its threads:\n{}",
                            String::from_utf8_lossy(&out.stdout)
                        ),
                        Err(e) => eprintln!("--- replica {id} answers nothing (no gdb: {e})"),
                    }
                }
                format!("running; /leaderhealth {leaderhealth}; {metrics}")
            } else {
                "not running".to_string()
            };
            let log = std::fs::read_to_string(self.dir.path().join(format!("replica-{id}.log")))
                .unwrap_or_default();
            // Snapshots are taken every few entries here: their lines would bury the rest.
            let lines: Vec<&str> = log
                .lines()
                .filter(|line| !line.contains("snapshot") && !line.contains("purge"))
                .collect();
            let tail = lines[lines.len().saturating_sub(60)..].join("\n");
            eprintln!("--- replica {id} (port {port}): {state}\n{tail}");
        }
    }
}

/// Creates job `name` (one instance) through `port`; `Ok` when acknowledged.
pub fn create_job(port: u16, name: &str) -> Result<(), String> {
    create_job_within(port, name, Duration::from_secs(10))
}

/// [`create_job`], waiting up to `wait` for the answer.
pub fn create_job_within(port: u16, name: &str, wait: Duration) -> Result<(), String> {
    let job = format!("www/prod/{name}");
    let body = json!({ "job": job, "config": config(&job, "sleep 600", true), "instances": 1 });
    let answer = http_text_within(port, "POST", "/api/v1/jobs", Some(&body), wait)
        .map(|(status, text)| (status, serde_json::from_str(&text).unwrap_or(Value::Null)));
    match answer {
        Some((200, _)) => Ok(()),
        // An earlier try whose answer was lost committed it: it is acknowledged all the same.
        Some((_, answer)) if answer.to_string().contains("already exists") => Ok(()),
        Some((status, answer)) => Err(format!("{status} {answer}")),
        None => Err("no answer".into()),
    }
}

/// Writers creating jobs through every replica in turn until told to stop; the acknowledged
/// job names are collected.
pub fn start_writers(
    ports: Vec<u16>,
    writers: usize,
    stop: Arc<AtomicBool>,
    acknowledged: Arc<Mutex<Vec<String>>>,
) -> Vec<std::thread::JoinHandle<()>> {
    (0..writers)
        .map(|w| {
            let (ports, stop, acknowledged) = (ports.clone(), stop.clone(), acknowledged.clone());
            std::thread::spawn(move || {
                let mut attempt = w;
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    let name = format!("w{w}n{n}");
                    let port = ports[attempt % ports.len()];
                    match create_job(port, &name) {
                        Ok(()) => {
                            acknowledged.lock().unwrap().push(name);
                            n += 1;
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(50)),
                    }
                    attempt += 1;
                }
            })
        })
        .collect()
}

/// The `job` of every `JobCreated` event in a journal.
pub fn created_jobs(journal: &[String]) -> Vec<String> {
    journal
        .iter()
        .filter_map(|text| {
            let envelope: Value = serde_json::from_str(text).ok()?;
            let job = &envelope["event"]["JobCreated"]["job"];
            let job = job.as_str().map(str::to_string).or_else(|| {
                (!job.is_null()).then(|| {
                    format!("{}/{}/{}", job["role"], job["environment"], job["name"])
                        .replace('"', "")
                })
            })?;
            Some(job.rsplit('/').next()?.to_string())
        })
        .collect()
}

pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let at = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[at.min(sorted.len() - 1)]
}

/// `aurora-admin` against the cluster through replica `port`.
pub fn admin(dir: &std::path::Path, port: u16, args: &[&str]) -> (bool, String) {
    client(
        dir,
        "aurora-admin",
        &format!("http://127.0.0.1:{port}"),
        args,
    )
}

/// Runs the client `binary` (`aurora` or `aurora-admin`) with a clusters.json whose
/// scheduler_uri is `uris`; whether it succeeded, and what it printed.
pub fn client(dir: &std::path::Path, binary: &str, uris: &str, args: &[&str]) -> (bool, String) {
    let etc = dir.join(format!("etc-{binary}"));
    std::fs::create_dir_all(&etc).unwrap();
    std::fs::write(
        etc.join("clusters.json"),
        format!(r#"[{{"name": "{CLUSTER}", "scheduler_uri": "{uris}"}}]"#),
    )
    .unwrap();
    let output = Command::new(workspace_binary("aurora-cli", binary))
        .args(args)
        .env("AURORA_CONFIG_ROOT", &etc)
        .env("HOME", dir)
        .env("USER", "www")
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

/// The RUNNING tasks of `www/prod/NAME`, as replica `port` sees them.
pub fn running(port: u16, name: &str) -> Vec<String> {
    match http(
        port,
        "GET",
        &format!("/api/v1/jobs/www/prod/{name}/tasks"),
        None,
    ) {
        Some((200, Value::Array(tasks))) => tasks
            .iter()
            .filter(|t| t["status"] == "RUNNING")
            .filter_map(|t| t["id"].as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}
