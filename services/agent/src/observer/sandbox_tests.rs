//! Opening beneath a sandbox descriptor: what is followed, what is refused and how.

#![allow(clippy::unwrap_used)]

use std::io::Read;
use std::os::unix::fs::symlink;
use std::path::PathBuf;

use pretty_assertions::assert_eq;

use super::*;

/// `<tmp>/sandboxes/t` and the temporary directory holding it (and the secrets beside it).
fn sandbox() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let sandbox = dir.path().join("sandboxes/t");
    std::fs::create_dir_all(&sandbox).unwrap();
    (dir, sandbox)
}

fn open(dir: &tempfile::TempDir) -> Sandbox {
    Sandbox::open(&dir.path().join("sandboxes"), "t")
        .unwrap()
        .unwrap()
}

fn read(sandbox: &Sandbox, relative: &str) -> Result<String, ObserverError> {
    match sandbox.open_entry(Path::new(relative))? {
        Opened::File(mut open) => {
            let mut text = String::new();
            open.file.read_to_string(&mut text).unwrap();
            assert_eq!(open.len, text.len() as u64, "{relative}");
            Ok(text)
        }
        Opened::Dir(_) => Ok("<dir>".to_string()),
    }
}

#[test]
fn files_and_directories_open_and_relative_symlinks_inside_are_followed() {
    let (dir, root) = sandbox();
    std::fs::create_dir_all(root.join("sub")).unwrap();
    std::fs::write(root.join("sub/file.txt"), "x").unwrap();
    symlink("sub/file.txt", root.join("inside-link")).unwrap();
    symlink("sub", root.join("relative-dir-link")).unwrap();
    symlink("../inside-link", root.join("sub/up-and-back")).unwrap();
    let sandbox = open(&dir);

    let cases = [
        ("", Ok("<dir>")),
        ("sub", Ok("<dir>")),
        ("sub/file.txt", Ok("x")),
        ("inside-link", Ok("x")),
        ("relative-dir-link/file.txt", Ok("x")),
        ("sub/up-and-back", Ok("x")),
        ("missing", Err(ObserverError::NotFound("missing".into()))),
        (
            "sub/file.txt/deeper",
            Err(ObserverError::NotFound("sub/file.txt/deeper".into())),
        ),
    ];
    for (relative, expected) in cases {
        assert_eq!(
            read(&sandbox, relative),
            expected.map(str::to_string),
            "{relative}"
        );
    }
}

#[test]
fn symlinks_leaving_the_sandbox_are_refused_by_the_kernel() {
    let (dir, root) = sandbox();
    std::fs::write(dir.path().join("secret"), "top secret").unwrap();
    std::fs::write(root.join("own"), "mine").unwrap();
    // A sibling whose name starts with the sandbox's: a string-prefix check would pass it.
    std::fs::create_dir_all(dir.path().join("sandboxes/t-other")).unwrap();
    symlink(dir.path().join("secret"), root.join("to-secret")).unwrap();
    symlink("../", root.join("up")).unwrap();
    symlink("../../secret", root.join("relative-out")).unwrap();
    symlink("/etc", root.join("etc")).unwrap();
    symlink("/dev/null", root.join("devnull")).unwrap();
    symlink("/proc/self/root", root.join("proc-root")).unwrap();
    symlink("../t-other", root.join("sibling")).unwrap();
    // Absolute links are refused even when they point back inside.
    symlink(root.join("own"), root.join("absolute-inside")).unwrap();
    let sandbox = open(&dir);

    for relative in [
        "to-secret",
        "up",
        "up/secret",
        "relative-out",
        "etc",
        "etc/passwd",
        "devnull",
        "proc-root",
        "sibling",
        "absolute-inside",
    ] {
        assert_eq!(
            read(&sandbox, relative),
            Err(ObserverError::EscapesSandbox(relative.to_string())),
            "{relative}"
        );
    }
}

#[test]
fn special_files_are_refused_naming_their_type() {
    let (dir, root) = sandbox();
    nix::unistd::mkfifo(&root.join("fifo"), Mode::S_IRWXU).unwrap();
    let _socket = std::os::unix::net::UnixListener::bind(root.join("socket")).unwrap();
    symlink("fifo", root.join("fifo-link")).unwrap();
    symlink("loop", root.join("loop")).unwrap();
    let sandbox = open(&dir);

    let refused = |path: &str, kind: &'static str| {
        Err(ObserverError::NotRegular {
            path: path.to_string(),
            kind,
        })
    };
    assert_eq!(
        read(&sandbox, "fifo"),
        refused("fifo", "a FIFO (named pipe)")
    );
    assert_eq!(
        read(&sandbox, "fifo-link"),
        refused("fifo-link", "a FIFO (named pipe)")
    );
    assert_eq!(read(&sandbox, "socket"), refused("socket", "a UNIX socket"));
    assert_eq!(
        read(&sandbox, "loop"),
        Err(ObserverError::UnresolvableLink("loop".into()))
    );
}

#[test]
fn the_sandbox_itself_must_be_a_real_directory() {
    let dir = tempfile::tempdir().unwrap();
    let sandboxes = dir.path().join("sandboxes");
    assert_eq!(Sandbox::open(&sandboxes, "t").unwrap().map(|_| ()), None);
    std::fs::create_dir_all(&sandboxes).unwrap();
    std::fs::write(sandboxes.join("a-file"), "").unwrap();
    symlink(dir.path(), sandboxes.join("a-link")).unwrap();
    symlink("missing", sandboxes.join("dangling")).unwrap();

    assert_eq!(Sandbox::open(&sandboxes, "t").unwrap().map(|_| ()), None);
    assert_eq!(
        Sandbox::open(&sandboxes, "a-file").unwrap().map(|_| ()),
        None
    );
    for link in ["a-link", "dangling"] {
        assert_eq!(
            Sandbox::open(&sandboxes, link).map(|_| ()),
            Err(ObserverError::EscapesSandbox(".".into())),
            "{link}"
        );
    }
}

#[test]
fn listings_follow_symlinks_only_beneath_the_sandbox() {
    let (dir, root) = sandbox();
    std::fs::create_dir_all(root.join("d/inner")).unwrap();
    std::fs::write(root.join("d/file"), "12345").unwrap();
    std::fs::write(dir.path().join("secret"), "top secret, and long").unwrap();
    symlink("file", root.join("d/to-file")).unwrap();
    symlink("../d/inner", root.join("d/to-inner")).unwrap();
    symlink(dir.path().join("secret"), root.join("d/to-secret")).unwrap();
    symlink("missing", root.join("d/dangling")).unwrap();
    nix::unistd::mkfifo(&root.join("d/fifo"), Mode::S_IRWXU).unwrap();
    let sandbox = open(&dir);

    let Opened::Dir(fd) = sandbox.open_entry(Path::new("d")).unwrap() else {
        panic!("d is a directory");
    };
    let mut listed = sandbox.list(fd, Path::new("d")).unwrap();
    listed.sort_by(|a, b| a.name.cmp(&b.name));
    let shape: Vec<(&str, Option<Kind>, u64, bool)> = listed
        .iter()
        .map(|e| {
            let size = if e.kind == Some(Kind::Dir) { 0 } else { e.size };
            (e.name.to_str().unwrap(), e.kind, size, e.modified.is_some())
        })
        .collect();
    assert_eq!(
        shape,
        vec![
            ("dangling", None, 0, false),
            ("fifo", Some(Kind::Fifo), 0, true),
            ("file", Some(Kind::File), 5, true),
            ("inner", Some(Kind::Dir), 0, true),
            ("to-file", Some(Kind::File), 5, true),
            ("to-inner", Some(Kind::Dir), 0, true),
            // Not stat'ed: its size and time are the outside file's business.
            ("to-secret", None, 0, false),
        ]
    );
}

#[test]
fn errno_meanings() {
    let cases = [
        (Errno::ENOENT, ObserverError::NotFound("p".into())),
        (Errno::ENOTDIR, ObserverError::NotFound("p".into())),
        (Errno::EXDEV, ObserverError::EscapesSandbox("p".into())),
        (Errno::ELOOP, ObserverError::UnresolvableLink("p".into())),
        (Errno::ENOSYS, ObserverError::NoSafeOpen),
        (Errno::EAGAIN, ObserverError::Busy),
        (
            Errno::EIO,
            ObserverError::Io("opening \"p\" in the sandbox: EIO: I/O error".into()),
        ),
    ];
    for (errno, expected) in cases {
        assert_eq!(lookup_error(errno, "p"), expected, "{errno}");
    }
}
