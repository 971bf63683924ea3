//! The config file: what parses, and errors that name the culprit.

#![allow(clippy::unwrap_used)]

mod common;

use aurora_auth::{AuthConfig, Credentials, Error, Permission, token_digest};
use common::{cheap_hash, token};

fn parse_err(text: &str) -> String {
    match AuthConfig::parse(text) {
        Ok(config) => panic!("expected an error, parsed {config:?}"),
        Err(e) => e.to_string(),
    }
}

fn tok(seed: u8) -> String {
    token_digest(&token(seed))
}

#[test]
fn the_example_config_parses_and_folds_group_permissions_in() {
    let text = format!(
        r#"
        # Reads (GET) without credentials; default true.
        anonymous_read = true

        [users.alice]
        password = "{alice}"
        tokens = ["{t1}"]
        groups = ["www-admins"]
        permissions = ["job:create:www-data"]

        [groups.www-admins]
        permissions = ["job:*:www-data", "update:*:www-data", "quota:set:www-data"]

        [users.ops]
        password = "{ops}"
        permissions = ["admin:*"]

        [users.agent-vm1]
        tokens = ["{t2}"]
        permissions = ["agent:*"]
        "#,
        alice = cheap_hash("alice-pw"),
        ops = cheap_hash("ops-pw"),
        t1 = tok(1),
        t2 = tok(2),
    );
    let config = AuthConfig::parse(&text).unwrap();
    assert!(config.anonymous_read());
    assert_eq!(
        config.users().collect::<Vec<_>>(),
        ["agent-vm1", "alice", "ops"]
    );
    assert_eq!(
        config.groups_of("alice").collect::<Vec<_>>(),
        ["www-admins"]
    );
    let alice = config.principal("alice").unwrap();
    let shown: Vec<String> = alice.permissions().iter().map(|p| p.to_string()).collect();
    assert_eq!(
        shown,
        [
            "job:*:www-data",
            "job:create:www-data",
            "update:*:www-data",
            "quota:set:www-data"
        ]
    );
    assert!(config.principal("nobody").is_none());
}

#[test]
fn defaults_anonymous_read_and_allows_an_empty_file() {
    let config = AuthConfig::parse("").unwrap();
    assert!(config.anonymous_read());
    assert_eq!(config.users().count(), 0);
    assert!(
        !AuthConfig::parse("anonymous_read = false")
            .unwrap()
            .anonymous_read()
    );
}

#[test]
fn unknown_fields_are_rejected() {
    let err = parse_err(&format!(
        "[users.bob]\ntokens = [\"{}\"]\npasswrd = \"x\"\n",
        tok(1)
    ));
    assert!(err.contains("unknown field `passwrd`"), "{err}");
    let err = parse_err("anonymous_reads = true");
    assert!(err.contains("unknown field `anonymous_reads`"), "{err}");
    let err = parse_err("[groups.g]\npermissions = []\ngroups = [\"h\"]\n");
    assert!(err.contains("unknown field `groups`"), "{err}");
}

#[test]
fn wrong_types_and_bad_toml_are_rejected() {
    let err = parse_err(&format!("[users.bob]\ntokens = \"{}\"\n", tok(1)));
    assert!(err.starts_with("invalid auth config:"), "{err}");
    assert!(err.contains("tokens"), "{err}");
    let err = parse_err("[users.bob");
    assert!(err.starts_with("invalid auth config:"), "{err}");
}

#[test]
fn an_unknown_group_is_named_with_its_user() {
    let text = format!(
        "[groups.www-admins]\npermissions = []\n[users.alice]\ntokens = [\"{}\"]\ngroups = [\"www-admin\"]\n",
        tok(1)
    );
    assert_eq!(parse_err(&text), "user alice: unknown group `www-admin`");
}

#[test]
fn malformed_permissions_name_their_owner_and_value() {
    let user = |perm: &str| {
        parse_err(&format!(
            "[users.alice]\ntokens = [\"{}\"]\npermissions = [\"{perm}\"]\n",
            tok(1)
        ))
    };
    assert_eq!(
        user("jobs:kill:www-data"),
        "user alice: bad permission `jobs:kill:www-data`: unknown domain `jobs` \
         (known: job, update, quota, maintenance, admin, agent)"
    );
    assert_eq!(
        user("job:destroy:www-data"),
        "user alice: bad permission `job:destroy:www-data`: unknown action `destroy` in domain \
         job (known: create, kill, restart, add_instances, schedule_cron, deschedule_cron, \
         start_cron)"
    );
    // Reads need no permission, so Aurora-style read grants are mistakes worth reporting.
    let err = user("quota:get:*");
    assert!(
        err.contains("unknown action `get` in domain quota"),
        "{err}"
    );
    assert!(user("read").contains("`read` is not a permission"));
    assert!(user("admin:*:www-data").contains("drop `:www-data`"));
    assert!(user("job:*:www data").contains("bad role `www data`"));

    let err = parse_err("[groups.ops]\npermissions = [\"admin:everything\"]\n");
    assert!(
        err.starts_with("group ops: bad permission `admin:everything`: unknown action"),
        "{err}"
    );
}

#[test]
fn a_password_must_be_an_argon2_phc_string_and_is_not_echoed() {
    let err = parse_err("[users.alice]\npassword = \"hunter2\"\n");
    assert!(
        err.starts_with("user alice: password is not an argon2 PHC string"),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "{err}");

    let bcrypt = "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW";
    let err = parse_err(&format!("[users.alice]\npassword = '{bcrypt}'\n"));
    assert!(err.starts_with("user alice: password is not"), "{err}");

    let weak = "$argon2id$v=19$m=1,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo";
    let err = parse_err(&format!("[users.alice]\npassword = '{weak}'\n"));
    assert!(err.starts_with("user alice: password is not"), "{err}");
}

#[test]
fn a_token_must_be_a_sha256_digest_and_is_not_echoed() {
    let raw = token(9);
    let err = parse_err(&format!(
        "[users.agent-vm1]\ntokens = [\"{}\", \"{raw}\"]\n",
        tok(1)
    ));
    assert_eq!(
        err,
        "user agent-vm1: tokens[1] is not `sha256:` followed by 64 hex digits \
         (store the token's digest, never the token)"
    );
    let short = &tok(1)[..70];
    assert!(parse_err(&format!("[users.a]\ntokens = [\"{short}\"]\n")).contains("tokens[0]"));
    let sha1 = format!("sha1:{}", &tok(1)[7..]);
    assert!(parse_err(&format!("[users.a]\ntokens = [\"{sha1}\"]\n")).contains("tokens[0]"));
    // Upper-case hex is fine.
    let upper = format!("sha256:{}", tok(1)[7..].to_uppercase());
    assert!(AuthConfig::parse(&format!("[users.a]\ntokens = [\"{upper}\"]\n")).is_ok());
}

/// A user with neither a password nor a token is disabled, not an error: revoking a user's
/// last token must be a config that loads (a refused reload kept the revoked token working).
#[test]
fn a_user_without_credentials_is_disabled() {
    let text = format!(
        "[users.bob]\npermissions = [\"admin:*\"]\n\
         [users.carol]\ntokens = []\n\
         [users.dave]\ntokens = [\"{}\"]\n",
        tok(1)
    );
    let config = AuthConfig::parse(&text).unwrap();
    assert_eq!(config.users().collect::<Vec<_>>(), ["bob", "carol", "dave"]);
    assert_eq!(
        config.disabled_users().collect::<Vec<_>>(),
        ["bob", "carol"]
    );
    for user in ["bob", "carol"] {
        for password in ["", "pw", &token(1), &token(2)] {
            let basic = Credentials::Basic {
                user: user.into(),
                password: password.to_owned(),
            };
            assert!(
                matches!(config.authenticate(&basic), Err(Error::BadCredentials)),
                "{user} signed in with {password:?}"
            );
        }
    }
    assert!(matches!(
        config.authenticate(&Credentials::Token(token(2))),
        Err(Error::BadCredentials)
    ));
    assert_eq!(
        config
            .authenticate(&Credentials::Token(token(1)))
            .unwrap()
            .name(),
        "dave"
    );
}

#[test]
fn two_users_cannot_share_a_token() {
    let text = format!(
        "[users.alice]\ntokens = [\"{t}\"]\n[users.bob]\ntokens = [\"{t}\"]\n",
        t = tok(1)
    );
    assert_eq!(parse_err(&text), "users alice and bob share a token");
}

#[test]
fn user_and_group_names_are_identifiers() {
    let err = parse_err(&format!(
        "[users.\"bob smith\"]\ntokens = [\"{}\"]\n",
        tok(1)
    ));
    assert!(
        err.starts_with("user name `bob smith` is not an identifier"),
        "{err}"
    );
    let err = parse_err(&format!("[users.\"\"]\ntokens = [\"{}\"]\n", tok(1)));
    assert!(
        err.starts_with("user name `` is not an identifier"),
        "{err}"
    );
    let err = parse_err(&format!("[users.\"a:b\"]\ntokens = [\"{}\"]\n", tok(1)));
    assert!(err.contains("`a:b`"), "{err}");
    let err = parse_err("[groups.\"ops/admins\"]\npermissions = []\n");
    assert!(
        err.starts_with("group name `ops/admins` is not an identifier"),
        "{err}"
    );
    // Dots, dashes, underscores and digits are fine.
    let ok = format!("[users.\"svc.www-data_2\"]\ntokens = [\"{}\"]\n", tok(1));
    assert!(AuthConfig::parse(&ok).is_ok());
}

#[test]
fn load_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("auth.toml");

    let err = AuthConfig::load(&path).unwrap_err();
    assert!(matches!(err, Error::Read { .. }), "{err:?}");
    assert!(err.to_string().contains("auth.toml"), "{err}");

    std::fs::write(&path, "[users.bob]\ngroups = [\"nobody\"]\n").unwrap();
    let err = AuthConfig::load(&path).unwrap_err().to_string();
    assert!(err.contains("auth.toml"), "{err}");
    assert!(err.ends_with("user bob: unknown group `nobody`"), "{err}");

    std::fs::write(&path, format!("[users.bob]\ntokens = [\"{}\"]\n", tok(1))).unwrap();
    let config = AuthConfig::load(&path).unwrap();
    assert_eq!(config.users().collect::<Vec<_>>(), ["bob"]);
}

#[test]
fn debug_output_hides_hashes() {
    let text = format!(
        "[users.alice]\npassword = \"{}\"\ntokens = [\"{}\"]\n",
        cheap_hash("pw"),
        tok(1)
    );
    let shown = format!("{:?}", AuthConfig::parse(&text).unwrap());
    assert!(shown.contains("alice"), "{shown}");
    assert!(!shown.contains("$argon2id"), "{shown}");
    assert!(!shown.contains(&tok(1)[7..]), "{shown}");
}

#[test]
fn permissions_are_deduplicated_and_ordered() {
    let text = format!(
        "[groups.g]\npermissions = [\"job:kill:b\", \"job\"]\n\
         [users.u]\ntokens = [\"{}\"]\ngroups = [\"g\"]\npermissions = [\"job:*:*\", \"admin:*\", \"job:kill:a\"]\n",
        tok(1)
    );
    let config = AuthConfig::parse(&text).unwrap();
    let perms: Vec<String> = config
        .principal("u")
        .unwrap()
        .permissions()
        .iter()
        .map(Permission::to_string)
        .collect();
    assert_eq!(perms, ["job:*:*", "job:kill:a", "job:kill:b", "admin:*"]);
}
