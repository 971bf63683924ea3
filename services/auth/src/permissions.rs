//! The actions the HTTP API performs, and the Shiro-style permission strings that grant them.
//!
//! A permission is `domain:action:role`; each part may be `*`, and missing trailing parts mean
//! `*` (`job` = `job:*` = `job:*:*`). Only the role-scoped domains (`job`, `update`, `quota`)
//! take a third part; for the others (`maintenance`, `admin`, `agent`) a third part may only be
//! `*`. `admin:*` is the superuser: it grants every action except the agents' (see
//! [`Permission::grants`]).

use std::fmt;
use std::str::FromStr;

/// The part of the API an [`Action`] belongs to: the first part of a permission string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Domain {
    /// A job's tasks: create, kill, restart, add instances. Role-scoped.
    Job,
    /// Job updates (and rolling restarts). Role-scoped.
    Update,
    /// A role's resource quota. Role-scoped.
    Quota,
    /// Host maintenance: start, drain, end. Cluster-wide.
    Maintenance,
    /// Operator commands on the scheduler itself. Cluster-wide.
    Admin,
    /// What agents (and only agents) do: register, heartbeat, report status, fetch work.
    Agent,
    /// Every read (GET). Needs no permission: see [`Action::Read`]. Not valid in a permission.
    Read,
}

impl Domain {
    /// Every domain, in the order of its declaration.
    pub const ALL: [Domain; 7] = [
        Domain::Job,
        Domain::Update,
        Domain::Quota,
        Domain::Maintenance,
        Domain::Admin,
        Domain::Agent,
        Domain::Read,
    ];

    /// The domain's name in permission strings.
    pub fn name(self) -> &'static str {
        match self {
            Domain::Job => "job",
            Domain::Update => "update",
            Domain::Quota => "quota",
            Domain::Maintenance => "maintenance",
            Domain::Admin => "admin",
            Domain::Agent => "agent",
            Domain::Read => "read",
        }
    }

    /// Whether the domain's actions apply to one role (and permissions name it, or `*`).
    pub fn is_role_scoped(self) -> bool {
        matches!(self, Domain::Job | Domain::Update | Domain::Quota)
    }

    /// The actions in this domain, in [`Action::ALL`] order.
    pub fn actions(self) -> impl Iterator<Item = Action> {
        Action::ALL.into_iter().filter(move |a| a.domain() == self)
    }

    fn from_name(name: &str) -> Option<Domain> {
        Domain::ALL.into_iter().find(|d| d.name() == name)
    }
}

impl fmt::Display for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One command of the scheduler's HTTP API, as far as authorisation is concerned: every
/// mutation has its own variant, every read is [`Action::Read`].
///
/// The list is exhaustive on purpose (no `#[non_exhaustive]`, no catch-all): a new API command
/// needs a new variant here, a row in the permission table test, and so a decision on who may
/// run it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Action {
    /// `POST /api/v1/jobs`: `job:create:ROLE`.
    JobCreate,
    /// `POST /api/v1/jobs/ROLE/ENV/NAME/kill`: `job:kill:ROLE`.
    JobKill,
    /// `POST /api/v1/jobs/ROLE/ENV/NAME/restart`: `job:restart:ROLE`.
    JobRestart,
    /// `POST /api/v1/jobs/ROLE/ENV/NAME/add`: `job:add_instances:ROLE`.
    JobAddInstances,
    /// `POST /api/v1/cron` (create or replace a cron template): `job:schedule_cron:ROLE`.
    JobScheduleCron,
    /// `POST /api/v1/cron/ROLE/ENV/NAME/deschedule`: `job:deschedule_cron:ROLE`.
    JobDescheduleCron,
    /// `POST /api/v1/cron/ROLE/ENV/NAME/start`: `job:start_cron:ROLE`.
    JobStartCron,
    /// `POST /api/v1/jobs/ROLE/ENV/NAME/update`: `update:start:ROLE`. A rolling restart is an
    /// update too and needs the same permission.
    UpdateStart,
    /// Pause an update: `update:pause:ROLE`.
    UpdatePause,
    /// Resume a paused update: `update:resume:ROLE`.
    UpdateResume,
    /// Abort an update: `update:abort:ROLE`.
    UpdateAbort,
    /// Roll an update back: `update:rollback:ROLE`.
    UpdateRollback,
    /// Heartbeat a pulsed update: `update:pulse:ROLE`.
    UpdatePulse,
    /// `PUT /api/v1/quota/ROLE`: `quota:set:ROLE`. Cluster admins set quotas in Aurora, so a
    /// role's owners do not get this from `job:*` or `update:*`; grant it explicitly.
    QuotaSet,
    /// `POST /api/v1/maintenance/start`: `maintenance:start`.
    MaintenanceStart,
    /// `POST /api/v1/maintenance/drain`: `maintenance:drain`.
    MaintenanceDrain,
    /// `POST /api/v1/maintenance/end`: `maintenance:end`.
    MaintenanceEnd,
    /// `POST /api/v1/admin/snapshot`: `admin:snapshot`.
    AdminSnapshot,
    /// `POST /api/v1/admin/backups`: `admin:backup`.
    AdminBackup,
    /// `POST /api/v1/admin/prune`: `admin:prune`.
    AdminPrune,
    /// `POST /api/v1/admin/reconcile`: `admin:reconcile`.
    AdminReconcile,
    /// `POST /api/v1/admin/tasks/ID/force`: `admin:force_state`.
    AdminForceState,
    /// `POST /api/v1/replicas`: `admin:replicas_add`.
    AdminReplicasAdd,
    /// `POST /api/v1/replicas/ID/remove`: `admin:replicas_remove`.
    AdminReplicasRemove,
    /// `POST /api/v1/agents/AGENT/unbind`: `admin:agent_unbind`.
    AdminAgentUnbind,
    /// `POST /api/v1/agents/register`: `agent:register`.
    AgentRegister,
    /// `POST /api/v1/agents/AGENT/heartbeat`: `agent:heartbeat`.
    AgentHeartbeat,
    /// `POST /api/v1/agents/AGENT/status`: `agent:status`.
    AgentStatus,
    /// `POST /api/v1/agents/AGENT/work`: `agent:work`.
    AgentWork,
    /// Every GET: jobs, tasks, updates, quotas, events, the journal, metrics, the UI. Allowed
    /// to anonymous requests when the config's `anonymous_read` is true (the default), and
    /// always to an authenticated principal. No permission string grants or withholds it.
    Read,
}

impl Action {
    /// Every action, grouped by domain. Tests iterate this so that no action is forgotten.
    pub const ALL: [Action; 30] = [
        Action::JobCreate,
        Action::JobKill,
        Action::JobRestart,
        Action::JobAddInstances,
        Action::JobScheduleCron,
        Action::JobDescheduleCron,
        Action::JobStartCron,
        Action::UpdateStart,
        Action::UpdatePause,
        Action::UpdateResume,
        Action::UpdateAbort,
        Action::UpdateRollback,
        Action::UpdatePulse,
        Action::QuotaSet,
        Action::MaintenanceStart,
        Action::MaintenanceDrain,
        Action::MaintenanceEnd,
        Action::AdminSnapshot,
        Action::AdminBackup,
        Action::AdminPrune,
        Action::AdminReconcile,
        Action::AdminForceState,
        Action::AdminReplicasAdd,
        Action::AdminReplicasRemove,
        Action::AdminAgentUnbind,
        Action::AgentRegister,
        Action::AgentHeartbeat,
        Action::AgentStatus,
        Action::AgentWork,
        Action::Read,
    ];

    /// The domain: the first part of the permission that grants this action.
    pub fn domain(self) -> Domain {
        match self {
            Action::JobCreate
            | Action::JobKill
            | Action::JobRestart
            | Action::JobAddInstances
            | Action::JobScheduleCron
            | Action::JobDescheduleCron
            | Action::JobStartCron => Domain::Job,
            Action::UpdateStart
            | Action::UpdatePause
            | Action::UpdateResume
            | Action::UpdateAbort
            | Action::UpdateRollback
            | Action::UpdatePulse => Domain::Update,
            Action::QuotaSet => Domain::Quota,
            Action::MaintenanceStart | Action::MaintenanceDrain | Action::MaintenanceEnd => {
                Domain::Maintenance
            }
            Action::AdminSnapshot
            | Action::AdminBackup
            | Action::AdminPrune
            | Action::AdminReconcile
            | Action::AdminForceState
            | Action::AdminReplicasAdd
            | Action::AdminReplicasRemove
            | Action::AdminAgentUnbind => Domain::Admin,
            Action::AgentRegister
            | Action::AgentHeartbeat
            | Action::AgentStatus
            | Action::AgentWork => Domain::Agent,
            Action::Read => Domain::Read,
        }
    }

    /// The action's name within its domain: the second part of a permission string.
    pub fn name(self) -> &'static str {
        match self {
            Action::JobCreate => "create",
            Action::JobKill => "kill",
            Action::JobRestart => "restart",
            Action::JobAddInstances => "add_instances",
            Action::JobScheduleCron => "schedule_cron",
            Action::JobDescheduleCron => "deschedule_cron",
            Action::JobStartCron => "start_cron",
            Action::UpdateStart => "start",
            Action::UpdatePause => "pause",
            Action::UpdateResume => "resume",
            Action::UpdateAbort => "abort",
            Action::UpdateRollback => "rollback",
            Action::UpdatePulse => "pulse",
            Action::QuotaSet => "set",
            Action::MaintenanceStart => "start",
            Action::MaintenanceDrain => "drain",
            Action::MaintenanceEnd => "end",
            Action::AdminSnapshot => "snapshot",
            Action::AdminBackup => "backup",
            Action::AdminPrune => "prune",
            Action::AdminReconcile => "reconcile",
            Action::AdminForceState => "force_state",
            Action::AdminReplicasAdd => "replicas_add",
            Action::AdminReplicasRemove => "replicas_remove",
            Action::AdminAgentUnbind => "agent_unbind",
            Action::AgentRegister => "register",
            Action::AgentHeartbeat => "heartbeat",
            Action::AgentStatus => "status",
            Action::AgentWork => "work",
            Action::Read => "read",
        }
    }

    /// Whether the action applies to one role, which the permission must name (or `*`).
    pub fn is_role_scoped(self) -> bool {
        self.domain().is_role_scoped()
    }

    /// Whether the action only reads (and so needs no permission).
    pub fn is_read(self) -> bool {
        self == Action::Read
    }

    /// The narrowest permission that grants this action on `role` (`*` when the action is
    /// role-scoped and no role is given), or `None` for [`Action::Read`].
    pub fn required_permission(self, role: Option<&str>) -> Option<Permission> {
        if self.is_read() {
            return None;
        }
        let role = match (self.is_role_scoped(), role) {
            (true, Some(role)) => Part::Is(role.to_owned()),
            _ => Part::Any,
        };
        Some(Permission {
            domain: self.domain(),
            action: Part::Is(self),
            role,
        })
    }
}

/// `domain:action`, e.g. `job:kill` or `read:read`.
impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.domain(), self.name())
    }
}

/// One part of a permission: `*` or a value.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Part<T> {
    /// `*`: matches every value.
    Any,
    /// Matches this value only.
    Is(T),
}

impl<T: PartialEq> Part<T> {
    fn matches(&self, value: &T) -> bool {
        match self {
            Part::Any => true,
            Part::Is(v) => v == value,
        }
    }
}

/// A parsed permission string: `domain[:action[:role]]`.
///
/// Ordered (domain, action, role) so that a principal's permissions list deterministically.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Permission {
    domain: Domain,
    action: Part<Action>,
    role: Part<String>,
}

/// Why a permission string does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PermissionError {
    #[error("empty permission")]
    Empty,
    #[error("too many parts (at most domain:action:role)")]
    TooManyParts,
    #[error("empty part (write `*` for any)")]
    EmptyPart,
    #[error("unknown domain `{0}` (known: job, update, quota, maintenance, admin, agent)")]
    UnknownDomain(String),
    #[error(
        "`read` is not a permission: anonymous_read decides for anonymous requests, and every \
         authenticated user may read"
    )]
    ReadDomain,
    #[error("unknown action `{action}` in domain {domain} (known: {known})")]
    UnknownAction {
        domain: Domain,
        action: String,
        known: String,
    },
    #[error("{domain} actions are not scoped to a role: drop `:{role}`")]
    NotRoleScoped { domain: Domain, role: String },
    #[error(
        "bad role `{0}`: a role is `*` or a name of letters, digits, `_`, `.` and `-` \
         (`*` matches a whole part only)"
    )]
    BadRole(String),
}

impl Permission {
    /// The superuser permission `admin:*`.
    pub fn admin() -> Permission {
        Permission::whole_domain(Domain::Admin)
    }

    /// The agents' permission `agent:*`.
    pub fn agent() -> Permission {
        Permission::whole_domain(Domain::Agent)
    }

    /// `DOMAIN:*` (and `DOMAIN:*:*` for role-scoped domains): every action of a domain.
    fn whole_domain(domain: Domain) -> Permission {
        Permission {
            domain,
            action: Part::Any,
            role: Part::Any,
        }
    }

    /// The permission's domain.
    pub fn domain(&self) -> Domain {
        self.domain
    }

    /// The permission's action part.
    pub fn action(&self) -> &Part<Action> {
        &self.action
    }

    /// The permission's role part (always `*` outside the role-scoped domains).
    pub fn role(&self) -> &Part<String> {
        &self.role
    }

    /// Whether this is `admin:*`, which grants every action except the agents'.
    pub fn is_superuser(&self) -> bool {
        self.domain == Domain::Admin && self.action == Part::Any
    }

    /// Whether this permission lets its holder perform `action` on `role`.
    ///
    /// - [`Action::Read`] is granted by no permission (reads are decided without one).
    /// - `admin:*` grants every action outside the `agent` domain, so an operator's password
    ///   cannot act as an agent by accident; agents need `agent:*` (or `agent:ACTION`).
    /// - Otherwise the domain must match and the action part must be `*` or the action; for a
    ///   role-scoped action the role part must be `*` or equal to `role` (case-sensitive).
    ///   A role-scoped action asked for without a role needs a `*` role part.
    ///   Outside the role-scoped domains `role` is ignored.
    pub fn grants(&self, action: Action, role: Option<&str>) -> bool {
        if action.is_read() {
            return false;
        }
        if self.is_superuser() {
            return action.domain() != Domain::Agent;
        }
        if self.domain != action.domain() || !self.action.matches(&action) {
            return false;
        }
        if !action.is_role_scoped() {
            return true;
        }
        match (&self.role, role) {
            (Part::Any, _) => true,
            (Part::Is(mine), Some(role)) => mine == role,
            (Part::Is(_), None) => false,
        }
    }
}

/// Whether `name` is a valid user, group or role name: non-empty, letters, digits, `_`, `.`, `-`.
pub(crate) fn is_identifier(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

impl FromStr for Permission {
    type Err = PermissionError;

    fn from_str(s: &str) -> Result<Permission, PermissionError> {
        if s.is_empty() {
            return Err(PermissionError::Empty);
        }
        let parts: Vec<&str> = s.split(':').collect();
        if parts.len() > 3 {
            return Err(PermissionError::TooManyParts);
        }
        if parts.iter().any(|p| p.is_empty()) {
            return Err(PermissionError::EmptyPart);
        }
        let domain_name = parts.first().copied().unwrap_or("");
        let domain = match Domain::from_name(domain_name) {
            Some(Domain::Read) => return Err(PermissionError::ReadDomain),
            Some(domain) => domain,
            None => return Err(PermissionError::UnknownDomain(domain_name.to_owned())),
        };
        let action = match parts.get(1).copied() {
            None | Some("*") => Part::Any,
            Some(name) => match domain.actions().find(|a| a.name() == name) {
                Some(action) => Part::Is(action),
                None => {
                    return Err(PermissionError::UnknownAction {
                        domain,
                        action: name.to_owned(),
                        known: domain
                            .actions()
                            .map(Action::name)
                            .collect::<Vec<_>>()
                            .join(", "),
                    });
                }
            },
        };
        let role = match parts.get(2).copied() {
            None | Some("*") => Part::Any,
            Some(role) if !domain.is_role_scoped() => {
                return Err(PermissionError::NotRoleScoped {
                    domain,
                    role: role.to_owned(),
                });
            }
            Some(role) if is_identifier(role) => Part::Is(role.to_owned()),
            Some(role) => return Err(PermissionError::BadRole(role.to_owned())),
        };
        Ok(Permission {
            domain,
            action,
            role,
        })
    }
}

/// The canonical form: three parts in the role-scoped domains (`job:*:www-data`, `job:*:*`),
/// two elsewhere (`admin:*`, `maintenance:drain`).
impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:", self.domain)?;
        match &self.action {
            Part::Any => f.write_str("*")?,
            Part::Is(action) => f.write_str(action.name())?,
        }
        if self.domain.is_role_scoped() {
            match &self.role {
                Part::Any => f.write_str(":*")?,
                Part::Is(role) => write!(f, ":{role}")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn p(s: &str) -> Permission {
        s.parse().unwrap()
    }

    #[test]
    fn action_names_are_unique_within_a_domain_and_round_trip() {
        for action in Action::ALL {
            if action.is_read() {
                continue;
            }
            let text = format!("{action}");
            let parsed = p(&text);
            assert_eq!(parsed.action(), &Part::Is(action), "{text}");
            assert_eq!(parsed.domain(), action.domain(), "{text}");
        }
        for domain in Domain::ALL {
            let mut names: Vec<_> = domain.actions().map(Action::name).collect();
            let n = names.len();
            names.sort_unstable();
            names.dedup();
            assert_eq!(names.len(), n, "duplicate action names in {domain}");
        }
    }

    #[test]
    fn all_lists_every_action_once() {
        let mut all = Action::ALL.to_vec();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), Action::ALL.len());
    }

    #[test]
    fn missing_trailing_parts_mean_any() {
        assert_eq!(p("job"), p("job:*:*"));
        assert_eq!(p("job:kill"), p("job:kill:*"));
        assert_eq!(p("admin"), p("admin:*"));
        assert_eq!(p("admin:*:*"), p("admin:*"));
        assert_eq!(p("job").to_string(), "job:*:*");
        assert_eq!(p("admin:*:*").to_string(), "admin:*");
        assert_eq!(p("job:kill:www-data").to_string(), "job:kill:www-data");
        assert_eq!(p("maintenance:drain").to_string(), "maintenance:drain");
    }

    #[test]
    fn role_wildcards() {
        let www = p("job:*:www-data");
        assert!(www.grants(Action::JobKill, Some("www-data")));
        assert!(www.grants(Action::JobAddInstances, Some("www-data")));
        assert!(!www.grants(Action::JobKill, Some("www-data2")));
        assert!(!www.grants(Action::JobKill, Some("WWW-DATA")));
        assert!(!www.grants(Action::JobKill, None));
        assert!(!www.grants(Action::UpdateStart, Some("www-data")));

        let any = p("job:*:*");
        assert!(any.grants(Action::JobKill, Some("anything")));
        assert!(any.grants(Action::JobKill, None));
        assert!(!any.grants(Action::QuotaSet, Some("anything")));

        let kill = p("job:kill");
        assert!(kill.grants(Action::JobKill, Some("x")));
        assert!(!kill.grants(Action::JobCreate, Some("x")));
    }

    #[test]
    fn superuser_covers_everything_but_agents_and_reads() {
        let admin = p("admin:*");
        for action in Action::ALL {
            let expected = !matches!(action.domain(), Domain::Agent | Domain::Read);
            assert_eq!(admin.grants(action, Some("r")), expected, "{action}");
        }
        // One admin action is not the superuser.
        let snapshot = p("admin:snapshot");
        assert!(snapshot.grants(Action::AdminSnapshot, None));
        assert!(!snapshot.grants(Action::AdminPrune, None));
        assert!(!snapshot.grants(Action::JobKill, Some("r")));
        assert!(!snapshot.grants(Action::MaintenanceDrain, None));
    }

    #[test]
    fn agent_star_covers_only_agent_actions() {
        let agent = p("agent:*");
        for action in Action::ALL {
            assert_eq!(
                agent.grants(action, Some("r")),
                action.domain() == Domain::Agent,
                "{action}"
            );
        }
    }

    #[test]
    fn maintenance_is_not_role_scoped() {
        let drain = p("maintenance:drain");
        assert!(drain.grants(Action::MaintenanceDrain, None));
        assert!(drain.grants(Action::MaintenanceDrain, Some("ignored")));
        assert!(!drain.grants(Action::MaintenanceEnd, None));
    }

    #[test]
    fn malformed_permissions_say_why() {
        let err = |s: &str| s.parse::<Permission>().unwrap_err().to_string();
        assert_eq!(err(""), "empty permission");
        assert!(err("jobs:kill").contains("unknown domain `jobs`"));
        assert!(err("*:*:*").contains("unknown domain `*`"));
        assert!(err("job:frob:x").contains("unknown action `frob` in domain job"));
        assert!(err("job:frob:x").contains("create, kill, restart, add_instances"));
        assert!(err("quota:get:*").contains("unknown action `get` in domain quota"));
        assert!(err("read:*").contains("`read` is not a permission"));
        assert!(err("admin:snapshot:www-data").contains("drop `:www-data`"));
        assert!(err("job:kill:www-*").contains("bad role `www-*`"));
        assert!(err("job:kill:a b").contains("bad role `a b`"));
        assert!(err("job::x").contains("empty part"));
        assert!(err("job:kill:x:y").contains("too many parts"));
    }

    #[test]
    fn required_permission_names_the_narrowest_grant() {
        let req = |a: Action, r| a.required_permission(r).map(|p| p.to_string());
        assert_eq!(
            req(Action::JobKill, Some("www-data")).as_deref(),
            Some("job:kill:www-data")
        );
        assert_eq!(req(Action::JobKill, None).as_deref(), Some("job:kill:*"));
        assert_eq!(
            req(Action::AdminSnapshot, Some("ignored")).as_deref(),
            Some("admin:snapshot")
        );
        assert_eq!(req(Action::Read, None), None);
        for action in Action::ALL {
            if let Some(required) = action.required_permission(Some("www-data")) {
                assert!(required.grants(action, Some("www-data")), "{action}");
            }
        }
    }
}
