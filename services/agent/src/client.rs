//! The agent's side of the scheduler's HTTP API: register, heartbeat, poll for work, report
//! status.

use aurora_api::{AgentRegistration, ApiError, Heartbeat, StatusReport};
use aurora_events::AgentId;
use reqwest::StatusCode;

/// Why a call to the scheduler failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach the scheduler at {url}: {source}")]
    Unreachable { url: String, source: reqwest::Error },
    #[error("the scheduler does not know this agent (or declared it lost): {0}")]
    Unregistered(String),
    #[error("the scheduler refused the request ({status}): {message}")]
    Refused { status: StatusCode, message: String },
}

/// A work poll in flight (see [`SchedulerClient::poll_work`]).
pub type WorkPoll =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Heartbeat, ClientError>> + Send>>;

/// A client for one agent.
#[derive(Debug, Clone)]
pub struct SchedulerClient {
    http: reqwest::Client,
    base: String,
    agent: AgentId,
}

impl SchedulerClient {
    /// `base` is the scheduler's URL, e.g. `http://127.0.0.1:8081`.
    pub fn new(base: &str, agent: AgentId) -> Self {
        Self {
            http: reqwest::Client::new(),
            base: base.trim_end_matches('/').to_string(),
            agent,
        }
    }

    pub async fn register(&self, registration: &AgentRegistration) -> Result<(), ClientError> {
        let url = format!("{}/api/v1/agents/register", self.base);
        let response = self.http.post(&url).json(registration).send().await;
        Self::check(&url, response).await.map(|_| ())
    }

    pub async fn heartbeat(&self) -> Result<Heartbeat, ClientError> {
        let url = format!("{}/api/v1/agents/{}/heartbeat", self.base, self.agent);
        let response = Self::check(&url, self.http.post(&url).send().await).await?;
        response
            .json()
            .await
            .map_err(|source| ClientError::Unreachable { url, source })
    }

    /// Waits up to `wait` for launches and kills; the scheduler answers as soon as it queues
    /// some. An empty answer after `wait` is normal: poll again.
    pub async fn take_work(&self, wait: std::time::Duration) -> Result<Heartbeat, ClientError> {
        let url = format!(
            "{}/api/v1/agents/{}/work?wait_ms={}",
            self.base,
            self.agent,
            wait.as_millis()
        );
        // The request may take `wait`; allow for the answer's own journey on top.
        let request = self
            .http
            .post(&url)
            .timeout(wait + std::time::Duration::from_secs(10));
        let response = Self::check(&url, request.send().await).await?;
        response
            .json()
            .await
            .map_err(|source| ClientError::Unreachable { url, source })
    }

    /// A work poll of `wait` that starts after `delay` (to back off after failures), owning
    /// its own handle on the client so that it can be kept across an agent's loop.
    pub fn poll_work(&self, wait: std::time::Duration, delay: std::time::Duration) -> WorkPoll {
        let client = self.clone();
        Box::pin(async move {
            tokio::time::sleep(delay).await;
            client.take_work(wait).await
        })
    }

    /// Several reports in one request, in the order they happened.
    pub async fn statuses(&self, reports: &[StatusReport]) -> Result<(), ClientError> {
        let url = format!("{}/api/v1/agents/{}/status", self.base, self.agent);
        let response = self.http.post(&url).json(reports).send().await;
        Self::check(&url, response).await.map(|_| ())
    }

    pub async fn status(&self, report: &StatusReport) -> Result<(), ClientError> {
        let url = format!("{}/api/v1/agents/{}/status", self.base, self.agent);
        let response = self.http.post(&url).json(report).send().await;
        Self::check(&url, response).await.map(|_| ())
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
        let message = match response.json::<ApiError>().await {
            Ok(error) => error.message,
            Err(_) => status.to_string(),
        };
        if status == StatusCode::NOT_FOUND {
            Err(ClientError::Unregistered(message))
        } else {
            Err(ClientError::Refused { status, message })
        }
    }
}
