//! A RocksDB journal never opens with fewer events than it acknowledged: damage to its
//! write-ahead log (a flipped byte, a log cut short, a log removed) is refused with a message
//! naming the damage and the way out, and accepting a loss is an explicit act that leaves an
//! event on the record.

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value shown, which is what we want

use std::path::{Path, PathBuf};

use aurora_events::{Event, Timestamp};
use aurora_journal::conformance::{append, marker, now};
use aurora_journal::{Error, Journal, RocksJournal, SeqRange};

/// A journal with 3,000 acknowledged events in 300 appends, closed (its data still only in the
/// write-ahead log, as after a crash). Returns its path and last seq.
async fn journal_in_its_log(dir: &Path) -> (PathBuf, u64) {
    let path = dir.join("journal");
    let journal = RocksJournal::initialise(&path, "west", now()).unwrap();
    for batch in 0..300u32 {
        append(&journal, (0..10).map(|n| marker(batch, n)).collect())
            .await
            .unwrap();
    }
    let last = journal.last_seq();
    assert_eq!(last, 3001);
    drop(journal);
    (path, last)
}

/// The write-ahead log file holding the journal's events (the largest `*.log`).
fn wal(path: &Path) -> PathBuf {
    let mut logs: Vec<(u64, PathBuf)> = std::fs::read_dir(path)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .map(|p| (std::fs::metadata(&p).unwrap().len(), p))
        .collect();
    logs.sort();
    let (size, log) = logs.pop().expect("a write-ahead log");
    assert!(size > 100_000, "the events are in the log ({size} bytes)");
    log
}

#[tokio::test]
async fn a_byte_flipped_in_the_middle_of_the_log_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = journal_in_its_log(dir.path()).await;
    let log = wal(&path);
    let mut bytes = std::fs::read(&log).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    std::fs::write(&log, &bytes).unwrap();
    let err = RocksJournal::open(&path).unwrap_err();
    assert!(
        matches!(err, Error::Damaged(_) | Error::Truncated { .. }),
        "refused as damage, not served shorter: {err}"
    );
    let message = err.to_string();
    assert!(message.contains("restore"), "says the way out: {message}");
}

/// Cuts the journal's write-ahead log at `path` to half its length, as a disk that lost its
/// tail would.
fn cut_log_in_half(path: &std::path::Path) {
    let log = wal(path);
    let size = std::fs::metadata(&log).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&log)
        .unwrap()
        .set_len(size / 2)
        .unwrap();
}

#[tokio::test]
async fn a_log_cut_short_is_refused_until_the_loss_is_accepted_on_the_record() {
    let dir = tempfile::tempdir().unwrap();
    let (path, last) = journal_in_its_log(dir.path()).await;
    cut_log_in_half(&path);

    let err = RocksJournal::open(&path).unwrap_err();
    let Error::Truncated {
        acknowledged,
        found,
        ..
    } = err
    else {
        panic!("expected Truncated, got {err}");
    };
    assert_eq!(acknowledged, last);
    assert!(found < last && found > 1, "found {found}");
    assert!(err.to_string().contains("--accept-truncation"), "{err}");
    // --dev's open_or_initialise refuses too: the directory is not empty.
    assert!(matches!(
        RocksJournal::open_or_initialise(&path, "west", now()),
        Err(Error::Truncated { .. })
    ));

    // The operator accepts the loss: it is recorded, and the journal opens from then on.
    let lost = RocksJournal::accept_truncation(&path, now(), "the log was cut short").unwrap();
    assert_eq!(lost, Some(SeqRange::new(found + 1, acknowledged)));
    let journal = RocksJournal::open(&path).unwrap();
    assert_eq!(journal.last_seq(), found + 1);
    let record = journal
        .read(SeqRange::new(found + 1, found + 1))
        .await
        .unwrap();
    assert_eq!(
        record[0].event,
        Event::JournalTruncationAccepted {
            acknowledged,
            found,
            reason: "the log was cut short".into(),
        }
    );
    // A journal that lost nothing has nothing to accept.
    drop(journal);
    assert_eq!(
        RocksJournal::accept_truncation(&path, now(), "again").unwrap(),
        None
    );
}

#[tokio::test]
async fn a_removed_log_is_refused_not_started_empty() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = journal_in_its_log(dir.path()).await;
    std::fs::remove_file(wal(&path)).unwrap();
    let err = RocksJournal::open(&path).unwrap_err();
    assert!(
        matches!(err, Error::Damaged(_) | Error::Truncated { .. }),
        "not NotInitialised, not an empty journal: {err}"
    );
    assert!(matches!(
        RocksJournal::open_or_initialise(&path, "west", Timestamp(0)),
        Err(Error::Damaged(_) | Error::Truncated { .. })
    ));
}

/// A replica's journal that was being streamed envelopes when it stopped drops those after
/// the seq it keeps: the envelopes and the time index that named them go, and the journal
/// goes on from there with an unbroken hash chain.
#[tokio::test]
async fn envelopes_dropped_after_a_seq_leave_a_journal_that_goes_on_from_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal");
    let replayable = aurora_journal::Durability::Replayable;
    let first = aurora_journal::initial_event("west");
    let journal =
        RocksJournal::initialise_durable(&path, first, Timestamp(1_000), replayable).unwrap();
    for (batch, at) in [(0u32, 2_000), (1, 3_000), (2, 4_000)] {
        let events = (0..2).map(|n| marker(batch, n)).collect();
        let precondition = aurora_journal::Precondition::at_end(journal.term());
        let appended = aurora_journal::Append::new(precondition, Timestamp(at), events);
        journal.append(appended).await.unwrap();
    }
    assert_eq!(journal.last_seq(), 7);
    drop(journal);

    assert_eq!(RocksJournal::drop_after(&path, 3).unwrap(), 4);
    assert_eq!(
        RocksJournal::drop_after(&path, 5).unwrap(),
        0,
        "ends before 5"
    );
    let journal = RocksJournal::open_durable(&path, replayable).unwrap();
    assert_eq!(journal.last_seq(), 3);
    assert_eq!(journal.seq_at(Timestamp(3_500)).await.unwrap(), Some(3));
    append(&journal, vec![marker(9, 0)]).await.unwrap();
    let all = journal.read(SeqRange::new(1, 4)).await.unwrap();
    let mut chain = aurora_events::ChainCheck::default();
    for envelope in &all {
        chain.check(envelope).unwrap();
    }
    assert_eq!(all.last().map(|e| e.seq), Some(4));
}

/// With its acknowledgement mark removed too, a journal cut short cannot tell what it lost:
/// it is refused (naming the missing mark and the way out), never served as if whole; the
/// operator's --accept-truncation opens it as it is, and it keeps a mark from then on.
#[tokio::test]
async fn a_log_cut_short_with_its_mark_removed_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (path, last) = journal_in_its_log(dir.path()).await;
    cut_log_in_half(&path);
    std::fs::remove_file(path.join("AURORA-ACKNOWLEDGED")).unwrap();

    let err = RocksJournal::open(&path).unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, Error::Damaged(_)), "{message}");
    assert!(
        message.contains("AURORA-ACKNOWLEDGED") && message.contains("--accept-truncation"),
        "{message}"
    );
    assert!(RocksJournal::open_or_initialise(&path, "west", now()).is_err());
    RocksJournal::accept_truncation(&path, now(), "the mark was removed").unwrap();
    let journal = RocksJournal::open(&path).unwrap();
    assert!(journal.last_seq() < last);
    drop(journal);
    assert!(path.join("AURORA-ACKNOWLEDGED").exists());
}

/// The journal's table files (`*.sst`), largest first.
fn tables(path: &Path) -> Vec<PathBuf> {
    let mut tables: Vec<(u64, PathBuf)> = std::fs::read_dir(path)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "sst"))
        .map(|p| (std::fs::metadata(&p).unwrap().len(), p))
        .collect();
    tables.sort();
    tables.into_iter().rev().map(|(_, p)| p).collect()
}

#[tokio::test]
async fn a_damaged_table_file_is_damage_with_the_way_out_not_a_passing_storage_failure() {
    let dir = tempfile::tempdir().unwrap();
    let (path, last) = journal_in_its_log(dir.path()).await;
    // Opening again moves the log's events into a table file.
    drop(RocksJournal::open(&path).unwrap());
    let table = tables(&path).into_iter().next().expect("a table file");
    let mut bytes = std::fs::read(&table).unwrap();
    assert!(
        bytes.len() > 50_000,
        "the events are in {}",
        table.display()
    );
    let middle = bytes.len() / 3;
    bytes[middle] ^= 0x40;
    std::fs::write(&table, &bytes).unwrap();
    // Found on opening, or on reading the events.
    let err = match RocksJournal::open(&path) {
        Err(err) => err,
        Ok(journal) => journal
            .read(SeqRange::new(1, last))
            .await
            .expect_err("a block whose checksum does not match cannot be read"),
    };
    assert!(
        matches!(err, Error::Damaged(_) | Error::Corrupt(_)),
        "damage, which says stop, not a storage failure to retry: {err:?}"
    );
    assert!(err.to_string().contains("--restore-from"), "{err}");
}
