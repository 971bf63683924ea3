//! A real nats-server for tests (feature `testing`): started on a free loopback port with
//! JetStream on a temporary directory, restartable on the same port and store, killed when
//! dropped. The binary is `$AURORA_NATS_SERVER` or `nats-server` on the PATH (`./ops/test`
//! installs Debian's).

use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running (or stopped, between restarts) nats-server.
#[derive(Debug)]
pub struct NatsServer {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
    /// The largest message the server takes (its `max_payload`), when not its default.
    max_payload: Option<usize>,
}

fn binary() -> PathBuf {
    std::env::var_os("AURORA_NATS_SERVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("nats-server"))
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

impl NatsServer {
    /// Starts a server with JetStream and waits until it accepts connections.
    pub fn start() -> std::io::Result<Self> {
        Self::start_with_max_payload(None)
    }

    /// Starts a server that takes messages of at most `max_payload` bytes (its default, 1 MB,
    /// with `None`).
    pub fn start_with_max_payload(max_payload: Option<usize>) -> std::io::Result<Self> {
        let mut server = Self {
            child: None,
            port: free_port()?,
            dir: tempfile::tempdir()?,
            max_payload,
        };
        server.launch()?;
        Ok(server)
    }

    /// Restarts the server (same port and store) taking messages of up to `max_payload`.
    pub fn restart_with_max_payload(&mut self, max_payload: usize) -> std::io::Result<()> {
        self.max_payload = Some(max_payload);
        self.restart()
    }

    fn launch(&mut self) -> std::io::Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("nats-server.log"))?;
        let mut command = Command::new(binary());
        if let Some(max_payload) = self.max_payload {
            let config = self.dir.path().join("nats-server.conf");
            std::fs::write(&config, format!("max_payload: {max_payload}\n"))?;
            command.arg("-c").arg(config);
        }
        let child = command
            .args([
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-js",
                "-sd",
            ])
            .arg(self.dir.path().join("jetstream"))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .map_err(|e| {
                std::io::Error::new(
                    e.kind(),
                    format!(
                        "starting {} (install nats-server, or set AURORA_NATS_SERVER): {e}",
                        binary().display()
                    ),
                )
            })?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)).is_err() {
            if Instant::now() > deadline {
                return Err(std::io::Error::other(format!(
                    "nats-server did not listen on port {} within 10 s; see {}",
                    self.port,
                    self.log().display()
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    /// `nats://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    pub fn log(&self) -> PathBuf {
        self.dir.path().join("nats-server.log")
    }

    pub fn store(&self) -> &Path {
        self.dir.path()
    }

    /// Kills the server (SIGKILL) and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the server and starts it again on the same port with the same store.
    pub fn restart(&mut self) -> std::io::Result<()> {
        self.stop();
        self.launch()
    }

    /// Starts a stopped server again on the same port with the same store.
    pub fn resume(&mut self) -> std::io::Result<()> {
        if self.child.is_some() {
            return Ok(());
        }
        self.launch()
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A committed history of fixed envelopes (seqs 1, 2, ... in order) for a mirror to publish,
/// as a journal would serve them: followed from any seq, then waiting for commits that never
/// come.
#[derive(Debug, Clone, Default)]
pub struct FixedSource(pub Vec<aurora_events::Envelope>);

impl crate::mirror::Source for FixedSource {
    fn follow(
        &self,
        from: aurora_events::Seq,
    ) -> futures::stream::BoxStream<'static, Result<aurora_events::Envelope, String>> {
        use futures::StreamExt;
        let skip = usize::try_from(from.saturating_sub(1)).unwrap_or(usize::MAX);
        let rest: Vec<_> = self.0.iter().skip(skip).cloned().map(Ok).collect();
        futures::stream::iter(rest)
            .chain(futures::stream::pending())
            .boxed()
    }

    fn envelope(
        &self,
        seq: aurora_events::Seq,
    ) -> futures::future::BoxFuture<'static, Result<Option<aurora_events::Envelope>, String>> {
        let found = usize::try_from(seq)
            .ok()
            .and_then(|seq| seq.checked_sub(1))
            .and_then(|index| self.0.get(index))
            .cloned();
        Box::pin(async move { Ok(found) })
    }

    fn last_seq(&self) -> aurora_events::Seq {
        self.0.len() as aurora_events::Seq
    }
}
