//! `aurora-admin get_cluster_config [--sh] [--export] CLUSTER`: the cluster's clusters.json
//! entry as Aurora's admin client prints it: JSON as Python's `json.dump` writes it, or, with
//! `--sh`, `AURORA_CLUSTER_<KEY>=value` lines for a shell to `eval` (`--export` prefixes each
//! with `export `).

use serde_json::Value;

use crate::context::Context;
use crate::exit::{CliError, CliResult};

pub(super) fn run(ctx: &Context, cluster: &str, sh: bool, export: bool) -> CliResult {
    let entry = ctx.clusters.entry(cluster).ok_or_else(|| {
        let known: Vec<&str> = ctx.clusters.names().collect();
        CliError::invalid_parameter(format!(
            "unknown cluster {cluster:?}; known: {}",
            known.join(", ")
        ))
    })?;
    let value = serde_json::to_value(entry)
        .map_err(|e| CliError::invalid_parameter(format!("cluster {cluster}: {e}")))?;
    if !sh {
        println!("{}", python_json(&value));
        return Ok(());
    }
    let prefix = if export {
        "export AURORA_CLUSTER_"
    } else {
        "AURORA_CLUSTER_"
    };
    if let Value::Object(fields) = &value {
        for (key, field) in fields {
            shell_lines(
                &format!("{prefix}{}", key.to_uppercase()),
                field,
                &mut |line| {
                    println!("{line}");
                },
            );
        }
    }
    Ok(())
}

/// JSON with Python's `json.dumps` separators (`", "`, `": "`) and ASCII escapes.
fn python_json(value: &Value) -> String {
    match value {
        Value::Object(fields) => {
            let inner: Vec<String> = fields
                .iter()
                .map(|(k, v)| {
                    format!(
                        "{}: {}",
                        python_json(&Value::from(k.as_str())),
                        python_json(v)
                    )
                })
                .collect();
            format!("{{{}}}", inner.join(", "))
        }
        Value::Array(items) => {
            let inner: Vec<String> = items.iter().map(python_json).collect();
            format!("[{}]", inner.join(", "))
        }
        Value::String(text) => {
            let mut out = String::from("\"");
            for c in text.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    c if c.is_ascii() && !c.is_ascii_control() => out.push(c),
                    c => {
                        let mut units = [0u16; 2];
                        for unit in c.encode_utf16(&mut units) {
                            out.push_str(&format!("\\u{unit:04x}"));
                        }
                    }
                }
            }
            out.push('"');
            out
        }
        Value::Bool(true) => "true".into(),
        Value::Bool(false) => "false".into(),
        Value::Null => "null".into(),
        Value::Number(n) => n.to_string(),
    }
}

/// Aurora's `shellify`: strings quoted for a shell, booleans as 0/1, nested objects and lists
/// flattened into `NAME_KEY` / `NAME_0` variables; nulls left out.
fn shell_lines(name: &str, value: &Value, emit: &mut dyn FnMut(String)) {
    match value {
        Value::Bool(b) => emit(format!("{name}={}", u8::from(*b))),
        Value::Number(n) => emit(format!("{name}={n}")),
        Value::String(text) => emit(format!("{name}={}", shell_quote(text))),
        Value::Object(fields) => {
            for (key, field) in fields {
                shell_lines(&format!("{name}_{}", key.to_uppercase()), field, emit);
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                shell_lines(&format!("{name}_{i}"), item, emit);
            }
        }
        Value::Null => {}
    }
}

/// Python's `pipes.quote`: bare when only safe characters, else single-quoted.
fn shell_quote(text: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "@%+=:,./-_".contains(c);
    if !text.is_empty() && text.chars().all(safe) {
        return text.to_string();
    }
    format!("'{}'", text.replace('\'', "'\"'\"'"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_print_as_auroras_admin_client_prints_them() {
        let entry = serde_json::json!({
            "name": "west", "scheduler_uri": "http://h1:8081,http://h2:8081",
            "auth_mechanism": "UNAUTHENTICATED", "zk_port": 2181, "flag": true,
            "note": "it's here", "hosts": ["a", "b"],
        });
        assert_eq!(
            python_json(&entry),
            "{\"auth_mechanism\": \"UNAUTHENTICATED\", \"flag\": true, \"hosts\": [\"a\", \
             \"b\"], \"name\": \"west\", \"note\": \"it's here\", \"scheduler_uri\": \
             \"http://h1:8081,http://h2:8081\", \"zk_port\": 2181}"
        );
        let mut lines = Vec::new();
        if let Value::Object(fields) = &entry {
            for (key, field) in fields {
                shell_lines(
                    &format!("AURORA_CLUSTER_{}", key.to_uppercase()),
                    field,
                    &mut |l| {
                        lines.push(l);
                    },
                );
            }
        }
        assert_eq!(
            lines,
            [
                "AURORA_CLUSTER_AUTH_MECHANISM=UNAUTHENTICATED",
                "AURORA_CLUSTER_FLAG=1",
                "AURORA_CLUSTER_HOSTS_0=a",
                "AURORA_CLUSTER_HOSTS_1=b",
                "AURORA_CLUSTER_NAME=west",
                "AURORA_CLUSTER_NOTE='it'\"'\"'s here'",
                "AURORA_CLUSTER_SCHEDULER_URI=http://h1:8081,http://h2:8081",
                "AURORA_CLUSTER_ZK_PORT=2181",
            ]
        );
        assert_eq!(python_json(&Value::from("é")), "\"\\u00e9\"");
    }
}
