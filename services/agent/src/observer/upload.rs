//! `PUT /tasks/{task}/files/{*path}`: a file copied into a running task's sandbox, for
//! `aurora task scp LOCAL KEY/N:PATH` (copies out read `GET .../browse/PATH?download=true`).
//!
//! The path is checked lexically (`paths.rs`: no `..`, not absolute), its directory is opened
//! beneath the sandbox's descriptor (`openat2(RESOLVE_BENEATH)`, so a directory swapped for a
//! symlink out of the sandbox is refused by the kernel), and the bytes go to a new file
//! created there with `O_EXCL` (which never follows a symlink), renamed over the target once
//! complete. So a write never goes through a symlink the task planted (a symlink at the target
//! is replaced, not followed), a reader never sees half a file, and a failed or abandoned
//! upload leaves nothing behind (its temporary file is removed, from `Drop` if need be).
//!
//! The body is streamed to disk in chunks of up to [`CHUNK`] bytes on the observer's file
//! threads, and refused past [`MAX_UPLOAD`] bytes (413, from `Content-Length` before anything
//! is written when the client sends one). The file gets `?mode=` (octal, permission bits only;
//! default 0644), as scp gives a new file its source's mode.

use std::ffi::OsString;
use std::fs::File;
use std::os::fd::OwnedFd;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Extension;
use axum::Json;
use axum::body::Body;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderMap, header};
use futures::StreamExt;
use nix::errno::Errno;
use nix::fcntl::{OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::Mode;
use nix::unistd::UnlinkatFlags;
use serde::{Deserialize, Serialize};

use super::auth::Caller;
use super::body::CHUNK;
use super::exec::role_of;
use super::paths::{relative_path, validate_task_id};
use super::pool::FsPool;
use super::sandbox::{Sandbox, lookup_error, openat2};
use super::{ObserverError, ObserverState};

/// The largest file accepted by default (`ObserverState::with_max_upload` changes it).
pub const MAX_UPLOAD: u64 = 256 * 1024 * 1024;

/// The mode of a file sent without `?mode=`.
const DEFAULT_MODE: u32 = 0o644;

/// How long a refused upload's body is read (and dropped) before the refusal is sent.
const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(30);

/// Tries at a free temporary name (a task could have taken the first ones).
const NAME_TRIES: usize = 8;

/// `PUT`'s answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Uploaded {
    /// Relative to the sandbox.
    pub path: String,
    pub size: u64,
}

#[derive(Debug, Default, Deserialize)]
pub struct UploadParams {
    /// Octal permission bits, e.g. `0755`.
    mode: Option<String>,
}

/// The handler.
pub async fn put_file(
    State(state): State<ObserverState>,
    Extension(caller): Extension<Caller>,
    UrlPath((task, raw)): UrlPath<(String, String)>,
    Query(params): Query<UploadParams>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Uploaded>, ObserverError> {
    let max = state.max_upload;
    let announced = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|len| len > max) {
        return Err(ObserverError::TooLarge { max });
    }
    let checked = match check(&state, &caller, &task, &raw, params.mode.as_deref()) {
        Ok(checked) => checked,
        Err(error) => return Err(refuse_after_reading(body, max, error).await),
    };
    let Checked {
        parent,
        name,
        mode,
        shown,
    } = checked;
    let (sandboxes, task_name) = (state.sandboxes.clone(), task.clone());
    let staged = match state
        .pool
        .run(move || stage(&sandboxes, &task_name, &parent))
        .await
    {
        Ok(staged) => staged,
        Err(error) => return Err(refuse_after_reading(body, max, error).await),
    };
    let mut staged = Guard {
        staged: Some(staged),
        pool: Arc::clone(&state.pool),
    };
    let mut size: u64 = 0;
    let mut pending: Vec<u8> = Vec::with_capacity(CHUNK);
    let mut frames = body.into_data_stream();
    while let Some(frame) = frames.next().await {
        let frame =
            frame.map_err(|e| ObserverError::BadRequest(format!("the upload was cut off: {e}")))?;
        size += frame.len() as u64;
        if size > max {
            return Err(ObserverError::TooLarge { max });
        }
        pending.extend_from_slice(&frame);
        if pending.len() >= CHUNK {
            let chunk = std::mem::replace(&mut pending, Vec::with_capacity(CHUNK));
            staged.write(size - chunk.len() as u64, chunk).await?;
        }
    }
    if !pending.is_empty() {
        staged.write(size - pending.len() as u64, pending).await?;
    }
    staged.commit(name, mode, shown.clone()).await?;
    tracing::info!(%task, path = %shown, size, "observer: file received");
    Ok(Json(Uploaded { path: shown, size }))
}

/// What a `PUT` asks for, checked before its body is read.
#[derive(Debug)]
struct Checked {
    /// The directory to write in, relative to the sandbox.
    parent: PathBuf,
    name: OsString,
    mode: u32,
    /// The path, for messages and the answer.
    shown: String,
}

/// The URL's path and parameters, and the caller's right to write into the task's sandbox.
fn check(
    state: &ObserverState,
    caller: &Caller,
    task: &str,
    raw: &str,
    mode: Option<&str>,
) -> Result<Checked, ObserverError> {
    validate_task_id(task)?;
    let relative = relative_path(raw)?;
    let (Some(parent), Some(name)) = (relative.parent(), relative.file_name()) else {
        return Err(ObserverError::IsDirectory(".".into()));
    };
    let mode = parse_mode(mode)?;
    let role = role_of(state, task)?;
    let user = caller.authorize_task(&role)?;
    let shown = relative.display().to_string();
    tracing::info!(%user, %task, path = %shown, "observer: receiving a file into a sandbox");
    Ok(Checked {
        parent: parent.to_path_buf(),
        name: name.to_os_string(),
        mode,
        shown,
    })
}

/// `error`, once the body (at most `max` bytes, within [`DRAIN_TIME`]) has been read and
/// dropped: a client still sending when the answer comes and the connection closes may never
/// read the answer, and would report a broken connection instead of the refusal.
async fn refuse_after_reading(body: Body, max: u64, error: ObserverError) -> ObserverError {
    let drain = async {
        let mut frames = body.into_data_stream();
        let mut read: u64 = 0;
        while let Some(Ok(frame)) = frames.next().await {
            read += frame.len() as u64;
            if read > max {
                return;
            }
        }
    };
    let _ = tokio::time::timeout(DRAIN_TIME, drain).await;
    error
}

/// `?mode=`: octal permission bits (no setuid, setgid or sticky bit).
fn parse_mode(mode: Option<&str>) -> Result<u32, ObserverError> {
    let Some(text) = mode else {
        return Ok(DEFAULT_MODE);
    };
    u32::from_str_radix(text, 8)
        .ok()
        .filter(|bits| *bits <= 0o777)
        .ok_or_else(|| {
            ObserverError::BadRequest(format!(
                "mode {text:?} must be octal permission bits, 0 to 0777"
            ))
        })
}

/// A temporary file being filled, in the directory it will be renamed in.
#[derive(Debug)]
struct Staged {
    dir: Arc<OwnedFd>,
    temp: OsString,
    file: Arc<File>,
}

/// Opens `parent` beneath `task`'s sandbox and creates a new temporary file in it.
fn stage(sandboxes: &Path, task: &str, parent: &Path) -> Result<Staged, ObserverError> {
    let sandbox =
        Sandbox::open(sandboxes, task)?.ok_or_else(|| ObserverError::NotFound(".".into()))?;
    let dir = sandbox.open_dir(parent)?;
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let how = OpenHow::new()
        .flags(
            OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        )
        .mode(Mode::from_bits_truncate(0o600))
        .resolve(ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_SYMLINKS);
    for _ in 0..NAME_TRIES {
        let temp = OsString::from(format!(
            ".aurora-upload-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        match openat2(&dir, Path::new(&temp), how) {
            Ok(fd) => {
                return Ok(Staged {
                    dir: Arc::new(dir),
                    temp,
                    file: Arc::new(File::from(fd)),
                });
            }
            Err(Errno::EEXIST) => continue,
            Err(e) => return Err(lookup_error(e, &parent.join(&temp).display().to_string())),
        }
    }
    Err(ObserverError::Io(format!(
        "no free temporary name in {}",
        parent.display()
    )))
}

/// Removes the temporary file unless it was renamed into place.
#[derive(Debug)]
struct Guard {
    staged: Option<Staged>,
    pool: Arc<FsPool>,
}

impl Guard {
    async fn write(&mut self, offset: u64, chunk: Vec<u8>) -> Result<(), ObserverError> {
        let file = self
            .staged
            .as_ref()
            .map(|s| Arc::clone(&s.file))
            .ok_or_else(|| ObserverError::Io("the upload was already finished".into()))?;
        self.pool
            .run_when_free(move || {
                file.write_all_at(&chunk, offset)
                    .map_err(|e| ObserverError::Io(format!("writing an upload: {e}")))
            })
            .await
    }

    /// Sets the mode and renames the file to `name`.
    async fn commit(
        &mut self,
        name: OsString,
        mode: u32,
        shown: String,
    ) -> Result<(), ObserverError> {
        let Some(staged) = self.staged.take() else {
            return Err(ObserverError::Io("the upload was already finished".into()));
        };
        let (dir, temp, file) = (
            Arc::clone(&staged.dir),
            staged.temp.clone(),
            Arc::clone(&staged.file),
        );
        // Until the rename succeeded, dropping the guard removes the file.
        self.staged = Some(staged);
        self.pool
            .run_when_free(move || {
                nix::sys::stat::fchmod(&*file, Mode::from_bits_truncate(mode))
                    .map_err(|e| ObserverError::Io(format!("fchmod of an upload: {e}")))?;
                nix::fcntl::renameat(&*dir, Path::new(&temp), &*dir, Path::new(&name)).map_err(
                    |e| match e {
                        Errno::EISDIR | Errno::ENOTEMPTY | Errno::EEXIST => {
                            ObserverError::IsDirectory(shown)
                        }
                        other => {
                            ObserverError::Io(format!("renaming an upload to {shown:?}: {other}"))
                        }
                    },
                )
            })
            .await?;
        self.staged = None;
        Ok(())
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let Some(Staged { dir, temp, .. }) = self.staged.take() else {
            return;
        };
        let removed = self.pool.detach(move || {
            match nix::unistd::unlinkat(&*dir, Path::new(&temp), UnlinkatFlags::NoRemoveDir) {
                Ok(()) | Err(Errno::ENOENT) => Ok(()),
                Err(e) => {
                    tracing::warn!(error = %e, "observer: cannot remove an abandoned upload");
                    Ok(())
                }
            }
        });
        if !removed {
            tracing::warn!("observer: too busy to remove an abandoned upload's temporary file");
        }
    }
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;

    use super::*;

    #[test]
    fn modes_are_octal_permission_bits() {
        assert_eq!(parse_mode(None), Ok(0o644));
        assert_eq!(parse_mode(Some("0755")), Ok(0o755));
        assert_eq!(parse_mode(Some("600")), Ok(0o600));
        for bad in ["4755", "999", "rwx", ""] {
            assert!(
                matches!(parse_mode(Some(bad)), Err(ObserverError::BadRequest(_))),
                "{bad}"
            );
        }
    }
}
