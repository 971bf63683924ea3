//! # aurora-projections
//!
//! Read models folded from journaled events: the role, job, task, update, quota and host views
//! behind the web UI and the CLI, and the cluster activity feed. A projection is a pure fold:
//! [`Projection::apply`] takes one envelope and updates the view, with no I/O and no clock.
//!
//! The same folds run inside the scheduler process (fed from the journal) and in standalone
//! read-side processes (fed from JetStream), where an event may be delivered twice: [`Folded`]
//! makes any projection idempotent by seq.
//!
//! ```text
//! envelopes ──► Folded<Views> ──► Queries (roles, role, job, task, updates, update, hosts,
//!    │              (fold.rs)                activity, last_seq) ──► owned view structs
//!    │                                                               (model.rs, serde)
//!    └──► History ── checkpoints every N + EventSource ──► at(seq) / at_time(t) ──► Views
//! ```
//!
//! - [`Views`] holds every read model. Records live in copy-on-write chunks indexed by dense
//!   ids (`chunk.rs`, `symbols.rs`), so a clone costs little and shares what does not change:
//!   that is what makes a checkpoint every N events affordable.
//! - [`Queries`] is what the web UI and the API read through; answers are owned values.
//! - [`History`] answers for any past seq or instant; [`SeqListener`] / [`SeqWatch`] let a
//!   reader wait until its own write is folded (read-your-writes) without this crate doing I/O.
//!
//! Deterministic: ordered maps or explicit sorts for everything returned, hash maps only for
//! lookups (fixed-seed hasher), no clock, no randomness.
//!
//! Must not depend on the journal, storage (`rocksdb`), messaging (`async-nats`), the scheduler
//! or the web UI: only on `aurora-events` (and serde, thiserror, foldhash). The crate's
//! README has the glossary, the memory model and the measured figures.

mod activity;
mod chunk;
pub mod error;
mod fold;
pub mod history;
pub mod model;
pub mod notify;
mod queries;
mod records;
mod symbols;

use aurora_events::{Envelope, Seq};

pub use error::{Error, SourceError};
pub use fold::{Views, ViewsConfig};
pub use history::{EventSource, History, HistoryConfig, MemoryLog, Rewind};
pub use model::*;
pub use notify::{SeqListener, SeqWatch};
pub use queries::Queries;

/// A view built by folding envelopes in seq order.
pub trait Projection {
    /// Folds one envelope into the view. Called with strictly increasing seqs.
    fn apply(&mut self, envelope: &Envelope);
}

/// A projection together with the last seq folded into it. Redelivered or older envelopes are
/// ignored, so feeding the same stream twice gives the same view.
#[derive(Debug, Clone, Default)]
pub struct Folded<P> {
    view: P,
    last_seq: Seq,
}

/// Whether [`Folded::apply`] used an envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    Folded,
    /// Already folded (seq at or below the last one): ignored.
    Duplicate,
    /// Seq beyond the next expected one: an event was missed; the view is left unchanged and the
    /// feeder must re-read from `expected`.
    Gap {
        expected: Seq,
    },
}

impl<P: Projection> Folded<P> {
    pub fn new(view: P) -> Self {
        Self { view, last_seq: 0 }
    }

    /// Starts from a checkpointed view that includes every event up to `seq`.
    pub fn resume(view: P, seq: Seq) -> Self {
        Self {
            view,
            last_seq: seq,
        }
    }

    pub fn apply(&mut self, envelope: &Envelope) -> Applied {
        let expected = self.last_seq + 1;
        if envelope.seq < expected {
            return Applied::Duplicate;
        }
        if envelope.seq > expected {
            return Applied::Gap { expected };
        }
        self.view.apply(envelope);
        self.last_seq = envelope.seq;
        Applied::Folded
    }

    pub fn view(&self) -> &P {
        &self.view
    }

    pub fn last_seq(&self) -> Seq {
        self.last_seq
    }

    /// The view, giving up the seq bookkeeping.
    pub fn into_view(self) -> P {
        self.view
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aurora_events::samples;

    /// Counts events by kind name, in arrival order.
    #[derive(Default)]
    struct Kinds(Vec<String>);

    impl Projection for Kinds {
        fn apply(&mut self, envelope: &Envelope) {
            self.0.push(envelope.event.kind().to_string());
        }
    }

    /// The web UI shares views across request threads and replays past views on its own.
    #[test]
    fn views_and_histories_can_cross_threads() {
        fn shareable<T: Send + Sync>() {}
        shareable::<Views>();
        shareable::<History>();
        shareable::<SeqWatch>();
        shareable::<Snapshot>();
    }

    #[test]
    fn redelivery_is_ignored_and_gaps_are_reported() {
        let events = samples::events();
        let envelopes: Vec<_> = events
            .into_iter()
            .take(3)
            .enumerate()
            .map(|(i, e)| samples::envelope(i as u64 + 1, e))
            .collect();
        let mut folded = Folded::new(Kinds::default());
        assert_eq!(folded.apply(&envelopes[0]), Applied::Folded);
        assert_eq!(folded.apply(&envelopes[0]), Applied::Duplicate);
        assert_eq!(folded.apply(&envelopes[2]), Applied::Gap { expected: 2 });
        assert_eq!(folded.apply(&envelopes[1]), Applied::Folded);
        assert_eq!(folded.apply(&envelopes[2]), Applied::Folded);
        assert_eq!(
            folded.view().0,
            vec!["cluster_initialised", "task_config_stored", "job_created"]
        );
        assert_eq!(folded.last_seq(), 3);
    }
}
