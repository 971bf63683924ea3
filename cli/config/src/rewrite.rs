//! The Starlark-level rewrite, driven by the parsed AST's spans: every call `f(a)` becomes
//! `_call(f, a)` and every attribute read `x.y` becomes `_getattr(x, "y")`, so that DSL objects
//! (opaque values, see [`crate::dsl`]) can be called and read like Pystachio's. Only characters
//! on the same line are touched, so line numbers stay; the byte map gives columns back.
//!
//! Also here: finding the top-level `include('file')` statements, which split a file into
//! chunks evaluated one after the other into the same module (Aurora's include runs the other
//! file in the same global namespace, so names it defines are visible afterwards).

use std::collections::HashMap;

use starlark::syntax::{AstModule, Dialect};
use starlark_syntax::codemap::Span;
use starlark_syntax::syntax::ast::{ArgumentP, AstExpr, AstLiteral, AstStmt, ExprP, StmtP};

use crate::source::Edit;

/// Python-like Starlark: statements at the top level, no `load` (configs use `include`).
pub(crate) fn dialect() -> Dialect {
    Dialect {
        enable_top_level_stmt: true,
        enable_load: false,
        ..Dialect::Standard
    }
}

/// A top-level `include('path')` statement.
#[derive(Debug, Clone)]
pub(crate) struct Include {
    pub start: usize,
    pub end: usize,
    pub path: String,
}

fn span(s: Span) -> (usize, usize) {
    (s.begin().get() as usize, s.end().get() as usize)
}

fn top_level(ast: &AstModule) -> Vec<&AstStmt> {
    match &ast.statement().node {
        StmtP::Statements(statements) => statements.iter().collect(),
        _ => vec![ast.statement()],
    }
}

/// The top-level include statements, in order. `Err` carries the offset and the problem for
/// an include whose argument is not one string literal.
pub(crate) fn includes(ast: &AstModule) -> Result<Vec<Include>, (usize, String)> {
    let mut out = Vec::new();
    for stmt in top_level(ast) {
        let StmtP::Expression(expr) = &stmt.node else {
            continue;
        };
        let ExprP::Call(callee, args) = &expr.node else {
            continue;
        };
        if !matches!(&callee.node, ExprP::Identifier(id) if id.node.ident == "include") {
            continue;
        }
        let path = match args.args.as_slice() {
            [arg] => match &arg.node {
                ArgumentP::Positional(e) => match &e.node {
                    ExprP::Literal(AstLiteral::String(s)) => Some(s.node.clone()),
                    _ => None,
                },
                _ => None,
            },
            _ => None,
        };
        let (start, end) = span(stmt.span);
        let Some(path) = path else {
            return Err((
                start,
                "include() takes one string literal: include('other.aurora')".into(),
            ));
        };
        out.push(Include { start, end, path });
    }
    Ok(out)
}

/// The edits that route calls and attribute reads through `_call` and `_getattr`.
pub(crate) fn calls_and_attributes(ast: &AstModule, text: &str) -> Vec<Edit> {
    let mut comments: Vec<(usize, usize)> = ast.comments().iter().map(|c| span(*c)).collect();
    comments.sort_unstable();
    let mut walker = Walker {
        text: text.as_bytes(),
        comments,
        closes: crate::source::paren_pairs(text),
        edits: Vec::new(),
    };
    ast.statement().visit_expr(|e| walker.expr(e));
    walker.edits
}

struct Walker<'a> {
    text: &'a [u8],
    comments: Vec<(usize, usize)>,
    /// Offset of each `(` → offset of its `)`.
    closes: HashMap<usize, usize>,
    edits: Vec<Edit>,
}

impl Walker<'_> {
    fn expr(&mut self, e: &AstExpr) {
        match &e.node {
            ExprP::Call(callee, args) => {
                let (begin, open) = self.operand(callee, b'(');
                self.edits.push(Edit::insert(begin, "_call("));
                let rest = if args.args.is_empty() { "" } else { ", " };
                self.edits.push(Edit::replace(open, open + 1, rest));
            }
            ExprP::Dot(receiver, attr) => {
                let (begin, dot) = self.operand(receiver, b'.');
                let (name_start, name_end) = span(attr.span);
                self.edits.push(Edit::insert(begin, "_getattr("));
                self.edits.push(Edit::replace(dot, dot + 1, ","));
                self.edits.push(Edit::insert(name_start, "\""));
                self.edits.push(Edit::insert(name_end, "\")"));
            }
            _ => {}
        }
        e.node.visit_expr(|child| self.expr(child));
    }

    /// For the callee of a call or the receiver of an attribute: where it starts, including any
    /// parentheses around it or its leftmost part (spans leave them out), and where the `(` or
    /// `.` after it is.
    fn operand(&self, operand: &AstExpr, follows: u8) -> (usize, usize) {
        let (mut begin, end) = span(operand.span);
        let mut at = self.skip_forward(end);
        while self.text.get(at) == Some(&b')') {
            at = self.skip_forward(at + 1);
        }
        debug_assert_eq!(self.text.get(at), Some(&follows));
        loop {
            let before = self.skip_backward(begin);
            let wraps = before > 0
                && self.text[before - 1] == b'('
                && self
                    .closes
                    .get(&(before - 1))
                    .is_some_and(|&close| close < at);
            if !wraps {
                break;
            }
            begin = before - 1;
        }
        (begin, at)
    }

    fn skip_forward(&self, mut at: usize) -> usize {
        while let Some(&c) = self.text.get(at) {
            match c {
                b' ' | b'\t' | b'\r' | b'\n' | b'\\' | b'\x0c' => at += 1,
                b'#' => {
                    while at < self.text.len() && self.text[at] != b'\n' {
                        at += 1;
                    }
                }
                _ => break,
            }
        }
        at
    }

    fn skip_backward(&self, mut at: usize) -> usize {
        while at > 0 {
            if let Some(&(start, _)) = self.comments.iter().find(|(s, e)| *s < at && at <= *e) {
                at = start;
                continue;
            }
            match self.text[at - 1] {
                b' ' | b'\t' | b'\r' | b'\n' | b'\\' | b'\x0c' => at -= 1,
                _ => break,
            }
        }
        at
    }
}
