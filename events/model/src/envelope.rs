//! The envelope every journaled event travels in: its position, id, time, actor and cause.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::event::Event;
use crate::ids::{AgentId, EventId};

/// A journal position: dense and gap-free from 1 (seq 1 is `ClusterInitialised`).
pub type Seq = u64;

/// Milliseconds since the Unix epoch, UTC.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
#[cfg_attr(feature = "arbitrary", derive(proptest_derive::Arbitrary))]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub fn from_millis(ms: i64) -> Self {
        Self(ms)
    }

    pub fn as_millis(self) -> i64 {
        self.0
    }

    /// Milliseconds since the epoch as unsigned (0 before 1970), e.g. for UUID v7 ids.
    pub fn unsigned_millis(self) -> u64 {
        u64::try_from(self.0).unwrap_or(0)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}ms", self.0)
    }
}

/// Who asked for a change: the audit trail's "who".
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "arbitrary", derive(proptest_derive::Arbitrary))]
pub enum Actor {
    /// An authenticated user, by name (CLI, API, UI).
    User(String),
    /// The scheduler on its own account: timers, placement, rescheduling, cron, updates.
    Scheduler,
    /// An agent reporting what happened on its host.
    Agent(AgentId),
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Actor::User(name) => write!(f, "user:{name}"),
            Actor::Scheduler => f.write_str("scheduler"),
            Actor::Agent(agent) => write!(f, "agent:{agent}"),
        }
    }
}

/// An event as the journal stores and serves it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(proptest_derive::Arbitrary))]
pub struct Envelope {
    pub seq: Seq,
    pub id: EventId,
    /// Commit time. Never decreases along the journal; all events of one append share it.
    pub at: Timestamp,
    pub actor: Actor,
    /// The event this one follows from (e.g. KILLED ← the KILLING that the kill command made).
    pub cause: Option<EventId>,
    pub event: Event,
}

/// An event handed to the journal: everything but the position and commit time, which the
/// journal assigns when the event is committed.
///
/// The id is chosen by whoever made the event so that events of one decision can name each
/// other as causes before any of them is committed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(proptest_derive::Arbitrary))]
pub struct PendingEvent {
    pub id: EventId,
    pub actor: Actor,
    pub cause: Option<EventId>,
    pub event: Event,
}

impl PendingEvent {
    /// A pending event with a fresh id from the system clock (runtimes and tests only; deciders
    /// build ids with [`EventId::from_parts`] from their seeded RNG).
    pub fn new(actor: Actor, event: Event) -> Self {
        Self {
            id: EventId::now_v7(),
            actor,
            cause: None,
            event,
        }
    }

    pub fn caused_by(mut self, cause: EventId) -> Self {
        self.cause = Some(cause);
        self
    }

    /// Seals the event at its committed position.
    pub fn commit(self, seq: Seq, at: Timestamp) -> Envelope {
        Envelope {
            seq,
            id: self.id,
            at,
            actor: self.actor,
            cause: self.cause,
            event: self.event,
        }
    }
}
