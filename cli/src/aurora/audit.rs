//! `aurora audit CLUSTER [--actor USER] [--from SEQ|TIME] [--to SEQ|TIME] [--kind KIND]
//! [--limit N]`: who did what to the cluster, newest first — kills, quota changes, forced
//! states, maintenance, prunes, update steps, agents bound to credentials — each with its seqs,
//! time, actor, target and message.

use aurora_projections::audit::{AUDIT_KINDS, AuditEntry};
use serde::Deserialize;

use crate::context::{Context, paint, print_json};
use crate::exit::{CliError, CliResult};

/// The API's answer.
#[derive(Debug, Deserialize, serde::Serialize)]
struct Audit {
    entries: Vec<AuditEntry>,
}

/// The filters, as given on the command line.
#[derive(Debug, Default)]
pub(super) struct AuditArgs<'a> {
    pub actor: Option<&'a str>,
    pub from: Option<&'a str>,
    pub to: Option<&'a str>,
    pub kind: Option<&'a str>,
    pub limit: Option<usize>,
}

/// `SEQ|TIME` as the API's value.
fn instant(text: &str, flag: &str) -> CliResult<Option<String>> {
    crate::time::at_param(text, flag).map_err(CliError::invalid_parameter)
}

pub(super) fn audit(ctx: &Context, cluster: &str, args: &AuditArgs, json: bool) -> CliResult {
    if let Some(kind) = args.kind
        && !AUDIT_KINDS.contains(&kind)
    {
        return Err(CliError::invalid_parameter(format!(
            "--kind {kind:?}: expected one of {}",
            AUDIT_KINDS.join(", ")
        )));
    }
    let mut query = vec![format!("limit={}", args.limit.unwrap_or(100))];
    if let Some(actor) = args.actor {
        query.push(format!("user={}", crate::percent::encode(actor)));
    }
    if let Some(from) = args.from
        && let Some(from) = instant(from, "--from")?
    {
        query.push(format!("from={from}"));
    }
    if let Some(to) = args.to
        && let Some(to) = instant(to, "--to")?
    {
        query.push(format!("to={to}"));
    }
    if let Some(kind) = args.kind {
        query.push(format!("kind={kind}"));
    }
    let client = ctx.client(cluster)?;
    let audit: Audit = client.get(&format!("/api/v1/audit?{}", query.join("&")))?;
    if json {
        return print_json(&audit);
    }
    print!("{}", render(cluster, &audit.entries, ctx.color));
    Ok(())
}

fn render(cluster: &str, entries: &[AuditEntry], color: bool) -> String {
    let mut out = format!("Audit trail of {cluster}, newest first:\n");
    if entries.is_empty() {
        out.push_str("  nothing matches\n");
    }
    for entry in entries {
        let seqs = if entry.first_seq == entry.last_seq {
            format!("{}", entry.first_seq)
        } else {
            format!("{}..{}", entry.first_seq, entry.last_seq)
        };
        let tasks = match entry.tasks {
            0 => String::new(),
            1 => " (1 task)".to_string(),
            n => format!(" ({n} tasks)"),
        };
        let detail = if entry.detail.is_empty() {
            String::new()
        } else {
            format!(": {}", entry.detail)
        };
        out.push_str(&format!(
            "  {seqs:>9}  {}  {:<16} {} {}{tasks}{detail}\n",
            entry.at.to_utc_string(),
            entry.actor,
            paint(color, "1", &entry.action),
            entry.target,
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_name_seqs_actor_action_target_and_detail() {
        let entry = AuditEntry {
            first_seq: 7,
            last_seq: 9,
            at: aurora_events::Timestamp(0),
            actor: "user:alice".into(),
            user: Some("alice".into()),
            action: "kill".into(),
            target: "www/prod/web".into(),
            kind: "job".into(),
            detail: "www-prod-web-0 → KILLING: bye".into(),
            tasks: 3,
        };
        let text = render("west", &[entry], false);
        assert!(text.starts_with("Audit trail of west"), "{text}");
        assert!(
            text.contains("7..9  1970-01-01 00:00:00.000 UTC  user:alice       kill www/prod/web (3 tasks): www-prod-web-0 → KILLING: bye"),
            "{text}"
        );
    }
}
