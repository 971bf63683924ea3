//! A headless-Chromium harness for browser tests: starts Debian's `/usr/bin/chromium` (or
//! `$AURORA_CHROMIUM`), drives it over the DevTools protocol (CDP), and for each page visited
//! reports the main document's HTTP status, every console error (`console.error`, uncaught
//! exceptions, and the browser's own error log entries such as a subresource that failed to
//! load) and a PNG screenshot.
//!
//! Why our own client rather than a CDP crate: `chromiumoxide` and `headless_chrome` both
//! generate Rust types for the whole protocol (hundreds of domains' worth of generated source;
//! minutes of compile time on the 2-core development machine), while this harness needs about
//! ten commands and six events. A compact client over `tokio-tungstenite` (small, no TLS) and
//! `serde_json` costs seconds to build and keeps every wait bounded and visible here.
//!
//! Chromium runs in a process group of its own (made for it alone at spawn), so that dropping
//! the [`Browser`] — also while a test panics — kills Chromium and every helper process it
//! started, and nothing else.

#![allow(dead_code)] // each test binary uses a different part

use std::collections::VecDeque;
use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use base64::Engine;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout_at};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long Chromium may take to start listening for DevTools connections.
const LAUNCH_TIMEOUT: Duration = Duration::from_secs(30);
/// How long one DevTools command may take to be answered.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a page may take to fire its load event.
const LOAD_TIMEOUT: Duration = Duration::from_secs(30);
/// How long to keep listening after the load event, for late console errors.
const SETTLE: Duration = Duration::from_millis(500);
/// The viewport, and so the screenshots' size.
const WINDOW_SIZE: &str = "1280,1024";

/// The Chromium binary: `$AURORA_CHROMIUM`, or Debian's `chromium` package.
pub fn chromium_binary() -> PathBuf {
    std::env::var_os("AURORA_CHROMIUM")
        .map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from)
}

/// What one page load showed.
#[derive(Debug, Clone)]
pub struct Visit {
    pub url: String,
    /// The main document's HTTP status; `None` if no response for it was seen.
    pub status: Option<u16>,
    /// Chromium's reason when the navigation itself failed (e.g. `net::ERR_CONNECTION_REFUSED`).
    pub navigation_error: Option<String>,
    /// Whether the load event fired within [`LOAD_TIMEOUT`] (after a failed navigation, only
    /// [`SETTLE`] is waited for it).
    pub loaded: bool,
    /// Console errors, uncaught exceptions and error-level log entries, in order.
    pub console_errors: Vec<String>,
    /// Where the screenshot was saved.
    pub screenshot: PathBuf,
}

impl Visit {
    /// Everything wrong with the page: a status other than 200, a failed or unfinished load,
    /// console errors. Empty for a clean page.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        match self.status {
            Some(200) => {}
            Some(status) => problems.push(format!("HTTP status {status}")),
            None => problems.push("no HTTP response for the document".to_string()),
        }
        if let Some(error) = &self.navigation_error {
            problems.push(format!("navigation failed: {error}"));
        }
        if !self.loaded && self.navigation_error.is_none() {
            problems.push(format!("no load event within {LOAD_TIMEOUT:?}"));
        }
        problems.extend(
            self.console_errors
                .iter()
                .map(|error| format!("console error: {error}")),
        );
        problems
    }

    /// Panics with every problem of the page, if it has any.
    pub fn assert_clean(&self) {
        let problems = self.problems();
        assert!(
            problems.is_empty(),
            "{} (screenshot {}):\n  {}",
            self.url,
            self.screenshot.display(),
            problems.join("\n  ")
        );
    }
}

/// A running headless Chromium with one page (tab) attached. Dropping it kills Chromium.
#[derive(Debug)]
pub struct Browser {
    // Fields drop in this order: the connection, its runtime, then the process (killed) and
    // its temporary profile directory.
    cdp: Cdp,
    session: String,
    runtime: tokio::runtime::Runtime,
    process: ChromiumProcess,
}

impl Browser {
    /// Starts Chromium headless with a fresh profile and opens a page.
    pub fn launch() -> Result<Browser> {
        let dir = tempfile::Builder::new()
            .prefix("aurora-chromium-")
            .tempdir()
            .context("creating Chromium's temporary directory")?;
        let profile = dir.path().join("profile");
        let log_path = dir.path().join("chromium.log");
        let log = File::create(&log_path).context("creating chromium.log")?;
        let binary = chromium_binary();
        let child = Command::new(&binary)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-default-apps",
                "--disable-extensions",
                "--no-first-run",
                "--no-default-browser-check",
                "--mute-audio",
                "--hide-scrollbars",
                &format!("--window-size={WINDOW_SIZE}"),
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(log.try_clone().context("chromium.log")?)
            .stderr(log)
            // A new process group for Chromium alone, so that it and its helpers can be killed
            // together without touching the test's own group.
            .process_group(0)
            .spawn()
            .with_context(|| {
                format!(
                    "starting {} (install Debian's chromium package: `apt-get install chromium`, \
                     which ./ops/test does when it is missing)",
                    binary.display()
                )
            })?;
        let process = ChromiumProcess {
            child,
            log: log_path,
            _dir: dir,
        };
        let endpoint = process.devtools_endpoint(&profile)?;

        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("building the harness's tokio runtime")?;
        let (cdp, session) = runtime
            .block_on(async {
                let deadline = Instant::now() + COMMAND_TIMEOUT;
                let (socket, _) = timeout_at(
                    deadline,
                    tokio_tungstenite::connect_async(endpoint.as_str()),
                )
                .await
                .map_err(|_| anyhow!("connecting to {endpoint} timed out"))?
                .with_context(|| format!("connecting to {endpoint}"))?;
                let mut cdp = Cdp {
                    socket,
                    next_id: 0,
                    events: VecDeque::new(),
                };
                let target = cdp
                    .call(None, "Target.createTarget", json!({"url": "about:blank"}))
                    .await?;
                let target_id = target["targetId"]
                    .as_str()
                    .ok_or_else(|| anyhow!("Target.createTarget answered {target}"))?;
                let attached = cdp
                    .call(
                        None,
                        "Target.attachToTarget",
                        json!({"targetId": target_id, "flatten": true}),
                    )
                    .await?;
                let session = attached["sessionId"]
                    .as_str()
                    .ok_or_else(|| anyhow!("Target.attachToTarget answered {attached}"))?
                    .to_string();
                for domain in ["Page", "Network", "Runtime", "Log"] {
                    cdp.call(Some(&session), &format!("{domain}.enable"), json!({}))
                        .await?;
                }
                anyhow::Ok((cdp, session))
            })
            .with_context(|| format!("Chromium's log:\n{}", process.log_text()))?;
        Ok(Browser {
            cdp,
            session,
            runtime,
            process,
        })
    }

    /// Loads `url`, waits (bounded) for it to load and settle, saves a PNG screenshot to
    /// `screenshot` and reports what the page showed. An `Err` means the harness itself failed
    /// (Chromium gone, a command unanswered); a bad page is an `Ok` with [`Visit::problems`].
    pub fn visit(&mut self, url: &str, screenshot: &Path) -> Result<Visit> {
        let Browser {
            cdp,
            session,
            runtime,
            ..
        } = self;
        let (mut visit, png) = runtime
            .block_on(cdp.visit(session, url))
            .with_context(|| format!("visiting {url}"))?;
        if let Some(parent) = screenshot.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(screenshot, png)
            .with_context(|| format!("writing {}", screenshot.display()))?;
        visit.screenshot = screenshot.to_path_buf();
        Ok(visit)
    }

    /// What Chromium printed so far (for diagnosing a failure).
    pub fn log(&self) -> String {
        self.process.log_text()
    }
}

/// Panics unless `path` is a PNG file of more than 1 KiB.
pub fn assert_png(path: &Path) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
        "{} is not a PNG",
        path.display()
    );
    assert!(
        bytes.len() > 1024,
        "{} is only {} bytes",
        path.display(),
        bytes.len()
    );
}

/// The Chromium process (leader of its own process group) and its temporary directory.
#[derive(Debug)]
struct ChromiumProcess {
    child: Child,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl ChromiumProcess {
    /// The browser's DevTools WebSocket URL, from the `DevToolsActivePort` file Chromium
    /// writes into its profile once it listens (port on the first line, path on the second).
    fn devtools_endpoint(&self, profile: &Path) -> Result<String> {
        let file = profile.join("DevToolsActivePort");
        let deadline = std::time::Instant::now() + LAUNCH_TIMEOUT;
        loop {
            if let Ok(text) = std::fs::read_to_string(&file) {
                let mut lines = text.lines();
                if let (Some(port), Some(path)) = (lines.next(), lines.next())
                    && port.trim().parse::<u16>().is_ok()
                    && path.starts_with('/')
                {
                    return Ok(format!("ws://127.0.0.1:{}{}", port.trim(), path.trim()));
                }
            }
            if self.exited() {
                bail!("Chromium exited at start; its log:\n{}", self.log_text());
            }
            if std::time::Instant::now() > deadline {
                bail!(
                    "Chromium did not listen for DevTools within {LAUNCH_TIMEOUT:?}; its log:\n{}",
                    self.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Whether the leader has exited, without reaping it (so its pid, the group's id, stays
    /// ours until [`Drop`] has signalled the group).
    fn exited(&self) -> bool {
        use nix::sys::wait::{Id, WaitPidFlag, WaitStatus, waitid};
        let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
        !matches!(
            waitid(Id::Pid(self.pid()), flags),
            Ok(WaitStatus::StillAlive)
        )
    }

    fn pid(&self) -> nix::unistd::Pid {
        nix::unistd::Pid::from_raw(i32::try_from(self.child.id()).unwrap_or(i32::MAX))
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for ChromiumProcess {
    /// SIGKILLs Chromium's process group (which only Chromium and its helpers are in: it was
    /// made for them at spawn, and the leader is not reaped before this, so the id is still
    /// theirs), then reaps the leader and any helper re-parented to this process.
    fn drop(&mut self) {
        use nix::sys::signal::{Signal, killpg};
        use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
        let group = self.pid();
        if group.as_raw() > 1 {
            let _ = killpg(group, Signal::SIGKILL);
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while std::time::Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_)) | Err(_)) {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // Helpers of a killed Chromium are re-parented to a subreaper, which a test may be
        // (`support::become_subreaper`): reap those still in the group, if any are ours.
        let members = nix::unistd::Pid::from_raw(-group.as_raw());
        while std::time::Instant::now() < deadline {
            match waitpid(members, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) => std::thread::sleep(Duration::from_millis(20)),
                Ok(_) => {}
                Err(_) => break, // no child of ours left in the group
            }
        }
    }
}

/// One DevTools connection (to the browser target; pages are reached through flattened
/// sessions). Requests are answered in order on one socket, so the client is sequential: a
/// call reads messages until its answer arrives, queueing the events it passes.
#[derive(Debug)]
struct Cdp {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_id: u64,
    events: VecDeque<Value>,
}

impl Cdp {
    async fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Result<Value> {
        self.next_id += 1;
        let id = self.next_id;
        let mut request = json!({"id": id, "method": method, "params": params});
        if let Some(session) = session {
            request["sessionId"] = json!(session);
        }
        let deadline = Instant::now() + COMMAND_TIMEOUT;
        timeout_at(
            deadline,
            self.socket.send(Message::Text(request.to_string().into())),
        )
        .await
        .map_err(|_| anyhow!("sending {method} timed out"))?
        .with_context(|| format!("sending {method}"))?;
        loop {
            let message = self
                .receive(deadline)
                .await?
                .ok_or_else(|| anyhow!("no answer to {method} within {COMMAND_TIMEOUT:?}"))?;
            if message["id"] == id {
                if let Some(error) = message.get("error") {
                    bail!("{method} failed: {error}");
                }
                return Ok(message["result"].clone());
            }
            if message.get("method").is_some() {
                self.events.push_back(message);
            }
        }
    }

    /// The next message, or `None` once `deadline` has passed.
    async fn receive(&mut self, deadline: Instant) -> Result<Option<Value>> {
        loop {
            let frame = match timeout_at(deadline, self.socket.next()).await {
                Err(_) => return Ok(None),
                Ok(None) => bail!("Chromium closed the DevTools connection"),
                Ok(Some(frame)) => frame.context("reading from DevTools")?,
            };
            match frame {
                Message::Text(text) => {
                    return serde_json::from_str(text.as_str())
                        .map(Some)
                        .context("a DevTools message that is not JSON");
                }
                Message::Close(frame) => {
                    bail!("Chromium closed the DevTools connection: {frame:?}")
                }
                _ => {} // pings are answered by tungstenite
            }
        }
    }

    /// The next event (queued first), or `None` once `deadline` has passed.
    async fn next_event(&mut self, deadline: Instant) -> Result<Option<Value>> {
        if let Some(event) = self.events.pop_front() {
            return Ok(Some(event));
        }
        loop {
            match self.receive(deadline).await? {
                None => return Ok(None),
                Some(message) if message.get("method").is_some() => return Ok(Some(message)),
                Some(_) => {} // the answer to a call that gave up: ignore
            }
        }
    }

    /// Navigates the page of `session` to `url` and records the load: the document's status,
    /// console errors until [`SETTLE`] after the load event, then a screenshot (PNG bytes).
    async fn visit(&mut self, session: &str, url: &str) -> Result<(Visit, Vec<u8>)> {
        // Whatever arrived since the last page settled belongs to it, not to this one.
        self.events.clear();
        let navigated = self
            .call(Some(session), "Page.navigate", json!({"url": url}))
            .await?;
        let loader = navigated["loaderId"].as_str().map(str::to_owned);
        let navigation_error = navigated["errorText"]
            .as_str()
            .filter(|error| !error.is_empty())
            .map(str::to_owned);
        let mut visit = Visit {
            url: url.to_string(),
            status: None,
            navigation_error,
            loaded: false,
            console_errors: Vec::new(),
            screenshot: PathBuf::new(),
        };
        let load_deadline = Instant::now() + LOAD_TIMEOUT;
        // A failed navigation shows Chromium's error page: only a short wait for its events.
        let mut settle_deadline = visit
            .navigation_error
            .as_ref()
            .map(|_| Instant::now() + SETTLE);
        loop {
            let deadline = settle_deadline.unwrap_or(load_deadline);
            let Some(event) = self.next_event(deadline).await? else {
                break;
            };
            if event["sessionId"].as_str() != Some(session) {
                continue;
            }
            let params = &event["params"];
            match event["method"].as_str().unwrap_or_default() {
                "Network.responseReceived"
                    if params["type"] == "Document"
                        && loader
                            .as_deref()
                            .is_none_or(|loader| params["loaderId"] == loader) =>
                {
                    visit.status = params["response"]["status"]
                        .as_u64()
                        .and_then(|status| u16::try_from(status).ok());
                }
                "Page.loadEventFired" => {
                    visit.loaded = true;
                    settle_deadline.get_or_insert_with(|| Instant::now() + SETTLE);
                }
                "Runtime.consoleAPICalled"
                    if matches!(params["type"].as_str(), Some("error" | "assert")) =>
                {
                    let args: Vec<String> = params["args"]
                        .as_array()
                        .map(|args| args.iter().map(remote_object_text).collect())
                        .unwrap_or_default();
                    visit.console_errors.push(format!(
                        "console.{}: {}",
                        params["type"].as_str().unwrap_or("error"),
                        args.join(" ")
                    ));
                }
                "Runtime.exceptionThrown" => {
                    let details = &params["exceptionDetails"];
                    let text = details["exception"]["description"]
                        .as_str()
                        .or_else(|| details["text"].as_str())
                        .unwrap_or("(no description)");
                    visit
                        .console_errors
                        .push(format!("uncaught exception: {text}"));
                }
                "Log.entryAdded" if params["entry"]["level"] == "error" => {
                    let entry = &params["entry"];
                    let mut text = entry["text"].as_str().unwrap_or_default().to_string();
                    if let Some(url) = entry["url"].as_str().filter(|url| !url.is_empty()) {
                        text.push_str(&format!(" ({url})"));
                    }
                    visit.console_errors.push(text);
                }
                _ => {}
            }
        }
        let shot = self
            .call(
                Some(session),
                "Page.captureScreenshot",
                json!({"format": "png"}),
            )
            .await?;
        let data = shot["data"]
            .as_str()
            .ok_or_else(|| anyhow!("Page.captureScreenshot gave no data"))?;
        let png = base64::engine::general_purpose::STANDARD
            .decode(data)
            .context("decoding the screenshot")?;
        Ok((visit, png))
    }
}

/// A console argument as text: its value if it is a primitive, else its description.
fn remote_object_text(object: &Value) -> String {
    match &object["value"] {
        Value::String(text) => text.clone(),
        Value::Null => object["description"]
            .as_str()
            .or_else(|| object["type"].as_str())
            .unwrap_or_default()
            .to_string(),
        value => value.to_string(),
    }
}
