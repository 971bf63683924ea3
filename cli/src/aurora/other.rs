//! `quota get`.

use aurora_api::QuotaView;
use aurora_events::ResourceAggregate;

use crate::context::{Context, print_json};
use crate::exit::{CliError, CliResult};

pub(super) fn quota_get(ctx: &Context, key: &str, json: bool, at: Option<&str>) -> CliResult {
    let (cluster, role) = key
        .split_once('/')
        .filter(|(c, r)| !c.is_empty() && !r.is_empty() && !r.contains('/'))
        .ok_or_else(|| CliError::invalid_parameter(format!("{key:?}: expected CLUSTER/ROLE")))?;
    let client = ctx.client(cluster)?;
    let path = crate::time::with_at(&format!("/api/v1/quota/{role}"), at)
        .map_err(CliError::invalid_parameter)?;
    let quota: QuotaView = client.get(&path)?;
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
