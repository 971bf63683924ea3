//! Authentication at the HTTP edge of the scheduler and of `aurora-web`: who each request is, decided once by a middleware before
//! any handler runs, and what it may do, decided by each handler through [`Caller`].
//!
//! - [`Gate::enforced`] (`--auth FILE`, or `--dev`'s local credential): the `Authorization`
//!   header (Basic or Bearer) is checked against the [`AuthConfig`] (more than one such header
//!   is a 400: which to honour would be a guess); bad credentials are a 401
//!   before anything else happens (counted in `aurora_auth_failures_total` and logged, never
//!   journaled); a request without credentials is anonymous, which may read when the config
//!   allows anonymous reads. The principal's name is the actor of every event the request
//!   causes; `x-aurora-user` is ignored.
//! - [`Gate::insecure`] (`--insecure-no-auth`): nothing is checked and the actor is whatever
//!   `x-aurora-user` claims, as before authentication existed.
//!
//! Handlers get an [`Actor`] to submit commands with only from [`Caller::authorize`], so a
//! mutation cannot skip the permission check. Basic passwords cost an argon2 verification
//! (tens of milliseconds, ~19 MiB): it runs off the async threads, and a successful login is
//! remembered (by a hash of the credentials) until the config is reloaded.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

use aurora_api::{ApiError, USER_HEADER};
use aurora_auth::{Action, AuthConfig, Credentials, Denied, Principal};
use aurora_events::Actor;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use crate::api::Failure;

/// Password checks (argon2, ~19 MiB and tens of ms each) running at once, at most; a login
/// past it is answered 503 rather than queued, so a flood of bad passwords cannot take the
/// process's memory or its blocking threads.
const MAX_PASSWORD_CHECKS: usize = 4;

/// The error code of every authentication or authorisation refusal (Aurora's `AUTH_FAILED`).
pub const AUTH_FAILED: &str = "AUTH_FAILED";

/// Most remembered password logins; the memory is emptied when it is full.
const MAX_REMEMBERED_LOGINS: usize = 4096;

/// Paths served to anyone, even when reads need credentials: load balancers and probes.
const ALWAYS_OPEN: [&str; 2] = ["/health", "/leaderhealth"];

/// The authentication policy of one scheduler process, shared by its requests.
#[derive(Clone, Debug)]
pub struct Gate(Arc<Policy>);

#[derive(Debug)]
enum Policy {
    Insecure,
    Enforced(Enforced),
}

#[derive(Debug)]
struct Enforced {
    current: RwLock<Arc<Current>>,
    /// Where the config was read from, for reloads (`None`: `--dev`'s built-in config).
    source: Option<PathBuf>,
    password_checks: Arc<tokio::sync::Semaphore>,
}

/// One config and the password logins checked against it: replaced together on reload, so a
/// check that started before a reload can only remember its result in the old one.
#[derive(Debug)]
struct Current {
    config: Arc<AuthConfig>,
    /// Successful password logins: SHA-256 of `user\0password` → principal.
    logins: Mutex<HashMap<[u8; 32], Principal>>,
}

impl Current {
    fn new(config: AuthConfig) -> Arc<Current> {
        Arc::new(Current {
            config: Arc::new(config),
            logins: Mutex::new(HashMap::new()),
        })
    }
}

impl Gate {
    /// No authentication: the actor is what `x-aurora-user` claims.
    pub fn insecure() -> Gate {
        Gate(Arc::new(Policy::Insecure))
    }

    /// Authentication against `config`, read from `source` (reloaded by [`Gate::reload`]).
    pub fn enforced(config: AuthConfig, source: Option<PathBuf>) -> Gate {
        note_disabled_users(&config);
        Gate(Arc::new(Policy::Enforced(Enforced {
            current: RwLock::new(Current::new(config)),
            source,
            password_checks: Arc::new(tokio::sync::Semaphore::new(MAX_PASSWORD_CHECKS)),
        })))
    }

    /// Whether this scheduler runs without authentication (the UI says so on every page).
    pub fn is_insecure(&self) -> bool {
        matches!(*self.0, Policy::Insecure)
    }

    /// Reads the config file again and uses it from the next request on; on an error the
    /// config in use stays. Remembered logins are forgotten (a password may have changed).
    /// Returns the number of users now configured.
    pub fn reload(&self) -> Result<usize, aurora_auth::Error> {
        let Policy::Enforced(enforced) = &*self.0 else {
            return Ok(0);
        };
        let Some(path) = &enforced.source else {
            return Ok(enforced.current().config.users().count());
        };
        let config = AuthConfig::load(path)?;
        note_disabled_users(&config);
        let users = config.users().count();
        *enforced.current.write().unwrap_or_else(|e| e.into_inner()) = Current::new(config);
        Ok(users)
    }

    /// Reloads the config file on every SIGHUP, for as long as the process runs (a config
    /// that does not load is logged and the one in use stays).
    pub fn reload_on_hangup(&self) {
        let gate = self.clone();
        tokio::spawn(async move {
            use tokio::signal::unix::{SignalKind, signal};
            let mut hangups = match signal(SignalKind::hangup()) {
                Ok(hangups) => hangups,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for SIGHUP; the auth config will not reload");
                    return;
                }
            };
            while hangups.recv().await.is_some() {
                match gate.reload() {
                    Ok(users) => tracing::info!(users, "reloaded the auth config"),
                    Err(e) => tracing::error!(
                        error = %e,
                        "the auth config did not reload; the previous one stays in use"
                    ),
                }
            }
        });
    }

    /// Who sent a request with these headers: an error response for credentials that do not
    /// check out.
    async fn identify(&self, headers: &HeaderMap) -> Result<Caller, Response> {
        let enforced = match &*self.0 {
            Policy::Insecure => return Ok(Caller::Claimed(claimed_user(headers))),
            Policy::Enforced(enforced) => enforced,
        };
        let current = enforced.current();
        let config = Arc::clone(&current.config);
        let mut values = headers.get_all(header::AUTHORIZATION).iter();
        let Some(value) = values.next() else {
            return Ok(Caller::Checked {
                principal: None,
                config,
            });
        };
        if values.next().is_some() {
            // Which one a server honours differs from server to server (and from proxy to
            // proxy); acting as either could act as someone the client did not mean.
            return Err(several_authorizations());
        }
        let credentials = value
            .to_str()
            .map_err(|_| aurora_auth::Error::BadHeader("not visible ASCII".into()))
            .and_then(Credentials::from_authorization_header);
        let credentials = match credentials {
            Ok(credentials) => credentials,
            Err(e) => return Err(refuse_login("bad_header", None, &e)),
        };
        let user = match &credentials {
            Credentials::Basic { user, .. } => Some(user.clone()),
            Credentials::Token(_) => None,
        };
        match enforced.authenticate(&current, credentials).await {
            Ok(principal) => Ok(Caller::Checked {
                principal: Some(principal),
                config,
            }),
            Err(Login::Busy) => Err(busy()),
            Err(Login::Refused(e)) => Err(refuse_login("bad_credentials", user.as_deref(), &e)),
        }
    }
}

impl Enforced {
    fn current(&self) -> Arc<Current> {
        Arc::clone(&self.current.read().unwrap_or_else(|e| e.into_inner()))
    }

    async fn authenticate(
        &self,
        current: &Arc<Current>,
        credentials: Credentials,
    ) -> Result<Principal, Login> {
        let config = Arc::clone(&current.config);
        let Credentials::Basic { user, password } = &credentials else {
            // A token is one SHA-256 and a few comparisons.
            return config.authenticate(&credentials).map_err(Login::Refused);
        };
        let key: [u8; 32] = Sha256::new()
            .chain_update(user.as_bytes())
            .chain_update([0])
            .chain_update(password.as_bytes())
            .finalize()
            .into();
        if let Some(principal) = current.remembered(&key) {
            return Ok(principal);
        }
        let Ok(permit) = Arc::clone(&self.password_checks).try_acquire_owned() else {
            metrics::counter!("aurora_auth_failures_total", "reason" => "busy").increment(1);
            return Err(Login::Busy);
        };
        let checked = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            config.authenticate(&credentials)
        })
        .await
        .map_err(|_| Login::Refused(aurora_auth::Error::BadCredentials))?
        .map_err(Login::Refused)?;
        let mut logins = current.logins.lock().unwrap_or_else(|e| e.into_inner());
        if logins.len() >= MAX_REMEMBERED_LOGINS {
            logins.clear();
        }
        logins.insert(key, checked.clone());
        Ok(checked)
    }
}

/// Why a login did not check out.
enum Login {
    /// Too many password checks at once.
    Busy,
    Refused(aurora_auth::Error),
}

impl Current {
    fn remembered(&self, key: &[u8; 32]) -> Option<Principal> {
        self.logins
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .cloned()
    }
}

/// Says which users nobody can sign in as. Such a user is valid (revoking a user's last token
/// must take effect), but one the operator merely forgot to give a credential looks the same.
fn note_disabled_users(config: &AuthConfig) {
    for user in config.disabled_users() {
        tracing::warn!(
            user,
            "user {user} has neither a password nor a token: nobody can sign in as it"
        );
    }
}

/// The user named by `x-aurora-user` (without authentication).
fn claimed_user(headers: &HeaderMap) -> String {
    headers
        .get(USER_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .unwrap_or("anonymous")
        .to_string()
}

/// The 401 for credentials that did not check out: counted and logged, never journaled.
fn refuse_login(reason: &'static str, user: Option<&str>, error: &aurora_auth::Error) -> Response {
    metrics::counter!("aurora_auth_failures_total", "reason" => reason).increment(1);
    tracing::warn!(reason, user = user.unwrap_or("-"), error = %error, "authentication failed");
    unauthenticated(format!("authentication failed: {error}"))
}

/// The 400 for a request with more than one `Authorization` header: counted and logged as a
/// failed login.
fn several_authorizations() -> Response {
    metrics::counter!("aurora_auth_failures_total", "reason" => "several_headers").increment(1);
    tracing::warn!(
        reason = "several_headers",
        "authentication failed: more than one Authorization header"
    );
    (
        StatusCode::BAD_REQUEST,
        axum::Json(ApiError {
            code: "INVALID_REQUEST".into(),
            message: "more than one Authorization header was sent; send one".into(),
        }),
    )
        .into_response()
}

/// The 503 for a password login while the password checks are all taken.
fn busy() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        axum::Json(ApiError {
            code: "ERROR_TRANSIENT".into(),
            message: "too many password logins are being checked; retry, or use an API token"
                .into(),
        }),
    )
        .into_response()
}

/// A 401 in the API's error shape, with the challenge that makes a browser ask for a login.
fn unauthenticated(message: String) -> Response {
    let mut response = (
        StatusCode::UNAUTHORIZED,
        axum::Json(ApiError {
            code: AUTH_FAILED.into(),
            message,
        }),
    )
        .into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"aurora\", charset=\"UTF-8\""),
    );
    response
}

/// The middleware: identifies the caller, refuses reads that need credentials, and hands the
/// [`Caller`] to the handlers.
pub async fn authenticate(State(gate): State<Gate>, mut request: Request, next: Next) -> Response {
    if ALWAYS_OPEN.contains(&request.uri().path()) {
        // Probes answer whatever credentials come along (their handlers need no caller).
        return next.run(request).await;
    }
    let caller = match gate.identify(request.headers()).await {
        Ok(caller) => caller,
        Err(response) => return response,
    };
    let reading = matches!(*request.method(), Method::GET | Method::HEAD);
    if reading && let Err(denied) = caller.check(Action::Read, None) {
        metrics::counter!("aurora_auth_denied_total", "action" => "read").increment(1);
        return unauthenticated(denied.to_string());
    }
    request.extensions_mut().insert(caller);
    next.run(request).await
}

/// Puts `router` behind `gate`.
pub fn guard(router: axum::Router, gate: Gate) -> axum::Router {
    router.layer(axum::middleware::from_fn_with_state(gate, authenticate))
}

/// Who a request comes from, as the [`authenticate`] middleware found. Extract it in a handler
/// and call [`Caller::authorize`] before doing anything.
#[derive(Debug, Clone)]
pub enum Caller {
    /// Authentication is off: the user the request claims.
    Claimed(String),
    /// Authentication is on: the principal (`None`: no credentials were sent).
    Checked {
        principal: Option<Principal>,
        config: Arc<AuthConfig>,
    },
}

impl Caller {
    /// The authenticated principal's name, if any.
    pub fn principal(&self) -> Option<&str> {
        match self {
            Caller::Claimed(_) => None,
            Caller::Checked { principal, .. } => principal.as_ref().map(Principal::name),
        }
    }

    fn check(&self, action: Action, role: Option<&str>) -> Result<(), Denied> {
        match self {
            Caller::Claimed(_) => Ok(()),
            Caller::Checked { principal, config } => {
                config.authorize(principal.as_ref(), action, role)
            }
        }
    }

    /// Whether the caller may perform `action` on `role` (the job's or quota's role, where
    /// the action has one): the actor to record its events under, or the refusal (401 without
    /// credentials, 403 naming the missing permission).
    pub fn authorize(&self, action: Action, role: Option<&str>) -> Result<Actor, Failure> {
        if let Err(denied) = self.check(action, role) {
            metrics::counter!("aurora_auth_denied_total", "action" => action.name()).increment(1);
            tracing::info!(
                user = self.principal().unwrap_or("anonymous"),
                action = %action_label(action),
                role = role.unwrap_or("-"),
                "request refused: {denied}"
            );
            let status = StatusCode::from_u16(denied.status()).unwrap_or(StatusCode::FORBIDDEN);
            return Err(Failure(
                status,
                ApiError {
                    code: AUTH_FAILED.into(),
                    message: denied.to_string(),
                },
            ));
        }
        Ok(match self {
            Caller::Claimed(user) => Actor::User(user.clone()),
            Caller::Checked { principal, .. } => Actor::User(
                principal
                    .as_ref()
                    .map_or("anonymous", Principal::name)
                    .to_string(),
            ),
        })
    }
}

/// `domain:action`, for logs.
fn action_label(action: Action) -> String {
    format!("{}:{}", action.domain().name(), action.name())
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = Failure;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        // Fails closed: a route served without the gate refuses rather than trusting anyone.
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or_else(|| Failure::internal("this route is served without authentication"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_claimed_user_is_the_header_or_anonymous() {
        let mut headers = HeaderMap::new();
        assert_eq!(claimed_user(&headers), "anonymous");
        headers.insert(USER_HEADER, HeaderValue::from_static(" alice "));
        assert_eq!(claimed_user(&headers), "alice");
    }

    #[test]
    fn an_anonymous_caller_may_read_but_not_write() {
        let config = Arc::new(AuthConfig::dev("dev", "aurora_token"));
        let anonymous = Caller::Checked {
            principal: None,
            config: Arc::clone(&config),
        };
        assert!(anonymous.check(Action::Read, None).is_ok());
        let refused = anonymous
            .authorize(Action::JobKill, Some("www"))
            .expect_err("anonymous kill");
        assert_eq!(refused.0, StatusCode::UNAUTHORIZED);
        assert_eq!(refused.1.code, AUTH_FAILED);
        let dev = Caller::Checked {
            principal: config.principal("dev"),
            config,
        };
        assert_eq!(
            dev.authorize(Action::JobKill, Some("www")).expect("admin"),
            Actor::User("dev".into())
        );
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod logins {
    use super::*;
    use base64::Engine;

    fn config_with_password(user: &str, password: &str) -> String {
        format!(
            "[users.{user}]\npassword = \"{}\"\npermissions = [\"admin:*\"]\n",
            aurora_auth::hash_password(password, [3; 16]).unwrap()
        )
    }

    fn basic(user: &str, password: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Basic {encoded}")).unwrap(),
        );
        headers
    }

    fn enforced(gate: &Gate) -> &Enforced {
        match &*gate.0 {
            Policy::Enforced(enforced) => enforced,
            Policy::Insecure => unreachable!(),
        }
    }

    /// While every password check is taken, another password login is a 503 (not queued); a
    /// remembered login still passes.
    #[tokio::test]
    async fn password_checks_past_the_cap_are_refused_not_queued() {
        let config = AuthConfig::parse(&config_with_password("ops", "pw")).unwrap();
        let gate = Gate::enforced(config, None);
        assert!(gate.identify(&basic("ops", "pw")).await.is_ok());
        let checks = Arc::clone(&enforced(&gate).password_checks);
        let _all = checks
            .acquire_many_owned(MAX_PASSWORD_CHECKS as u32)
            .await
            .unwrap();
        let busy = gate.identify(&basic("ops", "other")).await.unwrap_err();
        assert_eq!(busy.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(
            gate.identify(&basic("ops", "pw")).await.is_ok(),
            "a remembered login needs no check"
        );
    }

    /// A reload forgets remembered logins: a password changed in the file stops working.
    #[tokio::test]
    async fn a_reload_forgets_remembered_logins() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("auth.toml");
        std::fs::write(&path, config_with_password("ops", "old")).unwrap();
        let gate = Gate::enforced(AuthConfig::load(&path).unwrap(), Some(path.clone()));
        assert!(gate.identify(&basic("ops", "old")).await.is_ok());
        std::fs::write(&path, config_with_password("ops", "new")).unwrap();
        gate.reload().unwrap();
        let refused = gate.identify(&basic("ops", "old")).await.unwrap_err();
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
        assert!(gate.identify(&basic("ops", "new")).await.is_ok());
    }
}
