//! Time travel: the views as of any past seq or instant.
//!
//! [`History`] folds the live [`Views`] and keeps a checkpoint — a clone, cheap because the
//! views share unchanged chunks (see `chunk.rs`) — every `checkpoint_every` events. The view
//! at seq S is the nearest checkpoint at or below S with the events after it replayed from an
//! [`EventSource`]: the in-memory [`MemoryLog`] History keeps by default, or one the caller
//! supplies (the scheduler's journal) so that events are not held twice.
//!
//! ```text
//!  envelopes ──► live view ──(every N)──► checkpoints [0, N, 2N, …]
//!       │                                      │
//!       └──► EventSource ──► replay (S - kN events) onto checkpoint kN ──► view at S
//! ```
//!
//! Checkpoints sit at multiples of N, so where they fall depends only on the journal, and
//! [`History::rewind`] lets a caller take the (cheap) checkpoint under its lock and replay
//! outside it.

use std::fmt;
use std::sync::Arc;

use aurora_events::{Envelope, JobKey, Seq, TaskId, Timestamp, UpdateKey};

use crate::error::{Error, SourceError};
use crate::fold::{Views, ViewsConfig};
use crate::model::{
    ActivityEntry, HostView, JobView, RoleSummary, RoleView, TaskView, UpdateSummary, UpdateView,
};
use crate::notify::SeqListener;
use crate::queries::Queries;
use crate::{Applied, Folded};

/// How a [`History`] is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryConfig {
    /// A checkpoint every this many events (at seqs that are multiples of it); 0 keeps none,
    /// so every past view is replayed from seq 1.
    pub checkpoint_every: u64,
    /// Checkpoints kept at most (besides the empty one at seq 0). Past that, every second
    /// checkpoint of the older half is dropped, so memory stays bounded over an unbounded
    /// journal and the distant past gets exponentially sparser (slower to reach) while the
    /// recent past keeps the full density. Each checkpoint costs what changed in its interval:
    /// see `ops/bench-read` for measured figures.
    pub max_checkpoints: usize,
    pub views: ViewsConfig,
}

impl Default for HistoryConfig {
    fn default() -> Self {
        Self {
            checkpoint_every: 10_000,
            max_checkpoints: 128,
            views: ViewsConfig::default(),
        }
    }
}

/// Where past events are read back from for replay.
pub trait EventSource {
    /// The envelopes with seqs `from..=to`, in seq order.
    fn read(&self, from: Seq, to: Seq) -> Result<Vec<Envelope>, SourceError>;

    /// Visits the envelopes with seqs `from..=to` in seq order. Override when the events can
    /// be lent rather than copied.
    fn replay(
        &self,
        from: Seq,
        to: Seq,
        visit: &mut dyn FnMut(&Envelope),
    ) -> Result<(), SourceError> {
        for envelope in self.read(from, to)? {
            visit(&envelope);
        }
        Ok(())
    }

    /// Whether History should hand this source every envelope it folds ([`Self::record`]).
    /// A journal already has them: false.
    fn keeps_events(&self) -> bool {
        false
    }

    /// Keeps one folded envelope; called in seq order, each seq once.
    fn record(&mut self, _envelope: Envelope) {}
}

/// A boxed source is a source, so a History can be built over a source chosen at run time
/// (the journal in the scheduler, memory in tests).
impl<S: EventSource + ?Sized> EventSource for Box<S> {
    fn read(&self, from: Seq, to: Seq) -> Result<Vec<Envelope>, SourceError> {
        (**self).read(from, to)
    }

    fn replay(
        &self,
        from: Seq,
        to: Seq,
        visit: &mut dyn FnMut(&Envelope),
    ) -> Result<(), SourceError> {
        (**self).replay(from, to, visit)
    }

    fn keeps_events(&self) -> bool {
        (**self).keeps_events()
    }

    fn record(&mut self, envelope: Envelope) {
        (**self).record(envelope)
    }
}

/// A shared source serves reads; it cannot be handed events (`record` needs it alone), so it
/// must hold them already — a journal does — and reports `keeps_events` false whatever it wraps.
impl<S: EventSource + ?Sized> EventSource for Arc<S> {
    fn read(&self, from: Seq, to: Seq) -> Result<Vec<Envelope>, SourceError> {
        (**self).read(from, to)
    }

    fn replay(
        &self,
        from: Seq,
        to: Seq,
        visit: &mut dyn FnMut(&Envelope),
    ) -> Result<(), SourceError> {
        (**self).replay(from, to, visit)
    }
}

/// Every folded envelope, in memory.
#[derive(Debug, Clone, Default)]
pub struct MemoryLog {
    /// Seq of `events[0]`.
    first: Seq,
    events: Vec<Envelope>,
}

impl MemoryLog {
    pub fn new() -> Self {
        Self::default()
    }

    /// A log with room for `events` envelopes before it reallocates.
    pub fn with_capacity(events: usize) -> Self {
        Self {
            first: 0,
            events: Vec::with_capacity(events),
        }
    }

    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Every envelope kept, in seq order.
    pub fn events(&self) -> &[Envelope] {
        &self.events
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    fn slice(&self, from: Seq, to: Seq) -> Result<&[Envelope], SourceError> {
        let index = |seq: Seq| usize::try_from(seq.saturating_sub(self.first)).ok();
        let range = index(from)
            .zip(index(to))
            .filter(|_| from >= self.first && from <= to)
            .and_then(|(start, end)| self.events.get(start..=end));
        range.ok_or_else(|| {
            SourceError::new(format!(
                "the memory log holds seqs {}..{}, not {from}..={to}",
                self.first,
                self.first + self.events.len() as Seq
            ))
        })
    }
}

impl EventSource for MemoryLog {
    fn read(&self, from: Seq, to: Seq) -> Result<Vec<Envelope>, SourceError> {
        Ok(self.slice(from, to)?.to_vec())
    }

    fn replay(
        &self,
        from: Seq,
        to: Seq,
        visit: &mut dyn FnMut(&Envelope),
    ) -> Result<(), SourceError> {
        self.slice(from, to)?.iter().for_each(visit);
        Ok(())
    }

    fn keeps_events(&self) -> bool {
        true
    }

    fn record(&mut self, envelope: Envelope) {
        if self.events.is_empty() {
            self.first = envelope.seq;
        }
        self.events.push(envelope);
    }
}

/// A past view in the making: a checkpoint and the seq to replay it to. Taking one is cheap
/// (a clone of the checkpoint); [`Rewind::replay`] does the work, and needs no access to the
/// [`History`].
#[derive(Debug, Clone)]
pub struct Rewind {
    base: Views,
    to: Seq,
}

impl Rewind {
    /// The seq of the checkpoint replay starts from.
    pub fn base_seq(&self) -> Seq {
        self.base.last_seq
    }

    pub fn target(&self) -> Seq {
        self.to
    }

    /// Replays the events after the checkpoint up to the target from `source`.
    pub fn replay(self, source: &(impl EventSource + ?Sized)) -> Result<Views, Error> {
        let from = self.base.last_seq;
        let to = self.to;
        let mut folded = Folded::resume(self.base, from);
        if to > from {
            let mut fault = None;
            source
                .replay(from + 1, to, &mut |envelope| {
                    if fault.is_some() || envelope.seq > to {
                        return;
                    }
                    if let Applied::Gap { expected } = folded.apply(envelope) {
                        fault = Some(Error::SourceOutOfOrder {
                            expected,
                            got: envelope.seq,
                        });
                    }
                })
                .map_err(|source| Error::Source {
                    from: from + 1,
                    to,
                    source,
                })?;
            if let Some(fault) = fault {
                return Err(fault);
            }
            if folded.last_seq() < to {
                return Err(Error::SourceShort {
                    last: folded.last_seq(),
                    wanted: to,
                });
            }
        }
        Ok(folded.into_view())
    }
}

/// Records a folded envelope in the time index and takes a checkpoint of `view` (the views
/// right after it) when one is due.
fn index(
    config: &HistoryConfig,
    checkpoints: &mut Vec<Views>,
    times: &mut Vec<(Timestamp, Seq)>,
    envelope: &Envelope,
    view: &Views,
) {
    // Commit times never decrease along a journal; should one go back, the index keeps the
    // later time so that it stays sorted and `seq_at` stays monotonic.
    match times.last_mut() {
        Some((at, seq)) if envelope.at <= *at => *seq = envelope.seq,
        _ => times.push((envelope.at, envelope.seq)),
    }
    let every = config.checkpoint_every;
    if every > 0 && envelope.seq % every == 0 {
        checkpoints.push(view.clone());
        thin(checkpoints, config.max_checkpoints);
    }
}

/// Drops every second checkpoint of the older half once there are too many (see
/// [`HistoryConfig::max_checkpoints`]). The empty view at index 0 always stays.
fn thin(checkpoints: &mut Vec<Views>, max_checkpoints: usize) {
    let max = max_checkpoints.max(2);
    if checkpoints.len() <= max + 1 {
        return;
    }
    let older = checkpoints.len() / 2;
    let mut position = 0;
    checkpoints.retain(|_| {
        let keep = position == 0 || position >= older || position % 2 == 0;
        position += 1;
        keep
    });
}

/// The live views plus what it takes to answer for any past seq or time.
pub struct History<S = MemoryLog> {
    config: HistoryConfig,
    live: Folded<Views>,
    /// Ascending by seq; the first is the empty view at seq 0.
    checkpoints: Vec<Views>,
    /// (commit time, last seq committed at or before it), one entry per distinct time.
    times: Vec<(Timestamp, Seq)>,
    source: S,
    listeners: Vec<Arc<dyn SeqListener>>,
}

impl<S> fmt::Debug for History<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("History")
            .field("config", &self.config)
            .field("last_seq", &self.live.last_seq())
            .field("checkpoints", &self.checkpoints.len())
            .field("listeners", &self.listeners.len())
            .finish_non_exhaustive()
    }
}

impl History<MemoryLog> {
    /// A history that keeps every folded event in memory for replay.
    pub fn in_memory(config: HistoryConfig) -> Self {
        Self::with_source(MemoryLog::new(), config)
    }
}

impl Default for History<MemoryLog> {
    fn default() -> Self {
        Self::in_memory(HistoryConfig::default())
    }
}

impl<S: EventSource> History<S> {
    /// A history that replays past views from `source`, which must be able to serve every seq
    /// this history folds.
    pub fn with_source(source: S, config: HistoryConfig) -> Self {
        let empty = Views::new(config.views);
        Self {
            config,
            checkpoints: vec![empty.clone()],
            live: Folded::new(empty),
            times: Vec::new(),
            source,
            listeners: Vec::new(),
        }
    }

    pub fn config(&self) -> HistoryConfig {
        self.config
    }

    pub fn source(&self) -> &S {
        &self.source
    }

    /// The live view (every folded event).
    pub fn current(&self) -> &Views {
        self.live.view()
    }

    pub fn last_seq(&self) -> Seq {
        self.live.last_seq()
    }

    /// Seqs of the checkpoints kept (0 is the empty view).
    pub fn checkpoint_seqs(&self) -> Vec<Seq> {
        self.checkpoints.iter().map(|c| c.last_seq).collect()
    }

    /// Adds a listener told the last folded seq after every apply (read-your-writes).
    pub fn add_listener(&mut self, listener: Arc<dyn SeqListener>) {
        listener.folded_up_to(self.last_seq());
        self.listeners.push(listener);
    }

    /// Folds one envelope (duplicates are ignored; a gap is reported and nothing changes).
    pub fn apply(&mut self, envelope: &Envelope) -> Applied {
        let applied = self.fold(envelope);
        if applied == Applied::Folded && self.source.keeps_events() {
            self.source.record(envelope.clone());
        }
        self.notify(applied);
        applied
    }

    /// [`Self::apply`] taking the envelope by value, so a keeping source stores it uncopied.
    pub fn apply_owned(&mut self, envelope: Envelope) -> Applied {
        let applied = self.fold(&envelope);
        if applied == Applied::Folded && self.source.keeps_events() {
            self.source.record(envelope);
        }
        self.notify(applied);
        applied
    }

    /// Folds envelopes in order, telling listeners once at the end; stops at the first gap
    /// and returns it (the envelopes before it are folded).
    ///
    /// Uses the batched fold of [`Folded::apply_slice`] (task lookups a window ahead), which
    /// ends in the same views as [`Self::apply`] on each envelope.
    pub fn apply_all<'a>(&mut self, envelopes: impl IntoIterator<Item = &'a Envelope>) -> Applied {
        let Self {
            config,
            live,
            checkpoints,
            times,
            source,
            ..
        } = self;
        let keeps = source.keeps_events();
        let result = live.apply_batched(envelopes, |envelope, view| {
            index(config, checkpoints, times, envelope, view);
            if keeps {
                source.record(envelope.clone());
            }
        });
        self.notify(Applied::Folded);
        result
    }

    fn fold(&mut self, envelope: &Envelope) -> Applied {
        let applied = self.live.apply(envelope);
        if applied == Applied::Folded {
            index(
                &self.config,
                &mut self.checkpoints,
                &mut self.times,
                envelope,
                self.live.view(),
            );
        }
        applied
    }

    fn notify(&self, applied: Applied) {
        if applied == Applied::Folded {
            let seq = self.last_seq();
            for listener in &self.listeners {
                listener.folded_up_to(seq);
            }
        }
    }

    /// The last seq committed at or before `time` (0 if none).
    pub fn seq_at(&self, time: Timestamp) -> Seq {
        let after = self.times.partition_point(|(at, _)| *at <= time);
        match after.checked_sub(1).and_then(|i| self.times.get(i)) {
            Some((_, seq)) => *seq,
            // Before the first event: the base view (the empty one).
            None => self.checkpoints.first().map_or(0, |c| c.last_seq),
        }
    }

    /// The checkpoint to replay from for `seq`, without replaying.
    pub fn rewind(&self, seq: Seq) -> Result<Rewind, Error> {
        let last = self.last_seq();
        if seq > last {
            return Err(Error::NotYetFolded {
                requested: seq,
                last,
            });
        }
        if seq == last {
            return Ok(Rewind {
                base: self.live.view().clone(),
                to: seq,
            });
        }
        let after = self.checkpoints.partition_point(|c| c.last_seq <= seq);
        let base = after
            .checked_sub(1)
            .and_then(|i| self.checkpoints.get(i))
            .ok_or(Error::BeforeHistory {
                requested: seq,
                first: self.checkpoints.first().map_or(0, |c| c.last_seq),
            })?;
        Ok(Rewind {
            base: base.clone(),
            to: seq,
        })
    }

    /// The views as they were right after `seq` was folded (`at(0)` is the empty view).
    pub fn at(&self, seq: Seq) -> Result<Views, Error> {
        self.rewind(seq)?.replay(&self.source)
    }

    /// The views as they were at `time`: after the last event committed at or before it.
    pub fn at_time(&self, time: Timestamp) -> Result<Views, Error> {
        self.at(self.seq_at(time))
    }
}

/// The live view's answers.
impl<S: EventSource> Queries for History<S> {
    fn last_seq(&self) -> Seq {
        self.live.last_seq()
    }

    fn cluster(&self) -> Option<String> {
        self.current().cluster()
    }

    fn roles(&self) -> Vec<RoleSummary> {
        self.current().roles()
    }

    fn role(&self, role: &str) -> Option<RoleView> {
        self.current().role(role)
    }

    fn job(&self, key: &JobKey) -> Option<JobView> {
        self.current().job(key)
    }

    fn task(&self, id: &TaskId) -> Option<TaskView> {
        self.current().task(id)
    }

    fn updates(&self) -> Vec<UpdateSummary> {
        self.current().updates()
    }

    fn update(&self, key: &UpdateKey) -> Option<UpdateView> {
        self.current().update(key)
    }

    fn task_config(&self, hash: &aurora_events::ConfigHash) -> Option<aurora_events::TaskConfig> {
        self.current().task_config(hash)
    }

    fn hosts(&self) -> Vec<HostView> {
        self.current().hosts()
    }

    fn host(&self, name: &str) -> Option<HostView> {
        self.current().host(name)
    }

    fn activity(&self, limit: usize) -> Vec<ActivityEntry> {
        self.current().activity(limit)
    }
}
