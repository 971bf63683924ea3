//! Values printed the way Aurora's Python 2 client prints them (`'%s' % value`), so that text
//! scripts parse comes out character for character: floats as `str(float)`, lists of
//! instance ids as `repr(list)`, string-keyed maps as `repr(dict)`, booleans and `None`.

use std::collections::BTreeMap;
use std::fmt::Display;

/// Python 2's `str(float)`: 12 significant digits (`'%.12g'`), always with a `.0` when the
/// value is whole (`1.0`, `0.5`, `0.3` for 0.1 + 0.2, `1e-05`, `1e+16`).
pub fn float(value: f64) -> String {
    if value.is_nan() {
        return "nan".into();
    }
    if value.is_infinite() {
        return if value > 0.0 { "inf" } else { "-inf" }.into();
    }
    if value == 0.0 {
        return if value.is_sign_negative() {
            "-0.0"
        } else {
            "0.0"
        }
        .into();
    }
    // Round to 12 significant digits first: the exponent is the rounded value's.
    let scientific = format!("{value:.11e}");
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if !(-4..12).contains(&exponent) {
        let mantissa = trim_fraction(mantissa);
        let sign = if exponent < 0 { '-' } else { '+' };
        return format!("{mantissa}e{sign}{:02}", exponent.unsigned_abs());
    }
    let decimals = usize::try_from(11 - exponent).unwrap_or(0);
    let fixed = trim_fraction(&format!("{value:.decimals$}"));
    if fixed.contains('.') {
        fixed
    } else {
        format!("{fixed}.0")
    }
}

/// `1.2500` → `1.25`, `2.000` → `2`.
fn trim_fraction(text: &str) -> String {
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text.to_string()
    }
}

/// `repr(list)` of numbers: `[0, 1, 2]`.
pub fn list<T: Display>(items: impl IntoIterator<Item = T>) -> String {
    let items: Vec<String> = items.into_iter().map(|i| i.to_string()).collect();
    format!("[{}]", items.join(", "))
}

/// `repr(dict)` of a map from strings to numbers, keys in sorted order (Python 2's own order
/// is its hash table's, which no script can rely on): `{'health': 31001, 'http': 31000}`.
pub fn dict<V: Display>(map: &BTreeMap<String, V>) -> String {
    let entries: Vec<String> = map
        .iter()
        .map(|(key, value)| format!("{}: {value}", string(key)))
        .collect();
    format!("{{{}}}", entries.join(", "))
}

/// `repr(str)`: single quotes, unless the text holds one and no double quote.
pub fn string(text: &str) -> String {
    let quote = if text.contains('\'') && !text.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(text.len() + 2);
    out.push(quote);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// `str(bool)`.
pub fn boolean(value: bool) -> &'static str {
    if value { "True" } else { "False" }
}

/// `'%s' % value` for an optional string: the text, or `None`.
pub fn or_none(value: Option<&str>) -> &str {
    value.unwrap_or("None")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_as_python_2_str() {
        let cases = [
            (1.0, "1.0"),
            (0.5, "0.5"),
            (0.25, "0.25"),
            (0.1 + 0.2, "0.3"),
            (4.0, "4.0"),
            (1234.5, "1234.5"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1e16, "1e+16"),
            (123_456_789_012.0, "123456789012.0"),
            (1_234_567_890_123.0, "1.23456789012e+12"),
            (-2.5, "-2.5"),
            (0.0, "0.0"),
        ];
        for (value, expected) in cases {
            assert_eq!(float(value), expected, "{value:?}");
        }
    }

    #[test]
    fn lists_dicts_and_strings_print_as_python_reprs() {
        assert_eq!(list([0u32, 1, 2]), "[0, 1, 2]");
        assert_eq!(list(Vec::<u32>::new()), "[]");
        let ports = BTreeMap::from([("http".to_string(), 31000u16), ("health".into(), 31001)]);
        assert_eq!(dict(&ports), "{'health': 31001, 'http': 31000}");
        assert_eq!(string("it's"), "\"it's\"");
        assert_eq!(string("a'b\"c"), "'a\\'b\"c'");
        assert_eq!(boolean(true), "True");
        assert_eq!(or_none(None), "None");
    }
}
