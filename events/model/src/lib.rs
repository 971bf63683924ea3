//! # aurora-events
//!
//! The vocabulary of the event-sourced Aurora: identifiers and job keys, task configs, the 15
//! task states and the other statuses, every [`Event`] the cluster records, the [`Envelope`] that
//! carries an event through the journal, and the versioned, checksummed [`codec`]. It also
//! states, once, the rules that every fold of the journal must apply alike: which transitions
//! count a failure ([`ScheduleStatus::counts_failure`]), which updates are active
//! ([`UpdateStatus::is_active`]) and how quota is bucketed and summed ([`quota`]). The
//! scheduler's write model and the read-side views both call them, so they cannot disagree.
//!
//! Data flow: deciders (scheduler-core) emit [`PendingEvent`]s → the journal commits them as
//! [`Envelope`]s (assigning seq and time) and stores them with [`codec::encode`] → every reader
//! (the write model, projections, the stream, the CLI) folds envelopes.
//!
//! This crate is pure data: no I/O, no clock reads outside [`EventId::now_v7`] (for runtimes),
//! no async. It must not depend on any other aurora crate, on storage (`rocksdb`) or on
//! messaging (`async-nats`).

pub mod chain;
pub mod codec;
pub mod config;
pub mod cron;
pub mod envelope;
pub mod error;
pub mod event;
pub mod ids;
pub mod legacy;
pub mod quota;
pub mod resources;
pub mod samples;
pub mod status;
pub mod update;

#[cfg(feature = "arbitrary")]
pub mod arbitrary;

pub use chain::{ChainBreak, ChainCheck, ChainHash};
pub use codec::{CodecError, DecodeProblem};
pub use config::{TaskConfig, Tier};
pub use envelope::{Actor, Envelope, PendingEvent, Seq, Timestamp};
pub use error::Error;
pub use event::{Aggregate, Event, EventKind};
pub use ids::{AgentId, ConfigHash, EventId, Identifier, InstanceId, JobKey, TaskId, UpdateKey};
pub use quota::{Bucket, Exact};
pub use resources::{Capacity, ResourceAggregate, Resources};
pub use status::{InstanceUpdateAction, MaintenanceMode, ScheduleStatus, UpdateStatus};
/// The UUID type used in ids, re-exported so that users need not depend on `uuid` themselves.
pub use uuid::Uuid;
