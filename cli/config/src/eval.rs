//! Evaluating a config: pre-transform, split at includes, rewrite, run each chunk in one
//! Starlark module, and collect `jobs`.
//!
//! ```text
//! source ──pretransform──▶ Starlark text ──parse──▶ includes? ──▶ chunk 1, include, chunk 2, …
//!                                                                  │
//!        each chunk: rewrite calls/attributes ──▶ evaluate into the shared module
//! ```
//!
//! Evaluation is hermetic: no clock, no randomness, no process environment (`os.getenv` reads
//! the map the caller passed, `getpass.getuser()` the user it named), no I/O but reading
//! included files. `print` output is dropped.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use starlark::environment::{Globals, GlobalsBuilder, LibraryExtension, Module};
use starlark::eval::Evaluator;
use starlark::syntax::AstModule;
use starlark::values::any::StarlarkAny;
use starlark::values::list::ListRef;
use starlark::values::tuple::TupleRef;
use starlark::{ErrorKind, PrintHandler};

use crate::dsl::{self, ChunkMap, Ctx, Obj, obj_of};
use crate::error::{ConfigError, DslError};
use crate::rewrite::{self, dialect};
use crate::source::{self, Lines, Mapped};
use crate::value::{Instance, Origin};
use crate::vocab::VOCAB;

/// How deep includes may nest before we assume a mistake.
const MAX_INCLUDE_DEPTH: usize = 32;

struct Silent;

impl PrintHandler for Silent {
    fn println(&self, _text: &str) -> starlark::Result<()> {
        Ok(())
    }
}

/// Evaluates the config `source` (named `display` in errors; includes are read relative to
/// `display`'s directory) and returns its `jobs`. `env` and `user` are what `os.getenv`,
/// `os.environ` and `getpass.getuser()` see.
pub(crate) fn jobs(
    display: &str,
    source: &str,
    env: &BTreeMap<String, String>,
    user: Option<&str>,
) -> Result<Vec<Arc<Instance>>, ConfigError> {
    let mut loader = Loader {
        env: Arc::new(env.clone()),
        user: user.map(Arc::from),
        files: BTreeMap::new(),
        stack: Vec::new(),
        globals: globals(),
        chunks: 0,
    };
    Module::with_temp_heap(|module| {
        for (name, obj) in dsl::predefined() {
            module.set(&name, dsl::alloc(module.heap(), obj));
        }
        loader.file(&module, display, source)?;
        collect(&module, display)
    })
}

fn globals() -> Globals {
    let mut builder = GlobalsBuilder::extended_by(&[
        LibraryExtension::Print,
        LibraryExtension::Map,
        LibraryExtension::Filter,
    ])
    .with(dsl::natives);
    for (name, value) in dsl::units() {
        builder.set(name, value);
    }
    builder.build()
}

struct Loader {
    env: Arc<BTreeMap<String, String>>,
    user: Option<Arc<str>>,
    files: BTreeMap<String, Arc<ChunkMap>>,
    /// The files being evaluated, outermost first, to refuse include cycles.
    stack: Vec<PathBuf>,
    globals: Globals,
    chunks: usize,
}

impl Loader {
    fn file(
        &mut self,
        module: &Module<'_>,
        display: &str,
        source: &str,
    ) -> Result<(), ConfigError> {
        let lines = Arc::new(Lines::new(display, source));
        let pre = source::pretransform(source, &lines)?;
        let ast = AstModule::parse(display, pre.text.clone(), &dialect())
            .map_err(|e| parse_error(&e, &lines, &pre, source))?;
        let includes = rewrite::includes(&ast)
            .map_err(|(at, message)| lines.error(pre.input_offset(at, source.len()), message))?;
        self.stack.push(identity(Path::new(display)));
        let mut start = 0;
        for include in &includes {
            self.chunk(module, &lines, &pre, start, include.start)?;
            let at = pre.input_offset(include.start, source.len());
            self.include(module, display, &include.path, &lines, at)?;
            start = include.end;
        }
        self.chunk(module, &lines, &pre, start, pre.text.len())?;
        self.stack.pop();
        Ok(())
    }

    fn include(
        &mut self,
        module: &Module<'_>,
        from: &str,
        path: &str,
        lines: &Lines,
        at: usize,
    ) -> Result<(), ConfigError> {
        let target = Path::new(from).parent().unwrap_or(Path::new("")).join(path);
        let display = target.to_string_lossy().into_owned();
        let id = identity(&target);
        if let Some(first) = self.stack.iter().position(|p| *p == id) {
            let mut cycle: Vec<String> = self.stack[first..]
                .iter()
                .map(|p| p.to_string_lossy().into_owned())
                .collect();
            cycle.push(display);
            return Err(lines.error(at, format!("include cycle: {}", cycle.join(" -> "))));
        }
        if self.stack.len() >= MAX_INCLUDE_DEPTH {
            return Err(lines.error(at, "includes nest too deeply"));
        }
        let text = std::fs::read_to_string(&target)
            .map_err(|e| lines.error(at, format!("cannot read included file {display}: {e}")))?;
        self.file(module, &display, &text)
    }

    /// Evaluates the statements in `start..end` of the pre-transformed file.
    fn chunk(
        &mut self,
        module: &Module<'_>,
        lines: &Arc<Lines>,
        pre: &Mapped,
        start: usize,
        end: usize,
    ) -> Result<(), ConfigError> {
        if pre.text[start..end].trim().is_empty() {
            return Ok(());
        }
        // Blank the rest so that offsets stay those of the whole file.
        let text: String = pre
            .text
            .char_indices()
            .flat_map(|(i, c)| {
                let keep = (start..end).contains(&i) || c == '\n';
                let width = if keep { 1 } else { c.len_utf8() };
                std::iter::repeat_n(if keep { c } else { ' ' }, width)
            })
            .collect();
        self.chunks += 1;
        let name = format!("{}#{}", lines.display, self.chunks);
        let len = pre.origin.len();
        let internal = |e: starlark::Error| {
            let at = e.span().map_or(0, |s| s.span.begin().get() as usize);
            lines.error(
                pre.input_offset(at, len),
                e.without_diagnostic().to_string(),
            )
        };
        let ast = AstModule::parse(&name, text.clone(), &dialect()).map_err(internal)?;
        let rewritten = source::apply(&text, rewrite::calls_and_attributes(&ast, &text));
        let origin = rewritten.compose(pre);
        self.files.insert(
            name.clone(),
            Arc::new(ChunkMap {
                lines: lines.clone(),
                origin,
            }),
        );
        let ctx = StarlarkAny::new(Ctx {
            env: self.env.clone(),
            user: self.user.clone(),
            files: self.files.clone(),
        });
        let ast = AstModule::parse(&name, rewritten.text, &dialect())
            .map_err(|e| eval_error(&e, &ctx.0))?;
        let mut eval = Evaluator::new(module);
        eval.extra = Some(&ctx);
        eval.set_print_handler(&Silent);
        eval.eval_module(ast, &self.globals)
            .map(drop)
            .map_err(|e| eval_error(&e, &ctx.0))
    }
}

/// A path's identity for cycle detection: canonical when it exists.
fn identity(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

/// A syntax error at the user's position. Two refinements: an error at an indentation points
/// at the statement rather than at column 1, and an unexpected token that starts a line after
/// a line ending in a complete expression is reported where a comma is probably missing.
fn parse_error(e: &starlark::Error, lines: &Lines, pre: &Mapped, source: &str) -> ConfigError {
    let at = e.span().map_or(0, |s| s.span.begin().get() as usize);
    let mut offset = source::floor_char_boundary(source, pre.input_offset(at, source.len()));
    while source
        .as_bytes()
        .get(offset)
        .is_some_and(|b| *b == b' ' || *b == b'\t')
    {
        offset += 1;
    }
    let message = clean(e);
    let in_brackets = ["')'", "']'", "'}'", "','"]
        .iter()
        .any(|s| message.contains(s));
    if message.starts_with("Parse error: unexpected") && in_brackets {
        if let Some(end) = source::previous_code_end(source, offset) {
            let last = source[..end].chars().next_back().unwrap_or(',');
            if !",([{=+-*/%<>:\\&|".contains(last) {
                let (line, _) = lines.position(offset);
                return lines.error(
                    end,
                    format!("missing comma at the end of this line? ({message} on line {line})"),
                );
            }
        }
    }
    lines.error(offset, message)
}

/// Starlark's message without its source excerpt.
fn clean(e: &starlark::Error) -> String {
    e.without_diagnostic().to_string()
}

fn eval_error(e: &starlark::Error, ctx: &Ctx) -> ConfigError {
    let ours = match e.kind() {
        ErrorKind::Native(a)
        | ErrorKind::Other(a)
        | ErrorKind::Value(a)
        | ErrorKind::Function(a) => a.downcast_ref::<DslError>(),
        _ => None,
    };
    if let Some(dsl) = ours {
        return ConfigError::at(&dsl.origin, dsl.message.clone());
    }
    let origin = e
        .span()
        .and_then(|s| ctx.locate(s))
        .or_else(|| {
            e.call_stack()
                .frames
                .iter()
                .rev()
                .find_map(|f| f.location.as_ref().and_then(|s| ctx.locate(s)))
        })
        .unwrap_or_else(|| Origin::nowhere("<config>"));
    ConfigError::at(&origin, clean(e))
}

/// The `jobs` list, each a `Job`.
fn collect(module: &Module<'_>, display: &str) -> Result<Vec<Arc<Instance>>, ConfigError> {
    let no_jobs = || {
        ConfigError::new(
            display,
            0,
            0,
            "no jobs defined: the config must end with `jobs = [job, ...]`",
        )
    };
    let jobs = module.get("jobs").ok_or_else(no_jobs)?;
    let items = if let Some(list) = ListRef::from_value(jobs) {
        list.content().to_vec()
    } else if let Some(tuple) = TupleRef::from_value(jobs) {
        tuple.content().to_vec()
    } else {
        return Err(ConfigError::new(
            display,
            0,
            0,
            format!("`jobs` must be a list of Jobs, got {}", jobs.get_type()),
        ));
    };
    if items.is_empty() {
        return Err(no_jobs());
    }
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| match obj_of(item) {
            Some(Obj::Instance(inst)) if inst.is(&VOCAB.job) => Ok(inst.clone()),
            Some(Obj::Instance(inst)) => Err(ConfigError::at(
                &inst.origin,
                format!("jobs[{i}] is a {}, not a Job", inst.schema.name),
            )),
            _ => Err(ConfigError::new(
                display,
                0,
                0,
                format!("jobs[{i}] is not a Job: {}", crate::coerce::describe(item)),
            )),
        })
        .collect()
}
