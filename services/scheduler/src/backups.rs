//! Backups of the journal (Aurora's `-backup_dir`, `-backup_interval`, `-max_saved_backups`,
//! `scheduler_backup_now` and `scheduler_list_backups`).
//!
//! Each backup is a directory `scheduler-backup-YYYY-MM-DD-HH-MM-SS` in the backup directory,
//! holding the whole journal as it was (`RocksJournal::backup`): the history, not only the
//! state, so a restored scheduler still answers every past question. Backups are taken every
//! interval and on request, one at a time; the oldest beyond the number kept are removed.
//! Restoring is offline: `aurora-scheduler --restore-from BACKUP --data-dir NEW`.
//!
//! ```text
//! POST /api/v1/admin/backups   take one now (admin:backup)  → {"name", "last_seq"}
//! GET  /api/v1/admin/backups   the backups kept, oldest first → {"backups": [...]}
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use aurora_auth::Action;
use aurora_events::Seq;
use aurora_journal::RocksJournal;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

use crate::api::Failure;
use crate::auth::Caller;

/// What every backup directory's name starts with (Aurora's prefix).
pub const PREFIX: &str = "scheduler-backup-";

/// Where backups go, how many are kept, and the journal they copy.
#[derive(Debug)]
pub struct Backups {
    dir: PathBuf,
    keep: usize,
    journal: RocksJournal,
    /// One backup at a time: two at once would copy the same journal twice for nothing.
    taking: tokio::sync::Mutex<()>,
}

/// One backup taken.
#[derive(Debug, Clone, Serialize)]
pub struct Taken {
    pub name: String,
    /// The last seq the backup holds.
    pub last_seq: Seq,
}

impl Backups {
    /// Backups of `journal` in `dir` (created if missing), keeping the newest `keep`. Refuses a
    /// directory it cannot write in now rather than at the first backup; removes what backups
    /// cut short by a stopped process left; warns when `dir` is inside `data_dir`, whose
    /// disk's fate the backups would then share.
    pub fn new(
        dir: PathBuf,
        keep: usize,
        journal: RocksJournal,
        data_dir: &Path,
    ) -> anyhow::Result<Self> {
        if dir.exists() && !dir.is_dir() {
            anyhow::bail!("--backup-dir {} is not a directory", dir.display());
        }
        std::fs::create_dir_all(&dir).map_err(|e| {
            anyhow::anyhow!("cannot create the backup directory {}: {e}", dir.display())
        })?;
        let probe = dir.join(format!(".write-probe-{}", std::process::id()));
        std::fs::write(&probe, b"probe")
            .and_then(|()| std::fs::remove_file(&probe))
            .map_err(|e| {
                anyhow::anyhow!(
                    "cannot write in the backup directory {}: {e}",
                    dir.display()
                )
            })?;
        remove_partials(&dir);
        if let (Ok(backups), Ok(data)) = (dir.canonicalize(), data_dir.canonicalize())
            && backups.starts_with(&data)
        {
            tracing::warn!(
                "--backup-dir {} is inside --data-dir {}: the backups are lost with the data \
                 directory's disk; put them on another disk",
                dir.display(),
                data_dir.display()
            );
        }
        Ok(Self {
            dir,
            keep: keep.max(1),
            journal,
            taking: tokio::sync::Mutex::new(()),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Takes a backup now and removes the oldest beyond the number kept.
    pub async fn take(self: &Arc<Self>) -> Result<Taken, String> {
        let _one_at_a_time = self.taking.lock().await;
        let this = Arc::clone(self);
        tokio::task::spawn_blocking(move || this.take_blocking())
            .await
            .map_err(|e| format!("the backup stopped: {e}"))?
    }

    fn take_blocking(&self) -> Result<Taken, String> {
        // Made again if someone removed it while the scheduler ran.
        std::fs::create_dir_all(&self.dir).map_err(|e| {
            format!(
                "cannot create the backup directory {}: {e}",
                self.dir.display()
            )
        })?;
        let stamp = jiff::Timestamp::now()
            .strftime("%Y-%m-%d-%H-%M-%S")
            .to_string();
        // Two backups within one second (on request) get a suffix rather than fail.
        let name = (0..100)
            .map(|n| match n {
                0 => format!("{PREFIX}{stamp}"),
                n => format!("{PREFIX}{stamp}-{n}"),
            })
            .find(|name| !self.dir.join(name).exists())
            .ok_or_else(|| format!("too many backups named {PREFIX}{stamp}*"))?;
        let last_seq = self
            .journal
            .backup(&self.dir.join(&name))
            .map_err(|e| format!("backing up the journal into {}: {e}", self.dir.display()))?;
        let removed = self.prune(&name)?;
        tracing::info!(backup = %name, last_seq, removed, "journal backed up");
        Ok(Taken { name, last_seq })
    }

    /// The backups kept, oldest first: the directories named as backups are
    /// (`scheduler-backup-` and a time, maybe a suffix) that hold a whole journal. Anything
    /// else in the directory is neither listed nor ever removed.
    pub fn list(&self) -> Result<Vec<String>, String> {
        let entries = std::fs::read_dir(&self.dir)
            .map_err(|e| format!("cannot read {}: {e}", self.dir.display()))?;
        let mut names: Vec<(Stamp, String)> = entries
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter_map(|e| e.file_name().into_string().ok())
            .filter_map(|name| Some((backup_stamp(&name)?, name)))
            .filter(|(_, name)| aurora_journal::is_journal_dir(&self.dir.join(name)))
            .collect();
        names.sort();
        Ok(names.into_iter().map(|(_, name)| name).collect())
    }

    /// Removes the oldest backups beyond the number kept, never `taken` (the one just made,
    /// even if the clock went back since an older one); how many it removed.
    fn prune(&self, taken: &str) -> Result<usize, String> {
        let names = self.list()?;
        let excess = names.len().saturating_sub(self.keep);
        let mut removed = 0;
        for name in names.iter().filter(|name| *name != taken).take(excess) {
            let path = self.dir.join(name);
            std::fs::remove_dir_all(&path)
                .map_err(|e| format!("cannot remove the old backup {}: {e}", path.display()))?;
            removed += 1;
        }
        Ok(removed)
    }

    /// Takes a backup every `interval` until the process ends; a failure is logged and
    /// counted (`aurora_backup_failed_total`), and the next one is tried at the next interval.
    pub fn every(self: Arc<Self>, interval: Duration) {
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticks.tick().await; // The first tick is at once: the first backup waits one interval.
            loop {
                ticks.tick().await;
                match self.take().await {
                    Ok(_) => metrics::counter!("aurora_backup_success_total").increment(1),
                    Err(e) => {
                        metrics::counter!("aurora_backup_failed_total").increment(1);
                        tracing::error!("scheduled backup failed: {e}");
                    }
                }
            }
        });
    }
}

/// A backup name's time stamp and suffix, which order backups (`…-05` < `…-05-2` <
/// `…-05-10`).
type Stamp = (String, u32);

/// The stamp of a backup's name, `None` for a name that is not one:
/// `scheduler-backup-YYYY-MM-DD-HH-MM-SS`, optionally followed by `-N`.
fn backup_stamp(name: &str) -> Option<Stamp> {
    let rest = name.strip_prefix(PREFIX)?;
    let stamp = rest.get(..19)?;
    let shape_ok = stamp.char_indices().all(|(i, c)| match i {
        4 | 7 | 10 | 13 | 16 => c == '-',
        _ => c.is_ascii_digit(),
    });
    if !shape_ok {
        return None;
    }
    let suffix = match &rest[19..] {
        "" => 0,
        more => {
            let digits = more.strip_prefix('-')?;
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            digits.parse().ok()?
        }
    };
    Some((stamp.to_string(), suffix))
}

/// Removes what backups cut short by a stopped process left (`.scheduler-backup-…partial`,
/// and RocksDB's own `.tmp` beside it): called at start, when no backup is being made.
fn remove_partials(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(&format!(".{PREFIX}")) && name.contains(".partial") {
            let path = entry.path();
            let removed = if path.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
            match removed {
                Ok(()) => tracing::info!("removed {}, left by a backup cut short", path.display()),
                Err(e) => tracing::warn!("cannot remove {}: {e}", path.display()),
            }
        }
    }
}

/// The backup routes; without a backup directory they say how to get one.
pub fn router(backups: Option<Arc<Backups>>) -> Router {
    Router::new()
        .route("/api/v1/admin/backups", get(list).post(take_now))
        .with_state(backups)
}

fn configured(backups: Option<Arc<Backups>>) -> Result<Arc<Backups>, Failure> {
    backups.ok_or_else(|| {
        Failure::invalid(
            "this scheduler keeps no backups: start it with --backup-dir DIR (with replicas, \
             the leader takes the backups asked for)",
        )
    })
}

async fn take_now(
    State(backups): State<Option<Arc<Backups>>>,
    caller: Caller,
) -> Result<Json<Taken>, Failure> {
    caller.authorize(Action::AdminBackup, None)?;
    let backups = configured(backups)?;
    match backups.take().await {
        Ok(taken) => {
            metrics::counter!("aurora_backup_success_total").increment(1);
            Ok(Json(taken))
        }
        Err(e) => {
            metrics::counter!("aurora_backup_failed_total").increment(1);
            Err(Failure::internal(e))
        }
    }
}

#[derive(Debug, Serialize)]
struct Listed {
    dir: String,
    backups: Vec<String>,
}

async fn list(State(backups): State<Option<Arc<Backups>>>) -> Result<Json<Listed>, Failure> {
    let backups = configured(backups)?;
    let names = backups.list().map_err(Failure::internal)?;
    Ok(Json(Listed {
        dir: backups.dir().display().to_string(),
        backups: names,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_sort_by_time_then_suffix_and_others_are_not_backups() {
        let mut names = [
            format!("{PREFIX}2026-12-07-10-00-05-10"),
            format!("{PREFIX}2026-12-07-10-00-05-2"),
            format!("{PREFIX}2026-12-07-09-59-59"),
            format!("{PREFIX}2026-12-07-10-00-05"),
        ];
        names.sort_by_key(|name| backup_stamp(name));
        let suffixes: Vec<&str> = names.iter().map(|n| &n[PREFIX.len()..]).collect();
        assert_eq!(
            suffixes,
            [
                "2026-12-07-09-59-59",
                "2026-12-07-10-00-05",
                "2026-12-07-10-00-05-2",
                "2026-12-07-10-00-05-10"
            ]
        );
        for not_one in [
            "zzz",
            "pre-upgrade",
            "2026-12-07-10-00-05-",
            "2026-12-07-10-00-05x",
            "2026-12-07-10-00-05-2b",
            "2026-12-07 10:00:05",
        ] {
            assert_eq!(
                backup_stamp(&format!("{PREFIX}{not_one}")),
                None,
                "{not_one}"
            );
        }
    }

    #[tokio::test]
    async fn backups_beyond_the_number_kept_are_removed_oldest_first() {
        let dir = tempfile::tempdir().expect("tempdir");
        let journal =
            RocksJournal::initialise(dir.path().join("data"), "west", aurora_events::Timestamp(1))
                .expect("journal");
        let root = dir.path().join("backups");
        // Someone's directories named like backups, and one that sorts after every stamp:
        // neither listed nor removed, and never the reason a new backup goes.
        std::fs::create_dir_all(root.join(format!("{PREFIX}zzz"))).expect("mkdir");
        std::fs::create_dir_all(root.join(format!("{PREFIX}2999-01-01-00-00-00"))).expect("mkdir");
        // What a backup cut short left: removed at start.
        let partial = root.join(format!(".{PREFIX}2026-12-07-10-00-05.partial.tmp"));
        std::fs::create_dir_all(&partial).expect("mkdir");
        let data = dir.path().join("data");
        let backups = Arc::new(Backups::new(root.clone(), 2, journal, &data).expect("dir"));
        assert!(!partial.exists());
        let mut taken = Vec::new();
        for _ in 0..3 {
            taken.push(backups.take().await.expect("backup").name);
        }
        assert_eq!(backups.list().expect("list"), taken[1..]);
        assert!(!backups.dir().join(&taken[0]).exists());
        assert!(root.join(format!("{PREFIX}zzz")).is_dir());
        assert!(root.join(format!("{PREFIX}2999-01-01-00-00-00")).is_dir());
    }

    #[test]
    fn a_backup_directory_that_cannot_be_used_is_refused_at_start() {
        let dir = tempfile::tempdir().expect("tempdir");
        let journal =
            RocksJournal::initialise(dir.path().join("data"), "west", aurora_events::Timestamp(1))
                .expect("journal");
        let file = dir.path().join("a-file");
        std::fs::write(&file, "x").expect("write");
        let refused = Backups::new(file, 2, journal, dir.path()).expect_err("a file");
        assert!(
            refused.to_string().contains("is not a directory"),
            "{refused}"
        );
    }
}
