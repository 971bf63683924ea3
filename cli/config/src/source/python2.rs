//! The rewrites of the pre-transform that turn Python-only expressions into Starlark, one
//! logical line at a time: Python 2's `u''` prefix, `xrange` and the dicts' `iter*` methods,
//! `d.has_key(k)`, and generator expressions (see the parent module's docs for each).

use super::{Edit, Kind, Line, Token};

pub(super) fn python2_prefixes(src: &str, line: &Line, edits: &mut Vec<Edit>) {
    for t in line.tokens.iter().filter(|t| t.kind == Kind::Str) {
        if matches!(src.as_bytes()[t.start], b'u' | b'U') {
            edits.push(Edit::replace(t.start, t.start + 1, " "));
        }
    }
}

/// Python 2 names Starlark spells otherwise: `xrange` (not an attribute) and the dict methods
/// `iteritems`, `iterkeys`, `itervalues` (as attributes).
pub(super) fn python2_names(src: &str, line: &Line, edits: &mut Vec<Edit>) {
    for (i, t) in line.tokens.iter().enumerate() {
        if t.kind != Kind::Name {
            continue;
        }
        let after_dot = i > 0 && {
            let before = line.tokens[i - 1];
            &src[before.start..before.end] == "."
        };
        let renamed = match (&src[t.start..t.end], after_dot) {
            ("xrange", false) => "range",
            ("iteritems", true) => "items",
            ("iterkeys", true) => "keys",
            ("itervalues", true) => "values",
            _ => continue,
        };
        edits.push(Edit::replace(t.start, t.end, renamed));
    }
}

/// Python 2's `RECEIVER.has_key(KEY)` into `(KEY in RECEIVER)`: the receiver stays where it is
/// (a dotted name, a call or an index, a string), `(KEY in ` is inserted before it and
/// `.has_key(KEY)` becomes `)`. Only a one-token key (a name, number or string) is moved, so
/// that no other rewrite is lost with the text; anything else is left for Starlark to report.
pub(super) fn python2_has_key(src: &str, line: &Line, edits: &mut Vec<Edit>) {
    let text = |t: &Token| &src[t.start..t.end];
    let tokens = &line.tokens;
    for (i, t) in tokens.iter().enumerate() {
        if t.kind != Kind::Name || text(t) != "has_key" || i < 2 {
            continue;
        }
        let (dot, open) = (&tokens[i - 1], tokens.get(i + 1));
        let (key, close) = (tokens.get(i + 2), tokens.get(i + 3));
        let (Some(open), Some(key), Some(close)) = (open, key, close) else {
            continue;
        };
        let one_token_key = matches!(key.kind, Kind::Name | Kind::Number)
            || (key.kind == Kind::Str && !matches!(src.as_bytes()[key.start], b'u' | b'U'));
        if text(dot) != "." || text(open) != "(" || text(close) != ")" || !one_token_key {
            continue;
        }
        let Some(start) = receiver_start(src, tokens, i - 2) else {
            continue;
        };
        edits.push(Edit::insert(start, &format!("({} in ", text(key))));
        edits.push(Edit::replace(dot.start, close.end, ")"));
    }
}

/// Where the expression ending at token `last` begins, for a method call on it: a chain of
/// names, strings and numbers joined by `.`, each possibly called or indexed.
fn receiver_start(src: &str, tokens: &[Token], mut last: usize) -> Option<usize> {
    let text = |t: &Token| &src[t.start..t.end];
    loop {
        let t = &tokens[last];
        let first = match text(t) {
            ")" | "]" | "}" => {
                // Back to the bracket that opens it.
                let mut depth = 0usize;
                let mut at = last;
                loop {
                    match text(&tokens[at]) {
                        ")" | "]" | "}" => depth += 1,
                        "(" | "[" | "{" => depth -= 1,
                        _ => {}
                    }
                    if depth == 0 {
                        break at;
                    }
                    at = at.checked_sub(1)?;
                }
            }
            _ if matches!(t.kind, Kind::Name | Kind::Str | Kind::Number) => last,
            _ => return None,
        };
        let before = first.checked_sub(1).map(|b| &tokens[b]);
        match before {
            // A call or an index of what is before it: `f(x)`, `a[0]`.
            Some(b)
                if matches!(text(&tokens[first]), "(" | "[")
                    && ((matches!(b.kind, Kind::Name | Kind::Str)
                        && !KEYWORDS.contains(&text(b)))
                        || matches!(text(b), ")" | "]")) =>
            {
                last = first - 1;
            }
            // An attribute of what is before the dot.
            Some(b) if text(b) == "." && first >= 2 => last = first - 2,
            _ => return Some(tokens[first].start),
        }
    }
}

/// Words after which `(` opens a parenthesised expression rather than a call's arguments.
const KEYWORDS: &[&str] = &[
    "and", "as", "assert", "del", "elif", "else", "for", "from", "if", "import", "in", "is",
    "lambda", "not", "or", "print", "raise", "return", "while", "with", "yield",
];

/// Generator expressions into list comprehensions (see the module docs): a `for` directly
/// inside parentheses can only be one, as the sole argument of a call or on its own.
pub(super) fn generator_expressions(src: &str, line: &Line, edits: &mut Vec<Edit>) {
    struct Open {
        at: usize,
        paren: bool,
        call: bool,
        generator: bool,
        comma_before_for: bool,
    }
    let text = |t: &Token| &src[t.start..t.end];
    let mut open: Vec<Open> = Vec::new();
    for (i, t) in line.tokens.iter().enumerate() {
        match (t.kind, text(t)) {
            (Kind::Op, "(" | "[" | "{") => {
                let call = i > 0 && {
                    let before = &line.tokens[i - 1];
                    match before.kind {
                        Kind::Name => !KEYWORDS.contains(&text(before)),
                        Kind::Op => matches!(text(before), ")" | "]"),
                        Kind::Str | Kind::Number => false,
                    }
                };
                open.push(Open {
                    at: t.start,
                    paren: text(t) == "(",
                    call,
                    generator: false,
                    comma_before_for: false,
                });
            }
            (Kind::Op, ")" | "]" | "}") => {
                let Some(group) = open.pop() else { continue };
                if !(group.paren && group.generator) {
                    continue;
                }
                if !group.call {
                    edits.push(Edit::replace(group.at, group.at + 1, "["));
                    edits.push(Edit::replace(t.start, t.end, "]"));
                } else if !group.comma_before_for {
                    // (`f(a, x for x in y)` is not Python either: left for the parser.)
                    edits.push(Edit::insert(group.at + 1, "["));
                    edits.push(Edit::insert(t.start, "]"));
                }
            }
            (Kind::Op, ",") => {
                if let Some(group) = open.last_mut()
                    && !group.generator
                {
                    group.comma_before_for = true;
                }
            }
            (Kind::Name, "for") => {
                if let Some(group) = open.last_mut() {
                    group.generator = true;
                }
            }
            _ => {}
        }
    }
}
