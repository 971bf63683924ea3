//! Conversions between Starlark values and Pystachio data, with Pystachio's coercions:
//! `String` takes numbers, `Integer` and `Float` take numeric strings, `Boolean` takes
//! `'true'`/`'false'`/`'1'`/`'0'`, and any simple type takes a string holding `{{...}}`
//! (coerced once interpolated). Structs take instances of exactly their type, or dicts.

use std::sync::Arc;

use starlark::values::dict::{AllocDict, DictRef};
use starlark::values::float::StarlarkFloat;
use starlark::values::list::{AllocList, ListRef};
use starlark::values::tuple::TupleRef;
use starlark::values::{Heap, UnpackValue, Value, ValueLike};

use crate::dsl::{Obj, obj_of};
use crate::template::{Chain, resolve};
use crate::value::{Datum, Instance, Origin, Schema, Ty, python_float};

/// Converts `v` for a field of type `ty`. `Ok(None)` is "unset": `None` and `Empty`.
/// `what` names the field in messages (`Process.cmdline`).
pub(crate) fn coerce(
    v: Value<'_>,
    ty: &Ty,
    what: &str,
    origin: &Origin,
) -> Result<Option<Datum>, String> {
    if v.is_none() {
        return Ok(None);
    }
    if let Some(obj) = obj_of(v) {
        return match (obj, ty) {
            (Obj::Empty, _) => Ok(None),
            (Obj::Instance(inst), _) => instance_for(inst, ty, what).map(Some),
            _ => Err(mismatch(what, ty, &format!("{obj}"))),
        };
    }
    let datum = match ty {
        Ty::String | Ty::Integer | Ty::Float | Ty::Boolean | Ty::Enum(_) => simple(v, ty, what)?,
        Ty::List(item) => {
            let items = sequence(v).ok_or_else(|| mismatch(what, ty, &describe(v)))?;
            let mut out = Vec::with_capacity(items.len());
            for (i, item_value) in items.into_iter().enumerate() {
                let item_what = format!("{what}[{i}]");
                let datum = coerce(item_value, item, &item_what, origin)?.ok_or_else(|| {
                    format!("{item_what}: a list element cannot be None or Empty")
                })?;
                out.push(datum);
            }
            Datum::List(Arc::from(out))
        }
        Ty::Map(key, value) => {
            let dict = DictRef::from_value(v).ok_or_else(|| mismatch(what, ty, &describe(v)))?;
            let mut out = Vec::with_capacity(dict.len());
            for (k, val) in dict.iter() {
                let key_what = format!("{what} key {}", k.to_repr());
                let k = coerce(k, key, &key_what, origin)?
                    .ok_or_else(|| format!("{key_what}: None"))?;
                let val_what = format!("{what}[{}]", k.python_str().unwrap_or_default());
                let val = coerce(val, value, &val_what, origin)?
                    .ok_or_else(|| format!("{val_what}: a map value cannot be None or Empty"))?;
                out.push((k, val));
            }
            Datum::Map(Arc::from(out))
        }
        Ty::Struct(schema) => {
            let dict = DictRef::from_value(v).ok_or_else(|| mismatch(what, ty, &describe(v)))?;
            let fields = dict_fields(&dict)?;
            let base = Instance::defaults(schema, origin.clone());
            Datum::Struct(Arc::new(build(schema, base, fields, origin)?))
        }
        Ty::Choice(options) => {
            let mut problems = Vec::new();
            for option in options.iter() {
                match coerce(v, option, what, origin) {
                    Ok(Some(d)) => return Ok(Some(d)),
                    Ok(None) => return Ok(None),
                    Err(e) => problems.push(e),
                }
            }
            return Err(format!(
                "{what}: {} fits none of {}: {}",
                describe(v),
                ty.name(),
                problems.join("; ")
            ));
        }
    };
    Ok(Some(datum))
}

/// An instance given for a field: accepted when its type is the field's, or one of a Choice's.
fn instance_for(inst: &Arc<Instance>, ty: &Ty, what: &str) -> Result<Datum, String> {
    let fits = match ty {
        Ty::Struct(schema) => inst.is(schema),
        Ty::Choice(options) => options
            .iter()
            .any(|o| matches!(o, Ty::Struct(s) if inst.is(s))),
        _ => false,
    };
    if fits {
        Ok(Datum::Struct(inst.clone()))
    } else {
        Err(mismatch(what, ty, &format!("a {}", inst.schema.name)))
    }
}

fn mismatch(what: &str, ty: &Ty, got: &str) -> String {
    format!("{what} must be {}, got {got}", article(&ty.name()))
}

fn article(name: &str) -> String {
    match name.chars().next() {
        Some(c) if "AEIOU".contains(c) => format!("an {name}"),
        _ => format!("a {name}"),
    }
}

pub(crate) fn describe(v: Value<'_>) -> String {
    match obj_of(v) {
        Some(obj) => format!("{obj}"),
        None if v.is_none() => "None".into(),
        None => format!("{} {}", v.get_type(), v.to_repr()),
    }
}

/// The elements of a list or tuple.
pub(crate) fn to_values(v: Value<'_>) -> Result<Vec<Value<'_>>, String> {
    sequence(v).ok_or_else(|| format!("expected a list, got {}", describe(v)))
}

/// A list of types, as `Choice([A, B])` takes.
pub(crate) fn to_types(v: Value<'_>) -> Result<Vec<Ty>, String> {
    to_values(v)?
        .into_iter()
        .map(|t| match obj_of(t) {
            Some(Obj::Type(ty)) => Ok(ty.clone()),
            _ => Err(format!("Choice takes a list of types, got {}", describe(t))),
        })
        .collect()
}

fn sequence(v: Value<'_>) -> Option<Vec<Value<'_>>> {
    if let Some(list) = ListRef::from_value(v) {
        return Some(list.content().to_vec());
    }
    TupleRef::from_value(v).map(|t| t.content().to_vec())
}

/// A dict's entries as `(field name, value)`; keys must be strings.
pub(crate) fn dict_fields<'v>(dict: &DictRef<'v>) -> Result<Vec<(String, Value<'v>)>, String> {
    dict.iter()
        .map(|(k, v)| {
            k.unpack_str()
                .map(|k| (k.to_string(), v))
                .ok_or_else(|| format!("field names must be strings, got {}", k.to_repr()))
        })
        .collect()
}

/// `base` with `fields` set, each coerced to its declared type.
pub(crate) fn build(
    schema: &Arc<Schema>,
    mut base: Instance,
    fields: Vec<(String, Value<'_>)>,
    origin: &Origin,
) -> Result<Instance, String> {
    for (name, value) in fields {
        let Some(index) = schema.index(&name) else {
            return Err(unknown_field(schema, &name));
        };
        let field = &schema.fields[index];
        base.values[index] = coerce(value, &field.ty, &format!("{}.{name}", schema.name), origin)?;
    }
    base.origin = origin.clone();
    Ok(base)
}

pub(crate) fn unknown_field(schema: &Schema, name: &str) -> String {
    format!(
        "unknown keyword argument '{name}' for {} (it has: {})",
        schema.name,
        schema.field_names()
    )
}

fn simple(v: Value<'_>, ty: &Ty, what: &str) -> Result<Datum, String> {
    if let Some(s) = v.unpack_str() {
        if s.contains("{{") {
            return Ok(Datum::str(s));
        }
        return coerce_text(s, ty).map_err(|e| format!("{what}: {e}"));
    }
    let number = if let Some(b) = v.unpack_bool() {
        Datum::Bool(b)
    } else if let Ok(Some(i)) = i64::unpack_value(v) {
        Datum::Int(i)
    } else if let Some(f) = v.downcast_ref::<StarlarkFloat>() {
        Datum::Float(f.0)
    } else {
        return Err(mismatch(what, ty, &describe(v)));
    };
    match (ty, number) {
        (Ty::String, n) => Ok(Datum::Str(n.python_str().unwrap_or_default().into())),
        (Ty::Integer, Datum::Bool(b)) => Ok(Datum::Int(i64::from(b))),
        (Ty::Integer, Datum::Float(f)) => Ok(Datum::Int(f.trunc() as i64)),
        (Ty::Float, Datum::Int(i)) => Ok(Datum::Float(i as f64)),
        (Ty::Float, Datum::Bool(b)) => Ok(Datum::Float(if b { 1.0 } else { 0.0 })),
        (Ty::Boolean, Datum::Int(i)) => Ok(Datum::Bool(i != 0)),
        (Ty::Boolean, Datum::Float(f)) => Ok(Datum::Bool(f != 0.0)),
        (Ty::Enum(_), n) => Err(mismatch(what, ty, &n.describe())),
        (_, n) => Ok(n),
    }
}

/// Coerces fully interpolated text to a simple type.
pub(crate) fn coerce_text(text: &str, ty: &Ty) -> Result<Datum, String> {
    let bad = || format!("cannot coerce {text:?} to {}", ty.name());
    match ty {
        Ty::Integer => text
            .trim()
            .parse::<i64>()
            .map(Datum::Int)
            .map_err(|_| bad()),
        Ty::Float => text
            .trim()
            .parse::<f64>()
            .map(Datum::Float)
            .map_err(|_| bad()),
        Ty::Boolean => match text.to_ascii_lowercase().as_str() {
            "true" | "1" => Ok(Datum::Bool(true)),
            "false" | "0" => Ok(Datum::Bool(false)),
            _ => Err(bad()),
        },
        Ty::Enum(e) if !e.values.iter().any(|v| v == text) => Err(format!(
            "{} must be one of {}, got {text:?}",
            e.name,
            e.values.join(", ")
        )),
        _ => Ok(Datum::str(text)),
    }
}

/// A value as `obj.field()` returns it: interpolated as far as the scopes allow, coerced to the
/// field's type once no template is left; structs keep the scopes they were read from.
pub(crate) fn interpolated(d: &Datum, ty: &Ty, chain: &Chain) -> Result<Datum, String> {
    Ok(match d {
        Datum::Str(s) if s.contains("{{") => {
            let (text, unbound) = resolve(s, chain)?;
            if unbound.is_empty() {
                coerce_text(&text, ty)?
            } else {
                Datum::str(&text)
            }
        }
        Datum::List(items) => {
            let item_ty = match ty {
                Ty::List(t) => (**t).clone(),
                other => other.clone(),
            };
            let items = items
                .iter()
                .map(|i| interpolated(i, &item_ty, chain))
                .collect::<Result<Vec<_>, _>>()?;
            Datum::List(Arc::from(items))
        }
        Datum::Map(pairs) => {
            let (kt, vt) = match ty {
                Ty::Map(k, v) => ((**k).clone(), (**v).clone()),
                _ => (Ty::String, Ty::String),
            };
            let pairs = pairs
                .iter()
                .map(|(k, v)| Ok((interpolated(k, &kt, chain)?, interpolated(v, &vt, chain)?)))
                .collect::<Result<Vec<_>, String>>()?;
            Datum::Map(Arc::from(pairs))
        }
        Datum::Struct(inst) => {
            let mut scoped = (**inst).clone();
            scoped.scopes.extend(chain.frames());
            Datum::Struct(Arc::new(scoped))
        }
        other => other.clone(),
    })
}

/// Pystachio data back into Starlark: structs as DSL objects, lists and maps as Starlark's.
pub(crate) fn to_value<'v>(d: &Datum, heap: Heap<'v>) -> Value<'v> {
    match d {
        Datum::Str(s) => heap.alloc(s.as_ref()),
        Datum::Int(i) => heap.alloc(*i),
        Datum::Float(f) => heap.alloc(*f),
        Datum::Bool(b) => Value::new_bool(*b),
        Datum::List(items) => heap.alloc(AllocList(items.iter().map(|i| to_value(i, heap)))),
        Datum::Map(pairs) => heap.alloc(AllocDict(
            pairs
                .iter()
                .map(|(k, v)| (to_value(k, heap), to_value(v, heap))),
        )),
        Datum::Struct(inst) => crate::dsl::alloc(heap, Obj::Instance(inst.clone())),
    }
}

/// Pystachio's `get()`: plain nested data, structs as dicts of their set fields, templates
/// left as written.
pub(crate) fn raw_value<'v>(d: &Datum, heap: Heap<'v>) -> Value<'v> {
    match d {
        Datum::Struct(inst) => heap.alloc(AllocDict(
            inst.schema
                .fields
                .iter()
                .zip(&inst.values)
                .filter_map(|(f, v)| {
                    v.as_ref()
                        .map(|v| (heap.alloc(f.name.as_str()), raw_value(v, heap)))
                }),
        )),
        Datum::List(items) => heap.alloc(AllocList(items.iter().map(|i| raw_value(i, heap)))),
        Datum::Map(pairs) => heap.alloc(AllocDict(
            pairs
                .iter()
                .map(|(k, v)| (raw_value(k, heap), raw_value(v, heap))),
        )),
        other => to_value(other, heap),
    }
}

/// Python's `str()` of a Starlark scalar, for `.bind(name=value)`.
pub(crate) fn scalar_text(v: Value<'_>) -> Option<String> {
    if let Some(s) = v.unpack_str() {
        return Some(s.to_string());
    }
    if let Some(b) = v.unpack_bool() {
        return Some(if b { "True" } else { "False" }.into());
    }
    if let Ok(Some(i)) = i64::unpack_value(v) {
        return Some(i.to_string());
    }
    v.downcast_ref::<StarlarkFloat>().map(|f| python_float(f.0))
}
