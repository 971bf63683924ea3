//! # aurora-auth
//!
//! Who may do what through the scheduler's HTTP API: Apache Aurora's model of unauthenticated
//! reads, authenticated writes, per-command per-role permissions and admin permissions, with
//! Apache Shiro-style permission strings. A pure library: it reads no file (except through the
//! explicit [`AuthConfig::load`]), no clock and no network; the scheduler's HTTP layer hands it
//! the `Authorization` header and asks it for a decision. Decisions are deterministic (ordered
//! maps and sets only).
//!
//! ## The model
//!
//! - **Users** are listed in a TOML file ([`AuthConfig`]). Each has an argon2 password hash
//!   (a PHC string, made by [`hash_password`]) and/or API tokens, stored as their SHA-256
//!   ([`token_digest`] of a token made by [`new_token`]). Agents are users too.
//! - **Authentication** turns the request's [`Credentials`] (HTTP Basic or Bearer, parsed by
//!   [`Credentials::from_authorization_header`]) into a [`Principal`]: the user's name and its
//!   effective permissions, its own and its groups'. Failure is a single
//!   [`Error::BadCredentials`] that does not say whether the user exists. Basic also accepts
//!   one of the user's tokens as its password, so a token can live in `~/.netrc`.
//! - **Actions**: every API command is an [`Action`] with a domain (`job`, `update`, `quota`,
//!   `maintenance`, `admin`, `agent`); every GET is the single [`Action::Read`].
//! - **Permissions** ([`Permission`]) are `domain:action:role` strings, each part a name or
//!   `*`, missing trailing parts meaning `*`: `job:kill:www-data`, `job:*:www-data`, `job`,
//!   `maintenance:drain`, `admin:*`. Only `job`, `update` and `quota` are scoped to a role.
//! - **Authorisation** ([`AuthConfig::authorize`]):
//!   - a read is allowed to anonymous requests when `anonymous_read` (default true), and
//!     always to an authenticated principal;
//!   - anything else needs a principal holding a permission that grants it; an anonymous
//!     request gets [`Denied::Unauthenticated`] (HTTP 401), a principal without the permission
//!     [`Denied::Forbidden`] (HTTP 403), each with a message saying what to do;
//!   - `admin:*` grants every action **except the agents'**: agents need `agent:*`, so that an
//!     operator's password cannot act as an agent by accident (and a stolen agent token cannot
//!     administer the cluster);
//!   - maintenance is its own domain (`maintenance:start|drain|end`), cluster-wide like the
//!     `admin` domain and covered by `admin:*`, so that host operators can be given
//!     `maintenance:*` without snapshot, prune or force-state;
//!   - setting a role's quota (`quota:set:ROLE`) is an administrator's job as in Aurora: a
//!     role's owners, who typically hold `job:*:ROLE` and `update:*:ROLE`, do not get it
//!     unless granted explicitly.
//!
//! ## The config file
//!
//! ```toml
//! anonymous_read = true          # GETs without credentials; default true
//!
//! [users.alice]
//! password = "$argon2id$v=19$m=19456,t=2,p=1$SALT$HASH"   # optional
//! tokens = ["sha256:<64 hex digits>"]                       # optional
//! groups = ["www-admins"]
//! permissions = ["job:create:www-data"]
//!
//! [groups.www-admins]
//! permissions = ["job:*:www-data", "update:*:www-data"]
//!
//! [users.agent-vm1]
//! tokens = ["sha256:<64 hex digits>"]
//! permissions = ["agent:*"]
//! ```
//!
//! User and group names are identifiers: non-empty, ASCII letters, digits, `_`, `.` and `-`
//! (they appear in messages and the audit trail, and a user name cannot hold Basic's `:`).
//! A user with neither a password nor a token is valid and disabled: nobody can sign in as it
//! (see [`AuthConfig::disabled_users`]), so revoking a user's last token is an ordinary reload
//! rather than a file the reload refuses, which would keep the revoked token working. Unknown fields, unknown groups, malformed
//! permissions, password hashes and token digests are errors naming the user or group.

mod authz;
pub mod client;
mod config;
mod credentials;
mod permissions;

use std::io;
use std::path::PathBuf;

pub use authz::{Denied, Principal};
pub use config::AuthConfig;
pub use credentials::{
    Credentials, TOKEN_DIGEST_PREFIX, TOKEN_PREFIX, hash_password, new_token, token_digest,
};
pub use permissions::{Action, Domain, Part, Permission, PermissionError};

/// Everything that can go wrong loading a config, authenticating or hashing. Authorisation
/// refusals are [`Denied`], not this.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// [`AuthConfig::load`] could not read the file.
    #[error("cannot read auth config {}: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
    /// [`AuthConfig::load`]: the file's contents are invalid.
    #[error("auth config {}: {source}", path.display())]
    InFile { path: PathBuf, source: Box<Error> },
    /// Not TOML, or not the expected shape: a wrong type or an unknown field (the message
    /// quotes the line).
    #[error("invalid auth config: {0}")]
    Syntax(String),
    /// A user or group name that is not an identifier.
    #[error(
        "{kind} name `{name}` is not an identifier (non-empty; letters, digits, `_`, `.`, `-`)"
    )]
    BadName { kind: &'static str, name: String },
    /// A user is in a group the config does not define.
    #[error("user {user}: unknown group `{group}`")]
    UnknownGroup { user: String, group: String },
    /// A permission string that does not parse. `owner` is `user NAME` or `group NAME`.
    #[error("{owner}: bad permission `{permission}`: {reason}")]
    BadPermission {
        owner: String,
        permission: String,
        reason: PermissionError,
    },
    /// A `password` that is not an argon2 PHC string. The value is not quoted, in case it is a
    /// plain-text password.
    #[error(
        "user {user}: password is not an argon2 PHC string like `$argon2id$v=19$m=19456,t=2,p=1$SALT$HASH` \
         (store a hash, never the password): {reason}"
    )]
    BadPasswordHash { user: String, reason: String },
    /// A token digest that is not `sha256:` and 64 hex digits. The value is not quoted, in
    /// case it is a plain-text token.
    #[error(
        "user {user}: tokens[{index}] is not `sha256:` followed by 64 hex digits \
         (store the token's digest, never the token)"
    )]
    BadTokenDigest { user: String, index: usize },
    /// Two users hold the same token, so a Bearer request could not tell them apart.
    #[error("users {first} and {second} share a token")]
    DuplicateToken { first: String, second: String },
    /// Authentication failed: unknown user, wrong password, unknown token, all alike.
    #[error("bad credentials")]
    BadCredentials,
    /// An `Authorization` header that is neither Basic nor Bearer, or is malformed.
    #[error("bad Authorization header: {0}")]
    BadHeader(String),
    /// A credential file (an agent's `--credential`, the dev token) that does not hold one
    /// credential. The contents are never quoted.
    #[error("bad credential file: {0}")]
    BadCredentialFile(String),
    /// A credential a client found (in `AURORA_TOKEN`, a `~/.netrc`, the dev token) that
    /// cannot be sent in an HTTP `Authorization` header: a token with a line break, a space, a
    /// control or a non-ASCII character. `origin` names where it was found; the credential is
    /// never quoted.
    #[error("the credential from {origin} cannot be sent in an HTTP header: {reason}")]
    Unsendable { origin: String, reason: String },
    /// [`hash_password`] failed (argon2 rejected its input).
    #[error("cannot hash password: {0}")]
    Hash(String),
}
