//! Authorisation: who a request is ([`Principal`]), and why it may not do something
//! ([`Denied`]).

use std::collections::BTreeSet;
use std::fmt;

use crate::config::AuthConfig;
use crate::permissions::{Action, Domain, Permission};

/// Where a client keeps its credentials, as said in every 401.
const LOG_IN: &str = "log in (~/.netrc or AURORA_TOKEN)";

/// An authenticated user: its name and its effective permissions (its own and its groups').
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    name: String,
    permissions: BTreeSet<Permission>,
}

impl Principal {
    /// A principal with these permissions. [`AuthConfig::authenticate`] makes them from the
    /// config; this is for callers that authenticate by other means, and for tests.
    pub fn new(name: impl Into<String>, permissions: impl IntoIterator<Item = Permission>) -> Self {
        Principal {
            name: name.into(),
            permissions: permissions.into_iter().collect(),
        }
    }

    /// The user's name (for messages and the audit trail).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The effective permissions, in order.
    pub fn permissions(&self) -> &BTreeSet<Permission> {
        &self.permissions
    }

    /// Whether one of the permissions grants `action` on `role` (reads are not decided here:
    /// see [`AuthConfig::authorize`]).
    pub fn holds(&self, action: Action, role: Option<&str>) -> bool {
        self.permissions.iter().any(|p| p.grants(action, role))
    }
}

/// Why a request may not perform an action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denied {
    /// No credentials, and the action needs some: HTTP 401.
    Unauthenticated { action: Action },
    /// Authenticated, but lacking the permission: HTTP 403.
    Forbidden {
        user: String,
        action: Action,
        /// The narrowest permission that would have allowed it.
        missing: Permission,
    },
}

impl Denied {
    /// The HTTP status to answer with: 401 or 403.
    pub fn status(&self) -> u16 {
        match self {
            Denied::Unauthenticated { .. } => 401,
            Denied::Forbidden { .. } => 403,
        }
    }
}

impl fmt::Display for Denied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Denied::Unauthenticated { action } if action.is_read() => {
                write!(
                    f,
                    "this scheduler requires credentials even to read; {LOG_IN}"
                )
            }
            Denied::Unauthenticated { .. } => {
                write!(f, "anonymous requests may only read; {LOG_IN}")
            }
            Denied::Forbidden {
                user,
                action,
                missing,
            } => {
                write!(f, "{user} lacks permission {missing}")?;
                if action.domain() == Domain::Agent {
                    f.write_str(" (only agents act as agents: admin:* does not include agent:*)")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for Denied {}

impl AuthConfig {
    /// Decides whether `principal` (`None`: an anonymous request) may perform `action` on
    /// `role` (the job's or quota's role; `None` where the action has none — a role-scoped
    /// action without a role then needs the permission for every role, `*`).
    ///
    /// - [`Action::Read`]: allowed to any principal, and to anonymous requests when
    ///   `anonymous_read`; otherwise [`Denied::Unauthenticated`].
    /// - Anything else: an anonymous request is [`Denied::Unauthenticated`]; a principal
    ///   needs a permission that grants it ([`Permission::grants`]), else
    ///   [`Denied::Forbidden`] naming the narrowest permission that would do.
    pub fn authorize(
        &self,
        principal: Option<&Principal>,
        action: Action,
        role: Option<&str>,
    ) -> Result<(), Denied> {
        let Some(principal) = principal else {
            return if action.is_read() && self.anonymous_read() {
                Ok(())
            } else {
                Err(Denied::Unauthenticated { action })
            };
        };
        let Some(missing) = action.required_permission(role) else {
            // Reads need no permission.
            return Ok(());
        };
        if principal.holds(action, role) {
            Ok(())
        } else {
            Err(Denied::Forbidden {
                user: principal.name().to_owned(),
                action,
                missing,
            })
        }
    }
}
