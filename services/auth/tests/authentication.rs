//! Logging in: passwords, tokens, and one error for every failure.

#![allow(clippy::unwrap_used)]

mod common;

use aurora_auth::{Action, AuthConfig, Credentials, Error, token_digest};
use common::{cheap_hash, token};

/// alice: a password and a token; bob: a password only; agent-vm1: a token only.
fn config() -> AuthConfig {
    let text = format!(
        r#"
        [groups.www-admins]
        permissions = ["job:*:www-data"]

        [users.alice]
        password = "{alice}"
        tokens = ["{alice_token}"]
        groups = ["www-admins"]

        [users.bob]
        password = "{bob}"

        [users.agent-vm1]
        tokens = ["{agent_token}"]
        permissions = ["agent:*"]
        "#,
        alice = cheap_hash("correct horse"),
        bob = cheap_hash("battery staple"),
        alice_token = token_digest(&token(1)),
        agent_token = token_digest(&token(2)),
    );
    AuthConfig::parse(&text).unwrap()
}

fn basic(user: &str, password: &str) -> Credentials {
    Credentials::Basic {
        user: user.to_owned(),
        password: password.to_owned(),
    }
}

fn login(config: &AuthConfig, credentials: &Credentials) -> Result<String, String> {
    config
        .authenticate(credentials)
        .map(|p| p.name().to_owned())
        .map_err(|e| e.to_string())
}

#[test]
fn the_right_password_logs_in_with_the_users_permissions() {
    let config = config();
    let alice = config
        .authenticate(&basic("alice", "correct horse"))
        .unwrap();
    assert_eq!(alice.name(), "alice");
    assert!(alice.holds(Action::JobKill, Some("www-data")));
    assert!(!alice.holds(Action::JobKill, Some("db")));
    assert_eq!(
        login(&config, &basic("bob", "battery staple")),
        Ok("bob".into())
    );
}

#[test]
fn a_wrong_password_is_bad_credentials() {
    let config = config();
    assert!(matches!(
        config.authenticate(&basic("alice", "battery staple")),
        Err(Error::BadCredentials)
    ));
    assert_eq!(
        login(&config, &basic("alice", "")),
        Err("bad credentials".into())
    );
    assert_eq!(
        login(&config, &basic("alice", "Correct horse")),
        Err("bad credentials".into())
    );
}

#[test]
fn an_unknown_user_gets_the_same_error_as_a_wrong_password() {
    let config = config();
    let wrong_password = login(&config, &basic("alice", "nope"));
    let unknown_user = login(&config, &basic("mallory", "nope"));
    let token_only_user = login(&config, &basic("agent-vm1", "nope"));
    assert_eq!(wrong_password, Err("bad credentials".into()));
    assert_eq!(unknown_user, wrong_password);
    assert_eq!(token_only_user, wrong_password);
    // Even with another user's password.
    assert_eq!(
        login(&config, &basic("mallory", "correct horse")),
        wrong_password
    );
    // User names are exact.
    assert_eq!(
        login(&config, &basic("Alice", "correct horse")),
        wrong_password
    );
}

#[test]
fn a_token_names_its_user() {
    let config = config();
    assert_eq!(
        login(&config, &Credentials::Token(token(1))),
        Ok("alice".into())
    );
    let agent = config.authenticate(&Credentials::Token(token(2))).unwrap();
    assert_eq!(agent.name(), "agent-vm1");
    assert!(agent.holds(Action::AgentHeartbeat, None));
}

#[test]
fn a_wrong_token_is_bad_credentials() {
    let config = config();
    for wrong in [
        token(3),
        String::new(),
        token_digest(&token(1)), // the digest is not the token
        token(1).to_uppercase(),
    ] {
        assert_eq!(
            login(&config, &Credentials::Token(wrong.clone())),
            Err("bad credentials".into()),
            "{wrong}"
        );
    }
}

#[test]
fn a_users_token_works_as_its_basic_password_but_not_anothers() {
    let config = config();
    assert_eq!(
        login(&config, &basic("alice", &token(1))),
        Ok("alice".into())
    );
    assert_eq!(
        login(&config, &basic("agent-vm1", &token(2))),
        Ok("agent-vm1".into())
    );
    // The agent's token is not alice's password.
    assert_eq!(
        login(&config, &basic("alice", &token(2))),
        Err("bad credentials".into())
    );
}

#[test]
fn from_the_header_to_a_principal() {
    let config = config();
    // base64("bob:battery staple")
    let header = "basic Ym9iOmJhdHRlcnkgc3RhcGxl";
    let credentials = Credentials::from_authorization_header(header).unwrap();
    assert_eq!(login(&config, &credentials), Ok("bob".into()));

    let header = format!("Bearer {}", token(2));
    let credentials: Credentials = header.parse().unwrap();
    assert_eq!(login(&config, &credentials), Ok("agent-vm1".into()));

    let garbage = Credentials::from_authorization_header("Negotiate YIIB").unwrap_err();
    assert!(matches!(garbage, Error::BadHeader(_)), "{garbage:?}");
    assert_eq!(
        garbage.to_string(),
        "bad Authorization header: unsupported scheme `Negotiate`; use Basic or Bearer"
    );
}

#[test]
fn a_real_cost_hash_verifies() {
    // One hash at argon2's recommended cost, to check hash_password's output logs in.
    let phc = aurora_auth::hash_password("s3cret", [42; 16]).unwrap();
    let config = AuthConfig::parse(&format!("[users.ops]\npassword = \"{phc}\"\n")).unwrap();
    assert_eq!(login(&config, &basic("ops", "s3cret")), Ok("ops".into()));
    assert_eq!(
        login(&config, &basic("ops", "s3cret ")),
        Err("bad credentials".into())
    );
}
