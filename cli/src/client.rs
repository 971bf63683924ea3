//! A blocking client of the scheduler's JSON API: every failure becomes a [`CliError`] with
//! Aurora's exit code (network 7, timeout 9, refused 10).
//!
//! A cluster may name several scheduler replicas. Each call tries them in order, starting at
//! the one that last answered in this process, and moves on when one cannot be reached or
//! answers 503 `NOT_LEADER` / `ERROR_TRANSIENT` (a replica that knows no leader), at most once
//! around the list; a failure then names every URI tried. Only [`Client::exchange`] does this.
//! A write is not sent again once a replica may have received it, so before the first write
//! every replica is asked `/leaderhealth` at once, briefly, and the write goes to the leader
//! first: a replica that accepts connections but never answers (a hung process) then costs a
//! second, not the write. Nothing is remembered between invocations.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use aurora_api::{ApiError, USER_HEADER};
use reqwest::Method;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::exit::{CliError, CliResult, ExitCode};

/// How long one API call may take before the command gives up (exit 9).
const CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// With several replicas, how long a connection attempt may take before the next replica is
/// tried: a host that is down stays silent rather than refusing.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// With several replicas, how long each may take to answer `/leaderhealth` before a write: a
/// leader answers at once; one that is silent this long would not carry out the write either.
const PROBE_TIMEOUT: Duration = Duration::from_millis(1500);

/// The scheduler's codes for "this replica cannot serve it; another may".
const TRY_ANOTHER_CODES: [&str; 2] = ["NOT_LEADER", "ERROR_TRANSIENT"];

/// How long the polls of a command that waits on the scheduler (`update wait`, `job
/// restart`, `--wait-until`, a batched kill) keep asking through a scheduler that restarts or
/// fails over: what they wait for goes on at the scheduler meanwhile, and a deploy script
/// should not report a failure the deploy did not have.
pub const WAIT_PATIENCE: Duration = Duration::from_secs(120);

/// The longest pause between two asks of a patient poll.
const PATIENT_PAUSE: Duration = Duration::from_secs(5);

/// The scheduler said no: its HTTP status and, when it sent one, its [`ApiError`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub http_status: u16,
    pub error: Option<ApiError>,
    /// The HTTP status line, for when the body is not an [`ApiError`].
    pub reason: String,
}

impl Refusal {
    /// Aurora's exit code for a refused call: 30 for authentication, else 10 (API error).
    pub fn exit_code(&self) -> ExitCode {
        match self.http_status {
            401 | 403 => ExitCode::AuthError,
            // OUTCOME_UNKNOWN: sent on, not confirmed in time.
            504 => ExitCode::Timeout,
            _ => ExitCode::ApiError,
        }
    }

    /// The scheduler's message alone (Aurora's `combine_messages`), or the HTTP status.
    pub fn message(&self) -> &str {
        self.error
            .as_ref()
            .map_or(self.reason.as_str(), |e| e.message.as_str())
    }

    /// The scheduler's error code (`INVALID_REQUEST`, `JOB_UPDATING_ERROR`, ...), if any.
    pub fn code(&self) -> Option<&str> {
        self.error.as_ref().map(|e| e.code.as_str())
    }

    pub fn is_not_found(&self) -> bool {
        self.http_status == 404
    }

    /// A replica that cannot serve the request (it knows no leader, or is stopping): another
    /// replica may, and nothing was done here.
    fn try_another(&self) -> bool {
        self.http_status == 503 && self.code().is_some_and(|c| TRY_ANOTHER_CODES.contains(&c))
    }

    /// Aurora's `log_response_and_raise`: the verb's own headline, the scheduler's message on
    /// the next line after a tab, and for a job locked by an update, what to do about it.
    pub fn aurora_error(&self, headline: &str) -> CliError {
        let mut message = format!("{headline}\n\t{}", self.message());
        if self.code() == Some(JOB_UPDATING_ERROR) {
            message.push_str("\n\t");
            message.push_str(JOB_UPDATING_ADVICE);
        }
        CliError::new(self.exit_code(), message)
    }
}

/// The scheduler's code for a command refused because an update owns the job.
pub const JOB_UPDATING_ERROR: &str = "JOB_UPDATING_ERROR";

/// What Aurora's client adds to a `JOB_UPDATING_ERROR` (`context.py`).
const JOB_UPDATING_ADVICE: &str = "Error: job is locked by an active update.
      Run 'aurora update abort' or wait for the active update to finish.";

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.error {
            Some(error) => write!(f, "{}: {}", error.code, error.message),
            None => f.write_str(&self.reason),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::blocking::Client,
    /// The scheduler replicas' URLs, in the order they are tried.
    bases: Vec<String>,
    /// The index in `bases` of the replica that last answered: later calls start there.
    current: Arc<AtomicUsize>,
    /// Whether `current` is known to lead (it said so, or carried out a write), so that a
    /// write need not ask the replicas first.
    leader_known: Arc<AtomicBool>,
    user: String,
    /// The `Authorization` header for each of `bases` (see [`authorization_for`]), and where
    /// it came from.
    authorizations: Vec<Option<(reqwest::header::HeaderValue, String)>>,
}

/// What the client presents to the scheduler at `base`, found as Aurora's client finds it:
/// `AURORA_TOKEN`, else `~/.netrc`'s entry for the host, else (on this machine only)
/// `aurora-scheduler --dev`'s token. `None`: nothing; reads need no credentials.
pub fn authorization_for(base: &str) -> CliResult<Option<reqwest::header::HeaderValue>> {
    Ok(authorization_with_source(base)?.map(|(value, _)| value))
}

/// What the CLI trusts and presents over HTTPS: `AURORA_CA_FILE` (a CA file; default: the
/// system's roots), and `AURORA_CLIENT_CERT` with `AURORA_CLIENT_KEY` for schedulers that
/// require client certificates.
pub fn tls() -> CliResult<aurora_net::ClientTls> {
    aurora_net::ClientTls::from_env().map_err(|e| CliError::invalid_config(e.to_string()))
}

/// A blocking HTTP client builder configured by [`tls`]; a CA or certificate file that does
/// not load is an invalid-configuration error naming it.
pub fn blocking_builder() -> CliResult<reqwest::blocking::ClientBuilder> {
    tls()?
        .blocking_builder()
        .map_err(|e| CliError::invalid_config(e.to_string()))
}

/// [`authorization_for`], with where the credentials came from.
fn authorization_with_source(
    base: &str,
) -> CliResult<Option<(reqwest::header::HeaderValue, String)>> {
    let credentials = aurora_auth::client::discover_from_env_with_source(base)
        .map_err(|e| CliError::new(ExitCode::AuthError, format!("credentials for {base}: {e}")))?;
    credentials
        .map(|(c, source)| {
            let mut value = reqwest::header::HeaderValue::from_str(&c.authorization_header())
                .map_err(|_| {
                    CliError::new(
                        ExitCode::AuthError,
                        format!("the credentials for {base} cannot be sent in an HTTP header"),
                    )
                })?;
            value.set_sensitive(true);
            Ok((value, source))
        })
        .transpose()
}

impl Client {
    /// `bases` are the scheduler replicas' URLs (one, for a scheduler without replicas);
    /// `user` is sent as the acting user of every mutation.
    pub fn new(bases: &[String], user: &str) -> CliResult<Self> {
        let bases: Vec<String> = bases
            .iter()
            .map(|base| base.trim_end_matches('/').to_string())
            .collect();
        if bases.is_empty() {
            return Err(CliError::invalid_config("no scheduler URI to talk to"));
        }
        let mut builder = blocking_builder()?.timeout(CALL_TIMEOUT);
        if bases.len() > 1 {
            builder = builder.connect_timeout(CONNECT_TIMEOUT);
        }
        let http = builder
            .build()
            .map_err(|e| CliError::new(ExitCode::Unknown, format!("HTTP client: {e}")))?;
        let authorizations = bases
            .iter()
            .map(|base| authorization_with_source(base))
            .collect::<CliResult<Vec<_>>>()?;
        Ok(Self {
            http,
            authorizations,
            bases,
            current: Arc::new(AtomicUsize::new(0)),
            leader_known: Arc::new(AtomicBool::new(false)),
            user: user.to_string(),
        })
    }

    /// The URL of the scheduler that last answered (the first one before any call).
    pub fn base(&self) -> &str {
        let index = self.current.load(Ordering::Relaxed);
        self.bases
            .get(index)
            .or(self.bases.first())
            .map_or("", String::as_str)
    }

    pub fn get<T: DeserializeOwned>(&self, path: &str) -> CliResult<T> {
        self.send(Method::GET, path, None)
    }

    pub fn post<T: DeserializeOwned>(&self, path: &str, body: &impl Serialize) -> CliResult<T> {
        self.send(Method::POST, path, Some(encode(path, body)?))
    }

    pub fn put<T: DeserializeOwned>(&self, path: &str, body: &impl Serialize) -> CliResult<T> {
        self.send(Method::PUT, path, Some(encode(path, body)?))
    }

    /// Like [`Client::get`], but hands back the scheduler's refusal (a non-2xx answer) for the
    /// caller to word, as Aurora's client words each verb's failure itself.
    pub fn try_get<T: DeserializeOwned>(&self, path: &str) -> CliResult<Result<T, Refusal>> {
        self.exchange(Method::GET, path, None)
    }

    /// Like [`Client::get`], for the polls of a wait: see [`Client::try_get_patiently`].
    pub fn get_patiently<T: DeserializeOwned>(&self, path: &str) -> CliResult<T> {
        self.try_get_patiently(path)?
            .map_err(|refusal| refused(path, &refusal))
    }

    /// Like [`Client::try_get`], for the polls of a wait: a scheduler that cannot be reached,
    /// does not answer in time or cannot serve now (restarting, a failover under way) is asked
    /// again, backing off, for up to [`WAIT_PATIENCE`]. The first such failure is said once on
    /// stderr; after the patience, the last failure is the answer.
    pub fn try_get_patiently<T: DeserializeOwned>(
        &self,
        path: &str,
    ) -> CliResult<Result<T, Refusal>> {
        let started = std::time::Instant::now();
        let mut pause = Duration::from_millis(500);
        let mut told = false;
        loop {
            let outcome = self.exchange::<T>(Method::GET, path, None);
            let failure = match &outcome {
                Err(error) if matches!(error.code, ExitCode::NetworkError | ExitCode::Timeout) => {
                    error.message.clone()
                }
                Ok(Err(refusal)) if refusal.try_another() => {
                    format!("the scheduler cannot serve now: {refusal}")
                }
                Ok(_) | Err(_) => return outcome,
            };
            let elapsed = started.elapsed();
            if elapsed >= WAIT_PATIENCE {
                return outcome;
            }
            if !told {
                eprintln!(
                    "{failure}; asking again for up to {} s (what this command waits for goes \
                     on at the scheduler)",
                    WAIT_PATIENCE.as_secs()
                );
                told = true;
            }
            std::thread::sleep(pause.min(WAIT_PATIENCE - elapsed));
            pause = (pause * 2).min(PATIENT_PAUSE);
        }
    }

    /// Like [`Client::post`], but hands back the scheduler's refusal for the caller to word.
    pub fn try_post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> CliResult<Result<T, Refusal>> {
        self.exchange(Method::POST, path, Some(encode(path, body)?))
    }

    fn send<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> CliResult<T> {
        self.exchange(method, path, body)?
            .map_err(|refusal| refused(path, &refusal))
    }

    /// Sends a request to the replicas in turn until one answers it: transport failures and
    /// unreadable answers are errors; a refusal is the inner `Err`.
    ///
    /// A replica that refused the connection never saw the request, and one that answered
    /// 503 `NOT_LEADER`/`ERROR_TRANSIENT` did nothing, so any request moves on from those.
    /// Other transport failures (reset, timeout) move a GET on but end a POST or PUT: it may
    /// have been carried out, and sending it again elsewhere could do it twice. That is why a
    /// write first finds the leader ([`Client::write_order`]).
    fn exchange<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> CliResult<Result<T, Refusal>> {
        let n = self.bases.len();
        let write = method != Method::GET;
        let order = if write {
            self.write_order()
        } else {
            self.read_order()
        };
        // What each replica left behind said, for an error naming them all.
        let mut tried: Vec<String> = Vec::new();
        for (step, &index) in order.iter().enumerate() {
            let base = &self.bases[index];
            let last = step + 1 == n;
            let mut request = self
                .http
                .request(method.clone(), format!("{base}{path}"))
                .header(USER_HEADER, &self.user);
            let sent = self.authorizations.get(index).and_then(Option::as_ref);
            if let Some((authorization, _)) = sent {
                request = request.header(reqwest::header::AUTHORIZATION, authorization.clone());
            }
            if let Some(body) = &body {
                request = request
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body.clone());
            }
            let response = match request.send() {
                Ok(response) => response,
                Err(error) => {
                    let move_on = !last && (error.is_connect() || !write);
                    let failed = if !move_on && tried.is_empty() {
                        // One scheduler asked: the error it has always been.
                        transport_error(base, &error)
                    } else {
                        tried.push(format!("{base}: {}", cause(&error)));
                        if move_on {
                            continue;
                        }
                        tried_all(path, &tried, transport_code(&error))
                    };
                    if write && !error.is_connect() {
                        let untried: Vec<&str> = order[step + 1..]
                            .iter()
                            .map(|&i| self.bases[i].as_str())
                            .collect();
                        return Err(outcome_unknown(failed, &untried));
                    }
                    return Err(failed);
                }
            };
            let status = response.status();
            if !status.is_success() {
                let mut error = response.json::<ApiError>().ok();
                // A refused login: say which credential was sent, so a stale one can be found.
                if status == reqwest::StatusCode::UNAUTHORIZED
                    && let (Some(error), Some((_, source))) = (error.as_mut(), sent)
                {
                    error.message.push_str(&format!(
                        " (the credentials sent to {base} came from {source})"
                    ));
                }
                let refusal = Refusal {
                    http_status: status.as_u16(),
                    error,
                    reason: status.to_string(),
                };
                if n > 1 && refusal.try_another() {
                    tried.push(format!("{base}: {refusal}"));
                    if last {
                        return Err(tried_all(path, &tried, refusal.exit_code()));
                    }
                    continue;
                }
                self.answered_by(index, false);
                return Ok(Err(refusal));
            }
            // Only the leader carries out writes.
            self.answered_by(index, write);
            return response.json::<T>().map(Ok).map_err(|e| {
                CliError::new(
                    ExitCode::ApiError,
                    format!("unexpected answer from {base}{path}: {e}"),
                )
            });
        }
        // `new` refuses an empty list, so the loop always returns.
        Err(CliError::invalid_config("no scheduler URI to talk to"))
    }

    /// Remembers that replica `index` answered: the next call starts there. It is known to
    /// lead if it carried out a write; a read served elsewhere says nothing of the leader,
    /// so the next write asks again.
    fn answered_by(&self, index: usize, carried_out_a_write: bool) {
        let previous = self.current.swap(index, Ordering::Relaxed);
        if carried_out_a_write {
            self.leader_known.store(true, Ordering::Relaxed);
        } else if previous != index {
            self.leader_known.store(false, Ordering::Relaxed);
        }
    }

    /// The replicas in the order a read tries them: from the one that last answered, around.
    fn read_order(&self) -> Vec<usize> {
        let n = self.bases.len();
        let start = self.current.load(Ordering::Relaxed);
        (0..n).map(|step| (start + step) % n).collect()
    }

    /// The replicas in the order a write tries them. Unless a leader is already known, every
    /// replica is asked `/leaderhealth` at once: the leader comes first, then those that
    /// answered, then those that refused the connection (a write fails there at once and
    /// moves on), and those that stayed silent last, since a write sent to one would wait
    /// out the whole call timeout and could not then be sent elsewhere.
    fn write_order(&self) -> Vec<usize> {
        let order = self.read_order();
        if order.len() < 2 || self.leader_known.load(Ordering::Relaxed) {
            return order;
        }
        let probes: Vec<Probe> = std::thread::scope(|scope| {
            let asking: Vec<_> = self
                .bases
                .iter()
                .map(|base| scope.spawn(|| self.probe(base)))
                .collect();
            asking
                .into_iter()
                .map(|asked| asked.join().unwrap_or(Probe::Silent))
                .collect()
        });
        let mut order = order;
        // Stable: replicas that said the same keep the usual order.
        order.sort_by_key(|&index| probes.get(index).copied().unwrap_or(Probe::Silent));
        if let Some(&first) = order.first()
            && probes.get(first) == Some(&Probe::Leads)
        {
            self.current.store(first, Ordering::Relaxed);
            self.leader_known.store(true, Ordering::Relaxed);
        }
        order
    }

    /// Asks the replica at `base` whether it leads. `/leaderhealth` needs no credentials.
    fn probe(&self, base: &str) -> Probe {
        match self
            .http
            .get(format!("{base}/leaderhealth"))
            .timeout(PROBE_TIMEOUT)
            .send()
        {
            Ok(response) if response.status().is_success() => Probe::Leads,
            Ok(_) => Probe::Answered,
            Err(error) if error.is_connect() && !error.is_timeout() => Probe::Refused,
            Err(_) => Probe::Silent,
        }
    }
}

/// What a replica said when asked whether it leads, in the order writes try them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Probe {
    Leads,
    /// It answered, but does not lead.
    Answered,
    /// It refused the connection: nothing listens there.
    Refused,
    /// No answer in time, or a broken one.
    Silent,
}

/// `failed`, for a write that a replica may have received before the call failed: whether it
/// was carried out is unknown, and it was not sent to the `untried` replicas.
fn outcome_unknown(failed: CliError, untried: &[&str]) -> CliError {
    let mut message = format!(
        "{}\nthe write's outcome is unknown: the scheduler may have carried it out; check \
         before running it again",
        failed.message
    );
    if !untried.is_empty() {
        message.push_str(&format!(
            " (not sent to {}, so as not to carry it out twice)",
            untried.join(", ")
        ));
    }
    CliError::new(failed.code, message)
}

/// A request body as JSON.
fn encode(path: &str, body: &impl Serialize) -> CliResult<Vec<u8>> {
    serde_json::to_vec(body).map_err(|e| {
        CliError::new(
            ExitCode::Unknown,
            format!("cannot encode the request to {path}: {e}"),
        )
    })
}

/// Aurora's exit code for a call that got no answer.
fn transport_code(error: &reqwest::Error) -> ExitCode {
    if error.is_timeout() {
        ExitCode::Timeout
    } else {
        ExitCode::NetworkError
    }
}

/// A refusal of `path` as a command's error.
fn refused(path: &str, refusal: &Refusal) -> CliError {
    CliError::new(
        refusal.exit_code(),
        format!("the scheduler refused {path}: {refusal}"),
    )
}

/// The error of a call to one scheduler that got no answer.
fn transport_error(base: &str, error: &reqwest::Error) -> CliError {
    if error.is_timeout() {
        CliError::new(
            ExitCode::Timeout,
            format!("the scheduler at {base} did not answer in time"),
        )
    } else if error.is_connect() && !is_tls_failure(&cause(error)) {
        CliError::new(
            ExitCode::NetworkError,
            format!(
                "cannot reach the scheduler at {base}: is it running? ({})",
                cause(error)
            ),
        )
    } else {
        // Reached, but the conversation failed: a TLS handshake, a reset, a garbled answer.
        CliError::new(
            ExitCode::NetworkError,
            format!("cannot reach the scheduler at {base}: {}", cause(error)),
        )
    }
}

/// Whether a transport failure was the TLS conversation's (a certificate, an alert, a plain
/// HTTP server behind an `https://` URL) rather than nobody listening.
fn is_tls_failure(cause: &str) -> bool {
    let cause = cause.to_ascii_lowercase();
    [
        "certificate",
        "tls",
        "handshake",
        "alert",
        "corrupt message",
    ]
    .iter()
    .any(|word| cause.contains(word))
}

/// Why a call got no answer, in a few words (reqwest's own message names only the URL).
fn cause(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        return "no answer in time".to_string();
    }
    let mut source: &dyn std::error::Error = error;
    while let Some(next) = source.source() {
        source = next;
    }
    let cause = source.to_string();
    // rustls names the certificate problem; say what the client can do about it.
    if cause.contains("UnknownIssuer") {
        format!(
            "{cause} (the scheduler's certificate is not signed by a CA this client trusts: set {} to its CA file)",
            aurora_net::tls::CA_FILE_VAR
        )
    } else if cause.contains("CertificateRequired") {
        format!(
            "{cause} (the scheduler requires a client certificate: set {} and {})",
            aurora_net::tls::CLIENT_CERT_VAR,
            aurora_net::tls::CLIENT_KEY_VAR
        )
    } else {
        cause
    }
}

/// The error of a call no replica could serve, naming each one tried and what it said.
fn tried_all(path: &str, tried: &[String], code: ExitCode) -> CliError {
    CliError::new(
        code,
        format!(
            "no scheduler could serve {path}; tried:\n\t{}",
            tried.join("\n\t")
        ),
    )
}
