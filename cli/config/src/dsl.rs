//! The DSL as Starlark sees it: every Pystachio type, instance and helper is an opaque [`Obj`]
//! on Starlark's heap, and the source rewrite routes every call `f(x)` through `_call(f, x)`
//! and every attribute `a.b` through `_getattr(a, "b")`. Those two natives handle [`Obj`]s
//! here (constructing, overriding, binding, reading fields) and hand anything else back to
//! Starlark unchanged. This keeps the crate free of `unsafe` (custom Starlark value types
//! need an `unsafe impl`; the workspace forbids it) while keeping Pystachio's call syntax:
//! `job_template(cluster = 'c2').bind(profile = PROD)`.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use starlark::codemap::FileSpan;
use starlark::environment::GlobalsBuilder;
use starlark::eval::Evaluator;
use starlark::starlark_module;
use starlark::values::any::StarlarkAny;
use starlark::values::dict::DictRef;
use starlark::values::tuple::UnpackTuple;
use starlark::values::{Heap, StarlarkPagablePanic, Value};

use crate::coerce::{
    self, build, coerce, dict_fields, interpolated, raw_value, scalar_text, to_value,
};
use crate::error::DslError;
use crate::helpers;
use crate::modules::{self, Function, Load, Member, Module};
use crate::pyre;
use crate::source::Lines;
use crate::template::{Chain, Ref};
use crate::value::{Binding, Datum, EnumTy, Env, Field, Frame, Instance, Origin, Schema, Ty};
use crate::vocab::VOCAB;

/// A DSL value on Starlark's heap.
#[derive(StarlarkPagablePanic)]
pub(crate) enum Obj {
    /// A type: `String`, `Process`, `List(String)`, a user `Struct`. Calling one constructs.
    Type(Ty),
    /// A struct instance. Calling one overrides fields; attributes read them.
    Instance(Arc<Instance>),
    /// `Default(Type, value)` or `Required(Type)`, waiting to become a `Struct` field.
    Signature(Field),
    /// Pystachio's `Empty`: passing it unsets a field.
    Empty,
    /// `instance.field`: call it to get the value.
    Getter(Arc<Instance>, usize),
    Method(Arc<Instance>, Method),
    Namespace(Namespace),
    Builtin(Builtin),
    /// An imported module (`os`, `os.path`, `getpass`, `json`), see [`crate::modules`].
    Module(Module),
    Function(Function),
    /// `re.compile`'s pattern, and one of its methods.
    Regex(Arc<pyre::Pattern>),
    RegexMethod(Arc<pyre::Pattern>, Function),
    /// A successful `re` match, and one of its methods.
    Match(Arc<pyre::MatchData>),
    MatchMethod(Arc<pyre::MatchData>, pyre::MatchMethod),
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Method {
    Bind,
    Has(usize),
    Copy,
    Get,
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Namespace {
    Tasks,
    Processes,
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Builtin {
    Struct,
    Default,
    Required,
    List,
    Map,
    Choice,
    Enum,
    Order,
    SequentialTask,
    SimpleTask,
    Concat,
    Combine,
    Sequential,
    Include,
    /// `_import("os.path")`: what the pre-transform turns import statements into.
    Import,
}

starlark::register_starlark_any!(Obj);

impl fmt::Display for Obj {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Obj::Type(ty) => write!(f, "the type {}", ty.name()),
            Obj::Instance(inst) => write!(f, "{inst}"),
            Obj::Signature(field) => write!(f, "a field signature of type {}", field.ty.name()),
            Obj::Empty => f.write_str("Empty"),
            Obj::Getter(inst, i) => {
                write!(f, "{}.{}", inst.schema.name, inst.schema.fields[*i].name)
            }
            Obj::Method(inst, m) => write!(f, "{}.{m:?}", inst.schema.name),
            Obj::Namespace(ns) => write!(f, "{ns:?}"),
            Obj::Builtin(b) => write!(f, "{b:?}"),
            Obj::Module(m) => write!(f, "the module {}", m.name()),
            Obj::Function(function) => write!(f, "{}", function.name()),
            Obj::Regex(pattern) => write!(f, "re.compile({:?})", pattern.source),
            Obj::RegexMethod(pattern, function) => {
                write!(f, "re.compile({:?}).{}", pattern.source, function.name())
            }
            Obj::Match(_) => f.write_str("a re match"),
            Obj::MatchMethod(_, method) => write!(f, "a re match's {method:?}"),
        }
    }
}

impl fmt::Debug for Obj {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

pub(crate) fn obj_of(v: Value<'_>) -> Option<&Obj> {
    StarlarkAny::<Obj>::get(v)
}

pub(crate) fn alloc<'v>(heap: Heap<'v>, obj: Obj) -> Value<'v> {
    heap.alloc(StarlarkAny::new(obj))
}

/// What natives need to know about the load in progress: the environment `os.getenv` reads,
/// the user `getpass.getuser()` returns, and how to turn positions in rewritten text back into
/// the user's file and line.
#[derive(Debug, Default)]
pub(crate) struct Ctx {
    pub env: Arc<BTreeMap<String, String>>,
    pub user: Option<Arc<str>>,
    /// By the name Starlark knows each evaluated chunk under.
    pub files: BTreeMap<String, Arc<ChunkMap>>,
}

/// For one evaluated chunk: its original file, and the original offset of each byte.
#[derive(Debug)]
pub(crate) struct ChunkMap {
    pub lines: Arc<Lines>,
    pub origin: Vec<u32>,
}

impl Ctx {
    pub fn load(&self) -> Load<'_> {
        Load {
            env: &self.env,
            user: self.user.as_deref(),
        }
    }

    pub fn locate(&self, span: &FileSpan) -> Option<Origin> {
        let chunk = self.files.get(span.file.filename())?;
        let at = span.span.begin().get() as usize;
        let offset = chunk.origin.get(at).map_or(usize::MAX, |&o| o as usize);
        let (line, column) = chunk.lines.position(offset);
        Some(Origin {
            file: chunk.lines.display.clone(),
            line,
            column,
        })
    }
}

fn ctx<'a>(eval: &Evaluator<'_, 'a, '_>) -> Option<&'a Ctx> {
    eval.extra?.downcast_ref::<StarlarkAny<Ctx>>().map(|c| &c.0)
}

/// Where in the user's config the innermost call being evaluated is.
pub(crate) fn location(eval: &Evaluator<'_, '_, '_>) -> Origin {
    let fallback = Origin::nowhere("<config>");
    let Some(ctx) = ctx(eval) else {
        return fallback;
    };
    eval.call_stack()
        .frames
        .iter()
        .rev()
        .find_map(|frame| frame.location.as_ref().and_then(|span| ctx.locate(span)))
        .unwrap_or(fallback)
}

/// The arguments of one call.
struct Args<'v> {
    pos: Vec<Value<'v>>,
    named: Vec<(String, Value<'v>)>,
}

impl<'v> Args<'v> {
    fn none(&self, what: &str) -> Result<(), String> {
        if self.pos.is_empty() && self.named.is_empty() {
            Ok(())
        } else {
            Err(format!("{what} takes no arguments"))
        }
    }

    fn no_named(&self, what: &str) -> Result<(), String> {
        match self.named.first() {
            None => Ok(()),
            Some((name, _)) => Err(format!(
                "{what} got an unexpected keyword argument '{name}'"
            )),
        }
    }

    /// Positional dicts (Pystachio accepts mappings) followed by keyword arguments.
    fn fields(&self, what: &str) -> Result<Vec<(String, Value<'v>)>, String> {
        let mut fields = Vec::new();
        for p in &self.pos {
            let dict = DictRef::from_value(*p).ok_or_else(|| {
                format!(
                    "{what} takes keyword arguments (or dicts), got {}",
                    coerce::describe(*p)
                )
            })?;
            fields.extend(dict_fields(&dict)?);
        }
        fields.extend(self.named.iter().cloned());
        Ok(fields)
    }

    /// Exactly `n` positional arguments and no keywords.
    fn exactly(&self, n: usize, what: &str) -> Result<&[Value<'v>], String> {
        self.no_named(what)?;
        if self.pos.len() != n {
            return Err(format!(
                "{what} takes {n} argument(s), got {}",
                self.pos.len()
            ));
        }
        Ok(&self.pos)
    }
}

#[starlark_module]
pub(crate) fn natives(builder: &mut GlobalsBuilder) {
    /// Every call in a config goes through here (the loader rewrites `f(x)` to `_call(f, x)`).
    fn _call<'v>(
        #[starlark(require = pos)] callee: Value<'v>,
        #[starlark(args)] args: UnpackTuple<Value<'v>>,
        #[starlark(kwargs)] kwargs: DictRef<'v>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> starlark::Result<Value<'v>> {
        let mut named = Vec::with_capacity(kwargs.len());
        for (k, v) in kwargs.iter() {
            let Some(k) = k.unpack_str() else {
                return Err(DslError::starlark(
                    &location(eval),
                    "keyword names must be strings",
                ));
            };
            named.push((k.to_string(), v));
        }
        let Some(obj) = obj_of(callee) else {
            let named: Vec<(&str, Value<'v>)> =
                named.iter().map(|(k, v)| (k.as_str(), *v)).collect();
            return eval.eval_function(callee, &args.items, &named);
        };
        let origin = location(eval);
        call(
            obj,
            Args {
                pos: args.items,
                named,
            },
            &origin,
            eval,
        )
        .map_err(|message| DslError::starlark(&origin, message))
    }

    /// Every attribute read goes through here (`a.b` is rewritten to `_getattr(a, "b")`).
    fn _getattr<'v>(
        #[starlark(require = pos)] value: Value<'v>,
        #[starlark(require = pos)] name: &str,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> starlark::Result<Value<'v>> {
        let heap = eval.heap();
        match obj_of(value) {
            None => value.get_attr_error(name, heap),
            Some(obj) => {
                let none = Ctx::default();
                let load = ctx(eval).unwrap_or(&none).load();
                getattr(obj, name, load, heap)
                    .map_err(|message| DslError::starlark(&location(eval), message))
            }
        }
    }
}

fn getattr<'v>(obj: &Obj, name: &str, load: Load<'_>, heap: Heap<'v>) -> Result<Value<'v>, String> {
    let found = match obj {
        Obj::Instance(inst) => {
            if let Some(i) = inst.schema.index(name) {
                Obj::Getter(inst.clone(), i)
            } else if let Some(i) = name.strip_prefix("has_").and_then(|f| inst.schema.index(f)) {
                Obj::Method(inst.clone(), Method::Has(i))
            } else {
                let method = match name {
                    "bind" => Method::Bind,
                    "copy" => Method::Copy,
                    "get" => Method::Get,
                    _ => {
                        return Err(format!(
                            "{} has no attribute '{name}' (it has: {})",
                            inst.schema.name,
                            inst.schema.field_names()
                        ));
                    }
                };
                Obj::Method(inst.clone(), method)
            }
        }
        Obj::Namespace(ns) => match (ns, name) {
            (Namespace::Tasks, "concat") => Obj::Builtin(Builtin::Concat),
            (Namespace::Tasks, "combine") => Obj::Builtin(Builtin::Combine),
            (Namespace::Tasks, "simple") => Obj::Builtin(Builtin::SimpleTask),
            (Namespace::Tasks, "sequential") => Obj::Builtin(Builtin::Sequential),
            (Namespace::Processes, "order") => Obj::Builtin(Builtin::Order),
            _ => return Err(format!("{ns:?} has no attribute '{name}'")),
        },
        Obj::Module(module) => return Ok(member(module.member(name)?, load, heap)),
        Obj::Regex(pattern) => match pyre::pattern_method(name) {
            Some(function) => Obj::RegexMethod(pattern.clone(), function),
            None => match name {
                "pattern" => return Ok(heap.alloc(pattern.source.as_str())),
                "flags" => return Ok(heap.alloc(pattern.flags)),
                _ => return Err(format!("{obj} has no attribute '{name}'")),
            },
        },
        Obj::Match(data) => match pyre::MatchMethod::from_name(name) {
            Some(method) => Obj::MatchMethod(data.clone(), method),
            None => return Err(format!("a re match has no attribute '{name}'")),
        },
        other => return Err(format!("{other} has no attribute '{name}'")),
    };
    Ok(alloc(heap, found))
}

fn call<'v>(
    obj: &Obj,
    args: Args<'v>,
    origin: &Origin,
    eval: &mut Evaluator<'v, '_, '_>,
) -> Result<Value<'v>, String> {
    let heap = eval.heap();
    match obj {
        Obj::Type(Ty::Struct(schema)) => {
            let fields = args.fields(&schema.name)?;
            let inst = build(
                schema,
                Instance::defaults(schema, origin.clone()),
                fields,
                origin,
            )?;
            Ok(alloc(heap, Obj::Instance(Arc::new(inst))))
        }
        Obj::Type(ty) => {
            let [value] = args.exactly(1, &ty.name())? else {
                return Err(format!("{} takes one argument", ty.name()));
            };
            let datum = coerce(*value, ty, &ty.name(), origin)?;
            Ok(datum.map_or_else(Value::new_none, |d| to_value(&d, heap)))
        }
        Obj::Instance(inst) => {
            let fields = args.fields(&format!("overriding a {}", inst.schema.name))?;
            let updated = build(&inst.schema, (**inst).clone(), fields, origin)?;
            Ok(alloc(heap, Obj::Instance(Arc::new(updated))))
        }
        Obj::Getter(inst, index) => {
            let field = &inst.schema.fields[*index];
            args.none(&format!("{}.{}()", inst.schema.name, field.name))?;
            match &inst.values[*index] {
                None => Ok(alloc(heap, Obj::Empty)),
                Some(d) => Ok(to_value(
                    &interpolated(d, &field.ty, &Chain::empty().enter(inst))?,
                    heap,
                )),
            }
        }
        Obj::Method(inst, method) => call_method(inst, *method, args, heap),
        Obj::Builtin(builtin) => call_builtin(*builtin, args, origin, eval),
        Obj::Function(function) => {
            let none = Ctx::default();
            let load = ctx(eval).unwrap_or(&none).load();
            modules::call(*function, &args.pos, &args.named, load, heap)
        }
        Obj::RegexMethod(pattern, function) => {
            pyre::call_pattern(pattern, *function, &args.pos, &args.named, heap)
        }
        Obj::MatchMethod(data, method) => {
            if let Some((name, _)) = args.named.first() {
                return Err(format!(
                    "{obj}() got an unexpected keyword argument '{name}'"
                ));
            }
            pyre::call_match(data, *method, &args.pos, heap)
        }
        Obj::Signature(_)
        | Obj::Empty
        | Obj::Namespace(_)
        | Obj::Module(_)
        | Obj::Regex(_)
        | Obj::Match(_) => Err(format!("{obj} is not callable")),
    }
}

fn call_method<'v>(
    inst: &Arc<Instance>,
    method: Method,
    args: Args<'v>,
    heap: Heap<'v>,
) -> Result<Value<'v>, String> {
    match method {
        Method::Has(index) => {
            args.none("has_...()")?;
            Ok(Value::new_bool(inst.values[index].is_some()))
        }
        Method::Copy => {
            args.none("copy()")?;
            Ok(alloc(heap, Obj::Instance(inst.clone())))
        }
        Method::Get => {
            args.none("get()")?;
            Ok(raw_value(&Datum::Struct(inst.clone()), heap))
        }
        Method::Bind => {
            let env = bindings(&args)?;
            let mut bound = (**inst).clone();
            bound.scopes.insert(0, Frame::Env(Arc::new(env)));
            Ok(alloc(heap, Obj::Instance(Arc::new(bound))))
        }
    }
}

/// `.bind(a = 'x', profile = PROFILE, {'b.c': 1})` as one environment; keywords win over dicts.
fn bindings(args: &Args<'_>) -> Result<Env, String> {
    let mut entries = Vec::new();
    for (name, value) in &args.named {
        bind_entry(name, *value, &mut entries)?;
    }
    for p in args.pos.iter().rev() {
        let dict = DictRef::from_value(*p).ok_or_else(|| {
            format!(
                "bind() takes keyword arguments or dicts, got {}",
                coerce::describe(*p)
            )
        })?;
        for (name, value) in dict_fields(&dict)? {
            bind_entry(&name, value, &mut entries)?;
        }
    }
    Ok(Env { entries })
}

fn bind_entry(
    name: &str,
    value: Value<'_>,
    entries: &mut Vec<(Ref, Binding)>,
) -> Result<(), String> {
    let key = Ref::parse(name)
        .ok_or_else(|| format!("cannot bind {name:?}: not a valid template name"))?;
    if let Some(text) = scalar_text(value) {
        entries.push((key, Binding::Text(text)));
    } else if let Some(Obj::Instance(inst)) = obj_of(value) {
        entries.push((key, Binding::Datum(Datum::Struct(inst.clone()))));
    } else if let Some(dict) = DictRef::from_value(value) {
        for (sub, v) in dict_fields(&dict)? {
            bind_entry(&format!("{name}.{sub}"), v, entries)?;
        }
    } else {
        return Err(format!(
            "cannot bind {name} to {}: bind strings, numbers, structs or dicts",
            coerce::describe(value)
        ));
    }
    Ok(())
}

fn ty_of(v: Value<'_>, what: &str) -> Result<Ty, String> {
    match obj_of(v) {
        Some(Obj::Type(ty)) => Ok(ty.clone()),
        _ => Err(format!(
            "{what} needs a type (String, Integer, a Struct, List(...)...), got {}",
            coerce::describe(v)
        )),
    }
}

fn string_arg(v: Value<'_>, what: &str) -> Result<String, String> {
    v.unpack_str()
        .map(str::to_string)
        .ok_or_else(|| format!("{what} must be a string, got {}", coerce::describe(v)))
}

fn task_args(args: &Args<'_>, what: &str) -> Result<Vec<Arc<Instance>>, String> {
    args.pos
        .iter()
        .map(|v| match obj_of(*v) {
            Some(Obj::Instance(inst)) if inst.is(&VOCAB.task) => Ok(inst.clone()),
            _ => Err(format!("{what} takes Tasks, got {}", coerce::describe(*v))),
        })
        .collect()
}

fn call_builtin<'v>(
    builtin: Builtin,
    args: Args<'v>,
    origin: &Origin,
    eval: &mut Evaluator<'v, '_, '_>,
) -> Result<Value<'v>, String> {
    let heap = eval.heap();
    let instance = |inst: Instance| alloc(heap, Obj::Instance(Arc::new(inst)));
    match builtin {
        Builtin::Struct => {
            let [name] = args.pos.as_slice() else {
                return Err(
                    "Struct takes the struct's name, then its fields as keyword arguments".into(),
                );
            };
            let name = string_arg(*name, "Struct's name")?;
            let mut fields = Vec::new();
            for (field, value) in &args.named {
                let mut spec = match obj_of(*value) {
                    Some(Obj::Signature(sig)) => sig.clone(),
                    Some(Obj::Type(ty)) => Field {
                        name: String::new(),
                        ty: ty.clone(),
                        required: false,
                        default: None,
                        reserved: false,
                    },
                    _ => {
                        return Err(format!(
                            "field '{field}' of {name} must be a type or Default(...)/Required(...), got {}",
                            coerce::describe(*value)
                        ));
                    }
                };
                spec.name = field.clone();
                fields.push(spec);
            }
            Ok(alloc(
                heap,
                Obj::Type(Ty::Struct(Arc::new(Schema { name, fields }))),
            ))
        }
        Builtin::Default => {
            let [ty, value] = args.exactly(2, "Default")? else {
                return Err("Default takes a type and a value".into());
            };
            let ty = ty_of(*ty, "Default")?;
            let default = coerce(*value, &ty, "Default", origin)?;
            Ok(alloc(
                heap,
                Obj::Signature(Field {
                    name: String::new(),
                    ty,
                    required: false,
                    default,
                    reserved: false,
                }),
            ))
        }
        Builtin::Required => {
            let [ty] = args.exactly(1, "Required")? else {
                return Err("Required takes a type".into());
            };
            let ty = ty_of(*ty, "Required")?;
            Ok(alloc(
                heap,
                Obj::Signature(Field {
                    name: String::new(),
                    ty,
                    required: true,
                    default: None,
                    reserved: false,
                }),
            ))
        }
        Builtin::List => {
            let [ty] = args.exactly(1, "List")? else {
                return Err("List takes the element type".into());
            };
            Ok(alloc(
                heap,
                Obj::Type(Ty::List(Arc::new(ty_of(*ty, "List")?))),
            ))
        }
        Builtin::Map => {
            let [k, v] = args.exactly(2, "Map")? else {
                return Err("Map takes the key and value types".into());
            };
            Ok(alloc(
                heap,
                Obj::Type(Ty::Map(
                    Arc::new(ty_of(*k, "Map")?),
                    Arc::new(ty_of(*v, "Map")?),
                )),
            ))
        }
        Builtin::Choice => {
            let [options] = args.exactly(1, "Choice")? else {
                return Err("Choice takes a list of types".into());
            };
            let options = coerce::to_types(*options)?;
            Ok(alloc(heap, Obj::Type(Ty::Choice(Arc::from(options)))))
        }
        Builtin::Enum => {
            args.no_named("Enum")?;
            let strings = |vs: &[Value<'_>]| {
                vs.iter()
                    .map(|v| string_arg(*v, "an Enum value"))
                    .collect::<Result<Vec<_>, _>>()
            };
            let (name, values) = match args.pos.as_slice() {
                [name, values] if name.unpack_str().is_some() && values.unpack_str().is_none() => (
                    string_arg(*name, "Enum's name")?,
                    strings(&coerce::to_values(*values)?)?,
                ),
                values => {
                    let values = strings(values)?;
                    (format!("Enum_{}", values.join("_")), values)
                }
            };
            Ok(alloc(
                heap,
                Obj::Type(Ty::Enum(Arc::new(EnumTy { name, values }))),
            ))
        }
        Builtin::Order => {
            args.no_named("order")?;
            let mut names = Vec::new();
            for v in &args.pos {
                names.push(match (v.unpack_str(), obj_of(*v)) {
                    (Some(name), _) => name.to_string(),
                    (_, Some(Obj::Instance(p))) if p.is(&VOCAB.process) => {
                        helpers::process_name(p)?
                    }
                    _ => {
                        return Err(format!(
                            "order() takes Processes or process names, got {}",
                            coerce::describe(*v)
                        ));
                    }
                });
            }
            Ok(to_value(
                &Datum::List(Arc::from(helpers::order(names, origin))),
                heap,
            ))
        }
        Builtin::SequentialTask => {
            let fields = args.fields("SequentialTask")?;
            let task = build(
                &VOCAB.task,
                Instance::defaults(&VOCAB.task, origin.clone()),
                fields,
                origin,
            )?;
            Ok(instance(helpers::sequential(task, origin)?))
        }
        Builtin::Sequential => {
            let tasks = task_args(&args, "Tasks.sequential")?;
            let [task] = tasks.as_slice() else {
                return Err("Tasks.sequential takes one Task".into());
            };
            let mut task = (**task).clone();
            task.origin = origin.clone();
            Ok(instance(helpers::sequential(task, origin)?))
        }
        Builtin::SimpleTask => {
            let (name, command) = match (args.pos.as_slice(), args.named.as_slice()) {
                ([n, c], []) => (*n, *c),
                _ => {
                    let get = |key: &str, i: usize| {
                        args.named
                            .iter()
                            .find(|(k, _)| k == key)
                            .map(|(_, v)| *v)
                            .or_else(|| args.pos.get(i).copied())
                    };
                    match (get("name", 0), get("command", 1)) {
                        (Some(n), Some(c)) if args.pos.len() + args.named.len() == 2 => (n, c),
                        _ => return Err("SimpleTask takes name and command".into()),
                    }
                }
            };
            let name = string_arg(name, "SimpleTask's name")?;
            let command = string_arg(command, "SimpleTask's command")?;
            Ok(instance(helpers::simple(&name, &command, origin)))
        }
        Builtin::Concat | Builtin::Combine => {
            let what = if matches!(builtin, Builtin::Concat) {
                "Tasks.concat"
            } else {
                "Tasks.combine"
            };
            let tasks = task_args(&args, what)?;
            let merged = if matches!(builtin, Builtin::Concat) {
                helpers::concat(&tasks, origin)?
            } else {
                helpers::combine(&tasks, origin)?
            };
            let merged = build(&VOCAB.task, merged, args.named.clone(), origin)?;
            Ok(instance(merged))
        }
        Builtin::Import => {
            let [path] = args.exactly(1, "_import")? else {
                return Err("_import takes a dotted module name".into());
            };
            let path = string_arg(*path, "_import's module name")?;
            let none = Ctx::default();
            let load = ctx(eval).unwrap_or(&none).load();
            Ok(member(modules::resolve(&path)?, load, heap))
        }
        Builtin::Include => Err(
            "include() must be a statement of its own at the top level of a file, \
                                 with a string literal path, e.g. include('common.aurora')"
                .into(),
        ),
    }
}

/// A module's member as a value: a module or function object, or `os.environ`'s dict.
fn member<'v>(member: Member, load: Load<'_>, heap: Heap<'v>) -> Value<'v> {
    match member {
        Member::Module(m) => alloc(heap, Obj::Module(m)),
        Member::Function(f) => alloc(heap, Obj::Function(f)),
        Member::Environ => modules::environ(load, heap),
        Member::Constant(value) => heap.alloc(value),
    }
}

/// The names every config sees: types, preset instances, helpers and units.
pub(crate) fn predefined() -> Vec<(String, Obj)> {
    let v = &*VOCAB;
    let mut out: Vec<(String, Obj)> = vec![
        ("String".into(), Obj::Type(Ty::String)),
        ("Integer".into(), Obj::Type(Ty::Integer)),
        ("Float".into(), Obj::Type(Ty::Float)),
        ("Boolean".into(), Obj::Type(Ty::Boolean)),
        (
            "LoggerDestination".into(),
            Obj::Type(Ty::Enum(v.logger_destination.clone())),
        ),
        (
            "LoggerMode".into(),
            Obj::Type(Ty::Enum(v.logger_mode.clone())),
        ),
        ("Mode".into(), Obj::Type(Ty::Enum(v.mode.clone()))),
        ("Empty".into(), Obj::Empty),
        ("Tasks".into(), Obj::Namespace(Namespace::Tasks)),
        ("Processes".into(), Obj::Namespace(Namespace::Processes)),
        // Predefined as well as importable: configs written for earlier versions of this
        // loader use `os` without importing it.
        ("os".into(), Obj::Module(Module::Os)),
    ];
    for (name, b) in [
        ("Struct", Builtin::Struct),
        ("Default", Builtin::Default),
        ("Required", Builtin::Required),
        ("List", Builtin::List),
        ("Map", Builtin::Map),
        ("Choice", Builtin::Choice),
        ("Enum", Builtin::Enum),
        ("order", Builtin::Order),
        ("SequentialTask", Builtin::SequentialTask),
        ("SimpleTask", Builtin::SimpleTask),
        ("concat_tasks", Builtin::Concat),
        ("combine_tasks", Builtin::Combine),
        ("include", Builtin::Include),
        ("_import", Builtin::Import),
    ] {
        out.push((name.into(), Obj::Builtin(b)));
    }
    for schema in v.schemas() {
        out.push((schema.name.clone(), Obj::Type(Ty::Struct(schema.clone()))));
    }
    out.push(("MesosJob".into(), Obj::Type(Ty::Struct(v.job.clone()))));
    for (name, datum) in v.instances() {
        if let Datum::Struct(inst) = datum {
            out.push((name.into(), Obj::Instance(inst)));
        }
    }
    out
}

/// Pystachio's unit constants.
pub(crate) fn units() -> [(&'static str, i64); 5] {
    let kb = 1024;
    [
        ("BYTES", 1),
        ("KB", kb),
        ("MB", kb * kb),
        ("GB", kb * kb * kb),
        ("TB", kb * kb * kb * kb),
    ]
}
