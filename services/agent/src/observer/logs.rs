//! Reading what the executor wrote: `<sandbox>/.logs/<process>/<run>/{stdout,stderr}` (rotated
//! backups `stdout.1`... sit beside them; the observer serves the live file). Every name is
//! opened through the task's [`Sandbox`] (a task can replace its logs with symlinks or FIFOs).
//! Reads are bounded (`tail`) because logs can be hundreds of MiB; only an explicit download
//! sends a whole file, and both are streamed (`body.rs`).

use std::ops::Range;
use std::path::Path;

use super::ObserverError;
use super::paths::relative_path;
use super::sandbox::{Kind, OpenFile, Opened, Sandbox};

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
/// Entries that are not a run number in its plain decimal form are ignored. `process` must
/// already be validated.
pub fn runs(sandbox: &Sandbox, process: &str) -> Result<Vec<u32>, ObserverError> {
    let relative = Path::new(LOGS_DIR).join(process);
    let Opened::Dir(dir) = sandbox.open_entry(&relative)? else {
        return Ok(Vec::new());
    };
    let mut runs: Vec<u32> = sandbox
        .list(dir, &relative)?
        .into_iter()
        .filter(|entry| entry.kind == Some(Kind::Dir))
        .filter_map(|entry| {
            let name = entry.name.to_str()?;
            let run: u32 = name.parse().ok()?;
            // `+1` or `01` would name a directory other than the `1` we would open.
            (run.to_string() == name).then_some(run)
        })
        .collect();
    runs.sort_unstable();
    Ok(runs)
}

/// The processes that left logs in the sandbox, by name, with their number of runs (the
/// latest run + 1; 0 when the directory has no run yet). Empty when there is no `.logs/`.
pub fn processes_from_logs(sandbox: &Sandbox) -> Result<Vec<(String, u32)>, ObserverError> {
    let logs = Path::new(LOGS_DIR);
    let dir = match sandbox.open_entry(logs) {
        Ok(Opened::Dir(dir)) => dir,
        Ok(Opened::File(_)) | Err(ObserverError::NotFound(_)) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut processes = Vec::new();
    for entry in sandbox.list(dir, logs)? {
        let Ok(name) = entry.name.into_string() else {
            continue; // not UTF-8: cannot be named in a URL we produce
        };
        if entry.kind != Some(Kind::Dir) || super::paths::validate_process(&name).is_err() {
            continue;
        }
        let latest = runs(sandbox, &name)?.last().copied();
        processes.push((name, latest.map_or(0, |run| run.saturating_add(1))));
    }
    processes.sort();
    Ok(processes)
}

/// The log file of `process`'s `run` (default: the latest) on `stream`, opened for reading.
pub fn log_file(
    sandbox: &Sandbox,
    process: &str,
    stream: LogStream,
    run: Option<u32>,
) -> Result<(u32, OpenFile), ObserverError> {
    let run = match run {
        Some(run) => run,
        None => runs(sandbox, process)?
            .last()
            .copied()
            .ok_or_else(|| ObserverError::NotFound(format!("{LOGS_DIR}/{process}/<run>")))?,
    };
    let relative = format!("{LOGS_DIR}/{process}/{run}/{}", stream.file_name());
    match sandbox.open_entry(&relative_path(&relative)?)? {
        Opened::File(file) => Ok((run, file)),
        Opened::Dir(_) => Err(ObserverError::NotFound(relative)),
    }
}

/// The byte range of a file of `len` bytes holding its last `tail` bytes (all of it when
/// shorter).
pub fn tail_range(len: u64, tail: u64) -> Range<u64> {
    len.saturating_sub(tail)..len
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

    /// `<tmp>/sandboxes/t`, opened.
    fn sandbox() -> (tempfile::TempDir, std::path::PathBuf, Sandbox) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("sandboxes/t");
        std::fs::create_dir_all(&root).unwrap();
        let sandbox = Sandbox::open(&dir.path().join("sandboxes"), "t")
            .unwrap()
            .unwrap();
        (dir, root, sandbox)
    }

    #[test]
    fn latest_run_is_the_highest_numbered_directory() {
        let (_dir, root, sandbox) = sandbox();
        for run in [0, 2, 10] {
            write(
                &root.join(format!(".logs/web/{run}/stdout")),
                &format!("run {run}\n"),
            );
        }
        for not_a_run in ["notes", "+3", "011"] {
            std::fs::create_dir_all(root.join(".logs/web").join(not_a_run)).unwrap();
        }
        assert_eq!(runs(&sandbox, "web").unwrap(), vec![0, 2, 10]);
        let (run, mut open) = log_file(&sandbox, "web", LogStream::Stdout, None).unwrap();
        assert_eq!(run, 10);
        let mut text = String::new();
        std::io::Read::read_to_string(&mut open.file, &mut text).unwrap();
        assert_eq!((text.as_str(), open.len), ("run 10\n", 7));
        assert_eq!(
            processes_from_logs(&sandbox).unwrap(),
            vec![("web".to_string(), 11)]
        );
        assert_eq!(
            log_file(&sandbox, "web", LogStream::Stderr, Some(0)).map(|(run, _)| run),
            Err(ObserverError::NotFound(".logs/web/0/stderr".into()))
        );
    }

    #[test]
    fn no_logs_directory_means_no_processes() {
        let (_dir, _root, sandbox) = sandbox();
        assert_eq!(processes_from_logs(&sandbox).unwrap(), vec![]);
    }

    #[test]
    fn a_tail_is_the_last_bytes_only() {
        assert_eq!(tail_range(10, 4), 6..10);
        assert_eq!(tail_range(10, 100), 0..10);
        assert_eq!(tail_range(10, 0), 10..10);
        assert_eq!(tail_range(0, 5), 0..0);
    }
}
