//! `json.dumps` and `json.loads` for configs, producing the text Python 3's `json` module
//! produces, since configs paste it into command lines and `ExecutorConfig.data`:
//! `', '` and `': '` separators (`','` once `indent` is given), `ensure_ascii` escapes, floats
//! as `repr` prints them, `NaN`/`Infinity`, keys in insertion order unless `sort_keys`.
//!
//! Python 2's `json` (Aurora's client) differed only with `indent`, where it left a space after
//! each `,`; Python 3's output is the one written here.

use std::fmt::Write as _;

use starlark::values::dict::{AllocDict, DictRef};
use starlark::values::float::StarlarkFloat;
use starlark::values::list::{AllocList, ListRef};
use starlark::values::tuple::TupleRef;
use starlark::values::{Heap, UnpackValue, Value, ValueLike};

use crate::coerce::describe;

/// Deeper than this is taken for a list or dict that contains itself.
const MAX_DEPTH: usize = 256;

struct Format {
    indent: Option<String>,
    item_separator: String,
    key_separator: String,
    sort_keys: bool,
    ensure_ascii: bool,
}

/// `json.dumps(obj, indent=None, separators=None, sort_keys=False, ensure_ascii=True)`.
pub(crate) fn dumps<'v>(
    pos: &[Value<'v>],
    named: &[(String, Value<'v>)],
    heap: Heap<'v>,
) -> Result<Value<'v>, String> {
    let [value] = pos else {
        return Err("json.dumps() takes one value (and keyword options)".into());
    };
    let mut format = Format {
        indent: None,
        item_separator: ", ".into(),
        key_separator: ": ".into(),
        sort_keys: false,
        ensure_ascii: true,
    };
    let mut separators = None;
    for (name, option) in named {
        let flag = || {
            option
                .unpack_bool()
                .ok_or_else(|| format!("json.dumps(): {name} must be True or False"))
        };
        match name.as_str() {
            "indent" if option.is_none() => format.indent = None,
            "indent" => {
                format.indent = Some(if let Some(s) = option.unpack_str() {
                    s.to_string()
                } else if let Ok(Some(n)) = i64::unpack_value(*option) {
                    " ".repeat(usize::try_from(n).unwrap_or(0))
                } else {
                    return Err(format!(
                        "json.dumps(): indent must be a number or a string, got {}",
                        describe(*option)
                    ));
                });
            }
            "separators" if option.is_none() => separators = None,
            "separators" => {
                let pair = TupleRef::from_value(*option)
                    .map(|t| t.content().to_vec())
                    .or_else(|| ListRef::from_value(*option).map(|l| l.content().to_vec()))
                    .unwrap_or_default();
                match pair.as_slice() {
                    [item, key] => match (item.unpack_str(), key.unpack_str()) {
                        (Some(item), Some(key)) => {
                            separators = Some((item.to_string(), key.to_string()));
                        }
                        _ => return Err("json.dumps(): separators must be two strings".into()),
                    },
                    _ => return Err("json.dumps(): separators must be two strings".into()),
                }
            }
            "sort_keys" => format.sort_keys = flag()?,
            "ensure_ascii" => format.ensure_ascii = flag()?,
            other => {
                return Err(format!(
                    "json.dumps() got an unsupported keyword argument '{other}' (supported: \
                     indent, separators, sort_keys, ensure_ascii)"
                ));
            }
        }
    }
    if format.indent.is_some() {
        format.item_separator = ",".into();
    }
    if let Some((item, key)) = separators {
        format.item_separator = item;
        format.key_separator = key;
    }
    let mut out = String::new();
    encode(*value, &format, 0, &mut out)?;
    Ok(heap.alloc(out))
}

fn encode(value: Value<'_>, f: &Format, depth: usize, out: &mut String) -> Result<(), String> {
    if depth > MAX_DEPTH {
        return Err("json.dumps(): the value nests too deeply (does it contain itself?)".into());
    }
    if value.is_none() {
        out.push_str("null");
    } else if let Some(b) = value.unpack_bool() {
        out.push_str(if b { "true" } else { "false" });
    } else if let Some(s) = value.unpack_str() {
        string(s, f.ensure_ascii, out);
    } else if let Some(x) = value.downcast_ref::<StarlarkFloat>() {
        out.push_str(&float(x.0));
    } else if value.get_type() == "int" {
        // Starlark ints are unbounded, like Python's; their decimal text is the same.
        out.push_str(&value.to_str());
    } else if let Some(items) = sequence(value) {
        let items: Vec<Value<'_>> = items;
        if items.is_empty() {
            out.push_str("[]");
            return Ok(());
        }
        out.push('[');
        for (i, item) in items.into_iter().enumerate() {
            separator(f, i, depth + 1, out);
            encode(item, f, depth + 1, out)?;
        }
        close(f, depth, out);
        out.push(']');
    } else if let Some(dict) = DictRef::from_value(value) {
        let mut entries = dict
            .iter()
            .map(|(k, v)| Ok((key(k)?, v)))
            .collect::<Result<Vec<_>, String>>()?;
        if entries.is_empty() {
            out.push_str("{}");
            return Ok(());
        }
        if f.sort_keys {
            entries.sort_by(|a, b| a.0.cmp(&b.0));
        }
        out.push('{');
        for (i, (k, v)) in entries.into_iter().enumerate() {
            separator(f, i, depth + 1, out);
            string(&k, f.ensure_ascii, out);
            out.push_str(&f.key_separator);
            encode(v, f, depth + 1, out)?;
        }
        close(f, depth, out);
        out.push('}');
    } else {
        return Err(format!(
            "json.dumps(): {} is not JSON serializable",
            describe(value)
        ));
    }
    Ok(())
}

fn sequence(value: Value<'_>) -> Option<Vec<Value<'_>>> {
    ListRef::from_value(value)
        .map(|l| l.content().to_vec())
        .or_else(|| TupleRef::from_value(value).map(|t| t.content().to_vec()))
}

/// Before item `i` at nesting `level`: the item separator, then a line break and indentation.
fn separator(f: &Format, i: usize, level: usize, out: &mut String) {
    if i > 0 {
        out.push_str(&f.item_separator);
    }
    if let Some(indent) = &f.indent {
        out.push('\n');
        out.push_str(&indent.repeat(level));
    }
}

fn close(f: &Format, level: usize, out: &mut String) {
    if let Some(indent) = &f.indent {
        out.push('\n');
        out.push_str(&indent.repeat(level));
    }
}

/// A dict key as Python's `json` writes it: strings as they are, numbers, booleans and `None`
/// as their JSON text.
fn key(k: Value<'_>) -> Result<String, String> {
    if let Some(s) = k.unpack_str() {
        Ok(s.to_string())
    } else if k.is_none() {
        Ok("null".into())
    } else if let Some(b) = k.unpack_bool() {
        Ok(if b { "true" } else { "false" }.into())
    } else if let Some(x) = k.downcast_ref::<StarlarkFloat>() {
        Ok(float(x.0))
    } else if k.get_type() == "int" {
        Ok(k.to_str())
    } else {
        Err(format!(
            "json.dumps(): keys must be strings, numbers, booleans or None, not {}",
            describe(k)
        ))
    }
}

fn string(s: &str, ensure_ascii: bool, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (ensure_ascii && !c.is_ascii()) => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A float as Python's `json` writes it: `repr`, with `NaN` and `Infinity` for the others.
fn float(x: f64) -> String {
    if x.is_nan() {
        "NaN".into()
    } else if x.is_infinite() {
        if x > 0.0 { "Infinity" } else { "-Infinity" }.into()
    } else {
        python_repr(x)
    }
}

/// Python's `repr(float)`: the shortest digits that read back the same, in fixed notation for
/// exponents from -4 to 15 and as `1.5e-07`/`1e+16` otherwise.
pub(crate) fn python_repr(x: f64) -> String {
    // Rust's `{:e}` gives the same shortest digits, as `d.ddde±x`.
    let scientific = format!("{x:e}");
    let (mantissa, exponent) = scientific
        .split_once('e')
        .unwrap_or((scientific.as_str(), "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    if !(-4..16).contains(&exponent) {
        return format!(
            "{sign}{mantissa}e{}{:02}",
            if exponent < 0 { '-' } else { '+' },
            exponent.unsigned_abs()
        );
    }
    if exponent < 0 {
        let zeros = "0".repeat(exponent.unsigned_abs() as usize - 1);
        return format!("{sign}0.{zeros}{digits}");
    }
    let point = exponent as usize + 1;
    if digits.len() <= point {
        format!("{sign}{digits}{}.0", "0".repeat(point - digits.len()))
    } else {
        format!("{sign}{}.{}", &digits[..point], &digits[point..])
    }
}

/// `json.loads(text)`: objects become dicts (keys in sorted order), arrays lists, numbers ints
/// when they are whole and fit 64 bits, floats otherwise.
pub(crate) fn loads<'v>(text: &str, heap: Heap<'v>) -> Result<Value<'v>, String> {
    let parsed: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("json.loads(): {e}"))?;
    Ok(to_value(&parsed, heap))
}

fn to_value<'v>(json: &serde_json::Value, heap: Heap<'v>) -> Value<'v> {
    use serde_json::Value as J;
    match json {
        J::Null => Value::new_none(),
        J::Bool(b) => Value::new_bool(*b),
        J::Number(n) => match n.as_i64() {
            Some(i) => heap.alloc(i),
            None => heap.alloc(n.as_f64().unwrap_or(f64::NAN)),
        },
        J::String(s) => heap.alloc(s.as_str()),
        J::Array(items) => heap.alloc(AllocList(items.iter().map(|i| to_value(i, heap)))),
        J::Object(map) => heap.alloc(AllocDict(
            map.iter()
                .map(|(k, v)| (heap.alloc(k.as_str()), to_value(v, heap))),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_as_python_repr() {
        for (x, text) in [
            (1.0, "1.0"),
            (0.1, "0.1"),
            (-2.5, "-2.5"),
            (1e16, "1e+16"),
            (1.5e-7, "1.5e-07"),
            (0.0001, "0.0001"),
            (123456789012345.6, "123456789012345.6"),
            (1e100, "1e+100"),
        ] {
            assert_eq!(python_repr(x), text, "{x}");
        }
    }

    #[test]
    fn strings_escape_like_python() {
        let mut out = String::new();
        string("a\"b\\\n\u{1}é😀", true, &mut out);
        assert_eq!(out, r#""a\"b\\\n\u0001\u00e9\ud83d\ude00""#);
    }
}
