//! The users, groups and permissions file, and authentication against it.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

use argon2::password_hash::PasswordVerifier;
use argon2::{Argon2, PasswordHash};
use serde::Deserialize;
use subtle::ConstantTimeEq;

use crate::Error;
use crate::authz::Principal;
use crate::credentials::{Credentials, TokenHash, parse_password_hash, parse_token_digest, sha256};
use crate::permissions::{Permission, is_identifier};

/// The file as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default = "yes")]
    anonymous_read: bool,
    #[serde(default)]
    users: BTreeMap<String, RawUser>,
    #[serde(default)]
    groups: BTreeMap<String, RawGroup>,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUser {
    password: Option<String>,
    #[serde(default)]
    tokens: Vec<String>,
    #[serde(default)]
    groups: Vec<String>,
    #[serde(default)]
    permissions: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGroup {
    #[serde(default)]
    permissions: Vec<String>,
}

/// A validated user: its groups' permissions are folded into `permissions`.
#[derive(Clone)]
struct User {
    password: Option<PasswordHash>,
    tokens: Vec<TokenHash>,
    groups: BTreeSet<String>,
    permissions: BTreeSet<Permission>,
}

/// Hashes and digests are not printed.
impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("password", &self.password.as_ref().map(|_| "<argon2>"))
            .field("tokens", &self.tokens.len())
            .field("groups", &self.groups)
            .field("permissions", &self.permissions)
            .finish()
    }
}

/// A validated auth config: who the users are, how they log in, what they may do. See the
/// crate documentation for the file format.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    anonymous_read: bool,
    users: BTreeMap<String, User>,
    /// A password hash to verify against when the user is unknown or has no password, so that
    /// a failure takes as long as a wrong password (the first user's hash, by name).
    decoy: Option<PasswordHash>,
}

impl AuthConfig {
    /// Parses and validates a config (the TOML text). The first problem found is returned,
    /// groups before users, each in name order.
    pub fn parse(text: &str) -> Result<AuthConfig, Error> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| Error::Syntax(e.to_string()))?;

        let mut groups: BTreeMap<&str, BTreeSet<Permission>> = BTreeMap::new();
        for (name, group) in &raw.groups {
            check_name("group", name)?;
            let owner = format!("group {name}");
            groups.insert(name, parse_permissions(&owner, &group.permissions)?);
        }

        let mut users = BTreeMap::new();
        let mut token_owner: BTreeMap<TokenHash, &str> = BTreeMap::new();
        for (name, raw_user) in &raw.users {
            check_name("user", name)?;
            let mut permissions =
                parse_permissions(&format!("user {name}"), &raw_user.permissions)?;
            for group in &raw_user.groups {
                let granted = groups
                    .get(group.as_str())
                    .ok_or_else(|| Error::UnknownGroup {
                        user: name.clone(),
                        group: group.clone(),
                    })?;
                permissions.extend(granted.iter().cloned());
            }
            let password = match &raw_user.password {
                None => None,
                Some(phc) => {
                    Some(
                        parse_password_hash(phc).map_err(|reason| Error::BadPasswordHash {
                            user: name.clone(),
                            reason,
                        })?,
                    )
                }
            };
            let mut tokens = Vec::with_capacity(raw_user.tokens.len());
            for (index, digest) in raw_user.tokens.iter().enumerate() {
                let hash = parse_token_digest(digest).ok_or_else(|| Error::BadTokenDigest {
                    user: name.clone(),
                    index,
                })?;
                if let Some(first) = token_owner.insert(hash, name) {
                    if first != name {
                        return Err(Error::DuplicateToken {
                            first: first.to_owned(),
                            second: name.clone(),
                        });
                    }
                }
                tokens.push(hash);
            }
            users.insert(
                name.clone(),
                User {
                    password,
                    tokens,
                    groups: raw_user.groups.iter().cloned().collect(),
                    permissions,
                },
            );
        }
        let decoy = users.values().find_map(|u| u.password.clone());
        Ok(AuthConfig {
            anonymous_read: raw.anonymous_read,
            users,
            decoy,
        })
    }

    /// Reads and parses the config at `path`. Errors name the file.
    pub fn load(path: impl AsRef<Path>) -> Result<AuthConfig, Error> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: path.to_owned(),
            source,
        })?;
        AuthConfig::parse(&text).map_err(|e| Error::InFile {
            path: path.to_owned(),
            source: Box::new(e),
        })
    }

    /// The config of `aurora-scheduler --dev`: anonymous reads, and one user `user` who logs in
    /// with `token` (Bearer, or as its Basic password) and holds `admin:*` and `agent:*`, so
    /// that the local CLI and agents all work with one token. `user` is not validated.
    pub fn dev(user: &str, token: &str) -> AuthConfig {
        let permissions = BTreeSet::from([Permission::admin(), Permission::agent()]);
        let dev_user = User {
            password: None,
            tokens: vec![sha256(token)],
            groups: BTreeSet::new(),
            permissions,
        };
        AuthConfig {
            anonymous_read: true,
            users: BTreeMap::from([(user.to_owned(), dev_user)]),
            decoy: None,
        }
    }

    /// Whether GETs are allowed without credentials.
    pub fn anonymous_read(&self) -> bool {
        self.anonymous_read
    }

    /// The users' names, in order.
    pub fn users(&self) -> impl Iterator<Item = &str> {
        self.users.keys().map(String::as_str)
    }

    /// The users nobody can sign in as, in order: those with neither a password nor a token
    /// (disabled, e.g. after their last token was revoked). A caller that loads a config says
    /// so, since a user the operator forgot to give a credential looks the same.
    pub fn disabled_users(&self) -> impl Iterator<Item = &str> {
        self.users
            .iter()
            .filter(|(_, user)| user.password.is_none() && user.tokens.is_empty())
            .map(|(name, _)| name.as_str())
    }

    /// The groups `user` is in, in order (empty for an unknown user).
    pub fn groups_of(&self, user: &str) -> impl Iterator<Item = &str> {
        self.users
            .get(user)
            .into_iter()
            .flat_map(|u| u.groups.iter().map(String::as_str))
    }

    /// The principal `user` becomes once authenticated, without checking credentials: for a
    /// caller that authenticated the request by other means. `None` for an unknown user.
    pub fn principal(&self, user: &str) -> Option<Principal> {
        let u = self.users.get(user)?;
        Some(Principal::new(user, u.permissions.iter().cloned()))
    }

    /// Checks credentials. A token (Bearer) is looked up by its SHA-256 among every user's
    /// tokens, compared in constant time; Basic checks the user's argon2 password hash, or one
    /// of the user's tokens given as the password. Every failure is [`Error::BadCredentials`],
    /// and an unknown user or a user without a password still costs one argon2 verification,
    /// so neither the message nor the time tells whether the user exists.
    pub fn authenticate(&self, credentials: &Credentials) -> Result<Principal, Error> {
        match credentials {
            Credentials::Token(token) => {
                let presented = sha256(token);
                let mut found = None;
                // No early exit: every stored digest is compared.
                for (name, user) in &self.users {
                    if holds_token(user, &presented) {
                        found = Some(name.as_str());
                    }
                }
                found
                    .and_then(|name| self.principal(name))
                    .ok_or(Error::BadCredentials)
            }
            Credentials::Basic { user, password } => {
                let Some(stored) = self.users.get(user) else {
                    self.waste_time(password);
                    return Err(Error::BadCredentials);
                };
                if holds_token(stored, &sha256(password)) {
                    return self.principal(user).ok_or(Error::BadCredentials);
                }
                let Some(hash) = &stored.password else {
                    self.waste_time(password);
                    return Err(Error::BadCredentials);
                };
                if Argon2::default()
                    .verify_password(password.as_bytes(), hash)
                    .is_ok()
                {
                    self.principal(user).ok_or(Error::BadCredentials)
                } else {
                    Err(Error::BadCredentials)
                }
            }
        }
    }

    /// Spends what a password check costs, on the decoy hash, ignoring the result.
    fn waste_time(&self, password: &str) {
        if let Some(decoy) = &self.decoy {
            let _ = Argon2::default().verify_password(password.as_bytes(), decoy);
        }
    }
}

/// Whether `presented` is one of the user's token digests (constant time in the comparison).
fn holds_token(user: &User, presented: &TokenHash) -> bool {
    user.tokens
        .iter()
        .fold(0u8, |acc, stored| acc | stored.ct_eq(presented).unwrap_u8())
        == 1
}

fn check_name(kind: &'static str, name: &str) -> Result<(), Error> {
    if is_identifier(name) {
        Ok(())
    } else {
        Err(Error::BadName {
            kind,
            name: name.to_owned(),
        })
    }
}

fn parse_permissions(owner: &str, texts: &[String]) -> Result<BTreeSet<Permission>, Error> {
    texts
        .iter()
        .map(|text| {
            text.parse().map_err(|reason| Error::BadPermission {
                owner: owner.to_owned(),
                permission: text.clone(),
                reason,
            })
        })
        .collect()
}
