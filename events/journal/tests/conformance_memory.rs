//! The in-memory journal passes the behaviour suite.

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value shown, which is what we want

use async_trait::async_trait;
use aurora_events::Timestamp;
use aurora_journal::conformance::Backend;
use aurora_journal::{Error, MemoryJournal, MemoryStore};

struct Memory {
    store: MemoryStore,
}

#[async_trait]
impl Backend for Memory {
    type Journal = MemoryJournal;

    async fn initialise(&mut self, cluster: &str, at: Timestamp) -> Result<MemoryJournal, Error> {
        MemoryJournal::initialise(self.store.clone(), cluster, at)
    }

    async fn reopen(&mut self) -> Result<MemoryJournal, Error> {
        MemoryJournal::open(self.store.clone())
    }

    async fn open_uninitialised(&mut self) -> Result<MemoryJournal, Error> {
        MemoryJournal::open(MemoryStore::new())
    }
}

aurora_journal::conformance_tests!(|| Memory {
    store: MemoryStore::new()
});

/// Two handles on one store are two writers of one journal: the one that claims leadership last
/// deposes the other, whose appends are then refused.
#[tokio::test]
async fn handles_on_one_store_share_the_term() {
    use aurora_journal::conformance::{marker, now};
    use aurora_journal::{Append, Journal, Precondition};
    let store = MemoryStore::new();
    let old = MemoryJournal::initialise(store.clone(), "c", now()).unwrap();
    let old_term = old.claim_leadership().await.unwrap();
    let new = MemoryJournal::open(store).unwrap();
    let new_term = new.claim_leadership().await.unwrap();
    assert!(new_term > old_term);
    let refused = old
        .append(Append::new(
            Precondition::follows(old_term, 1),
            now(),
            vec![marker(0, 0)],
        ))
        .await;
    assert!(
        matches!(refused, Err(Error::NotLeader { .. })),
        "{refused:?}"
    );
    assert_eq!(new.last_seq(), 1);
}
