//! The read side inside the scheduler process: the projections behind the web UI and the read
//! API, folded by the replica's apply loop from the same envelopes as the write model, with past
//! views replayed from the journal itself so events are not held twice.

use std::sync::Arc;

use aurora_events::{Envelope, Seq};
use aurora_journal::{Journal, SeqRange};
use aurora_projections::{EventSource, HistoryConfig, ReadModel, SourceError};
use tokio::runtime::Handle;

/// Envelopes read from the journal for a replay. The journal is async and replays run on a
/// blocking thread (see [`ReadModel::past`]), so each read is driven to completion on the
/// runtime's handle; calling it from an async task would panic, and nothing does.
pub struct JournalSource {
    journal: Arc<dyn Journal>,
    runtime: Handle,
}

impl std::fmt::Debug for JournalSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JournalSource")
            .field("cluster", &self.journal.cluster())
            .finish()
    }
}

impl JournalSource {
    /// Must be called inside the tokio runtime that will serve the reads.
    pub fn new(journal: Arc<dyn Journal>) -> Self {
        Self {
            journal,
            runtime: Handle::current(),
        }
    }
}

impl EventSource for JournalSource {
    fn read(&self, from: Seq, to: Seq) -> Result<Vec<Envelope>, SourceError> {
        if from > to {
            return Ok(Vec::new());
        }
        let envelopes = self
            .runtime
            .block_on(self.journal.read(SeqRange::new(from, to)))
            .map_err(|e| SourceError::new(format!("reading seqs {from}..={to}: {e}")))?;
        let expected = to - from + 1;
        if envelopes.len() as u64 != expected {
            return Err(SourceError::new(format!(
                "the journal returned {} events for seqs {from}..={to}",
                envelopes.len()
            )));
        }
        Ok(envelopes)
    }
}

/// A read model over `journal` with every event up to `last` folded in.
pub async fn build(
    journal: &Arc<dyn Journal>,
    config: HistoryConfig,
    last: Seq,
) -> Result<Arc<ReadModel>, aurora_journal::Error> {
    let read = Arc::new(ReadModel::with_shared_source(
        Arc::new(JournalSource::new(Arc::clone(journal))),
        config,
    ));
    aurora_journal::for_each_chunk(journal.as_ref(), 1, last, |envelopes| {
        read.apply(envelopes);
    })
    .await?;
    Ok(read)
}
