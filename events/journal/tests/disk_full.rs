//! A full disk leaves the journal up: appends are refused with an error saying the disk is
//! full (never an abort inside RocksDB), and resume by themselves once space is freed, with
//! every acknowledged event kept. Runs on a small tmpfs (the tests run as root).

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value shown, which is what we want

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use aurora_journal::conformance::{append, marker, now};
use aurora_journal::{Error, Journal, RocksJournal, SeqRange};

/// A tmpfs of `mib` MiB mounted on a fresh directory, unmounted when dropped.
struct Tmpfs {
    _dir: tempfile::TempDir,
    mount: PathBuf,
}

impl Tmpfs {
    fn new(mib: u64) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mount = dir.path().join("disk");
        std::fs::create_dir(&mount).unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(&mount)
            .status()
            .unwrap();
        assert!(
            status.success(),
            "mounting a tmpfs failed: this test needs root (the tests run as root)"
        );
        Self { _dir: dir, mount }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.mount).status();
    }
}

fn free_mib(path: &Path) -> u64 {
    let fs = nix::sys::statvfs::statvfs(path).unwrap();
    (fs.blocks_available() * fs.fragment_size()) >> 20
}

/// Fills `disk` with a file until less than `left` MiB is free; returns the file.
fn fill(disk: &Path, left: u64) -> PathBuf {
    let filler = disk.join("filler");
    let mut file = std::fs::File::create(&filler).unwrap();
    let chunk = vec![0u8; 1 << 20];
    while free_mib(disk) >= left {
        if file.write_all(&chunk).is_err() {
            break;
        }
    }
    filler
}

#[tokio::test]
async fn a_full_disk_refuses_appends_and_recovers_when_space_returns() {
    let disk = Tmpfs::new(256);
    let path = disk.mount.join("journal");
    let journal = RocksJournal::initialise(&path, "west", now()).unwrap();
    for n in 0..100 {
        append(&journal, vec![marker(0, n)]).await.unwrap();
    }
    let acknowledged = journal.last_seq();

    let filler = fill(&disk.mount, 4);
    let refused = append(&journal, vec![marker(1, 0)]).await.unwrap_err();
    assert!(matches!(refused, Error::Storage(_)), "{refused}");
    assert!(refused.to_string().contains("is full"), "{refused}");
    // The probe saw RocksDB abort the process about 5 s after the first failed write: keep
    // trying for longer than that.
    let until = Instant::now() + Duration::from_secs(7);
    while Instant::now() < until {
        assert!(append(&journal, vec![marker(1, 0)]).await.is_err());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(journal.last_seq(), acknowledged, "nothing half-written");

    // Space returns: writes resume by themselves, and everything acknowledged is there.
    std::fs::remove_file(filler).unwrap();
    let range = append(&journal, vec![marker(2, 0)]).await.unwrap();
    assert_eq!(range, SeqRange::new(acknowledged + 1, acknowledged + 1));
    drop(journal);
    let journal = RocksJournal::open(&path).unwrap();
    assert_eq!(journal.last_seq(), acknowledged + 1);
    let all = journal
        .read(SeqRange::new(1, journal.last_seq()))
        .await
        .unwrap();
    assert_eq!(all.len() as u64, acknowledged + 1);
}
