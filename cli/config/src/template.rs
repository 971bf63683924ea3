//! `{{...}}` templates: references ([`Ref`]), splitting text into literal and reference pieces,
//! and resolving references through a chain of scopes exactly as Pystachio does.
//!
//! Scoping (Pystachio's `Struct.scopes()`): a value inside struct `S` is resolved first in
//! `S`'s own fields, then in what `S` was bound to (newest binding first), then in the scopes
//! of the struct that contains `S`, outwards. A reference that resolves to another templated
//! string is resolved in the scopes *of that string* (a `Profile` default such as
//! `'/{{parent_environment}}/bird'` sees the profile's fields); whatever remains is retried in
//! the original scopes, up to 100 rounds. References nothing binds are left in the text as
//! `{{...}}` and reported, so that `{{mesos.instance}}` and friends reach the executor intact.
//! `{{&name}}` is an escape: it renders as the literal text `{{name}}`.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use crate::value::{Binding, Datum, Env, Frame, Instance};

/// Pystachio's `MustacheParser.MAX_ITERATIONS`.
const MAX_ROUNDS: usize = 100;
/// How deep references may lead into other templated strings before we call it a cycle.
const MAX_DEPTH: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Component {
    /// `.name`
    Deref(String),
    /// `[key]`
    Index(String),
}

/// A reference such as `profile.package_version` or `thermos.ports[http]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Ref(pub Vec<Component>);

impl Ref {
    /// Parses an address with Pystachio's rules: components `.identifier` or `[index]` (index
    /// characters: word characters, `-`, `.`, `/`); a leading identifier needs no dot.
    pub fn parse(address: &str) -> Option<Ref> {
        let text = match address.chars().next() {
            Some('[') | Some('.') => address.to_string(),
            Some(c) if c.is_ascii_alphabetic() || c == '_' => format!(".{address}"),
            _ => return None,
        };
        let chars: Vec<char> = text.chars().collect();
        let mut components = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            match chars[i] {
                '.' => {
                    let start = i + 1;
                    let mut end = start;
                    while end < chars.len() && (chars[end].is_alphanumeric() || chars[end] == '_') {
                        end += 1;
                    }
                    if end == start || chars[start].is_ascii_digit() {
                        return None;
                    }
                    components.push(Component::Deref(chars[start..end].iter().collect()));
                    i = end;
                }
                '[' => {
                    let start = i + 1;
                    let mut end = start;
                    while end < chars.len()
                        && (chars[end].is_alphanumeric()
                            || matches!(chars[end], '_' | '-' | '.' | '/'))
                    {
                        end += 1;
                    }
                    if end == start || chars.get(end) != Some(&']') {
                        return None;
                    }
                    components.push(Component::Index(chars[start..end].iter().collect()));
                    i = end + 1;
                }
                _ => return None,
            }
        }
        (!components.is_empty()).then_some(Ref(components))
    }

    /// `a.b[c]`
    pub fn address(&self) -> String {
        let mut out = String::new();
        for (i, c) in self.0.iter().enumerate() {
            match c {
                Component::Deref(name) if i == 0 => out.push_str(name),
                Component::Deref(name) => {
                    out.push('.');
                    out.push_str(name);
                }
                Component::Index(key) => {
                    out.push('[');
                    out.push_str(key);
                    out.push(']');
                }
            }
        }
        out
    }

    /// What follows `prefix` in `self`, when `self` starts with `prefix` and is longer.
    pub fn after(&self, prefix: &Ref) -> Option<Ref> {
        (self.0.len() > prefix.0.len() && self.0.starts_with(&prefix.0))
            .then(|| Ref(self.0[prefix.0.len()..].to_vec()))
    }

    fn starts_with_names(&self, names: &[&str]) -> bool {
        self.0.len() >= names.len()
            && self
                .0
                .iter()
                .zip(names)
                .all(|(c, n)| *c == Component::Deref((*n).to_string()))
    }

    /// The port a `{{thermos.ports[NAME]}}` reference names: `Some(Ok(name))`, or
    /// `Some(Err(()))` when the reference is under `thermos.ports` but not of that form.
    pub fn port(&self) -> Option<Result<&str, ()>> {
        if !self.starts_with_names(&["thermos", "ports"]) {
            return None;
        }
        match &self.0[2..] {
            [Component::Index(name)] => Some(Ok(name)),
            _ => Some(Err(())),
        }
    }

    /// The references the executor substitutes when a task starts (Aurora's `convert()` lets
    /// exactly these through): `thermos.task_id`, `mesos.instance`, `mesos.hostname` and
    /// `thermos.ports[NAME]`.
    pub fn is_runtime(&self) -> bool {
        let exact = |names: &[&str]| self.0.len() == names.len() && self.starts_with_names(names);
        exact(&["thermos", "task_id"])
            || exact(&["mesos", "instance"])
            || exact(&["mesos", "hostname"])
            || matches!(self.port(), Some(Ok(_)))
    }
}

impl fmt::Display for Ref {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.address())
    }
}

/// A piece of templated text.
#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Text(String),
    Ref(Ref),
    /// `{{&address}}`: kept verbatim until the last round, then rendered as `{{address}}`.
    Escaped(String),
}

/// Splits text the way Pystachio's `{{(&)?([^{}]+?)\1?}}` does.
fn split(text: &str) -> Result<Vec<Piece>, String> {
    let mut pieces = Vec::new();
    let mut literal = String::new();
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        let after = &rest[open + 2..];
        // The address holds no braces, so it ends at the first '}', which must start "}}".
        let close = after.find(['{', '}']);
        match close {
            Some(close) if close > 0 && after[close..].starts_with("}}") => {
                literal.push_str(&rest[..open]);
                let inner = &after[..close];
                if !literal.is_empty() {
                    pieces.push(Piece::Text(std::mem::take(&mut literal)));
                }
                if let Some(escaped) = inner.strip_prefix('&') {
                    let escaped = escaped.strip_suffix('&').unwrap_or(escaped);
                    pieces.push(Piece::Escaped(escaped.to_string()));
                } else {
                    let reference = Ref::parse(inner)
                        .ok_or_else(|| format!("invalid template reference {{{{{inner}}}}}"))?;
                    pieces.push(Piece::Ref(reference));
                }
                rest = &after[close + 2..];
            }
            _ => {
                // No template starts here; keep one '{' and look again from the next one.
                literal.push_str(&rest[..open + 1]);
                rest = &rest[open + 1..];
            }
        }
    }
    literal.push_str(rest);
    if !literal.is_empty() {
        pieces.push(Piece::Text(literal));
    }
    Ok(pieces)
}

/// A persistent stack of scopes, innermost first.
#[derive(Debug, Clone, Default)]
pub(crate) struct Chain(Option<Arc<Node>>);

#[derive(Debug)]
struct Node {
    frame: Frame,
    next: Chain,
}

impl Chain {
    pub fn empty() -> Self {
        Self(None)
    }

    fn push(&self, frame: Frame) -> Chain {
        Chain(Some(Arc::new(Node {
            frame,
            next: self.clone(),
        })))
    }

    /// The scopes of `inst` seen from inside it: its fields, its own bindings (newest first),
    /// then `self`, the scopes of whatever contains it.
    pub fn enter(&self, inst: &Arc<Instance>) -> Chain {
        let mut chain = self.clone();
        for frame in inst.scopes.iter().rev() {
            chain = chain.push(frame.clone());
        }
        chain.push(Frame::Fields(inst.clone()))
    }

    /// The frames from the innermost out, as Pystachio's `scopes()` lists them (used when an
    /// instance read out of a struct keeps that struct's context).
    pub fn frames(&self) -> Vec<Frame> {
        let mut out = Vec::new();
        let mut node = self.0.as_ref();
        while let Some(n) = node {
            out.push(n.frame.clone());
            node = n.next.0.as_ref();
        }
        out
    }
}

/// What a reference resolved to.
enum Found {
    Text(String),
    /// A value and the chain it is scoped in (its container's).
    Datum(Datum, Chain),
}

fn find(chain: &Chain, reference: &Ref) -> Option<Found> {
    let mut node = chain.0.as_ref();
    while let Some(n) = node {
        let found = match &n.frame {
            Frame::Fields(inst) => find_in_instance(inst, &Chain(Some(n.clone())), &reference.0),
            Frame::Env(env) => find_in_env(env, reference),
        };
        if found.is_some() {
            return found;
        }
        node = n.next.0.as_ref();
    }
    None
}

fn find_in_instance(inst: &Arc<Instance>, own: &Chain, path: &[Component]) -> Option<Found> {
    let Some(Component::Deref(name)) = path.first() else {
        return None;
    };
    if name == "self" && path.len() > 1 {
        return find_in_instance(inst, own, &path[1..]);
    }
    let value = inst.get(name)?;
    if path.len() == 1 {
        Some(Found::Datum(value.clone(), own.clone()))
    } else {
        navigate(value, own, &path[1..])
    }
}

/// Looks `path` up inside `value`, which lives in the scopes `outer`.
fn navigate(value: &Datum, outer: &Chain, path: &[Component]) -> Option<Found> {
    let item = match (value, path.first()?) {
        (Datum::Struct(inst), _) => return find_in_instance(inst, &outer.enter(inst), path),
        (Datum::List(items), Component::Index(index)) => items.get(index.parse::<usize>().ok()?)?,
        (Datum::Map(pairs), Component::Index(key)) => {
            &pairs
                .iter()
                .find(|(k, _)| k.python_str().as_deref() == Some(key.as_str()))?
                .1
        }
        _ => return None,
    };
    if path.len() == 1 {
        Some(Found::Datum(item.clone(), outer.clone()))
    } else {
        navigate(item, outer, &path[1..])
    }
}

fn find_in_env(env: &Env, reference: &Ref) -> Option<Found> {
    if let Some((_, binding)) = env.entries.iter().find(|(k, _)| k == reference) {
        return Some(match binding {
            Binding::Text(text) => Found::Text(text.clone()),
            Binding::Datum(d) => Found::Datum(d.clone(), Chain::empty()),
        });
    }
    let mut prefixes: Vec<(&Ref, &Binding, Ref)> = env
        .entries
        .iter()
        .filter_map(|(k, b)| reference.after(k).map(|rest| (k, b, rest)))
        .collect();
    prefixes.sort_by(|a, b| b.0.cmp(a.0));
    prefixes
        .into_iter()
        .find_map(|(_, binding, rest)| match binding {
            Binding::Datum(d) => navigate(d, &Chain::empty(), &rest.0),
            Binding::Text(_) => None,
        })
}

/// Renders what a reference found as text (Pystachio's `str()` of the found object).
fn render(found: &Found, reference: &Ref, depth: usize) -> Result<String, String> {
    match found {
        Found::Text(text) => Ok(text.clone()),
        Found::Datum(Datum::Str(text), chain) => Ok(resolve_at(text, chain, depth + 1)?.0),
        Found::Datum(datum, _) => datum.python_str().ok_or_else(|| {
            format!(
                "template {{{{{reference}}}}} refers to {}, not to a single value",
                datum.describe()
            )
        }),
    }
}

/// Resolves every reference in `text` it can through `chain`; returns the text (unresolved
/// references left as `{{...}}`) and the references nothing bound, in order of appearance.
pub(crate) fn resolve(text: &str, chain: &Chain) -> Result<(String, Vec<Ref>), String> {
    resolve_at(text, chain, 0)
}

fn resolve_at(text: &str, chain: &Chain, depth: usize) -> Result<(String, Vec<Ref>), String> {
    if !text.contains("{{") {
        return Ok((text.to_string(), Vec::new()));
    }
    if depth > MAX_DEPTH {
        return Err(format!(
            "cannot interpolate {text:?}: its templates refer to each other in a cycle"
        ));
    }
    let mut cache: HashMap<Ref, String> = HashMap::new();
    let mut stream = text.to_string();
    let mut settled = false;
    for _ in 0..MAX_ROUNDS {
        let pieces = split(&stream)?;
        let present: Vec<&Ref> = pieces
            .iter()
            .filter_map(|p| match p {
                Piece::Ref(r) => Some(r),
                _ => None,
            })
            .collect();
        let (joined, unresolved) = join(&pieces, chain, &mut cache, true, depth)?;
        let nothing_new = unresolved.iter().eq(present.iter().copied());
        stream = joined;
        if nothing_new {
            settled = true;
            break;
        }
    }
    if !settled {
        return Err(format!(
            "cannot interpolate {text:?}: still changing after {MAX_ROUNDS} rounds of substitution"
        ));
    }
    let pieces = split(&stream)?;
    join(&pieces, chain, &mut cache, false, depth)
}

fn join(
    pieces: &[Piece],
    chain: &Chain,
    cache: &mut HashMap<Ref, String>,
    keep_escapes: bool,
    depth: usize,
) -> Result<(String, Vec<Ref>), String> {
    let mut out = String::new();
    let mut unresolved = Vec::new();
    for piece in pieces {
        match piece {
            Piece::Text(text) => out.push_str(text),
            Piece::Escaped(address) if keep_escapes => {
                out.push_str("{{&");
                out.push_str(address);
                out.push_str("}}");
            }
            Piece::Escaped(address) => {
                out.push_str("{{");
                out.push_str(address);
                out.push_str("}}");
            }
            Piece::Ref(reference) => {
                if !cache.contains_key(reference) {
                    if let Some(found) = find(chain, reference) {
                        let text = render(&found, reference, depth)?;
                        cache.insert(reference.clone(), text);
                    }
                }
                match cache.get(reference) {
                    Some(text) => out.push_str(text),
                    None => {
                        out.push_str("{{");
                        out.push_str(&reference.address());
                        out.push_str("}}");
                        unresolved.push(reference.clone());
                    }
                }
            }
        }
    }
    Ok((out, unresolved))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::{Field, Origin, Schema, Ty};

    fn env(pairs: &[(&str, &str)]) -> Frame {
        Frame::Env(Arc::new(Env {
            entries: pairs
                .iter()
                .map(|(k, v)| (Ref::parse(k).expect("ref"), Binding::Text((*v).to_string())))
                .collect(),
        }))
    }

    fn profile() -> Arc<Instance> {
        let schema = Arc::new(Schema {
            name: "Profile".into(),
            fields: vec![
                Field {
                    name: "env".into(),
                    ty: Ty::String,
                    required: false,
                    default: Some(Datum::str("prod")),
                    reserved: false,
                },
                Field {
                    name: "path".into(),
                    ty: Ty::String,
                    required: false,
                    default: Some(Datum::str("/svc/{{env}}/{{name}}")),
                    reserved: false,
                },
            ],
        });
        Arc::new(Instance::defaults(&schema, Origin::nowhere("test")))
    }

    #[test]
    fn refs_parse_like_pystachio() {
        let r = Ref::parse("thermos.ports[http]").expect("valid");
        assert_eq!(r.address(), "thermos.ports[http]");
        assert_eq!(r.port(), Some(Ok("http")));
        assert!(r.is_runtime());
        assert!(Ref::parse("processes[0].name").is_some());
        assert!(Ref::parse(" spaced ").is_none());
        assert!(Ref::parse("1abc").is_none());
        assert_eq!(
            Ref::parse("thermos.ports.http").and_then(|r| r.port().map(|p| p.is_err())),
            Some(true)
        );
    }

    #[test]
    fn unresolved_references_stay_in_the_text() {
        let chain = Chain::empty().push(env(&[("x", "1")]));
        let (text, unbound) = resolve("a {{x}} {{mesos.instance}} {{&y}}", &chain).expect("ok");
        assert_eq!(text, "a 1 {{mesos.instance}} {{y}}");
        assert_eq!(unbound, vec![Ref::parse("mesos.instance").expect("ref")]);
    }

    #[test]
    fn bound_struct_defaults_resolve_in_their_own_scope_then_outside() {
        let bound = Frame::Env(Arc::new(Env {
            entries: vec![(
                Ref::parse("profile").expect("ref"),
                Binding::Datum(Datum::Struct(profile())),
            )],
        }));
        let chain = Chain::empty().push(env(&[("name", "bird")])).push(bound);
        let (text, unbound) = resolve("{{profile.path}}", &chain).expect("ok");
        assert_eq!(text, "/svc/prod/bird");
        assert!(unbound.is_empty());
    }

    #[test]
    fn substituted_text_is_resolved_again() {
        let chain = Chain::empty().push(env(&[("a", "{{b}}"), ("b", "done")]));
        assert_eq!(resolve("{{a}}", &chain).expect("ok").0, "done");
        let cyclic = Chain::empty().push(env(&[("a", "{{a}}x")]));
        assert!(resolve("{{a}}", &cyclic).is_err());
    }
}
