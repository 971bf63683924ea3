//! Pystachio's object model as plain Rust data: types ([`Ty`], [`Schema`]), values ([`Datum`]),
//! struct instances ([`Instance`]) with their binding scopes ([`Frame`]), and where each
//! instance was written ([`Origin`]).
//!
//! Everything here is immutable and shared (`Arc`): like Pystachio's objects, an override or a
//! `bind` makes a new instance and leaves the old one as it was. Nothing here knows about
//! Starlark; [`crate::dsl`] converts between Starlark values and these.

use std::fmt;
use std::sync::Arc;

use crate::template::Ref;

/// Where a config element was written: the original file, 1-based line and column. Line 0
/// means "no position" (built-in defaults, JSON input).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Origin {
    pub file: Arc<str>,
    pub line: u32,
    pub column: u32,
}

impl Origin {
    pub fn nowhere(file: &str) -> Self {
        Self {
            file: file.into(),
            line: 0,
            column: 0,
        }
    }
}

/// A Pystachio type: the simple types, `Enum`, `List`, `Map`, `Choice` and struct schemas.
#[derive(Debug, Clone)]
pub(crate) enum Ty {
    String,
    Integer,
    Float,
    Boolean,
    Enum(Arc<EnumTy>),
    List(Arc<Ty>),
    Map(Arc<Ty>, Arc<Ty>),
    Struct(Arc<Schema>),
    Choice(Arc<[Ty]>),
}

impl Ty {
    /// The name Pystachio prints for the type, e.g. `String`, `ProcessList`, `Process`.
    pub fn name(&self) -> String {
        match self {
            Ty::String => "String".into(),
            Ty::Integer => "Integer".into(),
            Ty::Float => "Float".into(),
            Ty::Boolean => "Boolean".into(),
            Ty::Enum(e) => e.name.clone(),
            Ty::List(t) => format!("{}List", t.name()),
            Ty::Map(k, v) => format!("{}{}Map", k.name(), v.name()),
            Ty::Struct(s) => s.name.clone(),
            Ty::Choice(options) => {
                let names: Vec<String> = options.iter().map(Ty::name).collect();
                format!("Choice_{}", names.join("_"))
            }
        }
    }
}

#[derive(Debug)]
pub(crate) struct EnumTy {
    pub name: String,
    pub values: Vec<String>,
}

/// A struct type: `class Process(Struct)` or `Struct('Profile', ...)`. Types are compared by
/// identity (`Arc::ptr_eq`), as Python compares classes.
#[derive(Debug)]
pub(crate) struct Schema {
    pub name: String,
    pub fields: Vec<Field>,
}

impl Schema {
    pub fn index(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|f| f.name == name)
    }

    /// The fields a config may set, for error messages: reserved fields are accepted but left
    /// out, since setting them does nothing.
    pub fn field_names(&self) -> String {
        let names: Vec<&str> = self
            .fields
            .iter()
            .filter(|f| !f.reserved)
            .map(|f| f.name.as_str())
            .collect();
        names.join(", ")
    }
}

/// One attribute of a schema: `name = Required(String)`, `Default(Integer, 1)` or a bare type
/// (optional, no default).
#[derive(Debug, Clone)]
pub(crate) struct Field {
    pub name: String,
    pub ty: Ty,
    pub required: bool,
    pub default: Option<Datum>,
    /// Declared for compatibility but unused (Thermos's `Process.resources`, "reserved for
    /// future use"): accepted, ignored, and not offered in error messages.
    pub reserved: bool,
}

/// A value stored in a struct field, list or map. Simple values whose text still holds
/// `{{...}}` templates are kept as [`Datum::Str`] whatever their declared type, and coerced
/// when they are interpolated (as Pystachio does).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Datum {
    Str(Arc<str>),
    Int(i64),
    Float(f64),
    Bool(bool),
    List(Arc<[Datum]>),
    Map(Arc<[(Datum, Datum)]>),
    Struct(Arc<Instance>),
}

impl Datum {
    pub fn str(s: &str) -> Self {
        Datum::Str(s.into())
    }

    pub fn as_instance(&self) -> Option<&Arc<Instance>> {
        match self {
            Datum::Struct(i) => Some(i),
            _ => None,
        }
    }

    pub fn as_list(&self) -> Option<&[Datum]> {
        match self {
            Datum::List(items) => Some(items),
            _ => None,
        }
    }

    /// Python's `str()` of a simple value, as Pystachio substitutes it into a template.
    pub fn python_str(&self) -> Option<String> {
        match self {
            Datum::Str(s) => Some(s.to_string()),
            Datum::Int(i) => Some(i.to_string()),
            Datum::Float(f) => Some(python_float(*f)),
            Datum::Bool(true) => Some("True".into()),
            Datum::Bool(false) => Some("False".into()),
            Datum::List(_) | Datum::Map(_) | Datum::Struct(_) => None,
        }
    }

    /// What kind of value this is, for error messages.
    pub fn describe(&self) -> String {
        match self {
            Datum::Str(s) => format!("{s:?}"),
            Datum::Int(i) => i.to_string(),
            Datum::Float(f) => python_float(*f),
            Datum::Bool(b) => b.to_string(),
            Datum::List(_) => "a list".into(),
            Datum::Map(_) => "a map".into(),
            Datum::Struct(i) => format!("a {}", i.schema.name),
        }
    }
}

/// Python's `str(float)`: `1.0`, `0.5`, `1e+20`.
pub(crate) fn python_float(f: f64) -> String {
    if f.is_finite() && f == f.trunc() && f.abs() < 1e16 {
        format!("{f:.1}")
    } else {
        format!("{f}")
    }
}

/// An instance of a struct schema. `values[i]` belongs to `schema.fields[i]`; `None` is
/// Pystachio's `Empty` (unset). `scopes` are the bindings it carries, newest first, then any
/// scopes it inherited when read out of an enclosing struct (Pystachio's `_scopes`).
#[derive(Debug, Clone)]
pub(crate) struct Instance {
    pub schema: Arc<Schema>,
    pub values: Vec<Option<Datum>>,
    pub scopes: Vec<Frame>,
    pub origin: Origin,
}

impl PartialEq for Instance {
    /// Pystachio compares structs by type and field values; where they were written and what
    /// they are bound to does not count.
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.schema, &other.schema) && self.values == other.values
    }
}

impl Instance {
    /// A fresh instance with every field at its default.
    pub fn defaults(schema: &Arc<Schema>, origin: Origin) -> Self {
        Self {
            schema: schema.clone(),
            values: schema.fields.iter().map(|f| f.default.clone()).collect(),
            scopes: Vec::new(),
            origin,
        }
    }

    pub fn get(&self, field: &str) -> Option<&Datum> {
        self.schema
            .index(field)
            .and_then(|i| self.values.get(i))
            .and_then(Option::as_ref)
    }

    /// A copy with `field` set (`None` unsets it). Unknown fields are ignored: callers check
    /// names against the schema first.
    pub fn with(&self, field: &str, value: Option<Datum>) -> Self {
        let mut copy = self.clone();
        if let Some(i) = self.schema.index(field) {
            copy.values[i] = value;
        }
        copy
    }

    pub fn is(&self, schema: &Arc<Schema>) -> bool {
        Arc::ptr_eq(&self.schema, schema)
    }
}

/// One scope a template reference is looked up in.
#[derive(Debug, Clone)]
pub(crate) enum Frame {
    /// The fields of a struct (`{{name}}`, `{{self.name}}`); values found here are scoped by
    /// the chain that starts at this frame.
    Fields(Arc<Instance>),
    /// Values bound with `.bind(...)` or `--bind`.
    Env(Arc<Env>),
}

/// A binding environment: references to text or to objects (`profile = Profile(...)`).
#[derive(Debug, Default)]
pub(crate) struct Env {
    pub entries: Vec<(Ref, Binding)>,
}

#[derive(Debug, Clone)]
pub(crate) enum Binding {
    Text(String),
    Datum(Datum),
}

impl fmt::Display for Datum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Datum::Str(s) => write!(f, "{s:?}"),
            Datum::Int(i) => write!(f, "{i}"),
            Datum::Float(x) => f.write_str(&python_float(*x)),
            Datum::Bool(b) => f.write_str(if *b { "True" } else { "False" }),
            Datum::List(items) => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str("]")
            }
            Datum::Map(pairs) => {
                f.write_str("{")?;
                for (i, (k, v)) in pairs.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{k}: {v}")?;
                }
                f.write_str("}")
            }
            Datum::Struct(inst) => write!(f, "{inst}"),
        }
    }
}

impl fmt::Display for Instance {
    /// Pystachio's repr: `Process(name='x', cmdline='y')`, set fields only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}(", self.schema.name)?;
        let mut first = true;
        for (field, value) in self.schema.fields.iter().zip(&self.values) {
            if let Some(value) = value {
                if !first {
                    f.write_str(", ")?;
                }
                first = false;
                write!(f, "{}={value}", field.name)?;
            }
        }
        f.write_str(")")
    }
}
