//! Why a task stays pending: the vetoes of the agent that came nearest to taking it.

use std::fmt;

pub use super::amounts::ResourceKind;

/// The pending reason of a task no agent took, shown to users as Aurora words it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PendingReason {
    /// There is no agent at all.
    NoAgents,
    /// The nearest host is reserved (`dedicated` attribute) and the task is not dedicated.
    DedicatedHost,
    /// The nearest host is DRAINING.
    HostDraining,
    /// The nearest host is DRAINED.
    HostDrained,
    /// The nearest host fails the named value constraint (or lacks a limit's attribute).
    ConstraintNotSatisfied(String),
    /// The job already has `limit` active tasks on hosts sharing the named attribute's value.
    LimitNotSatisfied(String),
    /// The nearest host lacks these resources (request plus executor overhead), in
    /// [`ResourceKind`] order, never empty.
    Insufficient(Vec<ResourceKind>),
}

impl fmt::Display for PendingReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PendingReason::NoAgents => f.write_str("No agents registered"),
            PendingReason::DedicatedHost => f.write_str("Host is dedicated"),
            PendingReason::HostDraining => f.write_str("Host draining for maintenance"),
            PendingReason::HostDrained => f.write_str("Host drained for maintenance"),
            PendingReason::ConstraintNotSatisfied(name) => {
                write!(f, "Constraint not satisfied: {name}")
            }
            PendingReason::LimitNotSatisfied(name) => write!(f, "Limit not satisfied: {name}"),
            PendingReason::Insufficient(kinds) => {
                f.write_str("Insufficient: ")?;
                for (i, kind) in kinds.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    f.write_str(kind.name())?;
                }
                Ok(())
            }
        }
    }
}

/// Why one agent refuses one group, as cheap to make as possible (the hot loop makes many):
/// names are borrowed from the config, short resources are a bit set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Veto<'a> {
    DedicatedHost,
    Draining,
    Drained,
    Constraint(&'a str),
    Limit(&'a str),
    /// Bit [`ResourceKind::index`] set per short resource; never zero.
    Insufficient(u8),
}

/// Score of a veto that is not about resources (Aurora's `Veto.MAX_SCORE`).
pub(super) const MAX_SCORE: u64 = 1000;

impl Veto<'_> {
    /// How many of Aurora's vetoes this stands for: one per short resource, else one.
    pub(super) fn count(&self) -> u32 {
        match self {
            Veto::Insufficient(mask) => mask.count_ones(),
            Veto::DedicatedHost
            | Veto::Draining
            | Veto::Drained
            | Veto::Constraint(_)
            | Veto::Limit(_) => 1,
        }
    }

    pub(super) fn reason(&self) -> PendingReason {
        match self {
            Veto::DedicatedHost => PendingReason::DedicatedHost,
            Veto::Draining => PendingReason::HostDraining,
            Veto::Drained => PendingReason::HostDrained,
            Veto::Constraint(name) => PendingReason::ConstraintNotSatisfied((*name).to_owned()),
            Veto::Limit(name) => PendingReason::LimitNotSatisfied((*name).to_owned()),
            Veto::Insufficient(mask) => PendingReason::Insufficient(
                ResourceKind::ALL
                    .into_iter()
                    .filter(|kind| mask & (1 << kind.index()) != 0)
                    .collect(),
            ),
        }
    }
}
