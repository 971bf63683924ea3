//! `quota get`, `update list | info`, and the commands the scheduler cannot carry out yet.

use aurora_api::{QuotaView, UpdateDetails, UpdateSummary};
use aurora_events::ResourceAggregate;

use crate::context::{Context, print_json};
use crate::exit::{CliError, CliResult};
use crate::keys::{ClusterJobKey, KeyPattern};

pub(super) fn quota_get(ctx: &Context, key: &str, json: bool) -> CliResult {
    let (cluster, role) = key
        .split_once('/')
        .filter(|(c, r)| !c.is_empty() && !r.is_empty() && !r.contains('/'))
        .ok_or_else(|| CliError::invalid_parameter(format!("{key:?}: expected CLUSTER/ROLE")))?;
    let client = ctx.client(cluster)?;
    let quota: QuotaView = client.get(&format!("/api/v1/quota/{role}"))?;
    if json {
        return print_json(&quota);
    }
    print!("{}", render_quota(&quota));
    Ok(())
}

/// Aurora's `quota get` text.
fn render_quota(quota: &QuotaView) -> String {
    let block = |title: &str, r: &ResourceAggregate| {
        format!(
            "{title}:\n  CPU: {}\n  RAM: {:.6} GB\n  Disk: {:.6} GB\n",
            r.cpus,
            r.ram_mb as f64 / 1024.0,
            r.disk_mb as f64 / 1024.0
        )
    };
    [
        block("Allocated", &quota.quota),
        block(
            "Production shared pool resources consumed",
            &quota.prod_shared,
        ),
        block(
            "Production dedicated pool resources consumed",
            &quota.prod_dedicated,
        ),
        block(
            "Non-production shared pool resources consumed",
            &quota.non_prod_shared,
        ),
        block(
            "Non-production dedicated pool resources consumed",
            &quota.non_prod_dedicated,
        ),
    ]
    .concat()
}

pub(super) fn update_list(
    ctx: &Context,
    pattern: &str,
    statuses: &[String],
    json: bool,
) -> CliResult {
    let pattern: KeyPattern = pattern.parse()?;
    let client = ctx.client(&pattern.cluster)?;
    let mut path = "/api/v1/updates?".to_string();
    if let Some(role) = pattern.literal_role() {
        path.push_str(&format!("role={role}&"));
    }
    if !statuses.is_empty() {
        path.push_str(&format!("statuses={}", statuses.join(",")));
    }
    let updates: Vec<UpdateSummary> = client.get(&path)?;
    let updates: Vec<UpdateSummary> = updates
        .into_iter()
        .filter(|u| u.job.parse().is_ok_and(|job| pattern.matches(&job)))
        .collect();
    if json {
        return print_json(&updates);
    }
    if updates.is_empty() {
        println!("No updates found.");
    }
    for update in updates {
        println!(
            "{}/{}\t{}\t{}\t{}\t{}",
            pattern.cluster,
            update.job,
            update.id,
            update.status,
            update.user,
            crate::time::format(update.started_at)
        );
    }
    Ok(())
}

pub(super) fn update_info(ctx: &Context, key: &str, id: Option<&str>, json: bool) -> CliResult {
    let key: ClusterJobKey = key.parse()?;
    let client = ctx.client(&key.cluster)?;
    let id = match id {
        Some(id) => id.to_string(),
        None => {
            let updates: Vec<UpdateSummary> =
                client.get(&format!("/api/v1/jobs/{}/updates", key.job))?;
            let newest = updates
                .first()
                .ok_or_else(|| CliError::failure(format!("{key}: no updates found")))?;
            newest.id.to_string()
        }
    };
    let details: UpdateDetails = client.get(&format!("/api/v1/updates/{}/{id}", key.job))?;
    if json {
        return print_json(&details);
    }
    let summary = &details.summary;
    println!("Job: {key}, UpdateID: {}", summary.id);
    println!(
        "Started {}, by {}",
        crate::time::format(summary.started_at),
        summary.user
    );
    println!("Current status {}", summary.status);
    println!("Instance events:");
    for (instance, actions) in &details.instance_actions {
        let actions: Vec<String> = actions.iter().map(ToString::to_string).collect();
        println!("  Instance {instance}: {}", actions.join(", "));
    }
    Ok(())
}

/// Validates the key, then says the scheduler cannot do `what` yet (exit 4).
pub(super) fn not_yet(_ctx: &Context, key: &str, what: &str) -> CliResult {
    let _: ClusterJobKey = key.parse()?;
    Err(super::unsupported(what))
}
