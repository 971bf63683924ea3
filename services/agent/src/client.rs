//! The agent's side of the scheduler's HTTP API: register, heartbeat, poll for work, report
//! status.
//!
//! A client knows several scheduler URIs (the replicas of one cluster) and the one that last
//! answered. A call starts there; when that replica cannot be reached (refused, reset, timed
//! out) or answers 503 `NOT_LEADER` / `ERROR_TRANSIENT`, it moves on to the next URI and tries
//! again, at most once around the list, then returns the last error: the daemon's loops
//! already try again later, so a call never waits for a failover to finish.
//!
//! Answers that hand out work carry the leader's term; the client drops launches and kills
//! from an answer whose term is below the highest it has seen (a deposed leader that has not
//! noticed yet), see [`fence`].

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use aurora_api::{AgentRegistration, ApiError, Heartbeat, StatusReport};
use aurora_events::AgentId;
use reqwest::StatusCode;

/// Longest a connection attempt may take: a replica whose host is down does not refuse, it
/// stays silent, and the next one should be tried well before the heartbeat deadline.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Longest any call but the work poll may take. Without it a replica that accepted the
/// connection and then hung would stall the agent's loop (and get it declared lost).
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// What a work poll may take on top of its own wait: the answer's journey.
const POLL_SLACK: Duration = Duration::from_secs(10);

/// Why a call to the scheduler failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(
        "cannot reach the scheduler at {url}: {}",
        aurora_net::describe(source)
    )]
    Unreachable { url: String, source: reqwest::Error },
    #[error("the scheduler does not know this agent (or declared it lost): {0}")]
    Unregistered(String),
    #[error("the scheduler refused the request ({status}): {message}")]
    Refused { status: StatusCode, message: String },
    /// A replica that cannot serve agents right now (503 `NOT_LEADER` or `ERROR_TRANSIENT`):
    /// another replica may.
    #[error("the scheduler at {url} cannot serve agents now ({code}): {message}")]
    Unavailable {
        url: String,
        code: String,
        message: String,
    },
    #[error("no scheduler URI was given")]
    NoSchedulers,
    /// A scheduler URI the HTTP client cannot call: refused at startup, since retrying it
    /// could never succeed.
    #[error("{uri:?} is not a scheduler URL ({problem}); it must start with http:// or https://")]
    InvalidUri { uri: String, problem: String },
}

impl ClientError {
    /// Whether another replica may answer where this one failed. A work poll that timed out
    /// after the scheduler accepted it is not a dead scheduler (the poll is long on purpose,
    /// and the heartbeat finds out soon enough): only its connection failing counts.
    fn try_another(&self, long_poll: bool) -> bool {
        match self {
            ClientError::Unreachable { source, .. } => {
                !(long_poll && source.is_timeout() && !source.is_connect())
            }
            ClientError::Unavailable { .. } => true,
            ClientError::Unregistered(_)
            | ClientError::Refused { .. }
            | ClientError::NoSchedulers
            | ClientError::InvalidUri { .. } => false,
        }
    }
}

impl ClientError {
    /// Whether repeating the same call can never succeed, so that a caller that retries until
    /// the scheduler has what it sent (a status report) must give up: a refusal of the request
    /// itself (a 4xx such as 400 malformed, 401/403 a credential this agent cannot change,
    /// 413 too large), or a client without a scheduler it can call. Not permanent: the
    /// scheduler not knowing this agent (404, [`ClientError::Unregistered`]), which the agent's
    /// loop repairs by registering again; 408, 425 and 429, which ask to come back later; a
    /// scheduler that cannot be reached or cannot serve now; any 5xx (a restart may cure it).
    pub fn is_permanent(&self) -> bool {
        match self {
            ClientError::Refused { status, .. } => {
                status.is_client_error()
                    && !matches!(
                        *status,
                        StatusCode::REQUEST_TIMEOUT
                            | StatusCode::TOO_EARLY
                            | StatusCode::TOO_MANY_REQUESTS
                    )
            }
            ClientError::NoSchedulers | ClientError::InvalidUri { .. } => true,
            ClientError::Unreachable { .. }
            | ClientError::Unregistered(_)
            | ClientError::Unavailable { .. } => false,
        }
    }
}

/// The scheduler's codes for "not here, try another replica".
const TRY_ANOTHER_CODES: [&str; 2] = ["NOT_LEADER", "ERROR_TRANSIENT"];

/// A work poll in flight (see [`SchedulerClient::poll_work`]).
pub type WorkPoll =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Heartbeat, ClientError>> + Send>>;

/// What the agent does with an answer that carries `answer` when the highest term it has seen
/// is `highest`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fence {
    /// Act on it; `highest` is the highest term seen from now on.
    Act { highest: u64 },
    /// A leader older than one already heard from: drop its launches and kills.
    Stale,
}

/// The fencing rule: an answer from a term below the highest seen is stale; one at or above
/// it is acted on and raises the highest seen. Terms only grow, so a lower one can only come
/// from a deposed leader that has not stepped down yet, whose work the new leader may have
/// undone or given to another agent.
pub fn fence(highest: u64, answer: u64) -> Fence {
    if answer < highest {
        Fence::Stale
    } else {
        Fence::Act { highest: answer }
    }
}

/// A client for one agent. Clones share the list position and the highest term seen.
#[derive(Debug, Clone)]
pub struct SchedulerClient {
    http: reqwest::Client,
    bases: Arc<[String]>,
    /// The index in `bases` of the replica that last answered (or to try next).
    current: Arc<AtomicUsize>,
    /// The highest leader term seen in an answer.
    term: Arc<AtomicU64>,
    agent: AgentId,
}

/// Splits scheduler URIs given as repeated flags, each of which may be a comma-separated list
/// (`http://h1:8081,http://h2:8081`); blanks are dropped and trailing slashes trimmed.
pub fn scheduler_uris<S: AsRef<str>>(values: &[S]) -> Vec<String> {
    values
        .iter()
        .flat_map(|value| value.as_ref().split(','))
        .map(|uri| uri.trim().trim_end_matches('/'))
        .filter(|uri| !uri.is_empty())
        .map(str::to_string)
        .collect()
}

/// One scheduler URI as given on the command line (a `--scheduler` value parser): trimmed of
/// blanks and trailing slashes, and refused unless it is an `http://` or `https://` URL with a
/// host. A blank one (`--scheduler http://a,`) is passed on, and dropped by [`scheduler_uris`].
pub fn scheduler_url(value: &str) -> Result<String, ClientError> {
    let uri = value.trim().trim_end_matches('/');
    if uri.is_empty() {
        return Ok(String::new());
    }
    let problem = match reqwest::Url::parse(uri) {
        Err(error) => error.to_string(),
        Ok(url) if !matches!(url.scheme(), "http" | "https") => {
            format!("URL scheme {:?} is not allowed", url.scheme())
        }
        Ok(url) if url.host_str().is_none_or(str::is_empty) => "no host".to_string(),
        Ok(_) => return Ok(uri.to_string()),
    };
    Err(ClientError::InvalidUri {
        uri: uri.to_string(),
        problem,
    })
}

impl SchedulerClient {
    /// `bases` are the schedulers' URLs, e.g. `http://127.0.0.1:8081` (each may also be a
    /// comma-separated list); the first is tried first.
    pub fn new<S: AsRef<str>>(bases: &[S], agent: AgentId) -> Self {
        Self::with_credentials(bases, agent, None, &aurora_net::ClientTls::default())
    }

    /// Like [`SchedulerClient::new`], presenting `credentials` (the agent's own, bound to its
    /// id by the scheduler at first registration) on every call, and calling `https://`
    /// schedulers with `tls`.
    pub fn with_credentials<S: AsRef<str>>(
        bases: &[S],
        agent: AgentId,
        credentials: Option<&aurora_auth::Credentials>,
        tls: &aurora_net::ClientTls,
    ) -> Self {
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(credentials) = credentials {
            match reqwest::header::HeaderValue::from_str(&credentials.authorization_header()) {
                Ok(mut value) => {
                    value.set_sensitive(true);
                    headers.insert(reqwest::header::AUTHORIZATION, value);
                }
                Err(_) => tracing::error!(
                    "the agent's credential cannot be sent in an HTTP header; calls go without it"
                ),
            }
        }
        let http = aurora_net::client(tls, |builder| {
            builder
                .connect_timeout(CONNECT_TIMEOUT)
                .timeout(CALL_TIMEOUT)
                .default_headers(headers.clone())
        });
        Self {
            http,
            bases: scheduler_uris(bases).into(),
            current: Arc::new(AtomicUsize::new(0)),
            term: Arc::new(AtomicU64::new(0)),
            agent,
        }
    }

    /// The URI calls start at: the scheduler that last answered, or the one to try next.
    pub fn current(&self) -> &str {
        let n = self.bases.len().max(1);
        self.bases
            .get(self.current.load(Ordering::Relaxed) % n)
            .map_or("", String::as_str)
    }

    /// The highest leader term seen so far (0: none yet).
    pub fn term(&self) -> u64 {
        self.term.load(Ordering::Relaxed)
    }

    pub async fn register(&self, registration: &AgentRegistration) -> Result<(), ClientError> {
        self.rotate(false, |base| {
            let url = format!("{base}/api/v1/agents/register");
            let request = self.http.post(&url).json(registration);
            async move { Self::check(&url, request.send().await).await.map(|_| ()) }
        })
        .await
    }

    pub async fn heartbeat(&self) -> Result<Heartbeat, ClientError> {
        let reply = self
            .rotate(false, |base| {
                let url = format!("{base}/api/v1/agents/{}/heartbeat", self.agent);
                let request = self.http.post(&url);
                async move { Self::work(url, request).await }
            })
            .await?;
        Ok(self.fenced(reply))
    }

    /// Waits up to `wait` for launches and kills; the scheduler answers as soon as it queues
    /// some. An empty answer after `wait` is normal: poll again.
    pub async fn take_work(&self, wait: Duration) -> Result<Heartbeat, ClientError> {
        let reply = self
            .rotate(true, |base| {
                let url = format!(
                    "{base}/api/v1/agents/{}/work?wait_ms={}",
                    self.agent,
                    wait.as_millis()
                );
                // The request may take `wait`; allow for the answer's own journey on top.
                let request = self.http.post(&url).timeout(wait + POLL_SLACK);
                async move { Self::work(url, request).await }
            })
            .await?;
        Ok(self.fenced(reply))
    }

    /// A work poll of `wait` that starts after `delay` (to back off after failures), owning
    /// its own handle on the client so that it can be kept across an agent's loop.
    pub fn poll_work(&self, wait: Duration, delay: Duration) -> WorkPoll {
        let client = self.clone();
        Box::pin(async move {
            tokio::time::sleep(delay).await;
            client.take_work(wait).await
        })
    }

    /// Several reports in one request, in the order they happened.
    pub async fn statuses(&self, reports: &[StatusReport]) -> Result<(), ClientError> {
        self.rotate(false, |base| {
            let url = format!("{base}/api/v1/agents/{}/status", self.agent);
            let request = self.http.post(&url).json(reports);
            async move { Self::check(&url, request.send().await).await.map(|_| ()) }
        })
        .await
    }

    pub async fn status(&self, report: &StatusReport) -> Result<(), ClientError> {
        self.rotate(false, |base| {
            let url = format!("{base}/api/v1/agents/{}/status", self.agent);
            let request = self.http.post(&url).json(report);
            async move { Self::check(&url, request.send().await).await.map(|_| ()) }
        })
        .await
    }

    /// Makes one call through the replicas: starts at the current one and moves on while
    /// they fail in a way another may not, at most once around the list.
    async fn rotate<T, F, Fut>(&self, long_poll: bool, call: F) -> Result<T, ClientError>
    where
        F: Fn(&str) -> Fut,
        Fut: std::future::Future<Output = Result<T, ClientError>>,
    {
        let n = self.bases.len();
        let mut last = ClientError::NoSchedulers;
        for _ in 0..n {
            let index = self.current.load(Ordering::Relaxed) % n;
            let error = match call(&self.bases[index]).await {
                Ok(answer) => return Ok(answer),
                Err(error) if n > 1 && error.try_another(long_poll) => error,
                Err(error) => return Err(error),
            };
            let next = (index + 1) % n;
            // Only the call that saw the current replica fail moves everyone on; a call that
            // failed on a replica others have already left must not skip the one they chose.
            if self
                .current
                .compare_exchange(index, next, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
            {
                tracing::info!(
                    agent = %self.agent,
                    from = %self.bases[index],
                    to = %self.bases[next],
                    reason = %error,
                    "switching scheduler"
                );
            }
            last = error;
        }
        Err(last)
    }

    /// Sends a call whose answer is work, and reads the answer.
    async fn work(url: String, request: reqwest::RequestBuilder) -> Result<Heartbeat, ClientError> {
        let response = Self::check(&url, request.send().await).await?;
        response
            .json()
            .await
            .map_err(|source| ClientError::Unreachable { url, source })
    }

    /// Applies the fencing rule to `reply`: notes a higher term, or drops a stale reply's work.
    fn fenced(&self, mut reply: Heartbeat) -> Heartbeat {
        let seen = self.term.fetch_max(reply.term, Ordering::Relaxed);
        match fence(seen, reply.term) {
            Fence::Act { highest } => {
                if highest > seen && seen > 0 {
                    tracing::info!(agent = %self.agent, term = highest, previous = seen, "a new scheduler leader term");
                }
            }
            Fence::Stale => {
                if !reply.launch.is_empty() || !reply.kill.is_empty() {
                    tracing::warn!(
                        agent = %self.agent,
                        answer_term = reply.term,
                        highest_term = seen,
                        launches = reply.launch.len(),
                        kills = reply.kill.len(),
                        "dropping work from a deposed scheduler leader"
                    );
                }
                reply.launch.clear();
                reply.kill.clear();
            }
        }
        reply
    }

    async fn check(
        url: &str,
        response: Result<reqwest::Response, reqwest::Error>,
    ) -> Result<reqwest::Response, ClientError> {
        let response = response.map_err(|source| ClientError::Unreachable {
            url: url.to_string(),
            source,
        })?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let error = response.json::<ApiError>().await.ok();
        if status == StatusCode::SERVICE_UNAVAILABLE
            && let Some(error) = &error
            && TRY_ANOTHER_CODES.contains(&error.code.as_str())
        {
            return Err(ClientError::Unavailable {
                url: url.to_string(),
                code: error.code.clone(),
                message: error.message.clone(),
            });
        }
        let message = error.map_or_else(|| status.to_string(), |error| error.message);
        if status == StatusCode::NOT_FOUND {
            Err(ClientError::Unregistered(message))
        } else {
            Err(ClientError::Refused { status, message })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lower_term_is_stale_and_an_equal_or_higher_one_is_acted_on() {
        assert_eq!(fence(5, 4), Fence::Stale);
        assert_eq!(fence(5, 0), Fence::Stale, "a term-less answer after a term");
        assert_eq!(fence(5, 5), Fence::Act { highest: 5 });
        assert_eq!(
            fence(5, 7),
            Fence::Act { highest: 7 },
            "a higher term raises"
        );
        assert_eq!(
            fence(0, 0),
            Fence::Act { highest: 0 },
            "old schedulers send 0"
        );
    }

    #[test]
    fn uris_may_be_repeated_and_comma_separated() {
        assert_eq!(
            scheduler_uris(&["http://a:1/, http://b:2", "http://c:3", " ,"]),
            ["http://a:1", "http://b:2", "http://c:3"]
        );
        assert!(scheduler_uris::<&str>(&[]).is_empty());
    }

    #[test]
    fn a_scheduler_url_must_be_http_or_https_with_a_host() {
        assert_eq!(scheduler_url(" http://a:1/ ").unwrap(), "http://a:1");
        assert_eq!(
            scheduler_url("https://[::1]:8081").unwrap(),
            "https://[::1]:8081"
        );
        assert_eq!(scheduler_url(" ").unwrap(), "", "blanks are dropped later");
        for (value, problem) in [
            ("127.0.0.1:18303", "relative URL without a base"),
            ("ftp://x", "scheme \"ftp\""),
            ("localhost:8081", "scheme \"localhost\""),
            ("http://", "empty host"),
        ] {
            let error = scheduler_url(value).unwrap_err().to_string();
            assert!(
                error.contains(problem) && error.contains("http:// or https://"),
                "{value}: {error}"
            );
        }
    }

    #[test]
    fn only_a_refusal_of_the_request_itself_is_permanent() {
        let refused = |status: StatusCode| ClientError::Refused {
            status,
            message: String::new(),
        };
        for status in [
            StatusCode::BAD_REQUEST,
            StatusCode::UNAUTHORIZED,
            StatusCode::FORBIDDEN,
            StatusCode::CONFLICT,
            StatusCode::PAYLOAD_TOO_LARGE,
            StatusCode::UNPROCESSABLE_ENTITY,
        ] {
            assert!(refused(status).is_permanent(), "{status}");
        }
        for status in [
            StatusCode::REQUEST_TIMEOUT,
            StatusCode::TOO_EARLY,
            StatusCode::TOO_MANY_REQUESTS,
            StatusCode::INTERNAL_SERVER_ERROR,
            StatusCode::BAD_GATEWAY,
            StatusCode::SERVICE_UNAVAILABLE,
            StatusCode::GATEWAY_TIMEOUT,
        ] {
            assert!(!refused(status).is_permanent(), "{status}");
        }
        assert!(
            !ClientError::Unregistered("register first".into()).is_permanent(),
            "the agent registers again, then the call succeeds"
        );
        let unavailable = ClientError::Unavailable {
            url: "http://s1".into(),
            code: "NOT_LEADER".into(),
            message: String::new(),
        };
        assert!(!unavailable.is_permanent());
        assert!(ClientError::NoSchedulers.is_permanent());
        assert!(scheduler_url("ftp://x").unwrap_err().is_permanent());
    }

    fn work(term: u64) -> Heartbeat {
        Heartbeat {
            launch: Vec::new(),
            kill: vec![aurora_events::TaskId::from_raw("t-1")],
            term,
        }
    }

    #[test]
    fn a_stale_answer_loses_its_work_and_a_newer_one_raises_the_term() {
        let client = SchedulerClient::new(&["http://127.0.0.1:9"], AgentId("a".into()));
        assert_eq!(client.fenced(work(3)).kill.len(), 1);
        assert_eq!(client.term(), 3);
        assert!(client.fenced(work(2)).kill.is_empty(), "older term dropped");
        assert_eq!(client.term(), 3, "a stale answer does not lower the term");
        let clone = client.clone();
        assert_eq!(clone.fenced(work(4)).kill.len(), 1);
        assert_eq!(client.term(), 4, "clones share the term");
    }
}
