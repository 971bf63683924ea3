//! Who may do what, for every action, as one table.
//!
//! Given a cluster whose config has five personas:
//! - **anonymous**: no credentials (and `anonymous_read = true`);
//! - **www-owner**: in group `www-owners`, which holds `job:*:www-data` and `update:*:www-data`;
//! - **db-owner**: the owner of another role, `db` (same permissions on `db`);
//! - **ops**: an administrator holding `admin:*`;
//! - **agent-vm1**: an agent holding `agent:*`;
//!
//! when each (logged in with its token) asks to perform an action on role `www-data`,
//! then the answer is the table's cell: `ok`, `401` (not authenticated) or `403` (forbidden).
//!
//! Every [`Action`] must have a row, in `Action::ALL` order: a new action fails this test until
//! someone decides who may run it.

mod common;

use aurora_auth::{Action, AuthConfig, Credentials, Denied, Principal, token_digest};
use common::token;

const PERSONAS: [&str; 5] = ["anonymous", "www-owner", "db-owner", "ops", "agent-vm1"];

#[rustfmt::skip]
const TABLE: &[(Action, [&str; 5])] = &[
    //                            anonymous  www-owner  db-owner  ops    agent-vm1
    (Action::JobCreate,           ["401",    "ok",      "403",    "ok",  "403"]),
    (Action::JobKill,             ["401",    "ok",      "403",    "ok",  "403"]),
    (Action::JobRestart,          ["401",    "ok",      "403",    "ok",  "403"]),
    (Action::JobAddInstances,     ["401",    "ok",      "403",    "ok",  "403"]),
    (Action::JobScheduleCron,     ["401",    "ok",      "403",    "ok",  "403"]),
    (Action::JobDescheduleCron,   ["401",    "ok",      "403",    "ok",  "403"]),
    (Action::JobStartCron,        ["401",    "ok",      "403",    "ok",  "403"]),
    (Action::UpdateStart,         ["401",    "ok",      "403",    "ok",  "403"]),
    (Action::UpdatePause,         ["401",    "ok",      "403",    "ok",  "403"]),
    (Action::UpdateResume,        ["401",    "ok",      "403",    "ok",  "403"]),
    (Action::UpdateAbort,         ["401",    "ok",      "403",    "ok",  "403"]),
    (Action::UpdateRollback,      ["401",    "ok",      "403",    "ok",  "403"]),
    (Action::UpdatePulse,         ["401",    "ok",      "403",    "ok",  "403"]),
    // Quotas are set by administrators, as in Aurora: owning a role is not enough.
    (Action::QuotaSet,            ["401",    "403",     "403",    "ok",  "403"]),
    (Action::MaintenanceStart,    ["401",    "403",     "403",    "ok",  "403"]),
    (Action::MaintenanceDrain,    ["401",    "403",     "403",    "ok",  "403"]),
    (Action::MaintenanceEnd,      ["401",    "403",     "403",    "ok",  "403"]),
    (Action::AdminSnapshot,       ["401",    "403",     "403",    "ok",  "403"]),
    (Action::AdminBackup,         ["401",    "403",     "403",    "ok",  "403"]),
    (Action::AdminPrune,          ["401",    "403",     "403",    "ok",  "403"]),
    (Action::AdminReconcile,      ["401",    "403",     "403",    "ok",  "403"]),
    (Action::AdminForceState,     ["401",    "403",     "403",    "ok",  "403"]),
    (Action::AdminReplicasAdd,    ["401",    "403",     "403",    "ok",  "403"]),
    (Action::AdminReplicasRemove, ["401",    "403",     "403",    "ok",  "403"]),
    (Action::AdminAgentUnbind,    ["401",    "403",     "403",    "ok",  "403"]),
    // admin:* does not make an operator an agent.
    (Action::AgentRegister,       ["401",    "403",     "403",    "403", "ok"]),
    (Action::AgentHeartbeat,      ["401",    "403",     "403",    "403", "ok"]),
    (Action::AgentStatus,         ["401",    "403",     "403",    "403", "ok"]),
    (Action::AgentWork,           ["401",    "403",     "403",    "403", "ok"]),
    (Action::Read,                ["ok",     "ok",      "ok",     "ok",  "ok"]),
];

/// The config of the personas above; each logs in with `token(i)`, i its column.
fn given_the_cluster(anonymous_read: bool) -> AuthConfig {
    let text = format!(
        r#"
        anonymous_read = {anonymous_read}

        [groups.www-owners]
        permissions = ["job:*:www-data", "update:*:www-data"]

        [groups.db-owners]
        permissions = ["job:*:db", "update:*:db"]

        [users.www-owner]
        tokens = ["{}"]
        groups = ["www-owners"]

        [users.db-owner]
        tokens = ["{}"]
        groups = ["db-owners"]

        [users.ops]
        tokens = ["{}"]
        permissions = ["admin:*"]

        [users.agent-vm1]
        tokens = ["{}"]
        permissions = ["agent:*"]
        "#,
        token_digest(&token(1)),
        token_digest(&token(2)),
        token_digest(&token(3)),
        token_digest(&token(4)),
    );
    match AuthConfig::parse(&text) {
        Ok(config) => config,
        Err(e) => panic!("the test's config is invalid: {e}"),
    }
}

/// The principal of each persona, by logging in (`None` for anonymous).
fn principals(config: &AuthConfig) -> Vec<Option<Principal>> {
    PERSONAS
        .iter()
        .enumerate()
        .map(|(i, name)| {
            if i == 0 {
                return None;
            }
            let seed = u8::try_from(i).unwrap_or(u8::MAX);
            let principal = config
                .authenticate(&Credentials::Token(token(seed)))
                .unwrap_or_else(|e| panic!("{name} cannot log in: {e}"));
            assert_eq!(principal.name(), *name);
            Some(principal)
        })
        .collect()
}

fn cell(result: &Result<(), Denied>) -> &'static str {
    match result {
        Ok(()) => "ok",
        Err(Denied::Unauthenticated { .. }) => "401",
        Err(Denied::Forbidden { .. }) => "403",
    }
}

fn render(rows: &[(Action, Vec<&str>)]) -> String {
    let mut out = format!("{:<22}", "");
    for persona in PERSONAS {
        out += &format!("{persona:<11}");
    }
    for (action, cells) in rows {
        out += &format!("\n{:<22}", format!("{action:?}"));
        for cell in cells {
            out += &format!("{cell:<11}");
        }
    }
    out
}

#[test]
fn the_table_has_one_row_per_action_in_order() {
    let rows: Vec<Action> = TABLE.iter().map(|(action, _)| *action).collect();
    let missing: Vec<Action> = Action::ALL
        .into_iter()
        .filter(|a| !rows.contains(a))
        .collect();
    assert!(missing.is_empty(), "add rows to TABLE for {missing:?}");
    assert_eq!(rows, Action::ALL.to_vec(), "TABLE must follow Action::ALL");
}

#[test]
fn every_persona_gets_the_tables_answer_for_role_www_data() {
    let config = given_the_cluster(true);
    let principals = principals(&config);

    let actual: Vec<(Action, Vec<&str>)> = Action::ALL
        .into_iter()
        .map(|action| {
            let cells = principals
                .iter()
                .map(|p| cell(&config.authorize(p.as_ref(), action, Some("www-data"))))
                .collect();
            (action, cells)
        })
        .collect();
    let expected: Vec<(Action, Vec<&str>)> = TABLE
        .iter()
        .map(|(action, cells)| (*action, cells.to_vec()))
        .collect();

    let mut differences = Vec::new();
    for ((action, want), (_, got)) in expected.iter().zip(&actual) {
        for ((persona, want), got) in PERSONAS.iter().zip(want).zip(got) {
            if want != got {
                differences.push(format!("{persona} {action:?}: expected {want}, got {got}"));
            }
        }
    }
    assert!(
        differences.is_empty(),
        "{}\n\nexpected:\n{}\n\nactual:\n{}",
        differences.join("\n"),
        render(&expected),
        render(&actual)
    );
}

#[test]
fn without_anonymous_read_only_the_read_row_changes() {
    let open = given_the_cluster(true);
    let closed = given_the_cluster(false);
    let principals = principals(&closed);
    for action in Action::ALL {
        for (persona, principal) in PERSONAS.iter().zip(&principals) {
            let was = cell(&open.authorize(principal.as_ref(), action, Some("www-data")));
            let now = cell(&closed.authorize(principal.as_ref(), action, Some("www-data")));
            let expected = if action == Action::Read && principal.is_none() {
                "401"
            } else {
                was
            };
            assert_eq!(now, expected, "{persona} {action:?}");
        }
    }
}

#[test]
fn refusals_say_what_to_do() {
    let config = given_the_cluster(true);
    let principals = principals(&config);
    let denied = |who: usize, action, role| {
        config
            .authorize(principals[who].as_ref(), action, role)
            .unwrap_err()
    };

    let anon = denied(0, Action::JobKill, Some("www-data"));
    assert_eq!(anon.status(), 401);
    assert_eq!(
        anon.to_string(),
        "anonymous requests may only read; log in (~/.netrc or AURORA_TOKEN)"
    );

    let other = denied(2, Action::JobKill, Some("www-data"));
    assert_eq!(other.status(), 403);
    assert_eq!(
        other.to_string(),
        "db-owner lacks permission job:kill:www-data"
    );

    assert_eq!(
        denied(1, Action::QuotaSet, Some("www-data")).to_string(),
        "www-owner lacks permission quota:set:www-data"
    );
    assert_eq!(
        denied(1, Action::MaintenanceDrain, Some("www-data")).to_string(),
        "www-owner lacks permission maintenance:drain"
    );
    assert_eq!(
        denied(4, Action::AdminSnapshot, None).to_string(),
        "agent-vm1 lacks permission admin:snapshot"
    );
    let ops_as_agent = denied(3, Action::AgentHeartbeat, None).to_string();
    assert!(
        ops_as_agent.starts_with("ops lacks permission agent:heartbeat ("),
        "{ops_as_agent}"
    );
    assert!(ops_as_agent.contains("admin:* does not include agent:*"));

    // A role-scoped action without a role needs the permission for every role.
    assert_eq!(
        denied(1, Action::JobCreate, None).to_string(),
        "www-owner lacks permission job:create:*"
    );

    let closed = given_the_cluster(false);
    let read = closed.authorize(None, Action::Read, None).unwrap_err();
    assert_eq!(read.status(), 401);
    assert!(
        read.to_string()
            .contains("requires credentials even to read")
    );
}

#[test]
fn the_dev_config_has_one_all_powerful_user() {
    let config = AuthConfig::dev("dev", "aurora_devtoken");
    assert!(config.anonymous_read());
    assert_eq!(config.users().collect::<Vec<_>>(), ["dev"]);
    let dev = config
        .authenticate(&Credentials::Token("aurora_devtoken".into()))
        .unwrap_or_else(|e| panic!("{e}"));
    for action in Action::ALL {
        assert_eq!(
            config.authorize(Some(&dev), action, Some("any-role")),
            Ok(()),
            "{action:?}"
        );
    }
    assert_eq!(
        config
            .authorize(None, Action::JobKill, Some("any-role"))
            .map_err(|d| d.status()),
        Err(401)
    );
    assert!(
        config
            .authenticate(&Credentials::Token("aurora_other".into()))
            .is_err()
    );
}
