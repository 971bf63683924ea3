//! The lexical half of keeping requests inside a sandbox: what a URL may name at all, before
//! anything is opened. [`relative_path`] turns the URL's (already percent-decoded) path into a
//! relative path without `..`, absolute or empty-root forms; task ids and process names must
//! be one plain component. The other half, what the names resolve to on disk (where a task's
//! symlinks come in), is the kernel's, under `sandbox.rs`: nothing here touches the filesystem.

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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

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
}
