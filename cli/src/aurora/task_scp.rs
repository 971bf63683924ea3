//! `task scp SRC... DEST`: files copied into or out of a task's sandbox, through its agent's
//! observer (`crate::observer`), as Aurora's client did with scp. A remote path is
//! `CLUSTER/ROLE/ENV/NAME/INSTANCE:PATH` with PATH relative to the sandbox (empty: the
//! sandbox itself); anything else is a local path.
//!
//! Unlike Aurora (whose scp could reach any path the role's user could), only the sandbox is
//! reachable: an absolute PATH, `~` or a `..` component is refused here, before anything is
//! sent, and the observer refuses what would leave the sandbox through a symlink. Files only
//! (no `-r`); copying needs the destination to be a directory when there are several sources,
//! and a file copied into a directory keeps its name, as with scp. A file copied in keeps its
//! permission bits; copies into a sandbox need a RUNNING task, copies out work as long as the
//! sandbox is there.

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use clap::Args;

use super::task::{Target, running_targets};
use super::wait;
use crate::context::Context;
use crate::exit::{CliError, CliResult};
use crate::keys::ClusterJobKey;
use crate::observer::{Entry, Observer};

/// `task scp`.
#[derive(Debug, Clone, Args)]
pub(crate) struct ScpArgs {
    /// Sources, then the destination: local paths, or CLUSTER/ROLE/ENV/NAME/INSTANCE:PATH with
    /// PATH relative to the task's sandbox.
    #[arg(required = true, num_args = 2.., value_name = "[KEY/INSTANCE:]PATH")]
    paths: Vec<String>,
    /// Accepted for Aurora's scripts: the executor's sandbox and the task's are one directory.
    #[arg(long = "executor-sandbox")]
    executor_sandbox: bool,
}

/// One side of a copy.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Place {
    Local(PathBuf),
    Remote {
        key: ClusterJobKey,
        instance: u32,
        /// Relative to the sandbox, without `.` or empty components; empty for the sandbox.
        path: String,
        /// As the user typed it, for messages.
        typed: String,
    },
}

pub(super) fn scp(ctx: &Context, args: &ScpArgs) -> CliResult {
    let places = args
        .paths
        .iter()
        .map(|p| parse_place(p))
        .collect::<CliResult<Vec<Place>>>()?;
    let Some((dest, sources)) = places.split_last() else {
        return Err(CliError::invalid_parameter(
            "task scp needs a source and a destination",
        ));
    };
    let remote_sources = sources
        .iter()
        .filter(|p| matches!(p, Place::Remote { .. }))
        .count();
    match dest {
        Place::Remote {
            key,
            instance,
            path,
            typed,
        } => {
            if remote_sources > 0 {
                return Err(CliError::invalid_parameter(
                    "copying from one sandbox to another is not supported: copy through a local file",
                ));
            }
            let locals: Vec<&PathBuf> = sources
                .iter()
                .filter_map(|p| match p {
                    Place::Local(path) => Some(path),
                    Place::Remote { .. } => None,
                })
                .collect();
            upload(ctx, &locals, key, *instance, path, typed)
        }
        Place::Local(dest) => {
            if remote_sources != sources.len() {
                return Err(CliError::invalid_parameter(
                    "nothing names a sandbox: a remote path is CLUSTER/ROLE/ENV/NAME/INSTANCE:PATH \
                     (local copies are cp's job)",
                ));
            }
            download(ctx, sources, dest)
        }
    }
}

/// `KEY/INSTANCE:PATH` or a local path (see the module docs).
fn parse_place(text: &str) -> CliResult<Place> {
    let Some((head, path)) = text.split_once(':') else {
        return Ok(Place::Local(PathBuf::from(text)));
    };
    // Only a job key with an instance makes a remote path (as Aurora's pattern); a local
    // path may hold a `:` too.
    if head.split('/').count() != 5 || head.split('/').any(str::is_empty) {
        return Ok(Place::Local(PathBuf::from(text)));
    }
    let one_instance = || {
        CliError::invalid_parameter(format!(
            "{text:?}: a remote path names one instance: CLUSTER/ROLE/ENV/NAME/INSTANCE:PATH"
        ))
    };
    let (key, instance) = head.rsplit_once('/').ok_or_else(one_instance)?;
    if !instance.bytes().all(|b| b.is_ascii_digit()) {
        return Err(one_instance());
    }
    let instance: u32 = instance.parse().map_err(|_| one_instance())?;
    let key: ClusterJobKey = key.parse()?;
    Ok(Place::Remote {
        key,
        instance,
        path: sandbox_path(text, path)?,
        typed: text.to_string(),
    })
}

/// `path` made relative to the sandbox, or why it cannot be.
fn sandbox_path(typed: &str, path: &str) -> CliResult<String> {
    if path == "~" || path.starts_with("~/") {
        return Err(CliError::invalid_parameter(format!(
            "{typed:?}: tilde paths are not supported; use a path relative to the sandbox"
        )));
    }
    if path.starts_with('/') {
        return Err(CliError::invalid_parameter(format!(
            "{typed:?} is outside the sandbox: task scp paths are relative to the task's sandbox \
             (e.g. KEY/0:.logs/main/0/stdout), and absolute ones are refused"
        )));
    }
    let mut parts = Vec::new();
    for component in Path::new(path).components() {
        match component {
            Component::Normal(part) => parts.push(part.to_string_lossy().into_owned()),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => {
                return Err(CliError::invalid_parameter(format!(
                    "{typed:?} is outside the sandbox: '..' is not allowed in task scp paths"
                )));
            }
        }
    }
    let mut joined = parts.join("/");
    // A trailing `/` says "a directory", as with scp.
    if path.ends_with('/') && !joined.is_empty() {
        joined.push('/');
    }
    Ok(joined)
}

fn upload(
    ctx: &Context,
    sources: &[&PathBuf],
    key: &ClusterJobKey,
    instance: u32,
    path: &str,
    typed: &str,
) -> CliResult {
    let target = one_running(ctx, key, instance, typed)?;
    // Asked even when the path says "directory": a path the observer refuses is refused now.
    let entry = target.observer.entry(target.id(), path)?;
    let is_dir = path.is_empty() || path.ends_with('/') || entry == Entry::Dir;
    if sources.len() > 1 && !is_dir {
        return Err(CliError::invalid_parameter(format!(
            "{typed:?} is not a directory of the sandbox: copying several files needs one"
        )));
    }
    for source in sources {
        let metadata = std::fs::metadata(source)
            .map_err(|e| CliError::invalid_parameter(format!("{}: {e}", source.display())))?;
        if !metadata.is_file() {
            return Err(CliError::invalid_parameter(format!(
                "{} is not a regular file (task scp copies files, without -r)",
                source.display()
            )));
        }
        let remote = if is_dir {
            let name = source.file_name().ok_or_else(|| {
                CliError::invalid_parameter(format!("{} has no file name", source.display()))
            })?;
            format!(
                "{}{}{}",
                path,
                if path.is_empty() || path.ends_with('/') {
                    ""
                } else {
                    "/"
                },
                name.to_string_lossy()
            )
        } else {
            path.to_string()
        };
        let file = std::fs::File::open(source)
            .map_err(|e| CliError::invalid_parameter(format!("{}: {e}", source.display())))?;
        let mode = metadata.permissions().mode() & 0o777;
        target
            .observer
            .upload(target.id(), &remote, file, metadata.len(), mode)?;
        eprintln!(
            "{} -> {}:{} ({} bytes)",
            source.display(),
            target.host(),
            remote,
            metadata.len()
        );
    }
    Ok(())
}

fn download(ctx: &Context, sources: &[Place], dest: &Path) -> CliResult {
    let dest_is_dir = dest.is_dir();
    if sources.len() > 1 && !dest_is_dir {
        return Err(CliError::invalid_parameter(format!(
            "{} is not a directory: copying several files needs one",
            dest.display()
        )));
    }
    for source in sources {
        let Place::Remote {
            key,
            instance,
            path,
            typed,
        } = source
        else {
            continue;
        };
        let (task, observer, host) = sandbox_of(ctx, key, *instance, typed)?;
        let name = path
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or_default();
        if name.is_empty() {
            return Err(CliError::invalid_parameter(format!(
                "{typed:?} is a directory (the sandbox): task scp copies files"
            )));
        }
        let local = if dest_is_dir {
            dest.join(name)
        } else {
            dest.to_path_buf()
        };
        let mut file = std::fs::File::create(&local)
            .map_err(|e| CliError::failure(format!("cannot write {}: {e}", local.display())))?;
        match observer.download(&task, path, &mut file) {
            Ok(size) => eprintln!("{host}:{path} -> {} ({size} bytes)", local.display()),
            Err(error) => {
                drop(file);
                let _ = std::fs::remove_file(&local);
                return Err(error);
            }
        }
    }
    Ok(())
}

/// The RUNNING task of `instance`, which a copy into its sandbox needs.
fn one_running(
    ctx: &Context,
    key: &ClusterJobKey,
    instance: u32,
    typed: &str,
) -> CliResult<Target> {
    let wanted = BTreeSet::from([instance]);
    running_targets(ctx, key, Some(&wanted))?
        .into_iter()
        .next()
        .ok_or_else(|| {
            CliError::failure(format!(
                "{typed:?}: instance {instance} of {key} is not RUNNING; files are copied into \
                 running tasks only"
            ))
        })
}

/// The newest task of `instance` (running or not: its sandbox may still be there), its
/// observer and host.
fn sandbox_of(
    ctx: &Context,
    key: &ClusterJobKey,
    instance: u32,
    typed: &str,
) -> CliResult<(String, Observer, String)> {
    let client = ctx.client(&key.cluster)?;
    let tasks = wait::all_tasks(&client, &key.job)?;
    let latest = wait::latest_by_instance(&tasks);
    let task = latest.get(&instance).ok_or_else(|| {
        CliError::invalid_parameter(format!("{typed:?}: {key} has no instance {instance}"))
    })?;
    let base = task
        .observer
        .as_deref()
        .filter(|o| !o.is_empty())
        .ok_or_else(|| {
            CliError::failure(format!(
                "{typed:?}: instance {instance} ({}) was never placed on an agent with an observer",
                task.status
            ))
        })?;
    Ok((
        task.id.to_string(),
        Observer::new(base, client.base())?,
        task.host.clone().unwrap_or_else(|| "?".into()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exit::ExitCode;

    /// `west/www/prod/web/1:TYPED`, whose sandbox path is `path`.
    fn remote(typed: &str, path: &str) -> Place {
        Place::Remote {
            key: "west/www/prod/web"
                .parse()
                .unwrap_or_else(|e| panic!("{e}")),
            instance: 1,
            path: path.into(),
            typed: format!("west/www/prod/web/1:{typed}"),
        }
    }

    #[test]
    fn places_are_remote_only_with_a_job_key_and_one_instance() {
        assert_eq!(
            parse_place("notes.txt"),
            Ok(Place::Local("notes.txt".into()))
        );
        assert_eq!(parse_place("a:b"), Ok(Place::Local("a:b".into())));
        assert_eq!(parse_place("./x/y:z"), Ok(Place::Local("./x/y:z".into())));
        assert_eq!(
            parse_place("west/www/prod/web/1:logs/x"),
            Ok(remote("logs/x", "logs/x"))
        );
        assert_eq!(
            parse_place("west/www/prod/web/1:./logs//x"),
            Ok(remote("./logs//x", "logs/x"))
        );
        assert_eq!(parse_place("west/www/prod/web/1:"), Ok(remote("", "")));
        assert_eq!(
            parse_place("west/www/prod/web/1:dir/"),
            Ok(remote("dir/", "dir/"))
        );
        for bad in [
            "west/www/prod/web/0-2:x",
            "west/www/prod/web/0,1:x",
            "west/www/prod/web/a:x",
        ] {
            assert_eq!(
                parse_place(bad).map_err(|e| e.code),
                Err(ExitCode::InvalidParameter),
                "{bad}"
            );
        }
    }

    #[test]
    fn paths_leaving_the_sandbox_are_refused_before_anything_is_sent() {
        for (bad, says) in [
            ("west/www/prod/web/1:/etc/passwd", "outside the sandbox"),
            ("west/www/prod/web/1:../other/x", "outside the sandbox"),
            ("west/www/prod/web/1:a/../../x", "outside the sandbox"),
            ("west/www/prod/web/1:~/x", "tilde"),
        ] {
            let error = parse_place(bad).expect_err(bad);
            assert_eq!(error.code, ExitCode::InvalidParameter, "{bad}");
            assert!(error.message.contains(says), "{bad}: {}", error.message);
        }
    }
}
