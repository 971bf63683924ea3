//! The RocksDB journal passes the behaviour suite, plus checks only a disk backend has.

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value shown, which is what we want

use std::path::PathBuf;

use async_trait::async_trait;
use aurora_events::Timestamp;
use aurora_journal::conformance::{Backend, append, marker, now};
use aurora_journal::{Error, Journal, RocksJournal, SeqRange};
use tempfile::TempDir;

struct Rocks {
    dir: TempDir,
}

impl Rocks {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join("journal")
    }
}

#[async_trait]
impl Backend for Rocks {
    type Journal = RocksJournal;

    async fn initialise(&mut self, cluster: &str, at: Timestamp) -> Result<RocksJournal, Error> {
        RocksJournal::initialise(self.path(), cluster, at)
    }

    async fn reopen(&mut self) -> Result<RocksJournal, Error> {
        RocksJournal::open(self.path())
    }

    async fn open_uninitialised(&mut self) -> Result<RocksJournal, Error> {
        RocksJournal::open(self.dir.path().join("nothing-here"))
    }
}

aurora_journal::conformance_tests!(Rocks::new);

/// The same behaviour when batches are written unsynced (a replica's copy of the journal).
mod replayable {
    use super::*;
    use aurora_journal::Durability;

    pub(super) struct Replayable(Rocks);

    impl Replayable {
        pub(super) fn new() -> Self {
            Self(Rocks::new())
        }
    }

    #[async_trait]
    impl Backend for Replayable {
        type Journal = RocksJournal;

        async fn initialise(
            &mut self,
            cluster: &str,
            at: Timestamp,
        ) -> Result<RocksJournal, Error> {
            let first = aurora_journal::initial_event(cluster);
            RocksJournal::initialise_durable(&self.0.path(), first, at, Durability::Replayable)
        }

        async fn reopen(&mut self) -> Result<RocksJournal, Error> {
            RocksJournal::open_durable(self.0.path(), Durability::Replayable)
        }

        async fn open_uninitialised(&mut self) -> Result<RocksJournal, Error> {
            RocksJournal::open_durable(
                self.0.dir.path().join("nothing-here"),
                Durability::Replayable,
            )
        }
    }

    aurora_journal::conformance_tests!(Replayable::new);
}

#[tokio::test]
async fn an_empty_existing_directory_is_not_a_journal() {
    let dir = tempfile::tempdir().unwrap();
    let err = RocksJournal::open(dir.path()).unwrap_err();
    assert!(matches!(err, Error::NotInitialised { .. }), "{err}");
    let message = err.to_string();
    assert!(
        message.contains(&dir.path().display().to_string()),
        "names the directory: {message}"
    );
    assert!(message.contains("initialise"), "says what to do: {message}");
}

#[tokio::test]
async fn a_rocksdb_directory_without_journal_meta_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut opts = rocksdb::Options::default();
        opts.create_if_missing(true);
        let db = rocksdb::DB::open(&opts, dir.path()).unwrap();
        db.put(b"unrelated", b"data").unwrap();
    }
    let err = RocksJournal::open(dir.path()).unwrap_err();
    assert!(matches!(err, Error::NotInitialised { .. }), "{err}");
}

#[tokio::test]
async fn open_or_initialise_creates_then_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data");
    let journal = RocksJournal::open_or_initialise(&path, "devcluster", now()).unwrap();
    append(&journal, vec![marker(0, 0)]).await.unwrap();
    drop(journal);
    let journal = RocksJournal::open_or_initialise(&path, "ignored", now()).unwrap();
    assert_eq!(journal.cluster(), "devcluster");
    assert_eq!(journal.last_seq(), 2);
    // A non-empty directory that is not a journal is not silently taken over.
    let other = dir.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("notes.txt"), "mine").unwrap();
    assert!(matches!(
        RocksJournal::open_or_initialise(&other, "c", now()),
        Err(Error::NotInitialised { .. })
    ));
}

#[tokio::test]
async fn a_damaged_record_is_reported_with_its_seq() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal");
    let journal = RocksJournal::initialise(&path, "c", now()).unwrap();
    append(&journal, (0..4).map(|n| marker(0, n)).collect())
        .await
        .unwrap();
    drop(journal);
    {
        // Flip one byte of seq 3's record behind the journal's back.
        let cfs = ["events", "time_index", "checkpoints", "meta"];
        let db = rocksdb::DB::open_cf(&rocksdb::Options::default(), &path, cfs).unwrap();
        let events = db.cf_handle("events").unwrap();
        let mut bytes = db.get_cf(events, 3u64.to_be_bytes()).unwrap().unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0x01;
        db.put_cf(events, 3u64.to_be_bytes(), bytes).unwrap();
    }
    let journal = RocksJournal::open(&path).unwrap();
    let err = journal.read(SeqRange::new(1, 5)).await.unwrap_err();
    assert!(err.to_string().contains("seq 3"), "{err}");
    assert_eq!(
        journal.read(SeqRange::new(4, 5)).await.unwrap().len(),
        2,
        "the rest stays readable"
    );
}

#[tokio::test]
async fn initialising_refuses_a_directory_with_other_files_and_leaves_it_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "mine").unwrap();
    let err = RocksJournal::initialise(dir.path(), "c", now()).unwrap_err();
    assert!(matches!(err, Error::NotEmpty { .. }), "{err}");
    assert!(err.to_string().contains("not empty"), "{err}");
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        left,
        vec![std::ffi::OsString::from("notes.txt")],
        "nothing added"
    );
}

#[tokio::test]
async fn a_second_opener_is_told_another_process_holds_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal");
    let _first = RocksJournal::initialise(&path, "c", now()).unwrap();
    let err = RocksJournal::open(&path).unwrap_err();
    assert!(matches!(err, Error::Locked { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("another process holds the journal"),
        "{err}"
    );
}

/// A marker is kept only with an accepted append, in the same write, and survives a reopen;
/// `initialise_with` starts the journal from the given first event.
#[tokio::test]
async fn markers_are_written_with_accepted_appends_only() {
    use aurora_journal::{Append, Precondition, initial_event};
    let rocks = Rocks::new();
    let first = initial_event("marked");
    let journal = RocksJournal::initialise_with(rocks.path(), first.clone(), now()).unwrap();
    assert_eq!(journal.cluster(), "marked");
    assert_eq!(
        journal.read(SeqRange::new(1, 1)).await.unwrap()[0].id,
        first.id
    );
    assert_eq!(journal.marker().unwrap(), None);

    let accepted = Append::new(Precondition::follows(0, 1), now(), vec![marker(1, 0)]);
    journal
        .append_marked(accepted, b"one".to_vec())
        .await
        .unwrap();
    assert_eq!(journal.marker().unwrap().as_deref(), Some(&b"one"[..]));

    let refused = Append::new(Precondition::follows(0, 1), now(), vec![marker(1, 1)]);
    assert!(
        journal
            .append_marked(refused, b"two".to_vec())
            .await
            .is_err()
    );
    assert_eq!(
        journal.marker().unwrap().as_deref(),
        Some(&b"one"[..]),
        "refused: kept"
    );
    drop(journal);

    let reopened = RocksJournal::open(rocks.path()).unwrap();
    assert_eq!(reopened.marker().unwrap().as_deref(), Some(&b"one"[..]));
    assert_eq!(reopened.last_seq(), 2);
    let not_first = RocksJournal::initialise_with(
        tempfile::tempdir().unwrap().path().join("j"),
        aurora_events::PendingEvent::new(
            aurora_events::Actor::Scheduler,
            aurora_events::Event::JournalTruncationAccepted {
                acknowledged: 1,
                found: 0,
                reason: String::new(),
            },
        ),
        now(),
    );
    assert!(matches!(not_first, Err(Error::Damaged(_))), "{not_first:?}");
}
