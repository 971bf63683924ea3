//! Safe path resolution: every file the observer reads goes through here, so that no request
//! (or task, which can plant symlinks in its own sandbox) makes it read outside a sandbox.
//!
//! Two steps. [`relative_path`] is purely lexical: it turns the URL's (already percent-decoded)
//! path into a relative path without `..`, absolute or empty-root forms. [`resolve`] then
//! canonicalizes it under the sandbox (following symlinks) and checks the result is still
//! inside the canonical sandbox root; [`contained`] is that check, pure.

use std::path::{Component, Path, PathBuf};

use super::ObserverError;

/// Checks a task id taken from a URL: it names a directory directly under `sandboxes/`.
pub fn validate_task_id(task: &str) -> Result<(), ObserverError> {
    if is_plain_name(task) {
        Ok(())
    } else {
        Err(ObserverError::InvalidTaskId(task.to_string()))
    }
}

/// Checks a process name taken from a URL: it names a directory directly under `.logs/`.
pub fn validate_process(process: &str) -> Result<(), ObserverError> {
    if is_plain_name(process) {
        Ok(())
    } else {
        Err(ObserverError::InvalidProcess(process.to_string()))
    }
}

/// One path component: not empty, not `.` or `..`, no separator or NUL.
fn is_plain_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\\', '\0'])
}

/// The sandbox-relative path a URL names. Empty and `.` components are dropped (so `""`, `"."`
/// and `"a//b/"` are fine); `..` anywhere, an absolute path or a NUL byte is refused, even when
/// `..` would stay inside (`a/../b`): a client has no reason to send one.
pub fn relative_path(raw: &str) -> Result<PathBuf, ObserverError> {
    if raw.contains('\0') {
        return Err(ObserverError::InvalidPath(raw.to_string()));
    }
    let path = Path::new(raw);
    if path.is_absolute() {
        return Err(ObserverError::AbsolutePath(raw.to_string()));
    }
    let mut relative = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(name) => relative.push(name),
            Component::CurDir => {}
            Component::ParentDir => return Err(ObserverError::ParentComponent(raw.to_string())),
            Component::RootDir | Component::Prefix(_) => {
                return Err(ObserverError::AbsolutePath(raw.to_string()));
            }
        }
    }
    Ok(relative)
}

/// Whether `resolved` (canonical) lies in or at `root` (canonical). Component-wise, so
/// `/s/task-10` is not inside `/s/task-1`.
pub fn contained(root: &Path, resolved: &Path) -> bool {
    resolved.starts_with(root)
}

/// The canonical path of `relative` (from [`relative_path`]) under `root`, refusing anything
/// whose real location, after following every symlink, is outside `root`'s real location.
/// A missing path is [`ObserverError::NotFound`], reported with the path the client sent.
pub fn resolve(root: &Path, relative: &Path) -> Result<PathBuf, ObserverError> {
    let shown = relative.display().to_string();
    let root = canonical(root, &shown)?;
    let resolved = canonical(&root.join(relative), &shown)?;
    if contained(&root, &resolved) {
        Ok(resolved)
    } else {
        Err(ObserverError::EscapesSandbox(shown))
    }
}

fn canonical(path: &Path, shown: &str) -> Result<PathBuf, ObserverError> {
    std::fs::canonicalize(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory => {
            ObserverError::NotFound(shown.to_string())
        }
        _ => ObserverError::Io(format!("resolving {}: {e}", path.display())),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::os::unix::fs::symlink;

    use pretty_assertions::assert_eq;

    use super::*;

    #[test]
    fn plain_relative_paths_are_kept_without_dot_or_empty_components() {
        assert_eq!(relative_path("").unwrap(), PathBuf::new());
        assert_eq!(relative_path(".").unwrap(), PathBuf::new());
        assert_eq!(relative_path("a/b.txt").unwrap(), PathBuf::from("a/b.txt"));
        assert_eq!(relative_path("a//./b/").unwrap(), PathBuf::from("a/b"));
        assert_eq!(
            relative_path("..hidden/x..y").unwrap(),
            PathBuf::from("..hidden/x..y")
        );
    }

    #[test]
    fn parent_components_are_refused_anywhere() {
        for raw in ["..", "../etc/passwd", "a/../../b", "a/..", "a/../b"] {
            assert_eq!(
                relative_path(raw),
                Err(ObserverError::ParentComponent(raw.to_string())),
                "{raw}"
            );
        }
    }

    #[test]
    fn absolute_paths_are_refused() {
        for raw in ["/etc/passwd", "/", "//x"] {
            assert_eq!(
                relative_path(raw),
                Err(ObserverError::AbsolutePath(raw.to_string())),
                "{raw}"
            );
        }
    }

    #[test]
    fn nul_bytes_are_refused() {
        assert_eq!(
            relative_path("a\0b"),
            Err(ObserverError::InvalidPath("a\0b".to_string()))
        );
    }

    #[test]
    fn task_ids_and_process_names_must_be_one_plain_component() {
        for good in ["www-data-prod-hello-0-abc", "a", "..x", "x.y"] {
            assert_eq!(validate_task_id(good), Ok(()), "{good}");
            assert_eq!(validate_process(good), Ok(()), "{good}");
        }
        for bad in ["", ".", "..", "a/b", "../x", "/x", "a\\b", "a\0"] {
            assert_eq!(
                validate_task_id(bad),
                Err(ObserverError::InvalidTaskId(bad.to_string())),
                "{bad}"
            );
            assert_eq!(
                validate_process(bad),
                Err(ObserverError::InvalidProcess(bad.to_string())),
                "{bad}"
            );
        }
    }

    #[test]
    fn containment_is_by_component_not_by_string_prefix() {
        assert!(contained(Path::new("/s/t1"), Path::new("/s/t1")));
        assert!(contained(Path::new("/s/t1"), Path::new("/s/t1/a/b")));
        assert!(!contained(Path::new("/s/t1"), Path::new("/s/t10/a")));
        assert!(!contained(Path::new("/s/t1"), Path::new("/s")));
        assert!(!contained(Path::new("/s/t1"), Path::new("/etc/passwd")));
    }

    #[test]
    fn resolve_finds_files_and_follows_symlinks_that_stay_inside() {
        let dir = tempfile::tempdir().unwrap();
        let sandbox = dir.path().join("sandbox");
        std::fs::create_dir_all(sandbox.join("sub")).unwrap();
        std::fs::write(sandbox.join("sub/file.txt"), "x").unwrap();
        symlink(sandbox.join("sub/file.txt"), sandbox.join("inside-link")).unwrap();
        symlink("sub", sandbox.join("relative-dir-link")).unwrap();
        let real = std::fs::canonicalize(&sandbox).unwrap();

        assert_eq!(resolve(&sandbox, Path::new("")).unwrap(), real);
        assert_eq!(
            resolve(&sandbox, Path::new("sub/file.txt")).unwrap(),
            real.join("sub/file.txt")
        );
        assert_eq!(
            resolve(&sandbox, Path::new("inside-link")).unwrap(),
            real.join("sub/file.txt")
        );
        assert_eq!(
            resolve(&sandbox, Path::new("relative-dir-link/file.txt")).unwrap(),
            real.join("sub/file.txt")
        );
        assert_eq!(
            resolve(&sandbox, Path::new("missing")),
            Err(ObserverError::NotFound("missing".into()))
        );
        assert_eq!(
            resolve(&sandbox, Path::new("sub/file.txt/deeper")),
            Err(ObserverError::NotFound("sub/file.txt/deeper".into()))
        );
    }

    #[test]
    fn symlinks_escaping_the_sandbox_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let sandbox = dir.path().join("sandbox");
        std::fs::create_dir_all(&sandbox).unwrap();
        std::fs::write(dir.path().join("secret"), "top secret").unwrap();
        // A sibling whose name starts with the sandbox's: a string-prefix check would pass it.
        std::fs::create_dir_all(dir.path().join("sandbox-other")).unwrap();
        symlink(dir.path().join("secret"), sandbox.join("to-secret")).unwrap();
        symlink("../", sandbox.join("up")).unwrap();
        symlink("/etc", sandbox.join("etc")).unwrap();
        symlink(dir.path().join("sandbox-other"), sandbox.join("sibling")).unwrap();

        for raw in ["to-secret", "up", "up/secret", "etc", "sibling"] {
            assert_eq!(
                resolve(&sandbox, Path::new(raw)),
                Err(ObserverError::EscapesSandbox(raw.to_string())),
                "{raw}"
            );
        }
    }
}
