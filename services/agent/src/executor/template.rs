//! `{{...}}` substitution in a process's cmdline, with the values the executor knows at run
//! time (Thermos's mustache namespaces). Anything else is an error rather than left in place,
//! because bash would otherwise run a command with a literal `{{...}}` in it and fail in a way
//! that hides the cause.

use std::collections::BTreeMap;

/// Values a task's cmdlines may reference.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskContext {
    /// `{{thermos.task_id}}`.
    pub task_id: String,
    /// `{{mesos.instance}}`.
    pub instance: u32,
    /// `{{mesos.hostname}}`.
    pub hostname: String,
    /// `{{thermos.ports[NAME]}}`: the ports the scheduler assigned, by name.
    pub ports: BTreeMap<String, u16>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("unknown template variable {{{{{0}}}}}")]
    UnknownVariable(String),
    #[error("template {{{{thermos.ports[{0}]}}}} names a port not assigned to this task")]
    UnknownPort(String),
    #[error("unterminated `{{{{` in {0:?}")]
    Unterminated(String),
}

/// Replaces every `{{name}}` (spaces around the name allowed) in `text`.
pub fn render(text: &str, ctx: &TaskContext) -> Result<String, TemplateError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        out.push_str(&rest[..open]);
        let after = &rest[open + 2..];
        let Some(close) = after.find("}}") else {
            return Err(TemplateError::Unterminated(text.to_string()));
        };
        out.push_str(&lookup(after[..close].trim(), ctx)?);
        rest = &after[close + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

fn lookup(name: &str, ctx: &TaskContext) -> Result<String, TemplateError> {
    match name {
        "thermos.task_id" => return Ok(ctx.task_id.clone()),
        "mesos.instance" => return Ok(ctx.instance.to_string()),
        "mesos.hostname" => return Ok(ctx.hostname.clone()),
        _ => {}
    }
    if let Some(port) = name
        .strip_prefix("thermos.ports[")
        .and_then(|r| r.strip_suffix(']'))
    {
        let port = port.trim().trim_matches(|c| c == '\'' || c == '"');
        return ctx
            .ports
            .get(port)
            .map(|p| p.to_string())
            .ok_or_else(|| TemplateError::UnknownPort(port.to_string()));
    }
    Err(TemplateError::UnknownVariable(name.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    fn ctx() -> TaskContext {
        TaskContext {
            task_id: "t-1".into(),
            instance: 3,
            hostname: "host-a".into(),
            ports: BTreeMap::from([("http".to_string(), 8080)]),
        }
    }

    #[test]
    fn substitutes_known_variables() {
        assert_eq!(
            render(
                "serve --port={{thermos.ports[http]}} --id {{ thermos.task_id }} \
                 {{mesos.instance}}@{{mesos.hostname}} {{thermos.ports['http']}}",
                &ctx()
            ),
            Ok("serve --port=8080 --id t-1 3@host-a 8080".to_string())
        );
        assert_eq!(render("no templates", &ctx()), Ok("no templates".into()));
    }

    #[test]
    fn rejects_what_it_cannot_fill() {
        assert_eq!(
            render("echo {{profile.x}}", &ctx()),
            Err(TemplateError::UnknownVariable("profile.x".into()))
        );
        assert_eq!(
            render("{{thermos.ports[admin]}}", &ctx()),
            Err(TemplateError::UnknownPort("admin".into()))
        );
        assert_eq!(
            render("echo {{oops", &ctx()),
            Err(TemplateError::Unterminated("echo {{oops".into()))
        );
        assert_eq!(
            TemplateError::UnknownVariable("x.y".into()).to_string(),
            "unknown template variable {{x.y}}"
        );
    }
}
