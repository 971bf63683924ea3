//! Opening what a request names inside a task's sandbox, so that what is checked is what is read.
//!
//! A task owns its sandbox and can rename, swap and re-link anything in it while the observer
//! works. Checking a path by name and then opening it by name races with that (a directory
//! swapped for a symlink to `/etc` between the two served `/etc/passwd`). So nothing here is
//! opened by a path string from `/`: the sandbox is opened once as a directory descriptor
//! ([`Sandbox::open`]), every name under it is opened relative to that descriptor by `openat2`
//! with `RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS`, which makes the kernel refuse (`EXDEV`) any
//! resolution that would leave it, at the moment of the open; and types, sizes and directory
//! entries are read from the opened descriptors (`fstat`, `fdopendir`), never from the path.
//!
//! Consequences worth knowing:
//! - relative symlinks that stay inside are followed; absolute symlinks are refused, even one
//!   naming the sandbox's own path (`RESOLVE_BENEATH` refuses every absolute link);
//! - only regular files and directories are opened for reading. A name is first opened with
//!   `O_PATH` (which opens nothing) and its type checked, so a FIFO (whose `open` waits for a
//!   writer), socket or device is refused without ever being opened; the real open is
//!   `O_NONBLOCK` and its type checked again, in case the name was swapped in between;
//! - without `openat2` (Linux < 5.6: `ENOSYS`) every sandbox read is refused
//!   ([`ObserverError::NoSafeOpen`]): there is no race-free fallback.
//!
//! Everything here blocks: it runs on the observer's own threads (`pool.rs`).

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::dir::Dir;
use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::{FileStat, Mode, fstat, fstatat};

use super::ObserverError;

/// `openat2` answers `EAGAIN` when a rename or mount elsewhere on the system raced one of its
/// `..` steps (it could not prove containment); the man page says to retry.
const EAGAIN_RETRIES: usize = 8;

/// A task's sandbox, held open as a directory. Everything under it is opened relative to it.
#[derive(Debug)]
pub struct Sandbox {
    root: OwnedFd,
}

/// What a name turned out to be, by `fstat` on the descriptor that will be read.
#[derive(Debug)]
pub enum Opened {
    File(OpenFile),
    Dir(OwnedFd),
}

/// A regular file opened for reading, with its length when opened.
#[derive(Debug)]
pub struct OpenFile {
    pub file: File,
    pub len: u64,
}

/// A directory entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub name: OsString,
    /// What the entry is; a symlink counts as what it points to when that is in the sandbox,
    /// and as `None` when it dangles or leads out (so nothing outside is even stat'ed).
    pub kind: Option<Kind>,
    /// 0 when `kind` is `None`.
    pub size: u64,
    /// Milliseconds since the Unix epoch.
    pub modified: Option<u64>,
}

/// File types, from `st_mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Symlink,
    Fifo,
    Socket,
    CharDevice,
    BlockDevice,
    Unknown,
}

impl Kind {
    fn of(stat: &FileStat) -> Self {
        match stat.st_mode & nix::libc::S_IFMT {
            nix::libc::S_IFREG => Kind::File,
            nix::libc::S_IFDIR => Kind::Dir,
            nix::libc::S_IFLNK => Kind::Symlink,
            nix::libc::S_IFIFO => Kind::Fifo,
            nix::libc::S_IFSOCK => Kind::Socket,
            nix::libc::S_IFCHR => Kind::CharDevice,
            nix::libc::S_IFBLK => Kind::BlockDevice,
            _ => Kind::Unknown,
        }
    }

    /// For "`path` is ...".
    fn describe(self) -> &'static str {
        match self {
            Kind::File => "a regular file",
            Kind::Dir => "a directory",
            Kind::Symlink => "a symlink",
            Kind::Fifo => "a FIFO (named pipe)",
            Kind::Socket => "a UNIX socket",
            Kind::CharDevice => "a character device",
            Kind::BlockDevice => "a block device",
            Kind::Unknown => "a special file",
        }
    }
}

impl Sandbox {
    /// Opens `sandboxes/<task>` (`task` already validated as one plain name). `None` when
    /// there is no such sandbox. The sandbox itself must be a real directory, not a symlink: a
    /// task can replace its sandbox with a link to `/`, and everything would be "beneath" it.
    pub fn open(sandboxes: &Path, task: &str) -> Result<Option<Self>, ObserverError> {
        // `sandboxes/` is the agent's own directory, named by its configuration.
        let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
        let parent = match nix::fcntl::open(sandboxes, flags, Mode::empty()) {
            Ok(parent) => parent,
            Err(Errno::ENOENT) => return Ok(None),
            Err(e) => {
                return Err(ObserverError::Io(format!(
                    "opening {}: {e}",
                    sandboxes.display()
                )));
            }
        };
        let how = OpenHow::new()
            .flags(flags | OFlag::O_NOFOLLOW)
            .resolve(ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_SYMLINKS);
        match openat2(&parent, Path::new(task), how) {
            Ok(root) => Ok(Some(Sandbox { root })),
            Err(Errno::ENOENT) => Ok(None),
            // Not a directory (O_DIRECTORY) or a symlink (O_NOFOLLOW answers ENOTDIR alongside
            // O_DIRECTORY, ELOOP otherwise). Which one only matters for the answer: the open was
            // already refused.
            Err(Errno::ENOTDIR | Errno::ELOOP) => {
                let how = OpenHow::new()
                    .flags(OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC)
                    .resolve(ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_SYMLINKS);
                let kind = openat2(&parent, Path::new(task), how)
                    .and_then(fstat)
                    .map(|stat| Kind::of(&stat));
                if kind == Ok(Kind::Symlink) {
                    Err(ObserverError::EscapesSandbox(".".into()))
                } else {
                    Ok(None)
                }
            }
            Err(e) => Err(lookup_error(e, ".")),
        }
    }

    /// Opens `relative` (from `paths::relative_path`; empty for the sandbox itself) for
    /// reading: a regular file or a directory, anything else refused unopened.
    pub fn open_entry(&self, relative: &Path) -> Result<Opened, ObserverError> {
        let shown = shown(relative);
        let path = at(relative);
        // First only name it: an O_PATH descriptor opens nothing, so no FIFO's open waits and
        // no device driver's open runs before the type is known.
        let named = self
            .beneath(path, OFlag::O_PATH | OFlag::O_CLOEXEC)
            .map_err(|e| lookup_error(e, &shown))?;
        let kind = Kind::of(&fstat(&named).map_err(|e| stat_error(e, &shown))?);
        refuse_special(kind, &shown)?;
        drop(named);
        // Then open it. O_NONBLOCK: should the name have become a FIFO meanwhile, this still
        // returns at once, and the check on what was opened below refuses it.
        let flags = OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_NOCTTY | OFlag::O_CLOEXEC;
        let fd = self
            .beneath(path, flags)
            .map_err(|e| lookup_error(e, &shown))?;
        let stat = fstat(&fd).map_err(|e| stat_error(e, &shown))?;
        match Kind::of(&stat) {
            Kind::File => Ok(Opened::File(OpenFile {
                file: File::from(fd),
                len: u64::try_from(stat.st_size).unwrap_or(0),
            })),
            Kind::Dir => Ok(Opened::Dir(fd)),
            other => Err(not_regular(other, &shown)),
        }
    }

    /// The entries of `dir` (opened by [`Sandbox::open_entry`] as `relative`), in directory
    /// order, without `.` and `..`. Symlinks are followed only beneath the sandbox.
    pub fn list(&self, dir: OwnedFd, relative: &Path) -> Result<Vec<Listed>, ObserverError> {
        let shown = shown(relative);
        let io = |e: Errno| ObserverError::Io(format!("listing {shown:?} in the sandbox: {e}"));
        let mut dir = Dir::from_fd(dir).map_err(io)?;
        let mut names = Vec::new();
        for entry in dir.iter() {
            let name = entry.map_err(io)?.file_name().to_bytes().to_vec();
            if name != b"." && name != b".." {
                names.push(OsString::from(OsStr::from_bytes(&name)));
            }
        }
        let mut listed = Vec::with_capacity(names.len());
        for name in names {
            let stat = match fstatat(&dir, name.as_os_str(), AtFlags::AT_SYMLINK_NOFOLLOW) {
                Ok(stat) => stat,
                // Removed since it was listed.
                Err(Errno::ENOENT) => continue,
                Err(e) => return Err(io(e)),
            };
            let stat = if Kind::of(&stat) == Kind::Symlink {
                self.stat_beneath(&relative.join(&name))
            } else {
                Some(stat)
            };
            listed.push(Listed {
                name,
                kind: stat.as_ref().map(Kind::of),
                size: stat
                    .as_ref()
                    .map_or(0, |s| u64::try_from(s.st_size).unwrap_or(0)),
                modified: stat.as_ref().and_then(modified_millis),
            });
        }
        Ok(listed)
    }

    /// Opens the directory `relative` (empty for the sandbox itself) to create entries in:
    /// [`ObserverError::NotFound`] when it is missing or not a directory (`O_DIRECTORY` refuses
    /// before opening, so a FIFO is not opened either).
    pub fn open_dir(&self, relative: &Path) -> Result<OwnedFd, ObserverError> {
        let shown = shown(relative);
        let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC;
        self.beneath(at(relative), flags)
            .map_err(|e| lookup_error(e, &shown))
    }

    /// The status of what `relative` resolves to, if it resolves beneath the sandbox.
    fn stat_beneath(&self, relative: &Path) -> Option<FileStat> {
        let named = self
            .beneath(relative, OFlag::O_PATH | OFlag::O_CLOEXEC)
            .ok()?;
        fstat(&named).ok()
    }

    fn beneath(&self, path: &Path, flags: OFlag) -> nix::Result<OwnedFd> {
        let how = OpenHow::new()
            .flags(flags)
            .resolve(ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_MAGICLINKS);
        openat2(&self.root, path, how)
    }
}

/// `openat2`, retried on `EAGAIN` (see [`EAGAIN_RETRIES`]) and `EINTR`.
pub(super) fn openat2(dir: impl AsFd, path: &Path, how: OpenHow) -> nix::Result<OwnedFd> {
    let mut result = nix::fcntl::openat2(dir.as_fd(), path, how);
    for _ in 0..EAGAIN_RETRIES {
        match result {
            Err(Errno::EAGAIN | Errno::EINTR) => {
                result = nix::fcntl::openat2(dir.as_fd(), path, how);
            }
            _ => break,
        }
    }
    result
}

/// The path as the client named it, for messages.
fn shown(relative: &Path) -> String {
    relative.display().to_string()
}

/// The name to open under the sandbox: the sandbox itself for the empty path.
fn at(relative: &Path) -> &Path {
    if relative.as_os_str().is_empty() {
        Path::new(".")
    } else {
        relative
    }
}

fn refuse_special(kind: Kind, shown: &str) -> Result<(), ObserverError> {
    match kind {
        Kind::File | Kind::Dir => Ok(()),
        Kind::Symlink
        | Kind::Fifo
        | Kind::Socket
        | Kind::CharDevice
        | Kind::BlockDevice
        | Kind::Unknown => Err(not_regular(kind, shown)),
    }
}

fn not_regular(kind: Kind, shown: &str) -> ObserverError {
    ObserverError::NotRegular {
        path: shown.to_string(),
        kind: kind.describe(),
    }
}

/// What an `openat2` failure under the sandbox means for the client.
pub(super) fn lookup_error(errno: Errno, shown: &str) -> ObserverError {
    match errno {
        // ENOTDIR: a component that is not a directory (`file.txt/deeper`).
        Errno::ENOENT | Errno::ENOTDIR => ObserverError::NotFound(shown.to_string()),
        // The kernel's refusal under RESOLVE_BENEATH: `..` above the sandbox or an absolute
        // symlink, at the moment of the open.
        Errno::EXDEV => ObserverError::EscapesSandbox(shown.to_string()),
        // A symlink loop, or a /proc magic link (RESOLVE_NO_MAGICLINKS).
        Errno::ELOOP => ObserverError::UnresolvableLink(shown.to_string()),
        Errno::ENAMETOOLONG => ObserverError::InvalidPath(shown.to_string()),
        Errno::ENOSYS => ObserverError::NoSafeOpen,
        // Still racing renames after the retries.
        Errno::EAGAIN => ObserverError::Busy,
        other => ObserverError::Io(format!("opening {shown:?} in the sandbox: {other}")),
    }
}

fn stat_error(errno: Errno, shown: &str) -> ObserverError {
    ObserverError::Io(format!("fstat of {shown:?} in the sandbox: {errno}"))
}

fn modified_millis(stat: &FileStat) -> Option<u64> {
    let seconds = u64::try_from(stat.st_mtime).ok()?;
    let nanos = u64::try_from(stat.st_mtime_nsec).ok()?;
    seconds.checked_mul(1000)?.checked_add(nanos / 1_000_000)
}

#[cfg(test)]
#[path = "sandbox_tests.rs"]
mod tests;
