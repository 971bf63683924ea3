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
    /// Backups of `journal` in `dir` (created if missing), keeping the newest `keep`.
    pub fn new(dir: PathBuf, keep: usize, journal: RocksJournal) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&dir).map_err(|e| {
            anyhow::anyhow!("cannot create the backup directory {}: {e}", dir.display())
        })?;
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
        let removed = self.prune()?;
        tracing::info!(backup = %name, last_seq, removed, "journal backed up");
        Ok(Taken { name, last_seq })
    }

    /// The backups kept, oldest first (their names sort by time).
    pub fn list(&self) -> Result<Vec<String>, String> {
        let entries = std::fs::read_dir(&self.dir)
            .map_err(|e| format!("cannot read {}: {e}", self.dir.display()))?;
        let mut names: Vec<String> = entries
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|name| name.starts_with(PREFIX))
            .collect();
        names.sort_by_key(|name| backup_order(name));
        Ok(names)
    }

    /// Removes the oldest backups beyond the number kept; how many it removed.
    fn prune(&self) -> Result<usize, String> {
        let names = self.list()?;
        let excess = names.len().saturating_sub(self.keep);
        for name in &names[..excess] {
            let path = self.dir.join(name);
            std::fs::remove_dir_all(&path)
                .map_err(|e| format!("cannot remove the old backup {}: {e}", path.display()))?;
        }
        Ok(excess)
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

/// Names sort by their time stamp, then by their suffix as a number (`…-05`, `…-05-2`,
/// `…-05-10`).
fn backup_order(name: &str) -> (String, u32) {
    let stamp_len = PREFIX.len() + "YYYY-MM-DD-HH-MM-SS".len();
    let (stamp, suffix) = name.split_at(stamp_len.min(name.len()));
    let suffix = suffix.trim_start_matches('-').parse().unwrap_or(0);
    (stamp.to_string(), suffix)
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
    fn names_sort_by_time_then_suffix() {
        let mut names = [
            format!("{PREFIX}2026-12-07-10-00-05-10"),
            format!("{PREFIX}2026-12-07-10-00-05-2"),
            format!("{PREFIX}2026-12-07-09-59-59"),
            format!("{PREFIX}2026-12-07-10-00-05"),
        ];
        names.sort_by_key(|name| backup_order(name));
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
    }

    #[tokio::test]
    async fn backups_beyond_the_number_kept_are_removed_oldest_first() {
        let dir = tempfile::tempdir().expect("tempdir");
        let journal =
            RocksJournal::initialise(dir.path().join("data"), "west", aurora_events::Timestamp(1))
                .expect("journal");
        let backups = Arc::new(Backups::new(dir.path().join("backups"), 2, journal).expect("dir"));
        let mut taken = Vec::new();
        for _ in 0..3 {
            taken.push(backups.take().await.expect("backup").name);
        }
        assert_eq!(backups.list().expect("list"), taken[1..]);
        assert!(!backups.dir().join(&taken[0]).exists());
    }
}
