//! The in-memory journal passes the behaviour suite.

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value shown, which is what we want

use std::sync::Arc;

use async_trait::async_trait;
use aurora_journal::conformance::Backend;
use aurora_journal::{Clock, Error, MemoryJournal, MemoryStore};

struct Memory {
    store: MemoryStore,
}

#[async_trait]
impl Backend for Memory {
    type Journal = MemoryJournal;

    async fn initialise(
        &mut self,
        cluster: &str,
        clock: Arc<dyn Clock>,
    ) -> Result<MemoryJournal, Error> {
        MemoryJournal::initialise(self.store.clone(), cluster, clock)
    }

    async fn reopen(&mut self, clock: Arc<dyn Clock>) -> Result<MemoryJournal, Error> {
        MemoryJournal::open(self.store.clone(), clock)
    }

    async fn open_uninitialised(&mut self) -> Result<MemoryJournal, Error> {
        MemoryJournal::open(MemoryStore::new(), Arc::new(aurora_journal::SystemClock))
    }
}

aurora_journal::conformance_tests!(|| Memory {
    store: MemoryStore::new()
});
