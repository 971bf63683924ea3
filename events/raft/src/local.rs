//! A replica's own copy of the committed journal: in memory (tests, in-process clusters) or a
//! [`RocksJournal`] in the replica's data directory. Both are written only by the state
//! machine, in log order.

use async_trait::async_trait;
use aurora_events::{Envelope, Seq, Timestamp};
use aurora_journal::{
    Append, Checkpoint, CheckpointStore, EncodedAppend, Error, EventStream, Journal, MemoryJournal,
    RocksJournal, SeqRange, Term,
};

/// One replica's committed journal. Cheap to clone.
#[derive(Debug, Clone)]
pub enum LocalJournal {
    Memory(MemoryJournal),
    Rocks(RocksJournal),
}

impl LocalJournal {
    /// Appends each of `appends` in order, all in one atomic write with `marker` where the
    /// backend is durable; one answer per append.
    pub(crate) async fn append_group_marked(
        &self,
        appends: Vec<EncodedAppend>,
        marker: Vec<u8>,
    ) -> Vec<Result<SeqRange, Error>> {
        match self {
            LocalJournal::Memory(journal) => {
                let mut out = Vec::with_capacity(appends.len());
                for append in appends {
                    out.push(match append.decode() {
                        Ok(append) => journal.append(append).await,
                        Err(e) => Err(e),
                    });
                }
                out
            }
            LocalJournal::Rocks(journal) => journal.append_group_marked(appends, marker).await,
        }
    }

    /// Records `marker` on its own, durably along with every append before it (in memory a
    /// crash loses both anyway).
    pub(crate) fn set_marker(&self, marker: &[u8]) -> Result<(), Error> {
        match self {
            LocalJournal::Memory(_) => Ok(()),
            LocalJournal::Rocks(journal) => journal.set_marker(marker),
        }
    }

    /// Makes every append so far durable (in memory a crash loses everything anyway).
    pub(crate) fn sync(&self) -> Result<(), Error> {
        match self {
            LocalJournal::Memory(_) => Ok(()),
            LocalJournal::Rocks(journal) => journal.sync(),
        }
    }

    fn journal(&self) -> &dyn Journal {
        match self {
            LocalJournal::Memory(journal) => journal,
            LocalJournal::Rocks(journal) => journal,
        }
    }

    fn checkpoints(&self) -> &dyn CheckpointStore {
        match self {
            LocalJournal::Memory(journal) => journal,
            LocalJournal::Rocks(journal) => journal,
        }
    }
}

#[async_trait]
impl Journal for LocalJournal {
    async fn append(&self, append: Append) -> Result<SeqRange, Error> {
        self.journal().append(append).await
    }

    async fn read(&self, range: SeqRange) -> Result<Vec<Envelope>, Error> {
        self.journal().read(range).await
    }

    fn subscribe(&self, from: Seq) -> EventStream {
        self.journal().subscribe(from)
    }

    fn subscribe_in_chunks(&self, from: Seq, chunk: u64) -> EventStream {
        self.journal().subscribe_in_chunks(from, chunk)
    }

    fn last_seq(&self) -> Seq {
        self.journal().last_seq()
    }

    fn cluster(&self) -> &str {
        self.journal().cluster()
    }

    async fn seq_at(&self, at: Timestamp) -> Result<Option<Seq>, Error> {
        self.journal().seq_at(at).await
    }

    fn term(&self) -> Term {
        self.journal().term()
    }

    async fn claim_leadership(&self) -> Result<Term, Error> {
        self.journal().claim_leadership().await
    }
}

#[async_trait]
impl CheckpointStore for LocalJournal {
    async fn put_checkpoint(&self, name: &str, seq: Seq, bytes: Vec<u8>) -> Result<(), Error> {
        self.checkpoints().put_checkpoint(name, seq, bytes).await
    }

    async fn checkpoint_at_or_before(
        &self,
        name: &str,
        seq: Seq,
    ) -> Result<Option<Checkpoint>, Error> {
        self.checkpoints().checkpoint_at_or_before(name, seq).await
    }
}
