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
//! - [`ReadModel`] shares a History between the folder and the readers: a lock, a tokio
//!   `watch` of the folded seq, and a [`PendingReasons`] explainer plugged in by the process.
//!
//! Deterministic: ordered maps or explicit sorts for everything returned, hash maps only for
//! lookups (fixed-seed hasher), no clock, no randomness.
//!
//! Must not depend on the journal, storage (`rocksdb`), messaging (`async-nats`), the scheduler
//! or the web UI: only on `aurora-events` (and serde, thiserror, foldhash, and tokio's `watch`
//! for the read model). The crate's README has the glossary, the memory model and the measured
//! figures.

mod activity;
pub mod audit;
mod chunk;
pub mod diff;
pub mod error;
mod fold;
pub mod history;
pub mod model;
pub mod notify;
mod queries;
mod read_model;
mod records;
mod symbols;

use aurora_events::{Envelope, Seq};

pub use error::{Error, SourceError};
pub use fold::{Views, ViewsConfig};
pub use history::{EventSource, History, HistoryConfig, MemoryLog, Rewind};
pub use model::*;
pub use notify::{SeqListener, SeqWatch};
pub use queries::Queries;
pub use read_model::{BoxedSource, PendingReasons, ReadModel, ServedBy, SharedSource};

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
        let check = self.check(envelope.seq);
        if check == Applied::Folded {
            self.view.apply(envelope);
            self.last_seq = envelope.seq;
        }
        check
    }

    /// What [`Self::apply`] would do with an envelope of seq `seq`.
    fn check(&self, seq: Seq) -> Applied {
        let expected = self.last_seq + 1;
        if seq < expected {
            Applied::Duplicate
        } else if seq > expected {
            Applied::Gap { expected }
        } else {
            Applied::Folded
        }
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

impl Folded<Views> {
    /// Folds envelopes in order, ending as [`Self::apply`] on each would, but faster (task
    /// lookups a window ahead, see `apply_batched`). Stops at the first gap and returns it (the
    /// envelopes before it are folded); otherwise `Folded` if any envelope was, else
    /// `Duplicate`.
    pub fn apply_slice(&mut self, envelopes: &[Envelope]) -> Applied {
        self.apply_batched(envelopes, |_, _| {})
    }

    /// The batched fold behind [`Self::apply_slice`] and [`History::apply_all`]: resolves the
    /// task symbols of the next [`LOOKAHEAD`](fold::LOOKAHEAD) envelopes together (their
    /// cache misses overlap; one at a time each waits for the last), then folds them one by one
    /// with those symbols. The view ends exactly as with [`Self::apply`] on each envelope.
    /// `folded` sees each folded envelope and the view right after it.
    pub(crate) fn apply_batched<'a>(
        &mut self,
        envelopes: impl IntoIterator<Item = &'a Envelope>,
        mut folded: impl FnMut(&'a Envelope, &Views),
    ) -> Applied {
        let mut result = Applied::Duplicate;
        let mut envelopes = envelopes.into_iter();
        let mut window: Vec<&'a Envelope> = Vec::with_capacity(fold::LOOKAHEAD);
        let mut known = Vec::with_capacity(fold::LOOKAHEAD);
        loop {
            window.clear();
            window.extend(envelopes.by_ref().take(fold::LOOKAHEAD));
            if window.is_empty() {
                return result;
            }
            self.view.look_ahead(&window, &mut known);
            for (envelope, known) in window.iter().zip(&known) {
                match self.check(envelope.seq) {
                    Applied::Folded => {
                        self.view.apply_known(envelope, *known);
                        self.last_seq = envelope.seq;
                        folded(envelope, &self.view);
                        result = Applied::Folded;
                    }
                    Applied::Duplicate => {}
                    gap @ Applied::Gap { .. } => return gap,
                }
            }
        }
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

    mod batched {
        use std::collections::BTreeMap;

        use aurora_events::{AgentId, Event, ScheduleStatus, TaskId, samples};
        use proptest::prelude::*;

        use crate::{Applied, Folded, History, HistoryConfig, Views, fold::LOOKAHEAD};

        const STATUSES: [ScheduleStatus; 6] = [
            ScheduleStatus::Pending,
            ScheduleStatus::Assigned,
            ScheduleStatus::Running,
            ScheduleStatus::Failed,
            ScheduleStatus::Killing,
            ScheduleStatus::Finished,
        ];

        /// One event about one of a few tasks (so creates, deletes and re-creates of the same
        /// id land inside one look-ahead window), or a sample event of any kind. The id is
        /// sometimes a fresh copy of the string rather than the shared one.
        fn event() -> impl Strategy<Value = Event> {
            let task = (0u32..4, any::<bool>()).prop_map(|(i, fresh)| {
                let id = samples::task_id(i);
                if fresh {
                    TaskId::from_raw(id.as_str())
                } else {
                    id
                }
            });
            let status = (0..STATUSES.len()).prop_map(|i| STATUSES[i]);
            let hash = samples::task_config().hash();
            prop_oneof![
                4 => (task.clone(), status.clone(), proptest::option::of(0u32..4)).prop_map(
                    move |(task, status, ancestor)| Event::TaskCreated {
                        task,
                        job: samples::job(),
                        instance: 0,
                        config: hash,
                        status,
                        ancestor: ancestor.map(samples::task_id),
                        failure_count: 0,
                        penalty_ms: 0,
                        message: None,
                    }
                ),
                4 => (task.clone(), status.clone(), status, any::<bool>()).prop_map(
                    |(task, from, to, message)| Event::TaskStateChanged {
                        task,
                        job: samples::job(),
                        from,
                        to,
                        message: message.then(|| "Killed by alice".to_string()),
                    }
                ),
                2 => (task.clone(), 0u8..2).prop_map(|(task, host)| Event::TaskAssigned {
                    task,
                    job: samples::job(),
                    agent: AgentId(format!("agent-{host}")),
                    host: format!("host-{host}"),
                    ports: BTreeMap::from([("http".to_string(), 31000)]),
                }),
                2 => task.prop_map(|task| Event::TaskDeleted {
                    task,
                    job: samples::job(),
                }),
                // Every other kind too (an arbitrary `Event` strategy overflows a test
                // thread's stack in debug builds).
                1 => (0..samples::events().len()).prop_map(|i| samples::events().swap_remove(i)),
            ]
        }

        /// Envelopes with dense seqs after the samples' config (so created tasks count
        /// against quota).
        fn journal() -> impl Strategy<Value = Vec<aurora_events::Envelope>> {
            proptest::collection::vec(event(), 0..(4 * LOOKAHEAD)).prop_map(|events| {
                samples::events()
                    .into_iter()
                    .take(2)
                    .chain(events)
                    .enumerate()
                    .map(|(i, e)| samples::envelope(i as u64 + 1, e))
                    .collect()
            })
        }

        proptest! {
            /// The batched fold (symbols resolved a window ahead) ends in the same views as
            /// folding one envelope at a time, through Folded and through History (whose
            /// checkpoints, taken mid-window, must match too); redelivered envelopes are
            /// skipped and a gap stops it at the same place.
            #[test]
            fn batched_fold_equals_per_event_fold(
                envelopes in journal(),
                redeliver in proptest::collection::vec(any::<proptest::sample::Index>(), 0..6),
                drop in proptest::option::of(any::<proptest::sample::Index>()),
                every in 1u64..8,
            ) {
                let mut stream = envelopes.clone();
                for pick in redeliver {
                    let at = pick.index(stream.len() + 1);
                    if at > 0 {
                        let again = stream[pick.index(at)].clone();
                        stream.insert(at, again);
                    }
                }
                if let Some(pick) = drop && !stream.is_empty() {
                    stream.remove(pick.index(stream.len()));
                }

                let mut one = Folded::new(Views::default());
                let mut expected = Applied::Duplicate;
                for envelope in &stream {
                    match one.apply(envelope) {
                        Applied::Folded => expected = Applied::Folded,
                        Applied::Duplicate => {}
                        gap => {
                            expected = gap;
                            break;
                        }
                    }
                }
                let mut batched = Folded::new(Views::default());
                prop_assert_eq!(batched.apply_slice(&stream), expected);
                prop_assert_eq!(batched.last_seq(), one.last_seq());
                prop_assert_eq!(batched.view().snapshot(), one.view().snapshot());

                let config = HistoryConfig { checkpoint_every: every, ..HistoryConfig::default() };
                let mut per_event = History::in_memory(config);
                for envelope in &stream {
                    if let Applied::Gap { .. } = per_event.apply(envelope) {
                        break;
                    }
                }
                let mut history = History::in_memory(config);
                prop_assert_eq!(history.apply_all(&stream), expected);
                prop_assert_eq!(history.last_seq(), per_event.last_seq());
                prop_assert_eq!(history.checkpoint_seqs(), per_event.checkpoint_seqs());
                prop_assert_eq!(history.source().events(), per_event.source().events());
                prop_assert_eq!(history.current().snapshot(), one.view().snapshot());
                for seq in 0..=history.last_seq() {
                    prop_assert_eq!(
                        history.at(seq).expect("folded").snapshot(),
                        per_event.at(seq).expect("folded").snapshot(),
                        "seq {}", seq
                    );
                }
            }
        }
    }
}
