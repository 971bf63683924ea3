//! The envelope every journaled event travels in: its position, id, time, actor and cause.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::chain::ChainHash;
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

    /// `2026-11-22 07:27:02.123 UTC`: how people are shown a time (the web UI's pages, the
    /// scheduler's pending reasons). Pages print thousands of these (a 10k-instance job), so
    /// this is integer arithmetic on the proleptic Gregorian calendar rather than a general
    /// formatter; the web UI's tests check it against a calendar library.
    pub fn to_utc_string(self) -> String {
        let ms = self.0;
        let days = ms.div_euclid(86_400_000);
        let in_day = ms.rem_euclid(86_400_000);
        let (year, month, day) = civil_from_days(days);
        format!(
            "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}.{:03} UTC",
            in_day / 3_600_000,
            in_day / 60_000 % 60,
            in_day / 1000 % 60,
            in_day % 1000
        )
    }
}

/// Year, month and day of the `days`-th day after 1970-01-01 (before it when negative):
/// the well-known era-based conversion (eras of 400 years, years starting in March).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * shifted_month + 2) / 5 + 1) as u32;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
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
    /// The chain hash of the envelope at `seq - 1` (see `chain.rs`); `None` on the first event
    /// and on events journaled before the chain existed (format 1). Last, so that the stored
    /// encoding is the format-1 fields followed by the link.
    #[serde(default)]
    pub prev_hash: Option<ChainHash>,
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

    /// Seals the event at its committed position, unlinked (the first event of a journal).
    pub fn commit(self, seq: Seq, at: Timestamp) -> Envelope {
        self.commit_linked(seq, at, None)
    }

    /// Seals the event at its committed position, linked to the envelope before it.
    pub fn commit_linked(self, seq: Seq, at: Timestamp, prev_hash: Option<ChainHash>) -> Envelope {
        Envelope {
            seq,
            id: self.id,
            at,
            actor: self.actor,
            cause: self.cause,
            event: self.event,
            prev_hash,
        }
    }
}
