//! The Python modules a config may import, as far as they can be honoured hermetically:
//!
//! - `os`: `os.getenv`, `os.environ` (both read [`crate::LoadOptions::env`], never the process
//!   environment) and `os.path.join`/`basename`/`dirname` (string operations, POSIX rules);
//! - `getpass`: `getpass.getuser()` returns [`crate::LoadOptions::user`];
//! - `json`: `json.dumps` (Python's formatting, see [`crate::pyjson`]) and `json.loads`;
//! - `re`: matching, substitution, splitting and escaping (see [`crate::pyre`]);
//! - `__future__`: every feature is accepted and changes nothing (Starlark already divides like
//!   Python 3 and has `print` as a function).
//!
//! Anything else — the clock (`time`, `datetime`), randomness (`random`, `uuid`), the machine
//! (`subprocess`, `socket`, files), `sys` — is refused where it is imported, saying why:
//! the same config must give the same jobs on every machine and at every moment.
//!
//! [`crate::source`] turns `import os.path as p` / `from os import path` into assignments from
//! `_import("os.path")`; the names are checked there, so that a refusal points at the import.

use starlark::values::dict::AllocDict;
use starlark::values::{Heap, Value};

use crate::coerce::describe;
use crate::{pyjson, pyre};

/// What configs are told they may import instead.
const AVAILABLE: &str = "os (getenv, environ, path.join, path.basename, path.dirname), \
                         getpass (getuser), json (dumps, loads), re (match, search, fullmatch, \
                         sub, split, findall, escape, compile and the flags) and __future__";

/// A module, or a sub-module such as `os.path`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Module {
    Os,
    OsPath,
    Getpass,
    Json,
    Re,
}

/// A module function a config can call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Function {
    Getenv,
    Getuser,
    Join,
    Basename,
    Dirname,
    Dumps,
    Loads,
    ReCompile,
    ReMatch,
    ReSearch,
    ReFullmatch,
    ReSub,
    ReSplit,
    ReFindall,
    ReEscape,
}

/// What a dotted name such as `os.path` or `os.environ` refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Member {
    Module(Module),
    Function(Function),
    /// `os.environ`: a dict made from the load's environment when it is read.
    Environ,
    /// An integer constant, such as `re.IGNORECASE`.
    Constant(i32),
}

impl Module {
    pub fn name(self) -> &'static str {
        match self {
            Module::Os => "os",
            Module::OsPath => "os.path",
            Module::Getpass => "getpass",
            Module::Json => "json",
            Module::Re => "re",
        }
    }

    /// `module.name`, or why it is not available.
    pub fn member(self, name: &str) -> Result<Member, String> {
        let found = match (self, name) {
            (Module::Os, "path") => Some(Member::Module(Module::OsPath)),
            (Module::Os, "getenv") => Some(Member::Function(Function::Getenv)),
            (Module::Os, "environ") => Some(Member::Environ),
            (Module::OsPath, "join") => Some(Member::Function(Function::Join)),
            (Module::OsPath, "basename") => Some(Member::Function(Function::Basename)),
            (Module::OsPath, "dirname") => Some(Member::Function(Function::Dirname)),
            (Module::Getpass, "getuser") => Some(Member::Function(Function::Getuser)),
            (Module::Json, "dumps") => Some(Member::Function(Function::Dumps)),
            (Module::Json, "loads") => Some(Member::Function(Function::Loads)),
            (Module::Re, "compile") => Some(Member::Function(Function::ReCompile)),
            (Module::Re, "match") => Some(Member::Function(Function::ReMatch)),
            (Module::Re, "search") => Some(Member::Function(Function::ReSearch)),
            (Module::Re, "fullmatch") => Some(Member::Function(Function::ReFullmatch)),
            (Module::Re, "sub") => Some(Member::Function(Function::ReSub)),
            (Module::Re, "split") => Some(Member::Function(Function::ReSplit)),
            (Module::Re, "findall") => Some(Member::Function(Function::ReFindall)),
            (Module::Re, "escape") => Some(Member::Function(Function::ReEscape)),
            (Module::Re, "IGNORECASE" | "I") => Some(Member::Constant(pyre::IGNORECASE)),
            (Module::Re, "MULTILINE" | "M") => Some(Member::Constant(pyre::MULTILINE)),
            (Module::Re, "DOTALL" | "S") => Some(Member::Constant(pyre::DOTALL)),
            (Module::Re, "VERBOSE" | "X") => Some(Member::Constant(pyre::VERBOSE)),
            _ => None,
        };
        found.ok_or_else(|| {
            let offers = match self {
                Module::Os => "getenv, environ and path",
                Module::OsPath => "join, basename and dirname (string operations only)",
                Module::Getpass => "getuser",
                Module::Json => "dumps and loads",
                Module::Re => {
                    "compile, match, search, fullmatch, sub, split, findall, escape and the \
                     flags IGNORECASE, MULTILINE, DOTALL and VERBOSE"
                }
            };
            format!(
                "{}.{name} is not available: configs are evaluated hermetically (no clock, no \
                 randomness, no process environment, no I/O), and {} offers only {offers}",
                self.name(),
                self.name()
            )
        })
    }
}

impl Function {
    pub fn name(self) -> &'static str {
        match self {
            Function::Getenv => "os.getenv",
            Function::Getuser => "getpass.getuser",
            Function::Join => "os.path.join",
            Function::Basename => "os.path.basename",
            Function::Dirname => "os.path.dirname",
            Function::Dumps => "json.dumps",
            Function::Loads => "json.loads",
            Function::ReCompile => "re.compile",
            Function::ReMatch => "re.match",
            Function::ReSearch => "re.search",
            Function::ReFullmatch => "re.fullmatch",
            Function::ReSub => "re.sub",
            Function::ReSplit => "re.split",
            Function::ReFindall => "re.findall",
            Function::ReEscape => "re.escape",
        }
    }
}

/// Why a top-level module cannot be imported.
fn refusal(module: &str) -> &'static str {
    match module {
        "random" | "uuid" | "secrets" => "would make the result random",
        "time" | "datetime" | "calendar" => "reads the clock",
        "subprocess" | "commands" | "shutil" | "socket" | "urllib" | "urllib2" | "urllib3"
        | "httplib" | "http" | "requests" | "tempfile" | "glob" | "io" | "pathlib" | "platform"
        | "pwd" | "posix" => {
            "reads or changes the machine the client runs on (files, network, programs)"
        }
        "sys" => "exposes the client process (arguments, exit, loaded modules)",
        _ => "is not one of the modules this loader provides",
    }
}

/// What `dotted` (`os`, `os.path`, `os.path.join`, `os.environ`) names, or why it cannot be
/// imported, as a sentence to follow "`import x` cannot be honoured: ".
pub(crate) fn resolve(dotted: &str) -> Result<Member, String> {
    let mut parts = dotted.split('.');
    let first = parts.next().unwrap_or_default();
    let module = match first {
        "os" => Module::Os,
        "getpass" => Module::Getpass,
        "json" => Module::Json,
        "re" => Module::Re,
        other => {
            return Err(format!(
                "{other} {}; configs are evaluated hermetically, and the modules available are \
                 {AVAILABLE}",
                refusal(other)
            ));
        }
    };
    let mut member = Member::Module(module);
    for part in parts {
        member = match member {
            Member::Module(m) => m.member(part)?,
            Member::Function(f) => return Err(format!("{} has no attribute '{part}'", f.name())),
            Member::Environ => return Err(format!("os.environ has no attribute '{part}'")),
            Member::Constant(_) => return Err(format!("{dotted} is not a module")),
        };
    }
    Ok(member)
}

/// `from __future__ import name`: the features Python knows. They change nothing here.
pub(crate) fn future_feature(name: &str) -> bool {
    matches!(
        name,
        "nested_scopes"
            | "generators"
            | "division"
            | "absolute_import"
            | "with_statement"
            | "print_function"
            | "unicode_literals"
            | "generator_stop"
            | "annotations"
    )
}

/// What a module function sees of the load: the environment and the user.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Load<'a> {
    pub env: &'a std::collections::BTreeMap<String, String>,
    pub user: Option<&'a str>,
}

/// `os.environ`, as a dict the config may read (and change, without effect outside it).
pub(crate) fn environ<'v>(load: Load<'_>, heap: Heap<'v>) -> Value<'v> {
    heap.alloc(AllocDict(
        load.env.iter().map(|(k, v)| (k.as_str(), v.as_str())),
    ))
}

/// Calls a module function with positional and keyword arguments.
pub(crate) fn call<'v>(
    function: Function,
    pos: &[Value<'v>],
    named: &[(String, Value<'v>)],
    load: Load<'_>,
    heap: Heap<'v>,
) -> Result<Value<'v>, String> {
    let what = function.name();
    let strings = |values: &[Value<'v>]| -> Result<Vec<String>, String> {
        values
            .iter()
            .map(|v| {
                v.unpack_str()
                    .map(str::to_string)
                    .ok_or_else(|| format!("{what}() takes strings, got {}", describe(*v)))
            })
            .collect()
    };
    let no_named = || match named.first() {
        None => Ok(()),
        Some((name, _)) => Err(format!(
            "{what}() got an unexpected keyword argument '{name}'"
        )),
    };
    match function {
        Function::Getenv => {
            let mut args: Vec<Option<Value<'v>>> = pos.iter().copied().map(Some).collect();
            if args.len() > 2 {
                return Err("os.getenv() takes a name and an optional default".into());
            }
            args.resize(2, None);
            for (name, value) in named {
                let slot = match name.as_str() {
                    "key" => 0,
                    "default" => 1,
                    _ => {
                        return Err(format!(
                            "os.getenv() got an unexpected keyword argument '{name}'"
                        ));
                    }
                };
                if args[slot].replace(*value).is_some() {
                    return Err(format!("os.getenv() got multiple values for '{name}'"));
                }
            }
            let key = args[0].ok_or("os.getenv() needs the variable's name")?;
            let key = strings(&[key])?.remove(0);
            Ok(load.env.get(&key).map_or_else(
                || args[1].unwrap_or_else(Value::new_none),
                |v| heap.alloc(v.as_str()),
            ))
        }
        Function::Getuser => {
            no_named()?;
            if !pos.is_empty() {
                return Err("getpass.getuser() takes no arguments".into());
            }
            let user = load.user.ok_or(
                "getpass.getuser(): no user is known: the loader was not told who runs it \
                 (the aurora client passes $USER)",
            )?;
            Ok(heap.alloc(user))
        }
        Function::Join => {
            no_named()?;
            let parts = strings(pos)?;
            if parts.is_empty() {
                return Err("os.path.join() takes at least one path".into());
            }
            Ok(heap.alloc(join(&parts)))
        }
        Function::Basename | Function::Dirname => {
            no_named()?;
            let [path] = strings(pos)?
                .try_into()
                .map_err(|_| format!("{what}() takes one path"))?;
            let split = path.rfind('/').map_or(0, |i| i + 1);
            let part = if function == Function::Basename {
                path[split..].to_string()
            } else {
                dirname(&path[..split])
            };
            Ok(heap.alloc(part))
        }
        Function::Dumps => pyjson::dumps(pos, named, heap),
        Function::Loads => {
            no_named()?;
            let [text] = strings(pos)?
                .try_into()
                .map_err(|_| "json.loads() takes one string".to_string())?;
            pyjson::loads(&text, heap)
        }
        Function::ReCompile
        | Function::ReMatch
        | Function::ReSearch
        | Function::ReFullmatch
        | Function::ReSub
        | Function::ReSplit
        | Function::ReFindall
        | Function::ReEscape => pyre::call(function, pos, named, heap),
    }
}

/// `posixpath.join`: an absolute part starts over; a `/` is added only where none is.
fn join(parts: &[String]) -> String {
    let mut path = String::new();
    for part in parts {
        if part.starts_with('/') {
            path = part.clone();
        } else if path.is_empty() || path.ends_with('/') {
            path.push_str(part);
        } else {
            path.push('/');
            path.push_str(part);
        }
    }
    path
}

/// `posixpath.dirname`'s head: trailing slashes go unless the head is all slashes.
fn dirname(head: &str) -> String {
    if !head.is_empty() && head.bytes().any(|b| b != b'/') {
        head.trim_end_matches('/').to_string()
    } else {
        head.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_follow_posixpath() {
        let s = |v: &[&str]| v.iter().map(|p| p.to_string()).collect::<Vec<_>>();
        assert_eq!(join(&s(&["a", "b/", "c"])), "a/b/c");
        assert_eq!(join(&s(&["a", "/b", "c"])), "/b/c");
        assert_eq!(join(&s(&["", "a"])), "a");
        assert_eq!(dirname("/usr//"), "/usr");
        assert_eq!(dirname("//"), "//");
        assert_eq!(dirname(""), "");
    }

    #[test]
    fn names_resolve_or_say_why_not() {
        assert_eq!(resolve("os.path"), Ok(Member::Module(Module::OsPath)));
        assert_eq!(resolve("os.environ"), Ok(Member::Environ));
        assert_eq!(resolve("json.dumps"), Ok(Member::Function(Function::Dumps)));
        let e = resolve("datetime").expect_err("the clock");
        assert!(e.starts_with("datetime reads the clock;"), "{e}");
        let e = resolve("os.system").expect_err("not hermetic");
        assert!(e.starts_with("os.system is not available"), "{e}");
    }
}
