//! Backups of a RocksDB journal, and restoring one (Aurora's `scheduler_backup_now` and
//! recovery from a backup, for an event-sourced journal).
//!
//! A backup is a RocksDB checkpoint of the journal's database — every column family at one
//! instant: the events, their time index, the meta and the write-model checkpoints, hard-linked
//! where the backup directory shares the journal's file system — plus the journal's identity
//! and an acknowledgement mark at the last seq committed before the checkpoint began (the
//! checkpoint holds at least that much, so the mark never claims more than the copy holds). It
//! is made under a temporary name and renamed into place, so a backup directory is whole or
//! absent. Restoring copies one into a new or empty directory and opens it as a journal, which
//! checks it as any journal is checked on opening.

use std::path::Path;

use aurora_events::Seq;
use rocksdb::checkpoint::Checkpoint;

use super::{RocksJournal, check_space_of, holds_database, is_empty_or_missing, location};
use crate::mark::{self, Mark};
use crate::{Error, Journal};

fn io(path: &Path, what: &str, e: std::io::Error) -> Error {
    Error::Storage(format!("cannot {what} {}: {e}", path.display()))
}

impl RocksJournal {
    /// Writes a backup of the journal to `into`, which must not exist (its parent must), and
    /// returns the last seq it is guaranteed to hold. Blocking: call it off the async threads.
    pub fn backup(&self, into: &Path) -> Result<Seq, Error> {
        if into.exists() {
            return Err(Error::Storage(format!(
                "{} already exists: a backup is never written over another",
                into.display()
            )));
        }
        let parent = into.parent().unwrap_or(Path::new("."));
        check_space_of(parent, "the backups")?;
        let name = into
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let partial = parent.join(format!(".{name}.partial"));
        if partial.exists() {
            // Left by a backup that did not finish (the process stopped in the middle).
            std::fs::remove_dir_all(&partial).map_err(|e| io(&partial, "remove", e))?;
        }
        // Everything acknowledged so far is in the checkpoint, which may hold a little more.
        let acknowledged = self.last_seq();
        let made = Checkpoint::new(&self.inner.db)
            .and_then(|checkpoint| checkpoint.create_checkpoint(&partial))
            .map_err(Error::from)
            .and_then(|()| {
                drop(Mark::open(&partial, acknowledged)?);
                mark::write_identity(&partial, &self.inner.cluster)
            })
            .and_then(|()| std::fs::rename(&partial, into).map_err(|e| io(into, "rename into", e)))
            .and_then(|()| mark::sync_dir(parent));
        if let Err(e) = made {
            let _ = std::fs::remove_dir_all(&partial);
            return Err(e);
        }
        Ok(acknowledged)
    }

    /// Restores the backup at `backup` into `into` (new, or an empty directory) and opens it:
    /// the journal as it was when the backup was made. Returns the cluster's name and the last
    /// seq. Nothing is left in `into` if it fails.
    pub fn restore(backup: &Path, into: &Path) -> Result<(String, Seq), Error> {
        if !is_journal_dir(backup) {
            return Err(Error::Storage(format!(
                "{} is not a journal backup (no journal database and identity in it)",
                backup.display()
            )));
        }
        if holds_database(into) {
            return Err(Error::Storage(format!(
                "{} holds a journal already (a scheduler's data directory?): restore into a \
                 new or empty directory, and start the scheduler there",
                into.display()
            )));
        }
        if !is_empty_or_missing(into)? {
            return Err(Error::NotEmpty {
                location: location(into),
            });
        }
        let copied = copy_files(backup, into).and_then(|()| {
            let journal = Self::open(into)?;
            Ok((journal.cluster().to_string(), journal.last_seq()))
        });
        if copied.is_err() {
            // Only what this call put there: `into` was new or empty.
            if let Ok(entries) = std::fs::read_dir(into) {
                for entry in entries.flatten() {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
        copied
    }
}

/// Whether `dir` holds a whole backup (or any journal): its database and identity. A backup
/// being made is under another name until it is whole.
pub fn is_journal_dir(dir: &Path) -> bool {
    holds_database(dir) && mark::read_identity(dir).ok().flatten().is_some()
}

/// Copies the regular files of `from` (a checkpoint is flat) into `to`, synced.
fn copy_files(from: &Path, to: &Path) -> Result<(), Error> {
    std::fs::create_dir_all(to).map_err(|e| io(to, "create", e))?;
    let entries = std::fs::read_dir(from).map_err(|e| io(from, "read", e))?;
    for entry in entries {
        let entry = entry.map_err(|e| io(from, "read", e))?;
        let kind = entry
            .file_type()
            .map_err(|e| io(&entry.path(), "inspect", e))?;
        if !kind.is_file() {
            return Err(Error::Storage(format!(
                "{} is not a regular file: a journal backup holds only files",
                entry.path().display()
            )));
        }
        let target = to.join(entry.file_name());
        std::fs::copy(entry.path(), &target).map_err(|e| io(&target, "write", e))?;
        std::fs::File::open(&target)
            .and_then(|file| file.sync_all())
            .map_err(|e| io(&target, "sync", e))?;
    }
    mark::sync_dir(to)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use aurora_events::{Actor, Event, PendingEvent, ResourceAggregate, Timestamp};

    use super::*;

    fn quota(n: u64) -> PendingEvent {
        PendingEvent::new(
            Actor::User("alice".into()),
            Event::QuotaSet {
                role: aurora_events::Identifier::new("www").unwrap(),
                quota: ResourceAggregate {
                    cpus: 1.0,
                    ram_mb: n,
                    disk_mb: 1,
                },
            },
        )
    }

    async fn append(journal: &RocksJournal, n: u64) {
        let precondition = crate::Precondition::at_end(journal.term());
        let append = crate::Append::new(precondition, Timestamp(2), vec![quota(n)]);
        journal.append(append).await.unwrap();
    }

    #[tokio::test]
    async fn a_backup_restores_to_the_journal_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let journal =
            RocksJournal::initialise(dir.path().join("data"), "west", Timestamp(1)).unwrap();
        for n in 0..20 {
            append(&journal, n).await;
        }
        let backups = dir.path().join("backups");
        std::fs::create_dir(&backups).unwrap();
        let backup = backups.join("b1");
        assert_eq!(journal.backup(&backup).unwrap(), 21);
        // Written after the backup: not in it.
        append(&journal, 99).await;
        assert!(
            journal.backup(&backup).is_err(),
            "a backup is never overwritten"
        );
        let names: Vec<_> = std::fs::read_dir(&backups).unwrap().flatten().collect();
        assert_eq!(names.len(), 1, "no partial directory is left beside it");

        let restored = dir.path().join("restored");
        let (cluster, last) = RocksJournal::restore(&backup, &restored).unwrap();
        assert_eq!((cluster.as_str(), last), ("west", 21));
        let copy = RocksJournal::open(&restored).unwrap();
        let original = journal.read(crate::SeqRange::new(1, 21)).await.unwrap();
        assert_eq!(
            copy.read(crate::SeqRange::new(1, 30)).await.unwrap(),
            original
        );
        // The restored journal goes on from where the backup ended.
        append(&copy, 7).await;
        assert_eq!(copy.last_seq(), 22);
    }

    #[tokio::test]
    async fn restoring_refuses_what_is_not_a_backup_and_a_used_directory() {
        let dir = tempfile::tempdir().unwrap();
        let journal =
            RocksJournal::initialise(dir.path().join("data"), "west", Timestamp(1)).unwrap();
        let backup = dir.path().join("b");
        journal.backup(&backup).unwrap();
        let used = dir.path().join("used");
        std::fs::create_dir(&used).unwrap();
        std::fs::write(used.join("notes"), "mine").unwrap();
        assert!(matches!(
            RocksJournal::restore(&backup, &used),
            Err(Error::NotEmpty { .. })
        ));
        // A journal's own directory says so, rather than "holds no journal".
        let message = RocksJournal::restore(&backup, &dir.path().join("data"))
            .unwrap_err()
            .to_string();
        assert!(message.contains("holds a journal already"), "{message}");
        assert_eq!(std::fs::read_to_string(used.join("notes")).unwrap(), "mine");
        let message = RocksJournal::restore(&used, &dir.path().join("new"))
            .unwrap_err()
            .to_string();
        assert!(message.contains("is not a journal backup"), "{message}");
        assert!(!dir.path().join("new").exists());
    }
}
