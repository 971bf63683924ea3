//! Python's `re` for configs, on the `regex` crate: `re.match`, `search`, `fullmatch`, `sub`,
//! `split`, `findall`, `escape`, `compile` (a pattern object with the same methods) and the
//! flags `IGNORECASE`/`I`, `MULTILINE`/`M`, `DOTALL`/`S`, `VERBOSE`/`X`. A match is an object
//! with `group`, `groups`, `groupdict`, `start`, `end` and `span`; positions count characters,
//! as in Python.
//!
//! The engine guarantees linear time, so it has no backreferences and no look-around: a pattern
//! using them is refused, naming the pattern, rather than evaluated differently. Replacement
//! templates take Python's `\1`, `\g<1>`, `\g<name>` and escapes; a function as replacement is
//! not supported.

use std::sync::Arc;

use regex::{Captures, Regex, RegexBuilder};
use starlark::values::dict::AllocDict;
use starlark::values::list::AllocList;
use starlark::values::tuple::AllocTuple;
use starlark::values::{Heap, Value};

use crate::coerce::describe;
use crate::dsl::{Obj, alloc};
use crate::modules::Function;

pub(crate) const IGNORECASE: i32 = 2;
pub(crate) const MULTILINE: i32 = 8;
pub(crate) const DOTALL: i32 = 16;
pub(crate) const VERBOSE: i32 = 64;

/// `re.compile`'s result: the pattern and its flags, compiled again where used (configs are
/// small, and a match needs an anchored variant anyway).
#[derive(Debug)]
pub(crate) struct Pattern {
    pub source: String,
    pub flags: i32,
}

/// A successful match: the subject and each group's byte range.
#[derive(Debug)]
pub(crate) struct MatchData {
    subject: String,
    groups: Vec<Option<(usize, usize)>>,
    names: Vec<Option<String>>,
}

/// A match object's methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MatchMethod {
    Group,
    Groups,
    Groupdict,
    Start,
    End,
    Span,
}

impl MatchMethod {
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "group" => MatchMethod::Group,
            "groups" => MatchMethod::Groups,
            "groupdict" => MatchMethod::Groupdict,
            "start" => MatchMethod::Start,
            "end" => MatchMethod::End,
            "span" => MatchMethod::Span,
            _ => return None,
        })
    }
}

/// The parameters a function takes, in order; the first `required` must be given.
fn params<'v>(
    what: &str,
    pos: &[Value<'v>],
    named: &[(String, Value<'v>)],
    names: &[&str],
    required: usize,
) -> Result<Vec<Option<Value<'v>>>, String> {
    if pos.len() > names.len() {
        return Err(format!(
            "{what}() takes at most {} arguments ({}), got {}",
            names.len(),
            names.join(", "),
            pos.len()
        ));
    }
    let mut slots: Vec<Option<Value<'v>>> = vec![None; names.len()];
    for (slot, value) in slots.iter_mut().zip(pos) {
        *slot = Some(*value);
    }
    for (name, value) in named {
        let index = names
            .iter()
            .position(|n| n == name)
            .ok_or_else(|| format!("{what}() got an unexpected keyword argument '{name}'"))?;
        if slots[index].replace(*value).is_some() {
            return Err(format!(
                "{what}() got multiple values for argument '{name}'"
            ));
        }
    }
    if let Some(missing) = slots.iter().take(required).position(Option::is_none) {
        return Err(format!("{what}() missing argument '{}'", names[missing]));
    }
    Ok(slots)
}

fn string<'v>(what: &str, value: Value<'v>) -> Result<&'v str, String> {
    value
        .unpack_str()
        .ok_or_else(|| format!("{what}() takes strings, got {}", describe(value)))
}

fn int(what: &str, value: Option<Value<'_>>) -> Result<i32, String> {
    match value {
        None => Ok(0),
        Some(v) => v
            .unpack_i32()
            .ok_or_else(|| format!("{what}() takes an integer there, got {}", describe(v))),
    }
}

/// Compiles `source` as Python would read it, anchored as asked.
fn compile(what: &str, source: &str, flags: i32, anchor: Anchor) -> Result<Regex, String> {
    let known = IGNORECASE | MULTILINE | DOTALL | VERBOSE;
    if flags & !known != 0 {
        return Err(format!(
            "{what}(): flags {flags} are not supported (only IGNORECASE, MULTILINE, DOTALL, \
             VERBOSE)"
        ));
    }
    let wrapped = match anchor {
        Anchor::None => source.to_string(),
        Anchor::Start => format!(r"\A(?:{source})"),
        Anchor::Both => format!(r"\A(?:{source})\z"),
    };
    RegexBuilder::new(&wrapped)
        .case_insensitive(flags & IGNORECASE != 0)
        .multi_line(flags & MULTILINE != 0)
        .dot_matches_new_line(flags & DOTALL != 0)
        .ignore_whitespace(flags & VERBOSE != 0)
        .build()
        .map_err(|e| {
            let e = e.to_string();
            let hint = if e.contains("look-around") || e.contains("backreferences") {
                " (this loader's engine runs in linear time: no look-around, no backreferences)"
            } else {
                ""
            };
            format!("{what}(): the pattern {source:?} cannot be used{hint}: {e}")
        })
}

#[derive(Debug, Clone, Copy)]
enum Anchor {
    None,
    Start,
    Both,
}

fn match_data(regex: &Regex, captures: &Captures<'_>, subject: &str) -> MatchData {
    MatchData {
        subject: subject.to_string(),
        groups: captures
            .iter()
            .map(|m| m.map(|m| (m.start(), m.end())))
            .collect(),
        names: regex
            .capture_names()
            .map(|n| n.map(str::to_string))
            .collect(),
    }
}

/// Calls one of `re`'s functions.
pub(crate) fn call<'v>(
    function: Function,
    pos: &[Value<'v>],
    named: &[(String, Value<'v>)],
    heap: Heap<'v>,
) -> Result<Value<'v>, String> {
    let what = function.name();
    match function {
        Function::ReCompile => {
            let p = params(what, pos, named, &["pattern", "flags"], 1)?;
            let source = string(what, p[0].unwrap_or_else(Value::new_none))?;
            let flags = int(what, p[1])?;
            compile(what, source, flags, Anchor::None)?;
            Ok(alloc(
                heap,
                Obj::Regex(Arc::new(Pattern {
                    source: source.to_string(),
                    flags,
                })),
            ))
        }
        Function::ReMatch | Function::ReSearch | Function::ReFullmatch => {
            let p = params(what, pos, named, &["pattern", "string", "flags"], 2)?;
            let source = string(what, p[0].unwrap_or_else(Value::new_none))?;
            let subject = string(what, p[1].unwrap_or_else(Value::new_none))?;
            let anchor = match function {
                Function::ReMatch => Anchor::Start,
                Function::ReFullmatch => Anchor::Both,
                _ => Anchor::None,
            };
            let regex = compile(what, source, int(what, p[2])?, anchor)?;
            Ok(match regex.captures(subject) {
                None => Value::new_none(),
                Some(captures) => alloc(
                    heap,
                    Obj::Match(Arc::new(match_data(&regex, &captures, subject))),
                ),
            })
        }
        Function::ReSub => {
            let names = ["pattern", "repl", "string", "count", "flags"];
            let p = params(what, pos, named, &names, 3)?;
            let source = string(what, p[0].unwrap_or_else(Value::new_none))?;
            let repl = p[1].unwrap_or_else(Value::new_none);
            let repl = repl.unpack_str().ok_or_else(|| {
                format!(
                    "re.sub() takes a string replacement here, not {}",
                    describe(repl)
                )
            })?;
            let subject = string(what, p[2].unwrap_or_else(Value::new_none))?;
            let count = usize::try_from(int(what, p[3])?).unwrap_or(0);
            let regex = compile(what, source, int(what, p[4])?, Anchor::None)?;
            let template = parse_template(repl, &regex)?;
            let mut out = String::new();
            let mut last = 0;
            for (n, captures) in regex.captures_iter(subject).enumerate() {
                if count > 0 && n >= count {
                    break;
                }
                let whole = captures.get(0).map_or((0, 0), |m| (m.start(), m.end()));
                out.push_str(&subject[last..whole.0]);
                for part in &template {
                    match part {
                        Part::Text(text) => out.push_str(text),
                        Part::Group(g) => {
                            out.push_str(captures.get(*g).map_or("", |m| m.as_str()));
                        }
                    }
                }
                last = whole.1;
            }
            out.push_str(&subject[last..]);
            Ok(heap.alloc(out))
        }
        Function::ReSplit => {
            let names = ["pattern", "string", "maxsplit", "flags"];
            let p = params(what, pos, named, &names, 2)?;
            let source = string(what, p[0].unwrap_or_else(Value::new_none))?;
            let subject = string(what, p[1].unwrap_or_else(Value::new_none))?;
            let maxsplit = usize::try_from(int(what, p[2])?).unwrap_or(0);
            let regex = compile(what, source, int(what, p[3])?, Anchor::None)?;
            let mut parts: Vec<Value<'v>> = Vec::new();
            let mut last = 0;
            for (n, captures) in regex.captures_iter(subject).enumerate() {
                if maxsplit > 0 && n >= maxsplit {
                    break;
                }
                let Some(whole) = captures.get(0) else {
                    continue;
                };
                parts.push(heap.alloc(&subject[last..whole.start()]));
                // Groups in the pattern are kept in the result, as Python does.
                for group in captures.iter().skip(1) {
                    parts.push(group.map_or_else(Value::new_none, |m| heap.alloc(m.as_str())));
                }
                last = whole.end();
            }
            parts.push(heap.alloc(&subject[last..]));
            Ok(heap.alloc(AllocList(parts)))
        }
        Function::ReFindall => {
            let p = params(what, pos, named, &["pattern", "string", "flags"], 2)?;
            let source = string(what, p[0].unwrap_or_else(Value::new_none))?;
            let subject = string(what, p[1].unwrap_or_else(Value::new_none))?;
            let regex = compile(what, source, int(what, p[2])?, Anchor::None)?;
            let groups = regex.captures_len() - 1;
            let found: Vec<Value<'v>> = regex
                .captures_iter(subject)
                .map(|captures| {
                    let text = |g: usize| captures.get(g).map_or("", |m| m.as_str());
                    match groups {
                        0 => heap.alloc(text(0)),
                        1 => heap.alloc(text(1)),
                        _ => heap.alloc(AllocTuple((1..=groups).map(text))),
                    }
                })
                .collect();
            Ok(heap.alloc(AllocList(found)))
        }
        Function::ReEscape => {
            let p = params(what, pos, named, &["pattern"], 1)?;
            let text = string(what, p[0].unwrap_or_else(Value::new_none))?;
            Ok(heap.alloc(escape(text)))
        }
        other => Err(format!("{} is not a function of re", other.name())),
    }
}

/// Calls a compiled pattern's method: the module function with the pattern first.
pub(crate) fn call_pattern<'v>(
    pattern: &Pattern,
    function: Function,
    pos: &[Value<'v>],
    named: &[(String, Value<'v>)],
    heap: Heap<'v>,
) -> Result<Value<'v>, String> {
    let mut args = vec![heap.alloc(pattern.source.as_str())];
    args.extend_from_slice(pos);
    let mut named = named.to_vec();
    if function != Function::ReEscape && pattern.flags != 0 {
        named.push(("flags".into(), heap.alloc(pattern.flags)));
    }
    call(function, &args, &named, heap)
}

/// A compiled pattern's method of that name.
pub(crate) fn pattern_method(name: &str) -> Option<Function> {
    Some(match name {
        "match" => Function::ReMatch,
        "search" => Function::ReSearch,
        "fullmatch" => Function::ReFullmatch,
        "sub" => Function::ReSub,
        "split" => Function::ReSplit,
        "findall" => Function::ReFindall,
        _ => return None,
    })
}

/// Calls a match object's method.
pub(crate) fn call_match<'v>(
    data: &MatchData,
    method: MatchMethod,
    pos: &[Value<'v>],
    heap: Heap<'v>,
) -> Result<Value<'v>, String> {
    let group_index = |v: Value<'v>| -> Result<usize, String> {
        if let Some(name) = v.unpack_str() {
            return data
                .names
                .iter()
                .position(|n| n.as_deref() == Some(name))
                .ok_or_else(|| format!("no such group: {name:?}"));
        }
        v.unpack_i32()
            .and_then(|i| usize::try_from(i).ok())
            .filter(|i| *i < data.groups.len())
            .ok_or_else(|| format!("no such group: {}", v.to_repr()))
    };
    let text = |g: usize| -> Value<'v> {
        data.groups[g].map_or_else(Value::new_none, |(s, e)| heap.alloc(&data.subject[s..e]))
    };
    // Python counts characters, the engine bytes.
    let chars = |byte: usize| i32::try_from(data.subject[..byte].chars().count()).unwrap_or(-1);
    let bounds = |g: usize| data.groups[g].map_or((-1, -1), |(s, e)| (chars(s), chars(e)));
    let one_group = |what: &str| -> Result<usize, String> {
        match pos {
            [] => Ok(0),
            [g] => group_index(*g),
            _ => Err(format!("match.{what}() takes at most one group")),
        }
    };
    match method {
        MatchMethod::Group => match pos {
            [] => Ok(text(0)),
            [g] => Ok(text(group_index(*g)?)),
            many => {
                let values = many
                    .iter()
                    .map(|g| group_index(*g).map(text))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(heap.alloc(AllocTuple(values)))
            }
        },
        MatchMethod::Groups => {
            let default = pos.first().copied().unwrap_or_else(Value::new_none);
            let values = (1..data.groups.len()).map(|g| {
                if data.groups[g].is_some() {
                    text(g)
                } else {
                    default
                }
            });
            Ok(heap.alloc(AllocTuple(values)))
        }
        MatchMethod::Groupdict => {
            let entries: Vec<(&str, Value<'v>)> = data
                .names
                .iter()
                .enumerate()
                .filter_map(|(g, n)| n.as_deref().map(|n| (n, text(g))))
                .collect();
            Ok(heap.alloc(AllocDict(entries)))
        }
        MatchMethod::Start => Ok(heap.alloc(bounds(one_group("start")?).0)),
        MatchMethod::End => Ok(heap.alloc(bounds(one_group("end")?).1)),
        MatchMethod::Span => {
            let (s, e) = bounds(one_group("span")?);
            Ok(heap.alloc(AllocTuple([s, e])))
        }
    }
}

/// A piece of a replacement template.
#[derive(Debug, PartialEq)]
enum Part {
    Text(String),
    Group(usize),
}

/// Python's replacement syntax: `\1`..`\99`, `\g<n>`, `\g<name>`, `\n`-style escapes, `\\`.
fn parse_template(repl: &str, regex: &Regex) -> Result<Vec<Part>, String> {
    let groups = regex.captures_len();
    let check = |g: usize| {
        if g < groups {
            Ok(Part::Group(g))
        } else {
            Err(format!("re.sub(): invalid group reference {g}"))
        }
    };
    let mut parts = Vec::new();
    let mut text = String::new();
    let mut chars = repl.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            text.push(c);
            continue;
        }
        let Some(next) = chars.next() else {
            return Err("re.sub(): the replacement ends with a lone backslash".into());
        };
        let part = match next {
            '0'..='9' => {
                let mut digits = next.to_string();
                if let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                    digits.push(*d);
                    chars.next();
                }
                Some(check(digits.parse().unwrap_or(usize::MAX))?)
            }
            'g' => {
                if chars.next() != Some('<') {
                    return Err("re.sub(): \\g must be followed by <group>".into());
                }
                let name: String = chars.by_ref().take_while(|c| *c != '>').collect();
                let index = match name.parse::<usize>() {
                    Ok(g) => g,
                    Err(_) => regex
                        .capture_names()
                        .position(|n| n == Some(name.as_str()))
                        .ok_or_else(|| format!("re.sub(): unknown group name {name:?}"))?,
                };
                Some(check(index)?)
            }
            'n' => {
                text.push('\n');
                None
            }
            't' => {
                text.push('\t');
                None
            }
            'r' => {
                text.push('\r');
                None
            }
            '\\' => {
                text.push('\\');
                None
            }
            other => {
                // Python keeps unknown escapes of punctuation as they are.
                text.push('\\');
                text.push(other);
                None
            }
        };
        if let Some(part) = part {
            if !text.is_empty() {
                parts.push(Part::Text(std::mem::take(&mut text)));
            }
            parts.push(part);
        }
    }
    if !text.is_empty() {
        parts.push(Part::Text(text));
    }
    Ok(parts)
}

/// `re.escape` as Python 3.7+ does it: only characters special in a pattern are escaped.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if "()[]{}?*+-|^$\\.&~# \t\n\r\u{b}\u{c}".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_read_python_group_references() {
        let regex = Regex::new(r"(?P<word>\w+)-(\d+)").unwrap();
        assert_eq!(
            parse_template(r"\2:\g<word>\n\g<1>\\", &regex).unwrap(),
            vec![
                Part::Group(2),
                Part::Text(":".into()),
                Part::Group(1),
                Part::Text("\n".into()),
                Part::Group(1),
                Part::Text("\\".into()),
            ]
        );
        assert!(parse_template(r"\3", &regex).is_err());
        assert!(parse_template(r"\g<nope>", &regex).is_err());
    }

    #[test]
    fn escape_is_python_3s() {
        assert_eq!(escape("a.b-c d_e"), r"a\.b\-c\ d_e");
    }

    #[test]
    fn look_around_is_refused_naming_the_pattern() {
        let e = compile("re.match", "a(?=b)", 0, Anchor::Start).unwrap_err();
        assert!(
            e.contains("\"a(?=b)\"") && e.contains("no look-around"),
            "{e}"
        );
    }
}
