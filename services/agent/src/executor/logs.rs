//! Capture of a process's stdout and stderr.
//!
//! Layout: `<sandbox>/.logs/<process>/<run>/stdout` and `.../stderr`, `run` counting from 0
//! (as Thermos does), so every run's output is kept and the observer can list runs. With
//! `logger.rotate`, a file that reaches `log_size_mb` is renamed `stdout.1` (older backups
//! shift to `.2`, `.3`, …; the oldest beyond `backups` is deleted) and a fresh `stdout` is
//! started, so each file holds at most `log_size_mb` MiB. `console` copies the output to the
//! executor's own stdout/stderr; `both` does both; `none` discards it (the child gets
//! `/dev/null`).
//!
//! A pump never stops reading because a write failed: a child blocked on a full pipe would
//! look hung, so on a write error the file is dropped (logged once) and reading goes on.

use std::io;
use std::path::{Path, PathBuf};

use aurora_events::config::{LogDestination, Logger};
use tokio::fs::{File, OpenOptions};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinHandle;

/// Which of the child's streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    pub(crate) fn file_name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// Where one stream of one run goes.
#[derive(Debug)]
pub(crate) struct LogSink {
    file: Option<RotatingFile>,
    console: Option<Stream>,
}

impl LogSink {
    /// `None` when the logger discards output.
    pub(crate) async fn open(
        dir: &Path,
        stream: Stream,
        logger: &Logger,
    ) -> io::Result<Option<Self>> {
        let (to_file, to_console) = match logger.destination {
            LogDestination::File => (true, false),
            LogDestination::Console => (false, true),
            LogDestination::Both => (true, true),
            LogDestination::None => return Ok(None),
        };
        let file = if to_file {
            let limit = logger
                .rotate
                .map(|r| (r.log_size_mb.saturating_mul(1024 * 1024), r.backups))
                .filter(|(bytes, _)| *bytes > 0);
            Some(RotatingFile::create(dir.join(stream.file_name()), limit).await?)
        } else {
            None
        };
        Ok(Some(Self {
            file,
            console: to_console.then_some(stream),
        }))
    }

    async fn write(&mut self, buf: &[u8]) {
        if let Some(file) = &mut self.file {
            if let Err(e) = file.write(buf).await {
                tracing::warn!(path = %file.path.display(), error = %e, "log write failed; dropping this log file");
                self.file = None;
            }
        }
        // Console output is best effort: the executor's own stdout may be closed.
        match self.console {
            Some(Stream::Stdout) => {
                let _ = tokio::io::stdout().write_all(buf).await;
            }
            Some(Stream::Stderr) => {
                let _ = tokio::io::stderr().write_all(buf).await;
            }
            None => {}
        }
    }

    async fn flush(&mut self) {
        if let Some(file) = &mut self.file {
            let _ = file.file.flush().await;
        }
    }
}

/// Copies `reader` into `sink` until end of file. The handle ends when the pipe closes, which
/// may be long after the child exited if it left descendants holding the pipe.
pub(crate) fn pump<R>(mut reader: R, mut sink: LogSink) -> JoinHandle<()>
where
    R: AsyncRead + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match reader.read(&mut buf).await {
                Ok(0) => break,
                Ok(n) => {
                    sink.write(&buf[..n]).await;
                    sink.flush().await;
                }
                Err(e) => {
                    tracing::debug!(error = %e, "log pipe read failed");
                    break;
                }
            }
        }
        sink.flush().await;
    })
}

#[derive(Debug)]
struct RotatingFile {
    path: PathBuf,
    file: File,
    written: u64,
    /// `(max bytes per file, backups kept)`; `None` = one growing file.
    limit: Option<(u64, u32)>,
}

impl RotatingFile {
    async fn create(path: PathBuf, limit: Option<(u64, u32)>) -> io::Result<Self> {
        let file = open_truncated(&path).await?;
        Ok(Self {
            path,
            file,
            written: 0,
            limit,
        })
    }

    async fn write(&mut self, mut buf: &[u8]) -> io::Result<()> {
        let Some((max, _)) = self.limit else {
            self.file.write_all(buf).await?;
            self.written += buf.len() as u64;
            return Ok(());
        };
        while !buf.is_empty() {
            if self.written >= max {
                self.rotate().await?;
            }
            let room = usize::try_from(max - self.written).unwrap_or(usize::MAX);
            let n = room.min(buf.len());
            self.file.write_all(&buf[..n]).await?;
            self.written += n as u64;
            buf = &buf[n..];
        }
        Ok(())
    }

    async fn rotate(&mut self) -> io::Result<()> {
        let backups = self.limit.map_or(0, |(_, b)| b);
        self.file.flush().await?;
        if backups > 0 {
            let _ = tokio::fs::remove_file(backup_path(&self.path, backups)).await;
            for i in (1..backups).rev() {
                let from = backup_path(&self.path, i);
                if tokio::fs::try_exists(&from).await.unwrap_or(false) {
                    tokio::fs::rename(&from, backup_path(&self.path, i + 1)).await?;
                }
            }
            tokio::fs::rename(&self.path, backup_path(&self.path, 1)).await?;
        }
        self.file = open_truncated(&self.path).await?;
        self.written = 0;
        Ok(())
    }
}

fn backup_path(path: &Path, n: u32) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

async fn open_truncated(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .open(path)
        .await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use aurora_events::config::LogRotation;

    #[tokio::test]
    async fn rotation_keeps_at_most_backups_files_of_at_most_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let logger = Logger {
            destination: LogDestination::File,
            rotate: Some(LogRotation {
                log_size_mb: 1,
                backups: 2,
            }),
        };
        let mut sink = LogSink::open(dir.path(), Stream::Stdout, &logger)
            .await
            .unwrap()
            .unwrap();
        let mb = 1024 * 1024;
        sink.write(&vec![b'x'; 3 * mb + 10]).await;
        sink.flush().await;
        let size = |name: &str| {
            std::fs::metadata(dir.path().join(name))
                .map(|m| m.len())
                .ok()
        };
        assert_eq!(size("stdout"), Some(10));
        assert_eq!(size("stdout.1"), Some(mb as u64));
        assert_eq!(size("stdout.2"), Some(mb as u64));
        assert_eq!(size("stdout.3"), None);
    }
}
