//! Who may use the observer's privileged routes (running a command in a task's sandbox, writing
//! a file into it), and, when the agent is given the cluster's auth config, who may read.
//!
//! The agent verifies callers itself, against the same users file the scheduler reads
//! (`aurora-agent --auth FILE`; `aurora-scheduler --dev` hands its embedded agent its own
//! config, the dev token included). Forwarding each credential to the scheduler instead would
//! make every `task run` depend on a reachable leader and add a round trip; a scheduler-signed
//! ticket would need a key shared with every agent. Sharing the file is what an operator
//! already does for the scheduler's replicas, and `kill -HUP` reloads it here too.
//!
//! Three policies ([`ObserverAuth`]):
//! - **closed** (no `--auth`, no `--insecure-no-auth`; the default): reads are open, as they
//!   were before; commands and writes are refused to everyone (403 `exec_disabled`) with a
//!   message naming the flags. An agent never becomes a remote shell by omission.
//! - **enforced** (`--auth FILE`): the `Authorization` header (Basic or Bearer) is checked as
//!   the scheduler checks it; bad credentials are a 401 on every route; reads follow the
//!   file's `anonymous_read`; a command or a write into a task of role R needs a principal
//!   holding `job:create:R` (or `job:*:R`, `admin:*`): whoever may start the role's tasks may
//!   already run any command in its sandboxes, so this grants nothing new. (A separate
//!   `job:task_run` action would need a new `aurora_auth::Action`.)
//! - **insecure** (`--insecure-no-auth`): anyone who reaches the port may run commands. The
//!   scheduler's `--insecure-no-auth` does not imply it: each agent must be told.
//!
//! Basic passwords cost an argon2 verification (tens of ms, ~19 MiB): it runs on the
//! observer's file threads (`pool.rs`), so at most four run at once and a flood of them is
//! answered 503, never on the async threads. Tokens cost one SHA-256.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use aurora_auth::{Action, AuthConfig, Credentials, Denied, Principal};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{ObserverError, ObserverState};

/// The observer's authentication policy, shared by its requests. See the module docs.
#[derive(Debug, Clone)]
pub struct ObserverAuth(Arc<Policy>);

#[derive(Debug)]
enum Policy {
    Closed,
    Insecure,
    Enforced {
        config: RwLock<Arc<AuthConfig>>,
        /// Where the config was read from, for reloads (`None`: `--dev`'s built-in one).
        source: Option<PathBuf>,
    },
}

impl Default for ObserverAuth {
    fn default() -> Self {
        Self::closed()
    }
}

impl ObserverAuth {
    /// Reads open, commands and writes refused to everyone.
    pub fn closed() -> Self {
        Self(Arc::new(Policy::Closed))
    }

    /// Everything open to anyone who reaches the port.
    pub fn insecure() -> Self {
        Self(Arc::new(Policy::Insecure))
    }

    /// Callers checked against `config`, read from `source` (reloaded by [`Self::reload`]).
    pub fn enforced(config: AuthConfig, source: Option<PathBuf>) -> Self {
        Self(Arc::new(Policy::Enforced {
            config: RwLock::new(Arc::new(config)),
            source,
        }))
    }

    /// [`Self::enforced`] with the config in `path`.
    pub fn load(path: impl Into<PathBuf>) -> Result<Self, aurora_auth::Error> {
        let path = path.into();
        let config = AuthConfig::load(&path)?;
        Ok(Self::enforced(config, Some(path)))
    }

    /// For the start-up log.
    pub fn describe(&self) -> String {
        match &*self.0 {
            Policy::Closed => "closed: task run/ssh/scp refused (no --auth)".into(),
            Policy::Insecure => "insecure: anyone may run commands in sandboxes".into(),
            Policy::Enforced {
                source: Some(p), ..
            } => format!("users from {}", p.display()),
            Policy::Enforced { source: None, .. } => "the dev credential".into(),
        }
    }

    /// Reads the config file again (enforced policies with a file only); on an error the
    /// config in use stays. Returns the number of users now configured.
    pub fn reload(&self) -> Result<usize, aurora_auth::Error> {
        let Policy::Enforced { config, source } = &*self.0 else {
            return Ok(0);
        };
        let Some(path) = source else {
            return Ok(current(config).users().count());
        };
        let loaded = AuthConfig::load(path)?;
        let users = loaded.users().count();
        *config.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(loaded);
        Ok(users)
    }

    /// Reloads the config file on every SIGHUP, for as long as the process runs.
    pub fn reload_on_hangup(&self) {
        if !matches!(
            &*self.0,
            Policy::Enforced {
                source: Some(_),
                ..
            }
        ) {
            return;
        }
        let auth = self.clone();
        aurora_net::on_hangup("the observer's auth config", move || match auth.reload() {
            Ok(users) => tracing::info!(users, "observer: reloaded the auth config"),
            Err(e) => {
                tracing::error!(error = %e, "observer: the auth config did not reload; the previous one stays in use")
            }
        });
    }
}

fn current(config: &RwLock<Arc<AuthConfig>>) -> Arc<AuthConfig> {
    Arc::clone(&config.read().unwrap_or_else(|e| e.into_inner()))
}

/// Who sent a request, as the middleware found: handed to the privileged handlers.
#[derive(Debug, Clone)]
pub enum Caller {
    /// The observer runs nothing for anyone.
    Closed,
    /// The observer checks nothing.
    Anyone,
    /// Checked against the config; `None`: no credentials were sent.
    Checked {
        principal: Option<Principal>,
        config: Arc<AuthConfig>,
    },
}

impl Caller {
    /// Whether the caller may run commands in, and write files into, a task of `role`: the
    /// name to log it under, or the refusal.
    pub fn authorize_task(&self, role: &str) -> Result<String, ObserverError> {
        match self {
            Caller::Closed => Err(ObserverError::ExecDisabled),
            Caller::Anyone => Ok("anyone (--insecure-no-auth)".into()),
            Caller::Checked { principal, config } => {
                match config.authorize(principal.as_ref(), Action::JobCreate, Some(role)) {
                    Ok(()) => Ok(principal
                        .as_ref()
                        .map_or("anonymous", Principal::name)
                        .to_string()),
                    Err(Denied::Unauthenticated { .. }) => Err(ObserverError::Unauthenticated(
                        "running commands in and copying files into a sandbox needs \
                         credentials; log in (~/.netrc or AURORA_TOKEN)"
                            .into(),
                    )),
                    Err(denied @ Denied::Forbidden { .. }) => {
                        Err(ObserverError::Forbidden(format!(
                            "{denied}: running commands in and copying files into role {role}'s \
                             sandboxes needs the permission to create its tasks"
                        )))
                    }
                }
            }
        }
    }

    fn may_read(&self) -> Result<(), ObserverError> {
        match self {
            Caller::Closed | Caller::Anyone => Ok(()),
            Caller::Checked { principal, config } => config
                .authorize(principal.as_ref(), Action::Read, None)
                .map_err(|denied| ObserverError::Unauthenticated(denied.to_string())),
        }
    }
}

/// The middleware in front of every observer route: identifies the caller (bad credentials
/// are a 401 whatever the route), refuses reads the config does not allow, and hands the
/// [`Caller`] to the handlers.
pub async fn authenticate(
    State(state): State<ObserverState>,
    mut request: Request,
    next: Next,
) -> Response {
    // Only the header crosses the await: a request's body is not `Sync`.
    let mut authorizations = request.headers().get_all(header::AUTHORIZATION).iter();
    let authorization = authorizations.next().cloned();
    if authorizations.next().is_some() {
        // Which one to honour would be a guess, and either could be someone the client did not
        // mean to act as.
        tracing::warn!("observer: authentication failed: more than one Authorization header");
        return ObserverError::BadRequest(
            "more than one Authorization header was sent; send one".into(),
        )
        .into_response();
    }
    let caller = match identify(&state, authorization).await {
        Ok(caller) => caller,
        Err(error) => return error.into_response(),
    };
    let reading = matches!(*request.method(), Method::GET | Method::HEAD);
    if reading && let Err(error) = caller.may_read() {
        return error.into_response();
    }
    request.extensions_mut().insert(caller);
    next.run(request).await
}

async fn identify(
    state: &ObserverState,
    authorization: Option<HeaderValue>,
) -> Result<Caller, ObserverError> {
    let config = match &*state.auth.0 {
        Policy::Closed => return Ok(Caller::Closed),
        Policy::Insecure => return Ok(Caller::Anyone),
        Policy::Enforced { config, .. } => current(config),
    };
    let Some(value) = authorization else {
        return Ok(Caller::Checked {
            principal: None,
            config,
        });
    };
    let credentials = value
        .to_str()
        .map_err(|_| aurora_auth::Error::BadHeader("not visible ASCII".into()))
        .and_then(Credentials::from_authorization_header)
        .map_err(|e| refused(&e))?;
    let principal = match credentials {
        // One SHA-256 and a few comparisons.
        Credentials::Token(_) => config.authenticate(&credentials),
        Credentials::Basic { .. } => {
            let checking = Arc::clone(&config);
            state
                .pool
                .run(move || Ok(checking.authenticate(&credentials)))
                .await?
        }
    }
    .map_err(|e| refused(&e))?;
    Ok(Caller::Checked {
        principal: Some(principal),
        config,
    })
}

/// A 401 for credentials that did not check out, logged (the secret never is).
fn refused(error: &aurora_auth::Error) -> ObserverError {
    tracing::warn!(error = %error, "observer: authentication failed");
    ObserverError::Unauthenticated(format!("authentication failed: {error}"))
}
