//! Source handling: edits that remember where every output byte came from ([`Mapped`]), and the
//! pre-transform that turns the Python an `.aurora` file is written in into Starlark.
//!
//! The pre-transform never adds or removes a line break, so line numbers survive it; the byte
//! map gives back exact columns for errors. It rewrites:
//!
//! - `class Profile(Struct):` and its indented `field = Type` body into
//!   `Profile = Struct('Profile', field = Type, ...)` spread over the same lines;
//! - import statements into assignments from `_import("module.name")` for the modules
//!   [`crate::modules`] provides; any other import is an error at its position (evaluation is
//!   hermetic);
//! - Python's implicit concatenation of adjacent string literals (`'a ' 'b'`) into `('a '+'b')`;
//! - Python 2's `u'...'` prefix into a space;
//! - generator expressions, which Starlark lacks, into list comprehensions: `f(x for x in y)`
//!   into `f([x for x in y])` and `(x for x in y)` into `[x for x in y]` (a config only
//!   iterates them, and its lists are small);
//! - Python 2's `xrange` into `range`, dicts' `.iteritems()`, `.iterkeys()` and
//!   `.itervalues()` into `.items()`, `.keys()` and `.values()`, and `d.has_key(k)` into
//!   `(k in d)`.

use std::collections::HashMap;
use std::sync::Arc;

use crate::error::ConfigError;
use crate::modules::{self, Member};

mod python2;

use python2::{generator_expressions, python2_has_key, python2_names, python2_prefixes};

/// Text produced by edits, with `origin[i]` = the offset in the input that output byte `i`
/// came from (inserted text maps to where it was inserted).
#[derive(Debug, Clone)]
pub(crate) struct Mapped {
    pub text: String,
    pub origin: Vec<u32>,
}

/// Replace `start..end` of the input by `text` (`start == end` inserts).
#[derive(Debug, Clone)]
pub(crate) struct Edit {
    pub start: usize,
    pub end: usize,
    pub text: String,
}

impl Edit {
    pub fn insert(at: usize, text: &str) -> Self {
        Self {
            start: at,
            end: at,
            text: text.into(),
        }
    }

    pub fn replace(start: usize, end: usize, text: &str) -> Self {
        Self {
            start,
            end,
            text: text.into(),
        }
    }

    /// Spaces over `start..end`, keeping line breaks (and so every offset after it).
    pub fn blank(src: &str, start: usize, end: usize) -> Self {
        let text = src[start..end]
            .bytes()
            .map(|b| if b == b'\n' { '\n' } else { ' ' })
            .collect();
        Self { start, end, text }
    }
}

/// Applies non-overlapping edits. At one offset, insertions go before a replacement, and
/// insertions keep the order they were made in (outer constructs are made first).
pub(crate) fn apply(src: &str, edits: Vec<Edit>) -> Mapped {
    let mut edits: Vec<(usize, Edit)> = edits.into_iter().enumerate().collect();
    edits.sort_by_key(|(seq, e)| (e.start, e.end > e.start, *seq));
    let mut text = String::with_capacity(src.len() + 64);
    let mut origin = Vec::with_capacity(src.len() + 64);
    let mut pos = 0;
    for (_, edit) in edits {
        if edit.start < pos {
            // Overlapping edits would be a bug in the caller; keep the first.
            continue;
        }
        copy(src, pos, edit.start, &mut text, &mut origin);
        text.push_str(&edit.text);
        origin.extend(std::iter::repeat_n(edit.start as u32, edit.text.len()));
        pos = edit.end;
    }
    copy(src, pos, src.len(), &mut text, &mut origin);
    Mapped { text, origin }
}

fn copy(src: &str, from: usize, to: usize, text: &mut String, origin: &mut Vec<u32>) {
    text.push_str(&src[from..to]);
    origin.extend((from..to).map(|i| i as u32));
}

impl Mapped {
    /// The input offset that output offset `at` came from; the end maps to the input's end.
    pub fn input_offset(&self, at: usize, input_len: usize) -> usize {
        self.origin.get(at).map_or(input_len, |&o| o as usize)
    }

    /// This map followed by `earlier` (whose output was this map's input).
    pub fn compose(&self, earlier: &Mapped) -> Vec<u32> {
        let end = earlier.origin.len();
        self.origin
            .iter()
            .map(|&o| earlier.input_offset(o as usize, end) as u32)
            .collect()
    }
}

/// A file's original text and line starts, to turn offsets into 1-based line and column.
#[derive(Debug)]
pub(crate) struct Lines {
    pub display: Arc<str>,
    text: Arc<str>,
    starts: Vec<usize>,
}

impl Lines {
    pub fn new(display: &str, text: &str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Self {
            display: display.into(),
            text: text.into(),
            starts,
        }
    }

    /// Line and column (in characters) of a byte offset.
    pub fn position(&self, offset: usize) -> (u32, u32) {
        let offset = offset.min(self.text.len());
        let line = self.starts.partition_point(|&s| s <= offset).max(1);
        let start = self.starts[line - 1];
        let column = self
            .text
            .get(start..offset)
            .map_or(offset - start, |s| s.chars().count());
        (line as u32, column as u32 + 1)
    }

    pub fn error(&self, offset: usize, message: impl Into<String>) -> ConfigError {
        let (line, column) = self.position(offset);
        ConfigError::new(&self.display, line, column, message)
    }
}

/// When `offset` is the first thing on its line, the end of the code on the previous line that
/// has some (ignoring blank lines and trailing comments), for "missing comma?" hints.
pub(crate) fn previous_code_end(src: &str, offset: usize) -> Option<usize> {
    let offset = floor_char_boundary(src, offset);
    let mut line_start = src[..offset].rfind('\n').map_or(0, |i| i + 1);
    if !src[line_start..offset].trim().is_empty() || line_start == 0 {
        return None;
    }
    while line_start > 0 {
        let end = line_start - 1;
        let start = src[..end].rfind('\n').map_or(0, |i| i + 1);
        let code = strip_comment(&src[start..end]).trim_end();
        if !code.is_empty() {
            return Some(start + code.len());
        }
        line_start = start;
    }
    None
}

/// The largest char boundary at or before `at` (offsets into blanked text may fall inside a
/// multi-byte character).
pub(crate) fn floor_char_boundary(src: &str, at: usize) -> usize {
    let mut at = at.min(src.len());
    while !src.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// A line without its `#` comment (quotes are respected).
fn strip_comment(line: &str) -> &str {
    let mut quote = None;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        match (quote, c) {
            (Some(_), _) if escaped => escaped = false,
            (Some(_), '\\') => escaped = true,
            (Some(q), c) if c == q => quote = None,
            (None, '\'' | '"') => quote = Some(c),
            (None, '#') => return &line[..i],
            _ => {}
        }
    }
    line
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Name,
    Number,
    Str,
    Op,
}

#[derive(Debug, Clone, Copy)]
struct Token {
    kind: Kind,
    start: usize,
    end: usize,
}

/// A logical line: its significant tokens and the indentation of the first.
#[derive(Debug)]
struct Line {
    tokens: Vec<Token>,
    indent: usize,
}

/// Splits Python source into logical lines of tokens. Comments, line breaks inside brackets
/// and backslash continuations are not tokens. Never fails: what it cannot make sense of (an
/// unterminated string) is left for Starlark's parser to report.
fn logical_lines(src: &str) -> Vec<Line> {
    let bytes = src.as_bytes();
    let mut lines = Vec::new();
    let mut current: Vec<Token> = Vec::new();
    let mut indent = 0;
    let mut line_start = 0;
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let start = i;
        match c {
            b'\n' => {
                i += 1;
                if depth == 0 && !current.is_empty() {
                    lines.push(Line {
                        tokens: std::mem::take(&mut current),
                        indent,
                    });
                }
                line_start = i;
                continue;
            }
            b' ' | b'\t' | b'\r' | b'\x0c' => {
                i += 1;
                continue;
            }
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'\\' if bytes.get(i + 1) == Some(&b'\n') => {
                i += 2;
                continue;
            }
            _ => {}
        }
        let kind = if let Some(quote_at) = string_start(bytes, i) {
            i = string_end(bytes, quote_at);
            Kind::Str
        } else if c.is_ascii_alphabetic() || c == b'_' || c >= 0x80 {
            while i < bytes.len()
                && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_' || bytes[i] >= 0x80)
            {
                i += 1;
            }
            Kind::Name
        } else if c.is_ascii_digit()
            || (c == b'.' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit))
        {
            while i < bytes.len()
                && (bytes[i].is_ascii_alphanumeric()
                    || bytes[i] == b'.'
                    || bytes[i] == b'_'
                    || (matches!(bytes[i], b'+' | b'-') && matches!(bytes[i - 1], b'e' | b'E')))
            {
                i += 1;
            }
            Kind::Number
        } else {
            match c {
                b'(' | b'[' | b'{' => depth += 1,
                b')' | b']' | b'}' => depth = depth.saturating_sub(1),
                _ => {}
            }
            i += 1;
            Kind::Op
        };
        if current.is_empty() {
            indent = start - line_start;
        }
        current.push(Token {
            kind,
            start,
            end: i,
        });
    }
    if !current.is_empty() {
        lines.push(Line {
            tokens: current,
            indent,
        });
    }
    lines
}

/// If a string literal (with an optional `r`, `u`, `b` prefix) starts at `i`, where its quote is.
fn string_start(bytes: &[u8], i: usize) -> Option<usize> {
    let mut j = i;
    while j < bytes.len()
        && j - i < 2
        && matches!(bytes[j], b'r' | b'R' | b'u' | b'U' | b'b' | b'B')
    {
        j += 1;
    }
    matches!(bytes.get(j), Some(b'\'') | Some(b'"')).then_some(j)
}

/// The end of the string literal whose opening quote is at `q`.
fn string_end(bytes: &[u8], q: usize) -> usize {
    let quote = bytes[q];
    let triple = bytes.get(q + 1) == Some(&quote) && bytes.get(q + 2) == Some(&quote);
    let mut i = if triple { q + 3 } else { q + 1 };
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'\n' if !triple => return i,
            c if c == quote => {
                if !triple {
                    return i + 1;
                }
                if bytes.get(i + 1) == Some(&quote) && bytes.get(i + 2) == Some(&quote) {
                    return i + 3;
                }
                i += 1;
            }
            _ => i += 1,
        }
    }
    bytes.len()
}

/// Matching parentheses: the offset of each `(` → the offset of its `)`. Brackets inside
/// strings and comments do not count.
pub(crate) fn paren_pairs(src: &str) -> HashMap<usize, usize> {
    let bytes = src.as_bytes();
    let mut pairs = HashMap::new();
    let mut open = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if let Some(quote_at) = string_start(bytes, i) {
            // A prefix letter only starts a string at the start of a word.
            if quote_at == i
                || i == 0
                || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_')
            {
                i = string_end(bytes, quote_at);
                continue;
            }
        }
        match bytes[i] {
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'(' => open.push(i),
            b')' => {
                if let Some(o) = open.pop() {
                    pairs.insert(o, i);
                }
            }
            _ => {}
        }
        i += 1;
    }
    pairs
}

/// Rewrites Python-only syntax into Starlark (see the module docs).
pub(crate) fn pretransform(src: &str, lines_of: &Lines) -> Result<Mapped, ConfigError> {
    let lines = logical_lines(src);
    let mut edits = Vec::new();
    for line in &lines {
        python2_prefixes(src, line, &mut edits);
        python2_names(src, line, &mut edits);
        python2_has_key(src, line, &mut edits);
        generator_expressions(src, line, &mut edits);
        implicit_concatenation(line, &mut edits);
    }
    let mut index = 0;
    while index < lines.len() {
        let line = &lines[index];
        let first = &src[line.tokens[0].start..line.tokens[0].end];
        match first {
            "import" | "from" => imports(src, line, lines_of, &mut edits)?,
            "class" => {
                let body = lines[index + 1..]
                    .iter()
                    .take_while(|l| l.indent > line.indent)
                    .count();
                class(
                    src,
                    line,
                    &lines[index + 1..index + 1 + body],
                    lines_of,
                    &mut edits,
                )?;
                index += body;
            }
            _ => {}
        }
        index += 1;
    }
    Ok(apply(src, edits))
}

fn implicit_concatenation(line: &Line, edits: &mut Vec<Edit>) {
    let mut i = 0;
    while i < line.tokens.len() {
        let run = line.tokens[i..]
            .iter()
            .take_while(|t| t.kind == Kind::Str)
            .count();
        if run >= 2 {
            let strings = &line.tokens[i..i + run];
            edits.push(Edit::insert(strings[0].start, "("));
            for s in &strings[..run - 1] {
                edits.push(Edit::insert(s.end, "+"));
            }
            edits.push(Edit::insert(strings[run - 1].end, ")"));
        }
        i += run.max(1);
    }
}

/// An import statement → assignments from `_import` (see [`crate::modules`]), on the same
/// lines: `import os.path as p` → `p = _import("os.path")`, `from os import getenv` →
/// `getenv = _import("os.getenv")`; `from __future__ import ...` → `pass`. A module or name that
/// cannot be honoured is refused here, at its position.
fn imports(
    src: &str,
    line: &Line,
    lines_of: &Lines,
    edits: &mut Vec<Edit>,
) -> Result<(), ConfigError> {
    // A statement ends at a `;`; what follows is left to Starlark.
    let count = line
        .tokens
        .iter()
        .position(|t| &src[t.start..t.end] == ";")
        .unwrap_or(line.tokens.len());
    let tokens = &line.tokens[..count];
    let bindings = import_bindings(src, tokens).map_err(|(at, m)| lines_of.error(at, m))?;
    let (start, end) = (tokens[0].start, tokens[count - 1].end);
    let mut text = if bindings.is_empty() {
        "pass".to_string()
    } else {
        let assignments: Vec<String> = bindings
            .iter()
            .map(|(name, path)| format!("{name} = _import(\"{path}\")"))
            .collect();
        assignments.join("; ")
    };
    // Keep the statement's line breaks (a parenthesised `from x import (...)`).
    text.extend(src[start..end].matches('\n'));
    edits.push(Edit::replace(start, end, &text));
    Ok(())
}

/// The `(name, dotted path)` pairs an import statement binds, or the offset and message of the
/// first problem.
fn import_bindings(src: &str, tokens: &[Token]) -> Result<Vec<(String, String)>, (usize, String)> {
    let word = |i: usize| tokens.get(i).map(|t| &src[t.start..t.end]);
    let at = |i: usize| tokens.get(i).or(tokens.last()).map_or(0, |t| t.start);
    let name = |i: usize| {
        tokens
            .get(i)
            .filter(|t| t.kind == Kind::Name)
            .map(|t| src[t.start..t.end].to_string())
            .ok_or_else(|| {
                (
                    at(i),
                    "this import statement is not valid Python".to_string(),
                )
            })
    };
    // `a.b.c` from token `i`: the name and the index after it.
    let dotted = |mut i: usize| -> Result<(String, usize), (usize, String)> {
        let mut path = name(i)?;
        while word(i + 1) == Some(".") {
            path.push('.');
            path.push_str(&name(i + 2)?);
            i += 2;
        }
        Ok((path, i + 1))
    };
    let alias = |i: usize, default: String| -> Result<(String, usize), (usize, String)> {
        if word(i) == Some("as") {
            Ok((name(i + 1)?, i + 2))
        } else {
            Ok((default, i))
        }
    };
    let refused = |i: usize, statement: String, why: String| {
        (at(i), format!("`{statement}` cannot be honoured: {why}"))
    };
    let mut bindings = Vec::new();
    if word(0) == Some("import") {
        let mut i = 1;
        loop {
            let (path, next) = dotted(i)?;
            match modules::resolve(&path) {
                Ok(Member::Module(_)) => {}
                Ok(_) => return Err((at(i), format!("`import {path}`: {path} is not a module"))),
                Err(why) => return Err(refused(i, format!("import {path}"), why)),
            }
            // `import os.path` binds `os`; `import os.path as p` binds `p` to `os.path`.
            let top = path.split('.').next().unwrap_or_default().to_string();
            let (bound, next) = alias(next, String::new())?;
            bindings.push(if bound.is_empty() {
                (top.clone(), top)
            } else {
                (bound, path)
            });
            match word(next) {
                None => return Ok(bindings),
                Some(",") => i = next + 1,
                Some(_) => {
                    return Err((at(next), "this import statement is not valid Python".into()));
                }
            }
        }
    }
    if word(1) == Some(".") {
        return Err((
            at(1),
            "relative imports are not supported: there is no package to import from; use \
             include('file.aurora') to share definitions"
                .into(),
        ));
    }
    let (module, mut i) = dotted(1)?;
    if word(i) != Some("import") {
        return Err((at(i), "this import statement is not valid Python".into()));
    }
    i += 1;
    let parenthesised = word(i) == Some("(");
    if parenthesised {
        i += 1;
    }
    if word(i) == Some("*") {
        return Err((
            at(i),
            format!("`from {module} import *` is not supported: import the names you use"),
        ));
    }
    if module != "__future__" {
        if let Err(why) = modules::resolve(&module) {
            return Err(refused(1, format!("from {module} import ..."), why));
        }
    }
    loop {
        let imported = name(i)?;
        if module == "__future__" {
            if !modules::future_feature(&imported) {
                return Err((at(i), format!("future feature {imported} is not defined")));
            }
        } else {
            let path = format!("{module}.{imported}");
            if let Err(why) = modules::resolve(&path) {
                return Err(refused(i, format!("from {module} import {imported}"), why));
            }
            let (bound, _) = alias(i + 1, imported.clone())?;
            bindings.push((bound, path));
        }
        i = alias(i + 1, String::new())?.1;
        let closed = match word(i) {
            Some(",") if parenthesised && word(i + 1) == Some(")") => i + 2,
            Some(",") if word(i + 1).is_some() => {
                i += 1;
                continue;
            }
            Some(")") if parenthesised => i + 1,
            None if !parenthesised => return Ok(bindings),
            _ => return Err((at(i), "this import statement is not valid Python".into())),
        };
        if word(closed).is_some() {
            return Err((
                at(closed),
                "this import statement is not valid Python".into(),
            ));
        }
        return Ok(bindings);
    }
}

/// `class Name(Struct):` + body → `Name = Struct('Name', field = value, ...)` on the same lines.
fn class(
    src: &str,
    header: &Line,
    body: &[Line],
    lines_of: &Lines,
    edits: &mut Vec<Edit>,
) -> Result<(), ConfigError> {
    let text = |t: &Token| &src[t.start..t.end];
    let shape: Vec<&str> = header.tokens.iter().map(text).collect();
    let name = match shape.as_slice() {
        ["class", name, "(", "Struct", ")", ":"] => *name,
        ["class", _, "(", base, ")", ":"] => {
            return Err(lines_of.error(
                header.tokens[3].start,
                format!(
                    "class bases other than Struct are not supported (got {base}); \
                     write the fields out in a Struct"
                ),
            ));
        }
        _ => {
            return Err(lines_of.error(
                header.tokens[0].start,
                "only structural templates of the form `class Name(Struct):` followed by \
                 indented `field = Type` lines are supported (Starlark has no classes)",
            ));
        }
    };
    let start = header.tokens[0].start;
    let end = header.tokens[5].end;
    let mut fields = Vec::new();
    for line in body {
        let tokens = &line.tokens;
        let words: Vec<&str> = tokens.iter().map(text).collect();
        match words.as_slice() {
            ["pass"] => edits.push(Edit::blank(src, tokens[0].start, tokens[0].end)),
            [_] if tokens[0].kind == Kind::Str => {
                // A docstring.
                edits.push(Edit::blank(src, tokens[0].start, tokens[0].end));
            }
            [field, "=", _, ..] if tokens[0].kind == Kind::Name => {
                if line.indent != body[0].indent {
                    return Err(
                        lines_of.error(tokens[0].start, "unexpected indentation in Struct body")
                    );
                }
                let _ = field;
                fields.push(tokens[tokens.len() - 1].end);
            }
            _ => {
                return Err(lines_of.error(
                    tokens[0].start,
                    format!(
                        "a Struct body (class {name}) may only define fields, like \
                         `version = Default(String, 'live')`"
                    ),
                ));
            }
        }
    }
    if fields.is_empty() {
        edits.push(Edit::replace(
            start,
            end,
            &format!("{name} = Struct('{name}')"),
        ));
        return Ok(());
    }
    edits.push(Edit::replace(
        start,
        end,
        &format!("{name} = Struct('{name}',"),
    ));
    let last = fields.len() - 1;
    for (i, at) in fields.into_iter().enumerate() {
        edits.push(Edit::insert(at, if i == last { ",)" } else { "," }));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transform(src: &str) -> String {
        pretransform(src, &Lines::new("t", src))
            .expect("transforms")
            .text
    }

    #[test]
    fn classes_become_struct_calls_on_the_same_lines() {
        let src = "class Profile(Struct):\n  a = Default(String, 'x')  # c\n\n  b = Default(String,\n              'y')\nP = Profile()\n";
        let out = transform(src);
        assert_eq!(
            out,
            "Profile = Struct('Profile',\n  a = Default(String, 'x'),  # c\n\n  b = Default(String,\n              'y'),)\nP = Profile()\n"
        );
        assert_eq!(out.lines().count(), src.lines().count());
    }

    #[test]
    fn python2_iteration_becomes_starlark() {
        assert_eq!(
            transform("d = dict((n, i) for i, n in enumerate(['a', 'b']))\n"),
            "d = dict([(n, i) for i, n in enumerate(['a', 'b'])])\n"
        );
        assert_eq!(
            transform("t = sum(x for x in (1, 2))\ng = (x\n  for x in y)\n"),
            "t = sum([x for x in (1, 2)])\ng = [x\n  for x in y]\n"
        );
        // Comprehensions, calls and tuples without `for` are left alone.
        let plain =
            "l = [x for x in y]\nm = {k: v for k, v in z}\nf(a, (b, c))\nfor q in (1, 2): pass\n";
        assert_eq!(transform(plain), plain);
        assert_eq!(
            transform("for i in xrange(3): x = d.iteritems() + d.iterkeys() + d.itervalues()\n"),
            "for i in range(3): x = d.items() + d.keys() + d.values()\n"
        );
        assert_eq!(transform("o.xrange = 1\n"), "o.xrange = 1\n");
    }

    #[test]
    fn python2_has_key_becomes_in() {
        assert_eq!(
            transform("if not d.has_key('a'): x = os.environ.has_key(k)\n"),
            "if not ('a' in d): x = (k in os.environ)\n"
        );
        // A keyword before a parenthesised receiver is not a call.
        assert_eq!(
            transform("w = not (a or b).has_key(1)\n"),
            "w = not (1 in (a or b))\n"
        );
        assert_eq!(
            transform("y = f(1)[2].has_key(3) and {1: 2}.has_key(1)\n"),
            "y = (3 in f(1)[2]) and (1 in {1: 2})\n"
        );
        // A key of more than one token is left for Starlark to report.
        let left = "z = d.has_key(a + b)\n";
        assert_eq!(transform(left), left);
    }

    #[test]
    fn adjacent_strings_are_concatenated() {
        assert_eq!(
            transform("x = ('a '\n     'b' 'c')\n"),
            "x = (('a '+\n     'b'+ 'c'))\n"
        );
        assert_eq!(transform("y = u'z'\n"), "y =  'z'\n");
    }

    #[test]
    fn imports_become_assignments_on_the_same_lines() {
        assert_eq!(
            transform("import os, json as j\nfrom os.path import (join,\n  basename as b)\n"),
            "os = _import(\"os\"); j = _import(\"json\")\n\
             join = _import(\"os.path.join\"); b = _import(\"os.path.basename\")\n\n"
        );
        assert_eq!(
            transform("from __future__ import print_function, division\nimport os.path\n"),
            "pass\nos = _import(\"os\")\n"
        );
        assert_eq!(
            transform("import os.path as p; x = 1\nfrom os import (path,)\n"),
            "p = _import(\"os.path\"); x = 1\npath = _import(\"os.path\")\n"
        );
        for bad in [
            "import os,\n",
            "from os import path,\n",
            "from os import (path\n",
            "import\n",
        ] {
            let err = pretransform(bad, &Lines::new("t", bad)).expect_err(bad);
            assert_eq!(
                err.message, "this import statement is not valid Python",
                "{bad}"
            );
        }
    }

    #[test]
    fn other_imports_are_refused_at_the_module_name() {
        let src = "x = 1\nimport os, random\n";
        let err = pretransform(src, &Lines::new("t.aurora", src)).expect_err("refused");
        assert_eq!((err.line, err.column), (2, 12));
        assert!(
            err.message.starts_with(
                "`import random` cannot be honoured: random would make the result random"
            ),
            "{err}"
        );
        let src = "from os import system\n";
        let err = pretransform(src, &Lines::new("t.aurora", src)).expect_err("refused");
        assert_eq!((err.line, err.column), (1, 16));
        let src = "from __future__ import braces\n";
        let err = pretransform(src, &Lines::new("t.aurora", src)).expect_err("refused");
        assert_eq!(err.message, "future feature braces is not defined");
    }

    #[test]
    fn edits_map_back_to_the_input() {
        let mapped = apply("abc", vec![Edit::insert(1, "XY"), Edit::replace(2, 3, "Z")]);
        assert_eq!(mapped.text, "aXYbZ");
        assert_eq!(mapped.origin, vec![0, 1, 1, 1, 2]);
        let lines = Lines::new("f", "ab\ncd");
        assert_eq!(lines.position(4), (2, 2));
    }
}
