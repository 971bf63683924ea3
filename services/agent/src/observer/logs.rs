//! Reading what the executor wrote: `<sandbox>/.logs/<process>/<run>/{stdout,stderr}` (rotated
//! backups `stdout.1`... sit beside them; the observer serves the live file). Reads are bounded
//! (`tail`) because logs can be hundreds of MiB; only an explicit download reads a whole file.

use std::io::SeekFrom;
use std::path::{Path, PathBuf};

use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::ObserverError;
use super::paths::{relative_path, resolve};

/// Bytes served from the end of a file when the request does not say (`?tail=`).
pub const DEFAULT_TAIL: u64 = 64 * 1024;
/// The most a `?tail=` may ask for; more is clamped (use `?download=true` for whole files).
pub const MAX_TAIL: u64 = 16 * 1024 * 1024;

/// The directory under the sandbox that holds every process's logs.
pub const LOGS_DIR: &str = ".logs";

/// Which of a run's two log files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogStream {
    Stdout,
    Stderr,
}

impl LogStream {
    pub fn parse(text: &str) -> Result<Self, ObserverError> {
        match text {
            "stdout" => Ok(LogStream::Stdout),
            "stderr" => Ok(LogStream::Stderr),
            other => Err(ObserverError::InvalidStream(other.to_string())),
        }
    }

    pub fn file_name(self) -> &'static str {
        match self {
            LogStream::Stdout => "stdout",
            LogStream::Stderr => "stderr",
        }
    }
}

/// The runs of `process` that have a log directory, ascending (`.logs/<process>/<run>`).
/// Non-numeric entries are ignored. `process` must already be validated.
pub fn runs(sandbox: &Path, process: &str) -> Result<Vec<u32>, ObserverError> {
    let dir = resolve(sandbox, &Path::new(LOGS_DIR).join(process))?;
    let mut runs: Vec<u32> = read_dir_names(&dir)?
        .into_iter()
        .filter_map(|(name, is_dir)| if is_dir { name.parse().ok() } else { None })
        .collect();
    runs.sort_unstable();
    Ok(runs)
}

/// The processes that left logs in the sandbox, by name, with their number of runs (the
/// latest run + 1; 0 when the directory has no run yet). Empty when there is no `.logs/`.
pub fn processes_from_logs(sandbox: &Path) -> Result<Vec<(String, u32)>, ObserverError> {
    let dir = match resolve(sandbox, Path::new(LOGS_DIR)) {
        Ok(dir) => dir,
        Err(ObserverError::NotFound(_)) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut processes = Vec::new();
    for (name, is_dir) in read_dir_names(&dir)? {
        if !is_dir || super::paths::validate_process(&name).is_err() {
            continue;
        }
        let latest = runs(sandbox, &name)?.last().copied();
        processes.push((name, latest.map_or(0, |run| run.saturating_add(1))));
    }
    processes.sort();
    Ok(processes)
}

/// The log file of `process`'s `run` (default: the latest) on `stream`, resolved safely.
pub fn log_file(
    sandbox: &Path,
    process: &str,
    stream: LogStream,
    run: Option<u32>,
) -> Result<(u32, PathBuf), ObserverError> {
    let run = match run {
        Some(run) => run,
        None => runs(sandbox, process)?
            .last()
            .copied()
            .ok_or_else(|| ObserverError::NotFound(format!("{LOGS_DIR}/{process}/<run>")))?,
    };
    let relative = format!("{LOGS_DIR}/{process}/{run}/{}", stream.file_name());
    let path = resolve(sandbox, &relative_path(&relative)?)?;
    if path.is_file() {
        Ok((run, path))
    } else {
        Err(ObserverError::NotFound(relative))
    }
}

/// The last `tail` bytes of the file at `path` (all of it when shorter).
pub async fn read_tail(path: &Path, tail: u64) -> Result<Vec<u8>, ObserverError> {
    let io = |e: std::io::Error| ObserverError::Io(format!("reading {}: {e}", path.display()));
    let mut file = tokio::fs::File::open(path).await.map_err(io)?;
    let len = file.metadata().await.map_err(io)?.len();
    let start = len.saturating_sub(tail);
    file.seek(SeekFrom::Start(start)).await.map_err(io)?;
    let mut bytes = Vec::with_capacity(usize::try_from(len - start).unwrap_or(0));
    // `take`: a file still being written must not make the read unbounded.
    file.take(tail).read_to_end(&mut bytes).await.map_err(io)?;
    Ok(bytes)
}

/// The whole file at `path`.
pub async fn read_all(path: &Path) -> Result<Vec<u8>, ObserverError> {
    tokio::fs::read(path)
        .await
        .map_err(|e| ObserverError::Io(format!("reading {}: {e}", path.display())))
}

/// `(name, is_dir)` of a directory's entries; symlinks count as what they point to.
fn read_dir_names(dir: &Path) -> Result<Vec<(String, bool)>, ObserverError> {
    let io = |e: std::io::Error| ObserverError::Io(format!("listing {}: {e}", dir.display()));
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let Ok(name) = entry.file_name().into_string() else {
            continue; // not UTF-8: cannot be named in a URL we produce
        };
        let is_dir = entry.path().is_dir();
        names.push((name, is_dir));
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use pretty_assertions::assert_eq;

    use super::*;

    fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn latest_run_is_the_highest_numbered_directory() {
        let dir = tempfile::tempdir().unwrap();
        for run in [0, 2, 10] {
            write(
                &dir.path().join(format!(".logs/web/{run}/stdout")),
                &format!("run {run}\n"),
            );
        }
        std::fs::create_dir_all(dir.path().join(".logs/web/notes")).unwrap();
        assert_eq!(runs(dir.path(), "web").unwrap(), vec![0, 2, 10]);
        let (run, path) = log_file(dir.path(), "web", LogStream::Stdout, None).unwrap();
        assert_eq!(run, 10);
        assert_eq!(std::fs::read_to_string(path).unwrap(), "run 10\n");
        assert_eq!(
            processes_from_logs(dir.path()).unwrap(),
            vec![("web".to_string(), 11)]
        );
        assert_eq!(
            log_file(dir.path(), "web", LogStream::Stderr, Some(0)),
            Err(ObserverError::NotFound(".logs/web/0/stderr".into()))
        );
    }

    #[test]
    fn no_logs_directory_means_no_processes() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(processes_from_logs(dir.path()).unwrap(), vec![]);
    }

    #[tokio::test]
    async fn tail_reads_the_last_bytes_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, "0123456789").unwrap();
        assert_eq!(read_tail(&path, 4).await.unwrap(), b"6789");
        assert_eq!(read_tail(&path, 100).await.unwrap(), b"0123456789");
        assert_eq!(read_tail(&path, 0).await.unwrap(), b"");
    }
}
